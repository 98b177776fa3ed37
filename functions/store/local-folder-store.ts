import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ObjectNotFoundError } from '#runtime/errors.ts';
import {
  assertStoreKey,
  type ContentSource,
  type ContentStore,
  DEFAULT_READ_LIMIT,
  type ListedObject,
  type ObjectInfo,
  type PutOptions,
} from './content-store.ts';

const TEMP_MARKER = '.partial-';
const GUARD_SUFFIX = '.guard';

/**
 * The store on a local filesystem, with the bucket's key layout (`backups/<id>/manifest.json`, ...),
 * so that a local store can be copied to S3 with any tool. Writes go to a temporary file renamed
 * into place, so an object is whole or absent, as on S3.
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
    await fs.mkdir(path.dirname(file), { recursive: true });
    const temp = this.tempPathFor(file);
    try {
      if (body instanceof Readable) {
        await pipeline(body, createWriteStream(temp));
      } else {
        await fs.writeFile(temp, body);
      }
      await fs.rename(temp, file);
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
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
    if (info.size > maxBytes)
      throw new Error(`${key} is ${info.size} bytes, more than the ${maxBytes} allowed`);
    return fs.readFile(this.pathOf(key));
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const stats = await fs.stat(this.pathOf(key), { bigint: true });
      if (!stats.isFile()) return undefined;
      return {
        size: Number(stats.size),
        etag: `${stats.ino}-${stats.mtimeNs}-${stats.size}`,
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
        const stats = await fs.stat(path.join(dir, entry.name));
        yield { key, size: stats.size, lastModified: stats.mtime };
      }
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) await fs.rm(this.pathOf(key), { force: true });
  }

  async createIfAbsent(key: string, body: string | Uint8Array): Promise<boolean> {
    const file = this.pathOf(key);
    await fs.mkdir(path.dirname(file), { recursive: true });
    // Write the content first, then link it into place: link() fails if the name exists, so
    // creation is atomic and a reader never sees a half-written object.
    const temp = this.tempPathFor(file);
    await fs.writeFile(temp, body);
    try {
      await fs.link(temp, file);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      await fs.rm(temp, { force: true });
    }
  }

  async replaceIfMatch(key: string, etag: string, body: string | Uint8Array): Promise<boolean> {
    const file = this.pathOf(key);
    const guard = `${file}${GUARD_SUFFIX}`;
    const temp = this.tempPathFor(file);
    await fs.writeFile(temp, body);
    try {
      // A short-lived guard file serialises compare-and-replace between processes on this host.
      try {
        await fs.writeFile(guard, String(process.pid), { flag: 'wx' });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw error;
      }
      try {
        const current = await this.stat(key);
        if (current?.etag !== etag) return false;
        await fs.rename(temp, file);
        return true;
      } finally {
        await fs.rm(guard, { force: true });
      }
    } finally {
      await fs.rm(temp, { force: true });
    }
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
