import type { Readable } from 'node:stream';
import type {
  ContentSource,
  ContentStore,
  ListedObject,
  ObjectInfo,
  PutOptions,
  SeenObject,
} from '#store/content-store.ts';

export interface StoreCall {
  readonly method:
    | 'put'
    | 'get'
    | 'getRange'
    | 'read'
    | 'stat'
    | 'list'
    | 'delete'
    | 'deleteAsSeen'
    | 'createIfAbsent'
    | 'replaceIfMatch';
  readonly key: string;
  /** A source handed to a worker thread, which makes the request (counted as a ranged GET all the same). */
  readonly onWorker?: true;
}

/**
 * A store that records every call (one call is one request to S3, multipart aside), so tests can
 * say "an unchanged file costs no request" and "a glob restore reads only these objects". It can
 * also fail a chosen call, to stand for a crash in the middle of a shard.
 */
export class CountingStore implements ContentStore {
  readonly calls: StoreCall[] = [];
  failWhen: ((call: StoreCall) => boolean) | undefined;

  /** A source for a worker thread's read is one request, counted as a ranged GET (absent if the inner store has none). */
  readonly contentSource?: (key: string, start: number, length: number) => Promise<ContentSource>;

  /** `contentSources: false` hides the inner store's sources: a restore then reads on its main thread. */
  constructor(
    private readonly inner: ContentStore,
    options: { readonly contentSources?: boolean } = {},
  ) {
    const source = options.contentSources === false ? undefined : inner.contentSource?.bind(inner);
    if (source)
      this.contentSource = async (key, start, length) => {
        this.record('getRange', key, true);
        return source(key, start, length);
      };
  }

  get location(): string {
    return this.inner.location;
  }

  reset(): void {
    this.calls.length = 0;
  }

  /** Calls of these methods on keys starting with the prefix. */
  count(methods: readonly StoreCall['method'][], prefix = ''): number {
    return this.calls.filter((call) => methods.includes(call.method) && call.key.startsWith(prefix)).length;
  }

  keys(methods: readonly StoreCall['method'][], prefix = ''): string[] {
    return this.calls
      .filter((call) => methods.includes(call.method) && call.key.startsWith(prefix))
      .map((call) => call.key);
  }

  private record(method: StoreCall['method'], key: string, onWorker = false): void {
    const call: StoreCall = onWorker ? { method, key, onWorker } : { method, key };
    this.calls.push(call);
    if (this.failWhen?.(call)) throw new Error(`injected failure: ${method} ${key}`);
  }

  async put(key: string, body: string | Uint8Array | Readable, options?: PutOptions): Promise<void> {
    this.record('put', key);
    return this.inner.put(key, body, options);
  }
  async get(key: string): Promise<Readable> {
    this.record('get', key);
    return this.inner.get(key);
  }
  async getRange(key: string, start: number, length: number): Promise<Readable> {
    this.record('getRange', key);
    return this.inner.getRange(key, start, length);
  }
  async read(key: string, maxBytes?: number): Promise<Buffer> {
    this.record('read', key);
    return this.inner.read(key, maxBytes);
  }
  async stat(key: string): Promise<ObjectInfo | undefined> {
    this.record('stat', key);
    return this.inner.stat(key);
  }
  async *list(prefix: string): AsyncIterable<ListedObject> {
    this.record('list', prefix);
    yield* this.inner.list(prefix);
  }
  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.record('delete', key);
    return this.inner.delete(keys);
  }
  async deleteAsSeen(objects: readonly SeenObject[]): Promise<readonly SeenObject[]> {
    for (const { key } of objects) this.record('deleteAsSeen', key);
    return this.inner.deleteAsSeen(objects);
  }
  async createIfAbsent(key: string, body: string | Uint8Array): Promise<boolean> {
    this.record('createIfAbsent', key);
    return this.inner.createIfAbsent(key, body);
  }
  async replaceIfMatch(key: string, etag: string, body: string | Uint8Array): Promise<boolean> {
    this.record('replaceIfMatch', key);
    return this.inner.replaceIfMatch(key, etag, body);
  }
}
