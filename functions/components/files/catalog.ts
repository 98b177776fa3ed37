import * as z from 'zod';
import { CorruptBackupError, describeIssues } from '#runtime/errors.ts';
import type { ContentStore } from '#store/content-store.ts';
import { locationKey, sha256Hex } from './content.ts';
import { asPreviousIndexError } from './errors.ts';
import { type CatalogRef, type DataLocation, dataLocationSchema, isDataLocation } from './index-format.ts';
import { JsonLinesFile, type ObjectDigest, readJsonLines } from './jsonl.ts';

/**
 * The content catalog of a set: every (sha256, location) pair the set's index references, sorted
 * by sha256 and split into partitions by hash prefix, plus a Bloom filter of the hashes.
 *
 * - A backup looks up the hash of each new or changed file in the previous set's catalog, so
 *   content stored before (a renamed or copied file, the same document twice) is referenced, not
 *   uploaded. The Bloom filter answers "certainly new" for most new content without fetching a
 *   partition; partitions are fetched only for probable hits, and cached within a budget.
 * - It lists exactly what the set references (a hash stored twice by two shards of one run
 *   appears with both locations), so garbage collection can keep every object a set needs by
 *   reading the catalogs of the sets it keeps.
 */

export const catalogLineSchema = z.tuple([z.string().regex(/^[0-9a-f]{64}$/), dataLocationSchema]);
export type CatalogLine = [string, DataLocation];

/** True only for a value catalogLineSchema accepts (the fast path; the schema names what is wrong). */
export function isCatalogLine(value: unknown): value is CatalogLine {
  return (
    Array.isArray(value) &&
    value.length === 2 &&
    typeof value[0] === 'string' &&
    SHA256_PATTERN.test(value[0]) &&
    isDataLocation(value[1])
  );
}
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/** The text a catalog line was read from (readCatalogLines), so that writing it again costs nothing. */
const LINE_TEXT = new WeakMap<CatalogLine, string>();

/** Orders catalog lines by hash, then by location (so identical pairs are adjacent). */
export function compareCatalogLines(a: CatalogLine, b: CatalogLine): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  const x = locationKey(a[1]);
  const y = locationKey(b[1]);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Partition prefix length for a catalog of this many entries: partitions of at most ~100k lines. */
export function prefixLengthFor(entries: number): number {
  let length = 0;
  while (length < 3 && entries / 16 ** length > 100_000) length += 1;
  return length;
}

// ---------------------------------------------------------------------------------------------
// Bloom filter: k bit positions taken from the sha256 itself (already uniform; 8 of them at most,
// 32 bits each), about 0.06 % false positives. A false positive fetches and parses a whole
// partition: at 10 bits and 7 positions (0.8 %) the 150 lookups of a 1 % incremental of the
// medium set fetched the set's 19,000-line partition in most runs for nothing (nothing was found);
// at 16 bits and 8 positions one run in 16 does. Readers use the sizes a filter was written with.

export const BLOOM_BITS_PER_ENTRY = 16;
export const BLOOM_HASHES = 8;

/**
 * Number.parseInt(text.slice(at, at + 8), 16) without the slice and the parse (eight positions
 * per hash, for every line of a content list: 20-40 ms of a medium incremental); the same value
 * for hex digits, and parseInt itself for anything else.
 */
function hex32(text: string, at: number): number {
  let value = 0;
  for (let i = at; i < at + 8; i += 1) {
    const unit = text.charCodeAt(i);
    const digit =
      unit >= 0x30 && unit <= 0x39
        ? unit - 0x30
        : unit >= 0x61 && unit <= 0x66
          ? unit - 0x57
          : unit >= 0x41 && unit <= 0x46
            ? unit - 0x37
            : -1;
    if (digit < 0) return Number.parseInt(text.slice(at, at + 8), 16);
    value = value * 16 + digit;
  }
  return value;
}

export class BloomFilter {
  constructor(
    readonly bits: Uint8Array,
    readonly size: number,
    readonly hashes: number,
  ) {}

  static forEntries(entries: number): BloomFilter {
    const size = Math.max(1024, Math.ceil((entries * BLOOM_BITS_PER_ENTRY) / 8) * 8);
    return new BloomFilter(new Uint8Array(size / 8), size, BLOOM_HASHES);
  }

  private position(sha256: string, i: number): number {
    return hex32(sha256, i * 8) % this.size;
  }

