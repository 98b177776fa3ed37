import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { catalogLineSchema, isCatalogLine } from '#components/files/catalog.ts';
import {
  type IndexEntry,
  indexEntrySchema,
  indexSchema,
  isIndexEntry,
  readIndex,
  readPart,
} from '#components/files/index-format.ts';
import { JsonLinesFile } from '#components/files/jsonl.ts';
import { CorruptBackupError } from '#runtime/errors.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'files-format-'));
const store = new LocalFolderStore(path.join(dir, 'store'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SHA = 'a'.repeat(64);
const entries: IndexEntry[] = [
  {
    path: 'a',
    type: 'dir',
    mode: 0o755,
    mtimeNs: '1700000000123456789',
    uid: 1000,
    gid: 1000,
    ino: '12',
    ctimeNs: '1700000000123456789',
  },
  {
    path: 'a/empty',
    type: 'file',
    mode: 0o600,
    size: 0,
    mtimeNs: '1700000000000000001',
    sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    uid: 0,
    gid: 0,
  },
  {
    path: 'a/small.txt',
    type: 'file',
    mode: 0o644,
    size: 5,
    mtimeNs: '1700000000000000002',
    sha256: SHA,
    data: { pack: `objects/packs/ab/${'ab'.repeat(16)}`, offset: 10, length: 5 },
    uid: 1,
    gid: 2,
    ino: '18446744073709551615',
    ctimeNs: '1700000000000000002',
  },
  { path: 'a/z-link', type: 'symlink', target: '../etc', mtimeNs: '1', uid: 0, gid: 0 },
  {
    path: 'b/ü 日本.bin',
    type: 'file',
    mode: 0o4755,
    size: 9_000_000_000,
    mtimeNs: '2',
    sha256: SHA,
    data: { blob: `objects/blobs/aa/${SHA}` },
    uid: 0,
    gid: 0,
  },
];

async function writePart(key: string, lines: unknown[]) {
  const file = await JsonLinesFile.create(path.join(dir, 'scratch'), 'part');
  for (const line of lines) await file.write(line);
  return { key, ...(await file.upload(store, key)) };
}

async function readAll(ref: { key: string; size: number; sha256: string }): Promise<IndexEntry[]> {
  const out: IndexEntry[] = [];
  for await (const entry of readPart(store, ref)) out.push(entry);
  return out;
}

describe('index parts', () => {
  it('round-trip every kind of entry, with 64-bit inodes and nanosecond times kept exactly', async () => {
    const ref = await writePart('backups/x/part-1.jsonl.gz', entries);
    expect(await readAll(ref)).toEqual(entries);
    // gzip JSON Lines, one line per entry: readable with standard tools.
    const text = gunzipSync(readFileSync(path.join(store.location, ref.key))).toString('utf8');
    expect(text.trim().split('\n')).toHaveLength(entries.length);
  });

  it('detect a changed part through its recorded sha256', async () => {
    const ref = await writePart('backups/x/part-2.jsonl.gz', entries);
    const file = path.join(store.location, ref.key);
    const tampered = gunzipSync(readFileSync(file)).toString('utf8').replace('"mode":420', '"mode":511');
    const body = gzipSync(tampered);
    writeFileSync(file, body);
    await expect(readAll({ ...ref, size: body.length })).rejects.toThrow(CorruptBackupError);
  });

  it('refuse entries out of order, naming the part and line', async () => {
    const ref = await writePart('backups/x/part-3.jsonl.gz', [entries[2], entries[1]]);
    await expect(readAll(ref)).rejects.toThrow(/part-3\.jsonl\.gz line 2: .* is not after/);
  });

  it('refuse an entry that does not match the schema (a data key outside objects/)', async () => {
    const bad = { ...entries[2], data: { blob: 'backups/other/manifest.json' } };
    const ref = await writePart('backups/x/part-4.jsonl.gz', [bad]);
    await expect(readAll(ref)).rejects.toThrow(/line 1 is not a valid index entry/);
  });

  it('refuse a part that is not gzip', async () => {
    await store.put('backups/x/part-5.jsonl.gz', 'not gzip');
    await expect(
      readAll({ key: 'backups/x/part-5.jsonl.gz', size: 8, sha256: 'b'.repeat(64) }),
    ).rejects.toThrow(/not valid gzip/);
  });
});

describe('the fast checks of index lines and catalog lines', () => {
  const chunked: IndexEntry = {
    path: 'c',
    type: 'file',
    mode: 0o644,
    size: 3,
    mtimeNs: '-5',
    sha256: SHA,
    data: {
      chunks: [
        [SHA, 1],
        ['b'.repeat(64), 2],
      ],
    },
    uid: 0,
    gid: 0,
    encoding: 'identity',
  };
  const valid: unknown[] = [...entries, chunked];
  const badValues: unknown[] = [
    undefined,
    null,
    '',
    'x'.repeat(4097),
    -1,
    1.5,
    2 ** 53,
    0o10000,
    '12a',
    '-',
    '1'.repeat(31),
    'A'.repeat(64),
    true,
    [],
    {},
    ['a'],
    `objects/blobs/aa/${SHA}/x`,
    { blob: 'elsewhere' },
    { chunks: [[SHA, 1]] },
    { chunks: [[SHA, 1], [SHA]] },
    { pack: `objects/packs/ab/${'ab'.repeat(16)}`, offset: 1 },
    { blob: `objects/blobs/aa/${SHA}`, extra: 1 },
  ];
  /** Every value made from a valid one by changing, removing or adding one field. */
  function variants(value: Record<string, unknown>): unknown[] {
    const out: unknown[] = [];
    for (const key of [...Object.keys(value), 'mode', 'target', 'size', 'data', 'extra', 'type']) {
      for (const bad of badValues) out.push({ ...value, [key]: bad });
      const { [key]: _, ...without } = value;
      out.push(without);
    }
    for (const type of ['file', 'dir', 'symlink', 'other']) out.push({ ...value, type });
    return out;
  }

  it('accept every valid entry, and nothing the schema refuses', () => {
    for (const entry of valid) expect(isIndexEntry(entry), JSON.stringify(entry)).toBe(true);
    let refused = 0;
    for (const entry of valid) {
      for (const variant of variants(entry as Record<string, unknown>)) {
        const accepted = isIndexEntry(variant);
        if (!accepted) refused += 1;
        if (accepted) expect(indexEntrySchema.safeParse(variant).success, JSON.stringify(variant)).toBe(true);
      }
    }
    expect(refused).toBeGreaterThan(500);
  });

  it('accept catalog lines the schema accepts, and nothing it refuses', () => {
    const lines: unknown[] = valid.flatMap((entry) => {
      const { sha256, data } = entry as { sha256?: string; data?: unknown };
      return data ? [[sha256, data]] : [];
    });
    for (const line of lines) expect(isCatalogLine(line)).toBe(true);
    for (const line of lines as [string, unknown][]) {
      for (const bad of badValues) {
        for (const variant of [[bad, line[1]], [line[0], bad], [...line, bad], [line[0]]]) {
          if (isCatalogLine(variant)) expect(catalogLineSchema.safeParse(variant).success).toBe(true);
          expect(isCatalogLine(variant)).toBe(catalogLineSchema.safeParse(variant).success);
        }
      }
    }
  });
});

describe('index.json', () => {
  const index = {
    format: 'liferay-backup/files-index',
    version: 1,
    backupId: 'b20261127t020000z-0001',
    component: 'liferayHome',
    createdAt: '2026-11-27T02:00:00.000Z',
    sources: [{ mount: '', root: '/opt/liferay', role: 'tree' }],
    parts: [],
    totals: { entries: 0, files: 0, dirs: 0, symlinks: 0, bytes: 0 },
    catalog: { prefixLength: 0, entries: 0, partitions: [] },
  };

  it('is validated on read, with a clear message for a version this tool does not know', async () => {
    await store.put('backups/x/index.json', JSON.stringify({ ...index, version: 2 }));
    await expect(readIndex(store, 'backups/x/index.json')).rejects.toThrow(/version 2 is not supported/);
    await store.put('backups/x/index.json', JSON.stringify(index));
    expect((await readIndex(store, 'backups/x/index.json')).component).toBe('liferayHome');
    expect(indexSchema.safeParse({ ...index, extra: 1 }).success).toBe(false);
  });

  it('refuses parts that overlap', async () => {
    const part = {
      key: 'k',
      firstPath: 'a',
      lastPath: 'c',
      entries: 1,
      files: 1,
      bytes: 1,
      size: 1,
      sha256: SHA,
    };
    await store.put(
      'backups/x/index.json',
      JSON.stringify({ ...index, parts: [part, { ...part, firstPath: 'b', lastPath: 'd' }] }),
    );
    await expect(readIndex(store, 'backups/x/index.json')).rejects.toThrow(/does not follow/);
  });
});
