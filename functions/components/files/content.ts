import { createHash, randomBytes } from 'node:crypto';
import { type BigIntStats, constants } from 'node:fs';
import { Readable } from 'node:stream';
import type { ContentStore } from '#store/content-store.ts';
import { isReusable, jsonBody } from '#store/content-store.ts';
import { ContentChangedError } from './errors.ts';
import type { FileIo } from './fsx.ts';
import * as fsx from './fsx.ts';
import type { DataLocation } from './index-format.ts';
import { filesKeys } from './keys.ts';
import { Semaphore } from './limit.ts';

/** sha256 of zero bytes: empty files are recorded, never stored. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function locationKey(location: DataLocation): string {
  if ('blob' in location) return location.blob;
  if ('pack' in location) return `${location.pack}@${location.offset}+${location.length}`;
  return `chunks:${location.chunks.map(([sha256]) => sha256).join(',')}`;
}

/**
 * sha256 of a buffer, on this thread. Not WebCrypto on the thread pool: its digest first copies
 * the input into a fresh malloc block on this thread, and with the CLI's mmap threshold (128 KiB,
 * dist/liferay-backup) every copy above it is a new mapping whose pages the kernel zeroes and
 * then unmaps. On the medium set's full backup that copy cost more main-thread time than hashing
 * here does (1.4 s in a CPU profile), a third more system time, and 8 % of the wall time.
 */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The objects a location needs (what garbage collection must keep). */
export function objectKeysOf(location: DataLocation): string[] {
  if ('blob' in location) return [location.blob];
  if ('pack' in location) return [location.pack];
  return location.chunks.map(([sha256]) => filesKeys.blob(sha256));
}

export interface PackCheckpoint {
  readonly packId: string;
  readonly key: string;
  readonly size: number;
  /** [sha256, offset, length] of every file in the pack. */
  readonly files: Array<[string, number, number]>;
}

/**
 * The buffers that hold content on its way to the store: packs being filled or uploaded, and
 * chunks of large files being uploaded. A fixed number of them, reused: this is what bounds the
 * engine's memory whatever the size of the tree, and the number of uploads in flight with it.
 */
export class UploadBuffers {
  private readonly slots: Semaphore;
  private readonly pool: BufferPool;

  constructor(
    readonly count: number,
    readonly bytes: number,
  ) {
    this.slots = new Semaphore(count);
    this.pool = new BufferPool(count * 2 ** Math.ceil(Math.log2(bytes)));
  }

  /** Waits for a free buffer of at least `bytes`. */
  async take(): Promise<Buffer> {
    await this.slots.acquire();
    return this.pool.take(this.bytes);
  }

  give(buffer: Buffer): void {
    this.pool.give(buffer);
    this.slots.release();
  }
}

export interface PackWriterOptions {
  readonly store: ContentStore;
  readonly targetBytes: number;
  readonly buffers: UploadBuffers;
  /** Where to record each pack once its upload completed (a re-run shard reuses them). */
  readonly checkpointKey: (packId: string) => string;
  readonly onStored: (pack: PackCheckpoint) => void;
}

/**
 * Packs small files: copies them into a pack buffer and uploads it once it is full, as one object
 * of known length (one PUT, retried from the buffer; nothing written to local disk). The location
 * of each file is known at once; the caller writes those locations into the store only after
 * `finish()`, so a pack is referenced only once uploaded.
 */
export class PackWriter {
  private current:
    | { packId: string; buffer: Buffer; size: number; files: Array<[string, number, number]> }
    | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly uploads = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;
  packs = 0;
  bytes = 0;

  constructor(private readonly options: PackWriterOptions) {
    if (options.targetBytes > options.buffers.bytes) throw new Error('a pack must fit in an upload buffer');
  }

