import { createHash, randomUUID } from 'node:crypto';
import { type BigIntStats, createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as z from 'zod';
import { ObjectNotFoundError, ObjectTooLargeError } from '#runtime/errors.ts';
import { hostProcessSchema, processState, thisProcess } from '#runtime/host-process.ts';
import {
  assertStoreKey,
  type ContentSource,
  type ContentStore,
  DEFAULT_READ_LIMIT,
  type ListedObject,
  type ObjectInfo,
  type PutOptions,
  type SeenObject,
} from './content-store.ts';

const TEMP_MARKER = '.partial-';
const GUARD_SUFFIX = '.guard';

/**
 * How old a guard must be before it is taken over when this machine cannot tell whether its
 * process has ended (a process on another machine or in another container, a guard an earlier
 * version wrote with a bare pid, a guard emptied by a crash). A replace holds its guard for a stat
 * and a rename; a guard this old belongs to a process that died or hangs. Ten minutes rather than
 * seconds: such a guard only matters to a lock that is stale anyway (a lock of another machine
 * waits hours for that), while a replacer stalled on a slow disk must never find its guard taken.
 */
const GUARD_STALE_MS = 10 * 60_000;

/** Rounds of "take the guard, find a dead one, remove it" before a replace gives up as busy. */
const GUARD_ROUNDS = 5;
/** Looks at removal markers before a removal gives up as busy. */
const MARKER_TRIES = 16;

/** What a guard (or a guard's removal marker) holds: a unique token, and the process that took it. */
const holderSchema = z.object({
  token: z.string().min(1),
  takenAt: z.iso.datetime({ offset: true }),
  process: hostProcessSchema.optional().catch(undefined),
});

/**
 * The store on a local filesystem, with the bucket's key layout (`backups/<id>/manifest.json`, ...),
 * so that a local store can be copied to S3 with any tool. Writes go to a temporary file, flushed
 * to the disk, then renamed (or linked) into place and the folder flushed: an object is whole or
 * absent, as on S3, after a crash or a power cut too.
 */
export class LocalFolderStore implements ContentStore {
  readonly location: string;

  constructor(root: string) {
    this.location = path.resolve(root);
  }

  private pathOf(key: string): string {
    assertStoreKey(key);
    return path.join(this.location, ...key.split('/'));
  }

  private tempPathFor(file: string): string {
    return `${file}${TEMP_MARKER}${process.pid}-${Math.random().toString(36).slice(2)}`;
  }

  async put(key: string, body: string | Uint8Array | Readable, _options?: PutOptions): Promise<void> {
    const file = this.pathOf(key);
    const created = await fs.mkdir(path.dirname(file), { recursive: true });
    const temp = this.tempPathFor(file);
    try {
      await writeDurably(temp, body);
      await fs.rename(temp, file);
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
    await syncFolders(path.dirname(file), created);
  }

  async get(key: string): Promise<Readable> {
    const file = this.pathOf(key);
    const handle = await this.open(key, file);
    return handle.createReadStream();
  }

  async getRange(key: string, start: number, length: number): Promise<Readable> {
    const file = this.pathOf(key);
    const handle = await this.open(key, file);
    if (length === 0) {
      await handle.close();
      return Readable.from([]);
    }
    return createReadStream('', { fd: handle, start, end: start + length - 1 });
  }

  /** The object's file itself: a reader opens it (a missing object then fails as not found). */
  async contentSource(key: string, start: number, _length: number): Promise<ContentSource> {
    return { path: this.pathOf(key), start };
  }

  private async open(key: string, file: string): Promise<fs.FileHandle> {
    try {
      return await fs.open(file, 'r');
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      throw error;
    }
  }

  async read(key: string, maxBytes = DEFAULT_READ_LIMIT): Promise<Buffer> {
    const info = await this.stat(key);
    if (!info) throw new ObjectNotFoundError(key);
    if (info.size > maxBytes) throw new ObjectTooLargeError(key, maxBytes, info.size);
    return fs.readFile(this.pathOf(key));
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const stats = await fs.stat(this.pathOf(key), { bigint: true });
      if (!stats.isFile()) return undefined;
      return {
        size: Number(stats.size),
        etag: etagOf(stats),
        lastModified: stats.mtime,
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    // Walk only the folder that can contain the prefix, in key order like S3 (binary order of UTF-8).
    const slash = prefix.lastIndexOf('/');
    const base = slash >= 0 ? prefix.slice(0, slash) : '';
    const start = base === '' ? this.location : path.join(this.location, ...base.split('/'));
    yield* this.walk(start, base, prefix);
  }

  private async *walk(dir: string, keyPrefix: string, wanted: string): AsyncIterable<ListedObject> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    const named = entries
      .map((entry) => ({ entry, key: keyPrefix === '' ? entry.name : `${keyPrefix}/${entry.name}` }))
      .sort((a, b) =>
        compareKeys(a.entry.isDirectory() ? `${a.key}/` : a.key, b.entry.isDirectory() ? `${b.key}/` : b.key),
      );
    for (const { entry, key } of named) {
      if (entry.isDirectory()) {
        const asPrefix = `${key}/`;
        if (asPrefix.startsWith(wanted) || wanted.startsWith(asPrefix)) {
          yield* this.walk(path.join(dir, entry.name), key, wanted);
        }
      } else if (entry.isFile() && key.startsWith(wanted) && !isInternal(entry.name)) {
        let stats: import('node:fs').Stats;
        try {
          stats = await fs.stat(path.join(dir, entry.name));
        } catch (error) {
          // Deleted (or moved aside by deleteAsSeen) since the folder was read: as on S3, an object
          // deleted during a listing is left out, and the listing goes on.
          if (isNotFound(error)) continue;
          throw error;
        }
        yield { key, size: stats.size, lastModified: stats.mtime };
      }
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) await fs.rm(this.pathOf(key), { force: true });
  }

  /**
   * The file is renamed aside first (one atomic step), and only then looked at: if it is not the
   * file seen (a writer replaced it before the rename), it goes back unless a still newer one took
   * its name meanwhile. A file written after the rename is never touched.
   */
  async deleteAsSeen(objects: readonly SeenObject[]): Promise<readonly SeenObject[]> {
    const deleted: SeenObject[] = [];
    for (const object of objects) {
      const { key, seen } = object;
      const file = this.pathOf(key);
      const aside = this.tempPathFor(file);
      try {
        await fs.rename(file, aside);
      } catch (error) {
        if (isNotFound(error)) continue;
        throw error;
      }
      try {
        const stats = await fs.stat(aside, { bigint: true });
        if (etagOf(stats) === seen.etag) deleted.push(object);
        else await linkIfAbsent(aside, file);
      } finally {
        await fs.rm(aside, { force: true });
      }
    }
    return deleted;
  }

  async createIfAbsent(key: string, body: string | Uint8Array): Promise<boolean> {
    const file = this.pathOf(key);
    const created = await fs.mkdir(path.dirname(file), { recursive: true });
    // Write the content first, then link it into place: link() fails if the name exists, so
    // creation is atomic and a reader never sees a half-written object.
    const temp = this.tempPathFor(file);
    try {
      await writeDurably(temp, body);
      if (!(await linkIfAbsent(temp, file))) return false;
    } finally {
      await fs.rm(temp, { force: true });
    }
    await syncFolders(path.dirname(file), created);
    return true;
  }

  async replaceIfMatch(key: string, etag: string, body: string | Uint8Array): Promise<boolean> {
    const file = this.pathOf(key);
    const temp = this.tempPathFor(file);
    let replaced = false;
    try {
      await writeDurably(temp, body);
      // A guard file serialises compare-and-replace between processes (takeGuard says how).
      const release = await this.takeGuard(file);
      if (!release) return false;
      try {
        const current = await this.stat(key);
        if (current?.etag !== etag) return false;
        await fs.rename(temp, file);
        replaced = true;
      } finally {
        await release();
      }
    } finally {
      await fs.rm(temp, { force: true });
    }
    // Flushed once the guard is given back: the next replacer need not wait for the disk.
    await syncFolders(path.dirname(file), undefined);
    return replaced;
  }

  /**
   * Takes `<file>.guard`, or answers undefined when a live replacer holds it. A guard is linked
   * into place whole (never an empty file to misjudge) and names its process (host-process.ts). A
   * guard whose process has certainly ended (killed while it held it: SIGKILL, the OOM killer, a
   * restart) is removed and taken again at once; one whose process this machine cannot judge,
   * once it is GUARD_STALE_MS old. Removing goes through removeGuard, so that of the replacers that
   * judged the same dead guard, one removes it and none removes the guard another then took.
   */
  private async takeGuard(file: string): Promise<(() => Promise<boolean>) | undefined> {
    const guard = `${file}${GUARD_SUFFIX}`;
    const mine = holderBody();
    const temp = this.tempPathFor(guard);
    await fs.writeFile(temp, mine, { flag: 'wx' });
    try {
      for (let round = 0; round < GUARD_ROUNDS; round++) {
        if (await linkIfAbsent(temp, guard)) return () => this.removeGuard(guard, mine);
        const found = await readHolder(guard);
        if (found === undefined) continue; // given back meanwhile: take it now
        if (!holderIsDead(found)) return undefined;
        if (!(await this.removeGuard(guard, found.bytes))) return undefined;
      }
      return undefined;
    } finally {
      await fs.rm(temp, { force: true });
    }
  }

  /**
   * Removes the guard if it still holds `expected` (its unique token), for its owner giving it back
   * or for a replacer taking over a dead one. Whoever removes a guard first takes that guard's
   * removal marker (`<guard>.partial-remove-<digest of expected>-<n>`, linked into place only if
   * absent): only the marker's holder may remove that guard, so between its check of the guard
   * and its removal nobody else removes it, and what it removes is the guard it judged. A marker
   * whose process is dead (killed between the two) is passed over for the next n. Answers false
   * when a live process holds the marker: that one is removing the guard.
   *
   * The markers are removed once the guard is gone; one that a process killed just after removing
   * its guard leaves behind is harmless (it names a guard that no longer exists).
   */
  private async removeGuard(guard: string, expected: Buffer): Promise<boolean> {
    const digest = createHash('sha256').update(expected).digest('hex').slice(0, 32);
    const temp = this.tempPathFor(guard);
    await fs.writeFile(temp, holderBody(), { flag: 'wx' });
    const passed: string[] = [];
    try {
      for (let n = 0, tries = 0; ; tries++) {
        // Markers that keep changing under it: busy, as a live holder would be.
        if (tries >= MARKER_TRIES) return false;
        const marker = `${guard}${TEMP_MARKER}remove-${digest}-${n}`;
        if (await linkIfAbsent(temp, marker)) {
          passed.push(marker);
          break;
        }
        const found = await readHolder(marker);
        if (found === undefined) continue; // its holder has just finished: take it
        if (!holderIsDead(found)) return false;
        passed.push(marker);
        n += 1;
      }
      if ((await readHolder(guard))?.bytes.equals(expected)) await fs.rm(guard, { force: true });
      return true;
    } finally {
      // Only once the guard is gone (or was never this one): a marker taken later finds another guard.
      for (const marker of passed.reverse()) await fs.rm(marker, { force: true });
      await fs.rm(temp, { force: true });
    }
  }
}

/** What a guard or a removal marker holds: a unique token, when, and this process. */
function holderBody(): Buffer {
  const self = thisProcess();
  return Buffer.from(
    JSON.stringify({
      token: randomUUID(),
      takenAt: new Date().toISOString(),
      ...(self ? { process: self } : {}),
    } satisfies z.infer<typeof holderSchema>),
  );
}

/** A file's version tag: a rewrite (a new file renamed into place) changes its inode, an edit its mtime. */
function etagOf(stats: BigIntStats): string {
  return `${stats.ino}-${stats.mtimeNs}-${stats.size}`;
}

/** Links `temp` under `name` unless a file has that name (link(2) never replaces one). */
async function linkIfAbsent(temp: string, name: string): Promise<boolean> {
  try {
    await fs.link(temp, name);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** A guard's (or marker's) bytes and age, or undefined when there is none. */
async function readHolder(file: string): Promise<{ bytes: Buffer; modified: Date } | undefined> {
  try {
    const handle = await fs.open(file, 'r');
    try {
      const [bytes, stats] = await Promise.all([handle.readFile(), handle.stat()]);
      return { bytes, modified: stats.mtime };
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Whether the holder of a guard or marker has certainly ended (host-process.ts judges, as for the
 * backup lock: every doubt is "still running"), or, when it cannot judge, the file is older than
 * GUARD_STALE_MS.
 */
function holderIsDead(found: { bytes: Buffer; modified: Date }, now = new Date()): boolean {
  let json: unknown;
  try {
    json = JSON.parse(found.bytes.toString('utf8'));
  } catch {
    json = undefined;
  }
  const parsed = holderSchema.safeParse(json);
  if (parsed.success && parsed.data.process) {
    const state = processState(parsed.data.process, new Date(parsed.data.takenAt));
    if (state === 'running') return false;
    if (state !== 'unknown') return true;
  }
  return now.getTime() - found.modified.getTime() >= GUARD_STALE_MS;
}

/**
 * Writes a new file and flushes it to the disk before it is renamed or linked into place: a
 * rename can reach the disk before the data (XFS; ext4 when it replaces nothing), and a crash
 * would then leave an empty or partial object under its final key, a pack or blob that later sets
 * reference by name, or a lock.
 */
async function writeDurably(file: string, body: string | Uint8Array | Readable): Promise<void> {
  const handle = await fs.open(file, 'wx');
  try {
    // Chunk by chunk through the handle: a write stream of it would hold the handle until the
    // stream closes it, before the flush.
    if (body instanceof Readable) for await (const chunk of body) await handle.writeFile(chunk as Buffer);
    else await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Flushes the folder that holds a new name, and the folders mkdir created on the way to it (each
 * one's name lives in its parent, from `firstCreated`'s parent down): until then a crash may lose
 * the name, and with it the object.
 */
async function syncFolders(folder: string, firstCreated: string | undefined): Promise<void> {
  await syncFolder(folder);
  if (firstCreated === undefined) return;
  const top = path.dirname(firstCreated);
  for (let dir = folder; dir !== top && path.dirname(dir) !== dir; ) {
    dir = path.dirname(dir);
    await syncFolder(dir);
  }
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await fs.open(folder, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // fsync(2): EINVAL where the filesystem cannot flush a folder; its names are then as safe as it makes them.
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
  } finally {
    await handle.close();
  }
}

function isInternal(name: string): boolean {
  return name.includes(TEMP_MARKER) || name.endsWith(GUARD_SUFFIX);
}

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function isNotFound(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
