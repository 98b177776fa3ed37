import type { Readable } from 'node:stream';

/**
 * The backup store: one bucket (or one local folder with the same key layout).
 * Keys are relative, `/`-separated, and never contain `.`/`..` segments: see `assertStoreKey`.
 */
export interface ContentStore {
  /** Where the store is, for people: `s3://bucket` or `/var/backups/liferay`. */
  readonly location: string;
  /** Writes an object. A stream body is streamed (multipart on S3); the object appears whole or not at all. */
  put(key: string, body: string | Uint8Array | Readable, options?: PutOptions): Promise<void>;
  /** Streams an object. Throws ObjectNotFoundError when it does not exist. */
  get(key: string): Promise<Readable>;
  /**
   * Streams `length` bytes from `start` (a ranged GET); fewer when the object ends inside the range,
   * none when it ends before `start` (the caller counts them). Never bytes from elsewhere.
   */
  getRange(key: string, start: number, length: number): Promise<Readable>;
  /**
   * Where `length` bytes from `start` can be read without this process's client: a URL signed for
   * that one ranged GET (valid 15 minutes) with the headers to send, or a file. Restore worker
   * threads read through it (see fetch-worker.ts); stores without it are read with getRange.
   */
  contentSource?(key: string, start: number, length: number): Promise<ContentSource>;
  /** Reads a small object whole (manifests, pointers); refuses objects over `maxBytes`. */
  read(key: string, maxBytes?: number): Promise<Buffer>;
  /** Size and version tag, or undefined when the object does not exist. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** Every object under the prefix, in key order, recursively (never a delimiter listing). */
  list(prefix: string): AsyncIterable<ListedObject>;
  /** Deletes objects; a missing object is not an error. */
  delete(keys: readonly string[]): Promise<void>;
  /**
   * Deletes each object as `stat` saw it: one written again since keeps its new content (a
   * versioned bucket deletes the version seen; a folder moves the file aside and puts it back if it
   * is not the file seen). On an S3 bucket without versioning it deletes by key. A missing object is
   * not an error. Returns what it deleted.
   */
  deleteAsSeen(objects: readonly SeenObject[]): Promise<readonly SeenObject[]>;
  /** Creates the object only if no object has that key. Returns false when one already exists. */
  createIfAbsent(key: string, body: string | Uint8Array): Promise<boolean>;
  /** Replaces the object only if it still has version tag `etag`. Returns false when it changed. */
  replaceIfMatch(key: string, etag: string, body: string | Uint8Array): Promise<boolean>;
}

/** A presigned ranged GET, or a range of a local file. */
export type ContentSource =
  | { readonly url: string; readonly headers: Readonly<Record<string, string>> }
  | { readonly path: string; readonly start: number };

export interface PutOptions {
  /** Size of a stream body when known; lets the adapter choose between one PUT and multipart. */
  readonly contentLength?: number;
  /**
   * The most bytes a stream of unknown length may hold (an estimate that errs high): a store that
   * uploads in a bounded number of parts (S3: 10,000) sizes them to fit it, as `aws s3 cp
   * --expected-size` does. Without it the parts keep their default size.
   */
  readonly maxLength?: number;
  readonly contentType?: string;
}

export interface ObjectInfo {
  readonly size: number;
  readonly etag: string;
  /** When the object was last written. */
  readonly lastModified: Date;
  /** The version seen, on a bucket that keeps versions (S3's VersionId). */
  readonly version?: string;
  /**
   * Until when S3 Object Lock keeps this version (its retention, or for ever under a legal hold),
   * when the caller may read that (s3:GetObjectRetention, s3:GetObjectLegalHold).
   */
  readonly lockedUntil?: Date;
}

/** An object as `stat` saw it. */
export interface SeenObject {
  readonly key: string;
  readonly seen: ObjectInfo;
}

/**
 * How recently an object found in the store (not through a kept set's references) must have been
 * written for a new set to reference it instead of writing it again. Garbage collection deletes an
 * unreferenced object once it is older than `retention.graceHours`, which the configuration keeps
 * at least `backupTimeoutHours` + 1: an object written within the last hour therefore outlives
 * any backup that references it before it commits. An older one may belong to no kept set and be
 * collected while the backup runs; writing it again makes it young.
 */
export const REUSE_MAX_AGE_MS = 3_600_000;

/** Whether an object already in the store may be referenced by a new set without writing it again. */
export function isReusable(info: { readonly lastModified: Date }, now: Date = new Date()): boolean {
  return now.getTime() - info.lastModified.getTime() < REUSE_MAX_AGE_MS;
}

export interface ListedObject {
  readonly key: string;
  readonly size: number;
  /** When the object was last written (garbage collection spares recent objects). */
  readonly lastModified: Date;
}

/** Small objects (manifests, pointers, reports) are read whole; anything larger than this is refused. */
export const DEFAULT_READ_LIMIT = 64 * 1024 * 1024;

const KEY_SEGMENT_FORBIDDEN = new Set(['', '.', '..']);

/** Refuses keys that could escape the store's root in the local adapter, or that S3 would treat oddly. */
export function assertStoreKey(key: string): void {
  if (key.length === 0 || key.length > 1024) throw new Error(`store key must be 1-1024 characters: ${key}`);
  if (key.includes('\\') || key.includes('\0'))
    throw new Error(`store key contains a forbidden character: ${key}`);
  for (const segment of key.split('/')) {
    if (KEY_SEGMENT_FORBIDDEN.has(segment))
      throw new Error(`store key has an empty, '.' or '..' segment: ${key}`);
  }
}

/** Reads a small object as JSON; callers validate it with their schema. */
export async function readJson(store: ContentStore, key: string, maxBytes?: number): Promise<unknown> {
  const bytes = await store.read(key, maxBytes);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new SyntaxError(`${key} is not valid JSON: ${(error as Error).message}`);
  }
}

export function jsonBody(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