  add(sha256: string): void {
    for (let i = 0; i < this.hashes; i += 1) {
      const bit = this.position(sha256, i);
      this.bits[bit >> 3] = (this.bits[bit >> 3] as number) | (1 << (bit & 7));
    }
  }

  mayContain(sha256: string): boolean {
    for (let i = 0; i < this.hashes; i += 1) {
      const bit = this.position(sha256, i);
      if (((this.bits[bit >> 3] as number) & (1 << (bit & 7))) === 0) return false;
    }
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing: a k-way merge of the shards' sorted content lists.

/** A sorted source of catalog lines (a shard's content list). */
export type CatalogSource = AsyncIterator<CatalogLine>;

class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => boolean) {}
  get size(): number {
    return this.items.length;
  }
  push(item: T): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(items[i] as T, items[parent] as T)) break;
      [items[i], items[parent]] = [items[parent] as T, items[i] as T];
      i = parent;
    }
  }
  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (l < items.length && this.less(items[l] as T, items[smallest] as T)) smallest = l;
        if (r < items.length && this.less(items[r] as T, items[smallest] as T)) smallest = r;
        if (smallest === i) break;
        [items[i], items[smallest]] = [items[smallest] as T, items[i] as T];
        i = smallest;
      }
    }
    return top;
  }
}

/** Merges sorted sources into one sorted stream without duplicates (identical hash and location). */
export async function* mergeCatalogSources(sources: readonly CatalogSource[]): AsyncGenerator<CatalogLine> {
  const heap = new MinHeap<{ line: CatalogLine; source: CatalogSource }>(
    (a, b) => compareCatalogLines(a.line, b.line) < 0,
  );
  for (const source of sources) {
    const first = await source.next();
    if (!first.done) heap.push({ line: first.value, source });
  }
  let previous: CatalogLine | undefined;
  while (heap.size > 0) {
    const top = heap.pop() as { line: CatalogLine; source: CatalogSource };
    if (!previous || compareCatalogLines(previous, top.line) !== 0) {
      if (previous && compareCatalogLines(previous, top.line) > 0)
        throw new Error('catalog sources are not sorted');
      yield top.line;
      previous = top.line;
    }
    const next = await top.source.next();
    if (!next.done) heap.push({ line: next.value, source: top.source });
  }
}