  /** Appends one file's bytes; resolves to where they will be. Calls are serialised. */
  add(sha256: string, bytes: Buffer): Promise<DataLocation> {
    const result = this.queue.then(() => this.append(sha256, bytes));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async append(sha256: string, bytes: Buffer): Promise<DataLocation> {
    if (this.failure) throw this.failure.error;
    // Buffer.copy stops silently at the buffer's end: a file that cannot fit even an empty pack
    // would be recorded whole and stored cut short. Packs are for small files; refuse it instead.
    if (bytes.length > this.options.buffers.bytes)
      throw new Error(
        `a file of ${bytes.length} bytes does not fit in a pack buffer of ${this.options.buffers.bytes} bytes`,
      );
    // Never grow a pack past the target: a pack then fits one PUT at the store's part size.
    if (this.current && this.current.size > 0 && this.current.size + bytes.length > this.options.targetBytes)
      this.seal();
    if (!this.current) {
      this.current = {
        packId: randomBytes(16).toString('hex'),
        buffer: await this.options.buffers.take(),
        size: 0,
        files: [],
      };
    }
    const pack = this.current;
    const offset = pack.size;
    bytes.copy(pack.buffer, offset);
    pack.size += bytes.length;
    pack.files.push([sha256, offset, bytes.length]);
    return { pack: filesKeys.pack(pack.packId), offset, length: bytes.length };
  }

  /** Starts the upload of the current pack; its buffer returns to the pool when the upload ends. */
  private seal(): void {
    const pack = this.current;
    if (!pack) return;
    this.current = undefined;
    const key = filesKeys.pack(pack.packId);
    this.packs += 1;
    this.bytes += pack.size;
    const upload = (async () => {
      try {
        await putWithRetry(this.options.store, key, pack.buffer.subarray(0, pack.size));
      } finally {
        this.options.buffers.give(pack.buffer);
      }
      const checkpoint: PackCheckpoint = { packId: pack.packId, key, size: pack.size, files: pack.files };
      await this.options.store.put(this.options.checkpointKey(pack.packId), jsonBody(checkpoint), {
        contentType: 'application/json',
      });
      this.options.onStored(checkpoint);
    })()
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => this.uploads.delete(upload));
    this.uploads.add(upload);
  }

  /** Uploads the last pack and waits for every upload; throws the first failure. */
  async finish(): Promise<void> {
    await this.queue;
    this.seal();
    while (this.uploads.size > 0) await Promise.all([...this.uploads]);
    if (this.failure) throw this.failure.error;
  }

  /**
   * The shard failed: drops the pack being filled (first, so that nothing waits on its buffer),
   * refuses further files, and waits for the uploads in flight.
   */
  async abandon(): Promise<void> {
    this.failure ??= { error: new Error('the pack writer was abandoned') };
    const drop = () => {
      const pack = this.current;
      this.current = undefined;
      if (pack) this.options.buffers.give(pack.buffer);
    };
    drop();
    await this.queue;
    drop();
    while (this.uploads.size > 0) await Promise.all([...this.uploads]);
  }
}

