import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BloomFilter,
  type CatalogLine,
  CatalogLookup,
  compareCatalogLines,
  copySingleListCatalog,
  mergeCatalogSources,
  prefixLengthFor,
  readCatalogLines,
  writeCatalog,
  writeContentList,
} from '#components/files/catalog.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'files-catalog-'));
const store = new LocalFolderStore(path.join(dir, 'store'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (n: number) => createHash('sha256').update(String(n)).digest('hex');
const pack = (n: number) =>
  `objects/packs/${n.toString(16).padStart(2, '0')}/${n.toString(16).padStart(32, '0')}`;
const line = (n: number, p: number, offset = 0): CatalogLine => [
  sha(n),
  { pack: pack(p), offset, length: 10 },
];

async function* from(lines: CatalogLine[]) {
  yield* [...lines].sort(compareCatalogLines);
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('catalog merge', () => {
  it('merges sorted shard lists into one sorted list, dropping identical pairs but keeping every location', async () => {
    const a = [line(1, 1), line(2, 1, 10), line(3, 1, 20)];
    const b = [line(2, 1, 10), line(3, 2), line(4, 2, 10)];
    const merged = await collect(
      mergeCatalogSources([from(a)[Symbol.asyncIterator](), from(b)[Symbol.asyncIterator]()]),
    );
    expect(merged).toEqual([...a, line(3, 2), line(4, 2, 10)].sort(compareCatalogLines));
    // The same content stored twice by two shards: both locations stay (garbage collection needs both packs).
    expect(merged.filter(([hash]) => hash === sha(3))).toHaveLength(2);
  });

  it('partitions by hash prefix as the catalog grows', () => {
    expect(prefixLengthFor(20_000)).toBe(0);
    expect(prefixLengthFor(1_000_000)).toBe(1);
    expect(prefixLengthFor(10_000_000)).toBe(2);
    expect(prefixLengthFor(1_000_000_000)).toBe(3);
  });
});

describe('Bloom filter', () => {
  it('never forgets an added hash and rejects most others', () => {
    const bloom = BloomFilter.forEntries(10_000);
    for (let i = 0; i < 10_000; i += 1) bloom.add(sha(i));
    for (let i = 0; i < 10_000; i += 1) expect(bloom.mayContain(sha(i))).toBe(true);
    let falsePositives = 0;
    for (let i = 10_000; i < 30_000; i += 1) if (bloom.mayContain(sha(i))) falsePositives += 1;
    // About 0.06 % at 16 bits and 8 positions per entry.
    expect(falsePositives / 20_000).toBeLessThan(0.003);
  });

  it('sets the bits that filters already stored were written with (8 hex digits per position, modulo the size)', () => {
    // Prepare
    const bloom = BloomFilter.forEntries(1000);
    const expected = new Uint8Array(bloom.bits.length);
    // Act
    for (let i = 0; i < 1000; i += 1) {
      const hash = sha(i);
      bloom.add(hash);
      for (let k = 0; k < bloom.hashes; k += 1) {
        const bit = Number.parseInt(hash.slice(k * 8, k * 8 + 8), 16) % bloom.size;
        expected[bit >> 3] = (expected[bit >> 3] as number) | (1 << (bit & 7));
      }
    }
    // Assess
    expect(Buffer.from(bloom.bits).equals(Buffer.from(expected))).toBe(true);
  });
});

describe('catalog written and looked up', () => {
  it('finds every stored hash, answers most misses from the Bloom filter, and fetches only partitions it needs', async () => {
    const lines = Array.from({ length: 300 }, (_, i) => line(i, i % 7, i * 10));
    const keys = {
      partition: (prefix: string) => `cat/${prefix || 'all'}.jsonl.gz`,
      bloom: () => 'cat/bloom.bin',
    };
    // Force 16 partitions with a large expected count, to exercise partition selection.
    const ref = await writeCatalog(store, from(lines), {
      keys,
      scratchDir: path.join(dir, 'scratch'),
      expectedEntries: 1_000_000,
    });
    expect(ref.prefixLength).toBe(1);
    expect(ref.partitions.length).toBe(16);
    expect(ref.entries).toBe(300);

    const lookup = await CatalogLookup.open(store, ref);
    for (const [hash, location] of lines.slice(0, 50)) expect(await lookup.find(hash)).toEqual(location);
    const fetched = lookup.stats.partitionsFetched;
    expect(fetched).toBeLessThanOrEqual(16);
    for (let i = 1000; i < 1100; i += 1) expect(await lookup.find(sha(i))).toBeUndefined();
    expect(lookup.stats.bloomNegatives).toBeGreaterThan(90);
  });

  it('refuses a partition that was changed after it was written', async () => {
    const keys = { partition: () => 'cat2/all.jsonl.gz', bloom: () => 'cat2/bloom.bin' };
    const ref = await writeCatalog(store, from([line(1, 1)]), {
      keys,
      scratchDir: path.join(dir, 'scratch'),
      expectedEntries: 1,
    });
    await store.put('cat2/all.jsonl.gz', (await store.read('cat2/all.jsonl.gz')).subarray(0, 10));
    const lookup = await CatalogLookup.open(store, ref);
    await expect(lookup.find(sha(1))).rejects.toThrow();
  });
});

describe('the catalog of a set with one content list', () => {
  it('is the list and its Bloom filter stored again, the same as merging them would write', async () => {
    const lines = [
      ...Array.from({ length: 500 }, (_, i) => line(i, i % 5, i * 10)),
      line(3, 9),
      line(3, 3, 30),
    ];
    const list = await writeContentList(store, [...lines], {
      key: 'one/content.jsonl.gz',
      bloomKey: 'one/content-bloom.bin',
      scratchDir: path.join(dir, 'scratch'),
    });
    expect(list.entries).toBe(501); // line(3, 3, 30) is the line for i = 3: the identical pair is dropped
    const copied = await copySingleListCatalog(store, list, {
      partition: () => 'one/copied/all.jsonl.gz',
      bloom: () => 'one/copied/bloom.bin',
    });
    const merged = await writeCatalog(
      store,
      mergeCatalogSources([readCatalogLines(store, list.key, list)[Symbol.asyncIterator]()]),
      {
        keys: { partition: () => 'one/merged/all.jsonl.gz', bloom: () => 'one/merged/bloom.bin' },
        scratchDir: path.join(dir, 'scratch'),
        expectedEntries: list.entries,
      },
    );
    const withoutKeys = (ref: typeof merged) => ({
      ...ref,
      partitions: ref.partitions.map(({ key: _key, size: _size, sha256: _sha256, ...rest }) => rest),
      bloom: { ...ref.bloom, key: '' },
    });
    expect(copied && withoutKeys(copied)).toEqual(withoutKeys(merged));
    const linesOf = async (ref: typeof merged) =>
      collect(readCatalogLines(store, ref.partitions[0]?.key ?? '', ref.partitions[0]));
    expect(await linesOf(copied as typeof merged)).toEqual(await linesOf(merged));
    const lookup = await CatalogLookup.open(store, copied);
    for (const [hash] of lines.slice(0, 20)) expect(await lookup.find(hash)).toBeDefined();
    // A list too large for one partition is merged as before.
    expect(
      await copySingleListCatalog(
        store,
        { ...list, entries: 200_000 },
        {
          partition: () => 'x',
          bloom: () => 'y',
        },
      ),
    ).toBeUndefined();
    // A list changed in the store is refused.
    await store.put(list.key, Buffer.from('changed'));
    await expect(
      copySingleListCatalog(store, list, { partition: () => 'z/all', bloom: () => 'z/bloom' }),
    ).rejects.toThrow(/does not match/);
  });
});
