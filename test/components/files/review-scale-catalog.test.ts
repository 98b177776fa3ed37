import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CatalogLine,
  CatalogLookup,
  compareCatalogLines,
  writeCatalog,
} from '#components/files/catalog.ts';
import { PreviousIndexError } from '#components/files/errors.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';

/**
 * Review (scale): a backup looks up changed content in the previous set's catalog, loading a
 * partition whole into memory. What the catalog says of a partition's size bounds that memory
 * (a cache budget of lines); a partition holding more lines than recorded, or claiming more than
 * the budget, must not be loaded whole (shown here with a small budget instead of 250,000).
 */
const dir = mkdtempSync(path.join(tmpdir(), 'review-scale-catalog-'));
const store = new LocalFolderStore(path.join(dir, 'store'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (n: number) => createHash('sha256').update(String(n)).digest('hex');
const line = (n: number): CatalogLine => [
  sha(n),
  { pack: `objects/packs/ab/${'ab'.repeat(16)}`, offset: n * 10, length: 10 },
];

async function catalogOf(count: number, prefix: string) {
  const lines = Array.from({ length: count }, (_, i) => line(i)).sort(compareCatalogLines);
  async function* sorted() {
    yield* lines;
  }
  const ref = await writeCatalog(store, sorted(), {
    keys: { partition: () => `${prefix}/all.jsonl.gz`, bloom: () => `${prefix}/bloom.bin` },
    scratchDir: path.join(dir, 'scratch'),
    expectedEntries: count,
  });
  // Without its Bloom filter: every lookup goes to the partition.
  return { ...ref, bloom: undefined };
}

describe('a previous catalog read back from the store', () => {
  it('whose partition holds more lines than its catalog records is refused as it is read', async () => {
    const ref = await catalogOf(5000, 'more-lines');
    const lying = {
      ...ref,
      entries: 10,
      partitions: ref.partitions.map((partition) => ({ ...partition, entries: 10 })),
    };
    const lookup = await CatalogLookup.open(store, lying, 1000);
    // Before: all 5,000 lines loaded (whatever the budget), and the content found.
    const attempt = lookup.find(sha(4999));
    await expect(attempt).rejects.toThrow(PreviousIndexError);
    await expect(attempt).rejects.toThrow(
      /more-lines\/all\.jsonl\.gz holds more than the 10 lines its catalog records/,
    );
  });

  it('whose partition claims more lines than the budget is not loaded (the content is stored again)', async () => {
    const ref = await catalogOf(5000, 'over-budget');
    const lookup = await CatalogLookup.open(store, ref, 1000);
    // Before: the partition was loaded whole, 5,000 lines against a budget of 1,000.
    expect(await lookup.find(sha(4999))).toBeUndefined();
    expect(lookup.stats.partitionsFetched).toBe(0);
  });

  it('within the budget, is loaded and found as before', async () => {
    const ref = await catalogOf(500, 'in-budget');
    const lookup = await CatalogLookup.open(store, ref, 1000);
    expect(await lookup.find(sha(499))).toEqual(line(499)[1]);
    expect(lookup.stats.partitionsFetched).toBe(1);
  });
});