/** PUTs bytes as a stream of known length (one request, no payload hash by the SDK), retrying twice. */
export async function putWithRetry(store: ContentStore, key: string, bytes: Buffer): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await store.put(key, Readable.from([bytes], { objectMode: false }), {
        contentLength: bytes.length,
        contentType: 'application/octet-stream',
      });
      return;
    } catch (error) {
      if (attempt >= 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

/**
 * Opens a file for reading without following a link that replaced it since it was listed, and
 * without waiting on a named pipe that replaced it (an open for reading waits for a writer, for
 * ever; the caller's fstat then skips it). O_NONBLOCK changes nothing for a regular file's reads.
 */
export async function openNoFollow(absPath: string, io: FileIo = fsx.ASYNC_IO): Promise<number> {
  return io.open(absPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
}

/**
 * Whether an open file is as it was when its read began. An in-place rewrite keeps the size and
 * often the inode; only the times tell (to the kernel's clock tick: two writes within one tick
 * look alike, as they do to the next backup's quick check).
 */
function unchangedSince(
  before: Pick<BigIntStats, 'size' | 'mtimeNs' | 'ctimeNs'>,
  after: BigIntStats,
): boolean {
  return before.size === after.size && before.mtimeNs === after.mtimeNs && before.ctimeNs === after.ctimeNs;
}

/**
 * Whether a file that changed while it was read was only appended to: longer than when the read
 * began, and its first `before.size` bytes on disk still the bytes that were read (`sha256`: their
 * hash). They are read and hashed once more, in 1 MiB pieces: a file truncated and written again
 * (copytruncate, a restart that does not append), or rewritten in place, differs there, whatever
 * part of it changed. The bytes read are then the file as it was when the read began (unless it
 * was rewritten before its first byte was read: then every byte read is of the new file). Only for
 * files that are only ever appended to (liferay-rules.ts `isAppendOnly`); what it costs is a second
 * read of such a file, only when it grew during the first.
 */
async function onlyAppended(
  fd: number,
  before: BigIntStats,
  after: BigIntStats,
  sha256: string,
  io: FileIo,
): Promise<boolean> {
  if (after.size <= before.size) return false;
  const size = Number(before.size);
  const again = createHash('sha256');
  const piece = Buffer.allocUnsafe(Math.min(size, 1024 * 1024));
  for (let start = 0; start < size; start += piece.length) {
    const length = Math.min(piece.length, size - start);
    if ((await fsx.readFully(fd, piece, start, length, io)) < length) return false;
    again.update(piece.subarray(0, length));
  }
  return again.digest('hex') === sha256;
}

function notAFile(absPath: string): Error {
  return Object.assign(new Error(`${absPath} is no longer a regular file`), { code: 'ENOTFILE' });
}

/**
 * Reusable read buffers for small files, in power-of-two size classes: reading thousands of
 * small files into fresh buffers leaves the garbage collector tens of megabytes behind; reusing
 * them keeps the process's memory at what is actually in flight.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private pooled = 0;

  constructor(private readonly maxPooledBytes: number) {}

  take(size: number): Buffer {
    const sizeClass = Math.max(64 * 1024, 2 ** Math.ceil(Math.log2(Math.max(1, size))));
    const buffer = this.free.get(sizeClass)?.pop();
    if (buffer) {
      this.pooled -= buffer.length;
      return buffer;
    }
    return Buffer.allocUnsafeSlow(sizeClass);
  }

  give(buffer: Buffer): void {
    if (this.pooled + buffer.length > this.maxPooledBytes) return;
    const list = this.free.get(buffer.length) ?? [];
    list.push(buffer);
    this.free.set(buffer.length, list);
    this.pooled += buffer.length;
  }
}

/**
 * The memory small files are read into: one buffer used as a ring, each file taking the next
 * contiguous region and giving it back once its bytes are packed (or found stored). Reading
 * tens of thousands of files into buffers of their own left hundreds of megabytes of garbage
 * for the collector (790 MiB allocated for the medium set, 150 MB of it alive at once); the
 * ring's memory is fixed. A file larger than half the ring gets a buffer of its own, one at a time.
 */
export class ReadArena {
  private buffer: Buffer | undefined;
  /** Live regions in the order they were taken (they are given back in about that order). */
  private readonly regions: Array<{ start: number; end: number; given: boolean }> = [];
  /** The live regions by start (live regions never overlap, so starts are unique). */
  private readonly byStart = new Map<number, { start: number; end: number; given: boolean }>();
  /** Where the next region starts, and where the oldest live one does. */
  private head = 0;
  private tail = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly oversize = new Semaphore(1);
  /** Memory of their own that takeNow handed out (given back without touching the ring). */
  private readonly own = new WeakSet<ArrayBufferLike>();

  constructor(
    readonly size: number,
    /** Regions in shared memory (a SharedArrayBuffer), which a worker thread can read without a copy. */
    private readonly shared = false,
  ) {}

  /** The ring's memory (allocated on first use). */
  get memory(): ArrayBufferLike {
    this.buffer ??= this.allocate(this.size);
    return this.buffer.buffer;
  }

  private allocate(bytes: number): Buffer {
    return this.shared ? Buffer.from(new SharedArrayBuffer(bytes)) : Buffer.allocUnsafeSlow(bytes);
  }

  /** A region of `bytes` (waits until the ring has room); give it back with give(). */
  async take(bytes: number): Promise<Buffer> {
    if (bytes > this.size / 2) {
      await this.oversize.acquire();
      return this.allocate(bytes);
    }
    for (;;) {
      const region = this.tryTake(bytes);
      if (region) return region;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /**
   * A region at once: from the ring if it has room, else memory of its own. For a caller that
   * holds a region which cannot be given back before this one is filled (waiting would then wait
   * for itself once that region is the oldest); give it back with give() like any other.
   */
  takeNow(bytes: number): Buffer {
    const region = bytes <= this.size / 2 ? this.tryTake(bytes) : undefined;
    if (region) return region;
    const own = this.allocate(bytes);
    this.own.add(own.buffer);
    return own;
  }

  private tryTake(bytes: number): Buffer | undefined {
    this.buffer ??= this.allocate(this.size);
    let start: number;
    if (this.regions.length === 0) {
      this.head = 0;
      this.tail = 0;
      start = 0;
    } else if (this.tail < this.head) {
      // Free: [head, size) and [0, tail).
      if (this.size - this.head >= bytes) start = this.head;
      else if (this.tail > bytes) start = 0;
      else return undefined;
    } else {
      // Wrapped: free is [head, tail).
      if (this.tail - this.head > bytes) start = this.head;
      else return undefined;
    }
    const end = start + bytes;
    const region = { start, end, given: false };
    this.regions.push(region);
    this.byStart.set(start, region);
    this.head = end;
    return this.buffer.subarray(start, end);
  }

  give(region: Buffer): void {
    if (this.own.delete(region.buffer)) return;
    if (region.buffer !== this.buffer?.buffer) {
      this.oversize.release();
      return;
    }
    const start = region.byteOffset - this.buffer.byteOffset;
    const entry = this.byStart.get(start);
    if (!entry) throw new Error('a read region was given back twice');
    entry.given = true;
    this.byStart.delete(start);
    while (this.regions[0]?.given) this.regions.shift();
    this.tail = this.regions[0]?.start ?? this.head;
    for (const wake of this.waiting.splice(0)) wake();
  }
}

/**
 * Reads a small file whole into `buffer` (taken for the size the walk saw, plus one byte), with
 * the stats of the open file, which describe exactly the bytes returned. It never reads more than
 * the buffer holds: a file that no longer fits (it grew since it was listed, perhaps past the blob
 * threshold, perhaps to gigabytes) or that changed while it was read is a ContentChangedError, and
 * the caller looks at it again.
 */
export async function readSmallFile(
  absPath: string,
  buffer: Buffer,
  io: FileIo = fsx.ASYNC_IO,
  /** The file is only ever appended to: growth while it is read is accepted (onlyAppended). */
  appendOnly = false,
): Promise<{ bytes: Buffer; stats: BigIntStats }> {
  const fd = await openNoFollow(absPath, io);
  try {
    const stats = await io.fstatBig(fd);
    if (!stats.isFile()) throw notAFile(absPath);
    const size = Number(stats.size);
    if (size >= buffer.length) throw new ContentChangedError(`${absPath} grew since it was listed`);
    // One byte more than its size: a file that grows while it is read reads longer.
    const length = await fsx.readFully(fd, buffer, 0, size + 1, io);
    const bytes = buffer.subarray(0, size);
    const after = await io.fstatBig(fd);
    if (length === size && unchangedSince(stats, after)) return { bytes, stats };
    if (appendOnly && length >= size && (await onlyAppended(fd, stats, after, sha256Hex(bytes), io)))
      return { bytes, stats };
    throw new ContentChangedError(`${absPath} changed while it was read`);
  } finally {
    await io.close(fd);
  }
}

/** One chunk of a large file: its place in the file and the sha256 of its bytes. */
export interface Chunk {
  readonly start: number;
  readonly size: number;
  readonly sha256: string;
}

/** A whole file's sha256, in hex. */
interface WholeHash {
  update(bytes: Uint8Array): void;
  digest(): string;
}

/** The whole-file sha256 of a read that can stop between chunks: its state can be saved. */
export interface SavableHash extends WholeHash {
  /** The state after the bytes given so far (a few hundred bytes). */
  save(): Uint8Array;
}

function nativeSha256(): WholeHash {
  const hash = createHash('sha256');
  return {
    update: (bytes) => {
      hash.update(bytes);
    },
    digest: () => hash.digest('hex'),
  };
}

/**
 * How far a read of a large file got in an earlier invocation: the file as it was when the read
 * began, the chunks read (each stored before this was saved), and the whole file's sha256 state
 * after them.
 */
export interface ReadProgress {
  readonly file: FileIdentity;
  readonly chunks: readonly Chunk[];
  readonly hashState: Uint8Array;
}

/**
 * What tells a file that was not changed (unchangedSince) and is the same file (its inode). Not the
 * device: an NFS client numbers its mounts itself, so two Lambda environments may see two numbers
 * for one EFS file (the quick check compares no device either).
 */
export type FileIdentity = Pick<BigIntStats, 'size' | 'mtimeNs' | 'ctimeNs' | 'ino'>;

/** A read that may stop at a chunk's end and go on in a later invocation (files-engine.md). */
export interface ResumableRead {
  /** Where an earlier invocation stopped; the read continues there if the file is as it was then. */
  readonly from?: ReadProgress;
  /** A hash whose state can be saved, at its start or loaded with `from.hashState`. */
  readonly hash: (state?: Uint8Array) => Promise<SavableHash>;
  /** Asked after each chunk this call read: true stops the read there, with the rest still to read. */
  readonly stopNow: () => boolean;
}

/** A large file read to its end. */
export interface ChunkedRead {
  readonly sha256: string;
  readonly size: number;
  readonly stats: BigIntStats;
  readonly chunks: Chunk[];
  /** Bytes this call read (less than `size` when it went on from an earlier invocation's read). */
  readonly bytesRead: number;
}

/** A read that stopped before the file's end (ResumableRead.stopNow). */
export interface StoppedRead {
  readonly stopped: ReadProgress;
  readonly bytesRead: number;
}

/**
 * Reads a large file once, chunk by chunk, each into one of the upload buffers; hands every chunk
 * (its sha256 and bytes) to `onChunk`, which stores it and calls `release` when the buffer may
 * be reused. Returns the whole file's sha256; the stats are those of the open file. A file that
 * changed while it was read (its chunks would mix two versions) is a ContentChangedError: the
 * chunks already stored are named by their content and harm nothing.
 *
 * With `resume`, a read that `stopNow` ends before the file's end returns its progress instead
 * (`stopped`), and a read given `from` goes on from there when the file still has the size, times
 * and inode it had when the read began; otherwise it starts again from the first byte.
 */
export async function readChunks(
  absPath: string,
  chunkBytes: number,
  buffers: UploadBuffers,
  onChunk: (chunk: Chunk, bytes: Buffer, release: () => void) => Promise<void>,
  io?: FileIo,
  appendOnly?: boolean,
): Promise<ChunkedRead>;
export async function readChunks(
  absPath: string,
  chunkBytes: number,
  buffers: UploadBuffers,
  onChunk: (chunk: Chunk, bytes: Buffer, release: () => void) => Promise<void>,
  io: FileIo | undefined,
  appendOnly: boolean | undefined,
  resume: ResumableRead | undefined,
): Promise<ChunkedRead | StoppedRead>;
export async function readChunks(
  absPath: string,
  chunkBytes: number,
  buffers: UploadBuffers,
  onChunk: (chunk: Chunk, bytes: Buffer, release: () => void) => Promise<void>,
  io: FileIo = fsx.ASYNC_IO,
  /** The file is only ever appended to: growth while it is read is accepted (onlyAppended). */
  appendOnly = false,
  resume?: ResumableRead,
): Promise<ChunkedRead | StoppedRead> {
  const fd = await openNoFollow(absPath, io);
  try {
    const stats = await io.fstatBig(fd);
    if (!stats.isFile()) throw notAFile(absPath);
    const from = resume?.from;
    if (from && !sameIdentity(stats, from.file))
      throw new ContentChangedError(`${absPath} changed since an earlier invocation began to read it`);
    const size = Number(stats.size);
    const savable = resume ? await resume.hash(from?.hashState) : undefined;
    const whole = savable ?? nativeSha256();
    const chunks: Chunk[] = [...(from?.chunks ?? [])];
    const first = chunks.reduce((end, chunk) => end + chunk.size, 0);
    if (from && first >= size)
      throw new Error(`a read of ${absPath} was to go on at byte ${first} of ${size}`);
    for (let start = first; start < size; start += chunkBytes) {
      const length = Math.min(chunkBytes, size - start);
      const buffer = await buffers.take();
      let handedOver = false;
      try {
        const read = await fsx.readFully(fd, buffer, start, length, io);
        if (read < length) throw new ContentChangedError(`${absPath} shrank while it was read`);
        const bytes = buffer.subarray(0, length);
        whole.update(bytes);
        const chunk = { start, size: length, sha256: sha256Hex(bytes) };
        chunks.push(chunk);
        handedOver = true;
        await onChunk(chunk, bytes, () => buffers.give(buffer));
      } finally {
        if (!handedOver) buffers.give(buffer);
      }
      if (savable && start + length < size && resume?.stopNow()) {
        // Stopped: the bytes read so far must still be the file's, or the saved state would name another file.
        if (!unchangedSince(stats, await io.fstatBig(fd)))
          throw new ContentChangedError(`${absPath} changed while it was read`);
        const end = start + length;
        return { stopped: { file: stats, chunks, hashState: savable.save() }, bytesRead: end - first };
      }
    }
    const sha256 = whole.digest();
    const after = await io.fstatBig(fd);
    if (!unchangedSince(stats, after) && !(appendOnly && (await onlyAppended(fd, stats, after, sha256, io))))
      throw new ContentChangedError(`${absPath} changed while it was read`);
    return { sha256, size, stats, chunks, bytesRead: size - first };
  } finally {
    await io.close(fd);
  }
}

/** Whether a file is the one an earlier invocation read or wrote, unchanged since. */
export function sameIdentity(now: BigIntStats, was: FileIdentity): boolean {
  return unchangedSince(was, now) && was.ino === now.ino;
}

/**
 * Stores one chunk as the blob named by its sha256 unless it exists already and was written
 * recently enough to be safe from garbage collection (`isReusable`: an old blob may belong to a set
 * retention is deleting right now). The bytes are the ones just hashed (in memory), so what is
 * stored is exactly what the name promises; they are sent as a stream of known length (one PUT,
 * no second hash by the SDK).
 */
export async function storeChunk(
  store: ContentStore,
  chunk: Chunk,
  bytes: Buffer,
  /** Write it even if the store has an object of that name and size: it may be damaged. */
  overwrite = false,
): Promise<boolean> {
  const key = filesKeys.blob(chunk.sha256);
  const existing = overwrite ? undefined : await store.stat(key);
  if (existing && existing.size === chunk.size && isReusable(existing)) return false;
  await putWithRetry(store, key, bytes);
  return true;
}

/** Where a large file's bytes are, from its chunks: one blob, or the chunk list. */
export function chunkedLocation(chunks: readonly Chunk[]): DataLocation {
  const [only] = chunks;
  if (chunks.length === 1 && only) return { blob: filesKeys.blob(only.sha256) };
  return { chunks: chunks.map((chunk): [string, number] => [chunk.sha256, chunk.size]) };
}