/** A Bloom filter as a catalog records it (CatalogRef.bloom). */
export const catalogBloomRefSchema = z.strictObject({
  key: z.string(),
  bits: z.number().int().positive(),
  // position() takes 8 hex digits of the sha256 per hash: 8 hashes at most.
  hashes: z.number().int().min(1).max(8),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type CatalogBloomRef = z.infer<typeof catalogBloomRefSchema>;

/** Stores a Bloom filter; returns its reference (size and sha256 checked by whoever reads it). */
export async function putBloom(
  store: ContentStore,
  key: string,
  bloom: BloomFilter,
): Promise<CatalogBloomRef> {
  const bytes = Buffer.from(bloom.bits.buffer, bloom.bits.byteOffset, bloom.bits.byteLength);
  await store.put(key, bytes, { contentType: 'application/octet-stream' });
  return {
    key,
    bits: bloom.size,
    hashes: bloom.hashes,
    size: bytes.length,
    sha256: sha256Hex(bytes),
  };
}

/**
 * A shard's content list: its lines sorted, without identical pairs, as gzip JSON lines (the
 * catalog partitions' format), with a Bloom filter of its hashes sized for it. The list is built
 * in a scratch file first; it and its filter are then stored side by side (a shard does this
 * while its last pack uploads, and writes its result, which makes the list count, after both).
 */
export async function writeContentList(
  store: ContentStore,
  content: CatalogLine[],
  options: { key: string; bloomKey: string; scratchDir: string },
): Promise<ObjectDigest & { key: string; entries: number; bloom: CatalogBloomRef }> {
  content.sort(compareCatalogLines);
  const lines = content.filter(
    (line, i) => i === 0 || compareCatalogLines(content[i - 1] as CatalogLine, line) !== 0,
  );
  const file = await JsonLinesFile.create(options.scratchDir, 'content');
  const bloom = BloomFilter.forEntries(lines.length);
  try {
    for (const line of lines) {
      if (file.add(line)) await file.flush();
      bloom.add(line[0]);
    }
    await file.close();
  } catch (error) {
    await file.discard();
    throw error;
  }
  const entries = file.lines;
  const [digest, bloomRef] = await Promise.all([
    file.upload(store, options.key),
    putBloom(store, options.bloomKey, bloom),
  ]);
  return { key: options.key, entries, ...digest, bloom: bloomRef };
}

/** Reads a stored object whole and checks its size and sha256 (objects of a few megabytes). */
async function readVerified(store: ContentStore, ref: ObjectDigest & { key: string }): Promise<Buffer> {
  const bytes = await store.read(ref.key, Math.max(ref.size, 1) + 1);
  if (bytes.length !== ref.size || sha256Hex(bytes) !== ref.sha256)
    throw new CorruptBackupError(`${ref.key} does not match its recorded size and sha256`);
  return bytes;
}

/**
 * The catalog of a set whose content is one shard's list, small enough for one partition: the
 * list is already sorted and without duplicates, in the partition's format, and its Bloom filter
 * is sized for it, so both are stored again as they are (checked against their digests) instead
 * of being parsed, merged and compressed again. Undefined when the list does not qualify.
 */
export async function copySingleListCatalog(
  store: ContentStore,
  content: ObjectDigest & { key: string; entries: number; bloom?: CatalogBloomRef },
  keys: CatalogKeys,
): Promise<CatalogRef | undefined> {
  if (!content.bloom || prefixLengthFor(content.entries) !== 0) return undefined;
  const expectedBits = BloomFilter.forEntries(content.entries).size;
  if (content.bloom.bits !== expectedBits || content.bloom.hashes !== BLOOM_HASHES) return undefined;
  const [list, bloom] = await Promise.all([readVerified(store, content), readVerified(store, content.bloom)]);
  const key = keys.partition('');
  const bloomKey = keys.bloom();
  await Promise.all([
    store.put(key, list, { contentType: 'application/gzip' }),
    store.put(bloomKey, bloom, { contentType: 'application/octet-stream' }),
  ]);
  return {
    prefixLength: 0,
    entries: content.entries,
    partitions: [{ prefix: '', key, entries: content.entries, size: content.size, sha256: content.sha256 }],
    bloom: { ...content.bloom, key: bloomKey },
  };
}

export interface CatalogKeys {
  partition(prefix: string): string;
  bloom(): string;
}

/**
 * Writes the catalog from a sorted stream, one partition at a time (each a gzip JSONL object),
 * and the Bloom filter. `expectedEntries` (an upper bound) chooses the partitioning.
 */
export async function writeCatalog(
  store: ContentStore,
  lines: AsyncIterable<CatalogLine>,
  options: { keys: CatalogKeys; scratchDir: string; expectedEntries: number },
): Promise<CatalogRef> {
  const prefixLength = prefixLengthFor(options.expectedEntries);
  const bloom = BloomFilter.forEntries(options.expectedEntries);
  const partitions: CatalogRef['partitions'] = [];
  let current: { prefix: string; file: JsonLinesFile } | undefined;
  let total = 0;
  const close = async () => {
    if (!current) return;
    const key = options.keys.partition(current.prefix);
    const entries = current.file.lines;
    const digest = await current.file.upload(store, key);
    partitions.push({ prefix: current.prefix, key, entries, ...digest });
    current = undefined;
  };
  try {
    for await (const line of lines) {
      const prefix = line[0].slice(0, prefixLength);
      if (current && current.prefix !== prefix) await close();
      current ??= { prefix, file: await JsonLinesFile.create(options.scratchDir, 'catalog') };
      // A line read from a content list is written as it was read (no second JSON.stringify).
      if (current.file.addLine(LINE_TEXT.get(line) ?? JSON.stringify(line))) await current.file.flush();
      bloom.add(line[0]);
      total += 1;
    }
    await close();
  } catch (error) {
    await current?.file.discard();
    throw error;
  }
  return {
    prefixLength,
    entries: total,
    partitions,
    bloom: await putBloom(store, options.keys.bloom(), bloom),
  };
}

/** Reads a stored, sorted list of catalog lines (a shard's content list or a partition), validated. */
export async function* readCatalogLines(
  store: ContentStore,
  key: string,
  expected?: ObjectDigest,
): AsyncGenerator<CatalogLine> {
  for await (const { value, line, text } of readJsonLines(store, key, expected)) {
    if (isCatalogLine(value)) {
      LINE_TEXT.set(value, text);
      yield value;
      continue;
    }
    const parsed = catalogLineSchema.safeParse(value);
    if (!parsed.success)
      throw new CorruptBackupError(`${key} line ${line}: ${describeIssues(parsed.error.issues)}`);
    yield parsed.data as CatalogLine;
  }
}

// ---------------------------------------------------------------------------------------------
// Looking up: the previous set's catalog.

export interface CatalogLookupStats {
  lookups: number;
  bloomNegatives: number;
  partitionsFetched: number;
}

export class CatalogLookup {
  private readonly cache = new Map<string, Promise<Map<string, DataLocation>>>();
  private cachedEntries = 0;
  /** Read on the first lookup: a backup in which nothing changed never fetches it. */
  private bloom: Promise<BloomFilter | undefined> | undefined;
  readonly stats: CatalogLookupStats = { lookups: 0, bloomNegatives: 0, partitionsFetched: 0 };

  private constructor(
    private readonly store: ContentStore,
    private readonly ref: CatalogRef | undefined,
    /** Catalog lines kept in memory at most (about 200 bytes each). */
    private readonly cacheBudget: number,
  ) {}

  static empty(): CatalogLookup {
    return new CatalogLookup(undefined as unknown as ContentStore, undefined, 0);
  }

  static async open(
    store: ContentStore,
    ref: CatalogRef | undefined,
    cacheBudget = 250_000,
  ): Promise<CatalogLookup> {
    if (!ref || ref.entries === 0) return CatalogLookup.empty();
    return new CatalogLookup(store, ref, cacheBudget);
  }

  private async loadBloom(ref: CatalogRef): Promise<BloomFilter | undefined> {
    if (!ref.bloom) return undefined;
    const bytes = await this.store.read(ref.bloom.key, 256 * 1024 * 1024);
    if (bytes.length !== ref.bloom.size || sha256Hex(bytes) !== ref.bloom.sha256) {
      throw new CorruptBackupError(`${ref.bloom.key} does not match its recorded size and sha256`);
    }
    return new BloomFilter(
      new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      ref.bloom.bits,
      ref.bloom.hashes,
    );
  }

  /** Where the content with this hash is stored, if the catalog has it. */
  async find(sha256: string): Promise<DataLocation | undefined> {
    try {
      return await this.lookUp(sha256);
    } catch (error) {
      throw asPreviousIndexError(error);
    }
  }

  private async lookUp(sha256: string): Promise<DataLocation | undefined> {
    const ref = this.ref;
    if (!ref) return undefined;
    this.stats.lookups += 1;
    this.bloom ??= this.loadBloom(ref);
    const bloom = await this.bloom;
    if (bloom && !bloom.mayContain(sha256)) {
      this.stats.bloomNegatives += 1;
      return undefined;
    }
    const prefix = sha256.slice(0, ref.prefixLength);
    const partition = ref.partitions.find((candidate) => candidate.prefix === prefix);
    // A partition is loaded whole: one larger than the budget (a catalog of over a billion
    // entries, or a damaged one) is not, and its content is stored again (dedup is only a saving).
    if (!partition || partition.entries > this.cacheBudget) return undefined;
    let loaded = this.cache.get(prefix);
    if (!loaded) {
      if (this.cachedEntries + partition.entries > this.cacheBudget) {
        // Over budget: drop what is cached (partitions are fetched again if needed).
        this.cache.clear();
        this.cachedEntries = 0;
      }
      this.stats.partitionsFetched += 1;
      loaded = this.load(partition);
      this.cache.set(prefix, loaded);
      this.cachedEntries += partition.entries;
    }
    return (await loaded).get(sha256);
  }

  private async load(partition: CatalogRef['partitions'][number]): Promise<Map<string, DataLocation>> {
    const map = new Map<string, DataLocation>();
    let lines = 0;
    for await (const [sha256, location] of readCatalogLines(this.store, partition.key, partition)) {
      // Its recorded count is what the budget counted: a partition longer than that is damaged.
      lines += 1;
      if (lines > partition.entries)
        throw new CorruptBackupError(
          `${partition.key} holds more than the ${partition.entries} lines its catalog records: it was changed or damaged`,
        );
      if (!map.has(sha256)) map.set(sha256, location);
    }
    return map;
  }
}
