import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { UnsafeEntryError } from '#components/files/errors.ts';
import { INDEX_FORMAT, indexBody } from '#components/files/index-format.ts';
import { JsonLinesFile, LineTooLongError, MAX_LINE_CHARS, readJsonLines } from '#components/files/jsonl.ts';
import { planRestore } from '#components/files/restore-plan.ts';
import { CorruptBackupError } from '#runtime/errors.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { CountingStore } from './support/counting-store.ts';
import { commitSet, driveRestore, homeRuntime, restoreContext } from './support/drive.ts';

/**
 * Review (scale): an index read back from the store is bounded whatever it says. Each set below
 * is written as a damaged or hostile store would hold it (its digests recorded, so only the
 * content is wrong), and a restore of it must fail clearly, naming what is wrong, without taking
 * the process's memory or minutes.
 */
const work = fs.mkdtempSync(path.join(tmpdir(), 'review-scale-hostile-'));
const store = new LocalFolderStore(path.join(work, 'store'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const SHA = 'c'.repeat(64);
const PACK = `objects/packs/ab/${'ab'.repeat(16)}`;
const digestOf = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

let sets = 0;
/** Stores a set whose one index part is exactly this text (gzip), with its digests recorded. */
async function setWithPart(text: string | Buffer, firstPath: string, lastPath: string): Promise<string> {
  sets += 1;
  const backupId = `b20261127t020000z-${sets.toString(16).padStart(4, '0')}`;
  const key = `backups/${backupId}/files/liferayHome/part-00-00000.jsonl.gz`;
  const gz = gzipSync(text);
  await store.put(key, gz);
  const index = {
    format: INDEX_FORMAT,
    version: 1 as const,
    backupId,
    component: 'liferayHome' as const,
    createdAt: new Date().toISOString(),
    sources: [{ mount: '', root: '/opt/liferay', role: 'tree' as const }],
    parts: [
      { key, firstPath, lastPath, entries: 1, files: 1, bytes: 0, size: gz.length, sha256: digestOf(gz) },
    ],
    totals: { entries: 1, files: 1, dirs: 0, symlinks: 0, bytes: 0 },
    catalog: { prefixLength: 0, entries: 0, partitions: [] },
  };
  const body = indexBody(index);
  const indexKey = `backups/${backupId}/files/liferayHome/index.json`;
  await store.put(indexKey, body);
  await commitSet(store, backupId, [
    {
      component: 'liferayHome',
      status: 'complete',
      warnings: [],
      summary: {},
      details: {
        engine: 'files',
        index: { key: indexKey, size: Buffer.byteLength(body), sha256: digestOf(body) },
        sources: index.sources,
        rules: { include: [], exclude: [] },
      },
    },
  ]);
  return backupId;
}

const fileLine = (p: string, extra: Record<string, unknown>) =>
  `${JSON.stringify({ path: p, type: 'file', mode: 0o644, size: 3, mtimeNs: '1', sha256: SHA, uid: 0, gid: 0, ...extra })}\n`;

describe('an index part read back from the store', () => {
  it('with one line of 64 MiB and no line end (64 KB of gzip) fails at the line limit, naming the part', async () => {
    const backupId = await setWithPart(Buffer.alloc(64 * 1024 * 1024, 0x61), 'a', 'a');
    const attempt = planRestore(
      { restore: restoreContext(backupId, {}), component: 'liferayHome' },
      homeRuntime(store, { root: path.join(work, `target-${sets}`) }, path.join(work, 'scratch')),
    );
    await expect(attempt).rejects.toThrow(CorruptBackupError);
    await expect(attempt).rejects.toThrow(
      /part-00-00000\.jsonl\.gz line 1 is longer than 16777216 characters/,
    );
    expect(fs.existsSync(path.join(work, `target-${sets}.restore-`))).toBe(false);
  }, 120_000);

  it('with a file of a million chunks (an 80 MB line) is refused by the plan, naming the part and line', async () => {
    const chunk = `["${SHA}",16777216]`;
    const chunks = `[${Array.from({ length: 1_000_000 }, () => chunk).join(',')}]`;
    const line = fileLine('big.bin', { size: 16777216 * 1_000_000, data: { chunks: '@' } }).replace(
      '"@"',
      chunks,
    );
    const backupId = await setWithPart(line, 'big.bin', 'big.bin');
    const attempt = planRestore(
      { restore: restoreContext(backupId, {}), component: 'liferayHome' },
      homeRuntime(store, { root: path.join(work, `target-${sets}`) }, path.join(work, 'scratch')),
    );
    await expect(attempt).rejects.toThrow(/line 1 is longer than 16777216 characters/);
  }, 120_000);

  it('with a packed file claiming 10 GB fails clearly on the main-thread read path, naming the pack', async () => {
    const backupId = await setWithPart(
      fileLine('f', { size: 10_000_000_000, data: { pack: PACK, offset: 0, length: 10_000_000_000 } }),
      'f',
      'f',
    );
    await store.put(PACK, Buffer.from('abc'));
    const target = path.join(work, `target-${sets}`);
    const attempt = driveRestore(
      homeRuntime(
        new CountingStore(store, { contentSources: false }),
        { root: target },
        path.join(work, 'scratch'),
      ),
      restoreContext(backupId, {}),
    );
    // Before: "Invalid typed array length: 10000000000" from the restore shard (memory of the
    // claimed size for the file's assembly), naming neither the file nor the pack.
    await expect(attempt).rejects.toThrow(
      /"f": its stored range \(10000000000 bytes at 0 in objects\/packs\/ab\/(ab){16}\) lies beyond the largest pack/,
    );
    await expect(attempt).rejects.toThrow(UnsafeEntryError);
  }, 120_000);

  it('with a packed file claiming 10 GB at an offset of 10 GB fails clearly with the fetch workers too', async () => {
    const backupId = await setWithPart(
      fileLine('f', {
        size: 10_000_000_000,
        data: { pack: PACK, offset: 10_000_000_000, length: 10_000_000_000 },
      }),
      'f',
      'f',
    );
    await store.put(PACK, Buffer.from('abc'));
    const target = path.join(work, `target-${sets}`);
    const attempt = driveRestore(
      homeRuntime(store, { root: target }, path.join(work, 'scratch')),
      restoreContext(backupId, {}),
    );
    await expect(attempt).rejects.toThrow(/objects\/packs\/ab\/(ab){16}/);
  }, 120_000);
});

describe('a JSON Lines object written by this tool', () => {
  it('never holds a line a reader would refuse: the writer refuses it, naming its start', async () => {
    const list = await JsonLinesFile.create(path.join(work, 'scratch'), 'long');
    const longest = { path: 'x'.repeat(MAX_LINE_CHARS - 11) };
    expect(JSON.stringify(longest).length).toBe(MAX_LINE_CHARS);
    await list.write(longest);
    expect(() => list.add({ path: 'y'.repeat(MAX_LINE_CHARS) })).toThrow(LineTooLongError);
    expect(() => list.add({ path: 'y'.repeat(MAX_LINE_CHARS) })).toThrow(/\{"path":"yyy/);
    await list.upload(store, 'long.jsonl.gz');
    const read: unknown[] = [];
    for await (const { value } of readJsonLines(store, 'long.jsonl.gz')) read.push(value);
    expect(read).toEqual([longest]);
  }, 60_000);
});
