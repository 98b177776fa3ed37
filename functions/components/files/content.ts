import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import type { ContentStore } from '#store/content-store.ts';
import { jsonBody } from '#store/content-store.ts';
import { ContentChangedError } from './errors.ts';
import type { DataLocation } from './index-format.ts';
import { filesKeys } from './keys.ts';
import type { TaskPool } from './limit.ts';

/** sha256 of zero bytes: empty files are recorded, never stored. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function locationKey(location: DataLocation): string {
  return 'blob' in location ? location.blob : `${location.pack}@${location.offset}+${location.length}`;
}

/** The object keys a location needs (what garbage collection must keep). */
export function objectKeyOf(location: DataLocation): string {
  return 'blob' in location ? location.blob : location.pack;
}

export interface PackCheckpoint {
  readonly packId: string;
  readonly key: string;
  readonly size: number;
  /** [sha256, offset, length] of every file in the pack. */
  readonly files: Array<[string, number, number]>;
}

export interface PackWriterOptions {
  readonly store: ContentStore;
  readonly scratchDir: string;
  readonly targetBytes: number;
  /** Shared with the blob uploads: bounds store requests in flight. */
  readonly uploads: TaskPool;
  /** Where to record each pack once its upload completed (a re-run shard reuses them). */
  readonly checkpointKey: (packId: string) => string;
  readonly onStored: (pack: PackCheckpoint) => void;
}

/**
 * Packs small files: appends them to a scratch file and uploads it once it reaches the target
 * size, as one object with a known length (one PUT, retryable from the file; nothing of the pack
 * is held in memory). The location of each file is known at once; the caller writes those
 * locations into the store only after `finish()`, so a pack is referenced only once uploaded.
 */
export class PackWriter {
  private current:
    | {
        packId: string;
        file: string;
        handle: fs.FileHandle;
        size: number;
        files: Array<[string, number, number]>;
      }
    | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  packs = 0;
  bytes = 0;

  constructor(private readonly options: PackWriterOptions) {}

  /** Appends one file's bytes; resolves to where they will be. Calls are serialised. */
  add(sha256: string, bytes: Buffer): Promise<DataLocation> {
    const result = this.queue.then(() => this.append(sha256, bytes));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async append(sha256: string, bytes: Buffer): Promise<DataLocation> {
    if (!this.current) {
      const packId = randomBytes(16).toString('hex');
      await fs.mkdir(this.options.scratchDir, { recursive: true });
      const file = path.join(this.options.scratchDir, `pack-${packId}`);
      this.current = { packId, file, handle: await fs.open(file, 'w'), size: 0, files: [] };
    }
    const pack = this.current;
    const offset = pack.size;
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await pack.handle.write(
        bytes,
        written,
        bytes.length - written,
        offset + written,
      );
      written += bytesWritten;
    }
    pack.size += bytes.length;
    pack.files.push([sha256, offset, bytes.length]);
    const location: DataLocation = { pack: filesKeys.pack(pack.packId), offset, length: bytes.length };
    if (pack.size >= this.options.targetBytes) await this.seal();
    return location;
  }

  /** Closes the current pack and queues its upload (waiting for a free upload slot). */
  private async seal(): Promise<void> {
    const pack = this.current;
    if (!pack) return;
    this.current = undefined;
    await pack.handle.close();
    const key = filesKeys.pack(pack.packId);
    this.packs += 1;
    this.bytes += pack.size;
    await this.options.uploads.submit(async () => {
      try {
        await this.options.store.put(key, createReadStream(pack.file), {
          contentLength: pack.size,
          contentType: 'application/octet-stream',
        });
      } finally {
        await fs.rm(pack.file, { force: true });
      }
      const checkpoint: PackCheckpoint = { packId: pack.packId, key, size: pack.size, files: pack.files };
      await this.options.store.put(this.options.checkpointKey(pack.packId), jsonBody(checkpoint), {
        contentType: 'application/json',
      });
      this.options.onStored(checkpoint);
    });
  }

  /** Seals the last pack. The caller then drains the upload pool before referencing any pack. */
  async finish(): Promise<void> {
    await this.queue;
    await this.seal();
  }

  /** Removes the scratch file of an unsealed pack (the shard failed). */
  async abandon(): Promise<void> {
    const pack = this.current;
    this.current = undefined;
    if (pack) {
      await pack.handle.close().catch(() => undefined);
      await fs.rm(pack.file, { force: true });
    }
  }
}

/** Opens a file for reading without following a link that replaced it since it was listed. */
export async function openNoFollow(absPath: string): Promise<fs.FileHandle> {
  return fs.open(absPath, constants.O_RDONLY | constants.O_NOFOLLOW);
}

/** Reads a small file whole (it is below the blob threshold), with the stats of what was read. */
export async function readSmallFile(
  absPath: string,
): Promise<{ bytes: Buffer; stats: import('node:fs').BigIntStats }> {
  const handle = await openNoFollow(absPath);
  try {
    const stats = await handle.stat({ bigint: true });
    if (!stats.isFile())
      throw Object.assign(new Error(`${absPath} is no longer a regular file`), { code: 'ENOTFILE' });
    const bytes = await handle.readFile();
    return { bytes, stats };
  } finally {
    await handle.close();
  }
}

/** Hashes the first `size` bytes of a file as a stream; the stats are those of the open file. */
export async function hashLargeFile(
  absPath: string,
): Promise<{ sha256: string; size: number; stats: import('node:fs').BigIntStats }> {
  const handle = await openNoFollow(absPath);
  let stats: import('node:fs').BigIntStats;
  try {
    stats = await handle.stat({ bigint: true });
    if (!stats.isFile())
      throw Object.assign(new Error(`${absPath} is no longer a regular file`), { code: 'ENOTFILE' });
  } catch (error) {
    await handle.close();
    throw error;
  }
  const size = Number(stats.size);
  const hash = createHash('sha256');
  let read = 0;
  if (size > 0) {
    const stream = handle.createReadStream({ start: 0, end: size - 1, highWaterMark: 1024 * 1024 });
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      read += (chunk as Buffer).length;
    }
  } else {
    await handle.close();
  }
  if (read !== size)
    throw new ContentChangedError(`${absPath} shrank while it was read (${read} of ${size} bytes)`);
  return { sha256: hash.digest('hex'), size, stats };
}

/**
 * Passes a file's bytes to an upload while checking them against the sha256 computed before.
 * The last chunk is held back until the check passes: if the file changed between the two reads,
 * the upload's body fails before its end, so S3 never stores the wrong bytes under the key that
 * names the right ones.
 */
export class VerifyingStream extends Transform {
  private readonly hash = createHash('sha256');
  private held: Buffer | undefined;
  private bytes = 0;

  constructor(
    private readonly expectedSha256: string,
    private readonly expectedSize: number,
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    const previous = this.held;
    this.held = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    const sha256 = this.hash.digest('hex');
    if (this.bytes !== this.expectedSize || sha256 !== this.expectedSha256) {
      callback(new ContentChangedError(`${this.what} changed while it was being backed up`));
      return;
    }
    callback(null, this.held);
  }
}

/**
 * Stores a large file as the blob named by its sha256, unless that blob exists already.
 * Returns whether bytes were uploaded.
 */
export async function storeBlob(
  store: ContentStore,
  absPath: string,
  sha256: string,
  size: number,
): Promise<{ location: DataLocation; uploaded: boolean }> {
  const key = filesKeys.blob(sha256);
  const location: DataLocation = { blob: key };
  const existing = await store.stat(key);
  if (existing && existing.size === size) return { location, uploaded: false };
  const handle = await openNoFollow(absPath);
  const source = handle.createReadStream({
    start: 0,
    end: Math.max(0, size - 1),
    highWaterMark: 1024 * 1024,
  });
  const verifying = new VerifyingStream(sha256, size, absPath);
  source.on('error', (error) => verifying.destroy(error));
  source.pipe(verifying);
  try {
    await store.put(key, verifying, { contentLength: size, contentType: 'application/octet-stream' });
  } catch (error) {
    source.destroy();
    // The upload failed because of the check: report that, not the transport's echo of it.
    const changed = verifying.errored ?? error;
    throw changed instanceof ContentChangedError ? changed : error;
  }
  return { location, uploaded: true };
}
