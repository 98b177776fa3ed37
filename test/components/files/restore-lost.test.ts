import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { JsonLinesFile } from '#components/files/jsonl.ts';
import { filesKeys } from '#components/files/keys.ts';
import { mergeLostLists } from '#components/files/lost-content.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import {
  backup,
  backupIdOf,
  homeSettings,
  listTree,
  restore,
  restoreIdsOf,
  restoreReport,
  runtimeWith,
  writeTree,
} from '../../reliability/support.ts';
import { tempDir } from '../../support/local-runtime.ts';

/**
 * A restore with skipLost where the lost content is not a pack or a whole blob: a chunk that
 * several large files share, and more lost objects than a shard would start again for (only the
 * shard's first look at the store, one HEAD per object, finds those).
 */

const work = tempDir('restore-lost');
afterAll(() => work.cleanup());

const CHUNK = 64 * 1024;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function backedUp(name: string, files: Record<string, Buffer>, extra: Record<string, unknown> = {}) {
  const home = path.join(work.dir, name, 'home');
  writeTree(home, files);
  const storeDir = path.join(work.dir, name, 'store');
  const store = new LocalFolderStore(storeDir);
  const settings = { liferayHome: homeSettings(home, extra) };
  const backupId = backupIdOf(await backup(runtimeWith(store, settings)));
  const restoreWithSkipLost = async () => {
    const target = path.join(work.dir, name, 'restored');
    const outcome = await restore(runtimeWith(store, settings), {
      backupId,
      liferayHome: { target, skipLost: true },
    });
    expect(outcome.status).toBe('SUCCEEDED');
    const ids = restoreIdsOf(outcome);
    const listed = gunzipSync(await store.read(filesKeys.restoreLost(backupId, ids.restoreId, 'liferayHome')))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { path: string; cause: string });
    return { target, report: await restoreReport(store, ids), listed };
  };
  return { home, store, storeDir, restoreWithSkipLost };
}

/** The files of `home` but the lost ones, each byte for byte in `target`. */
function expectRestoredBut(home: string, target: string, lost: readonly string[]): void {
  const kept = listTree(home).filter((rel) => !lost.includes(rel));
  expect(listTree(target)).toEqual(kept);
  for (const rel of kept)
    if (fs.statSync(path.join(home, rel)).isFile())
      expect(sha256(fs.readFileSync(path.join(target, rel))), rel).toBe(
        sha256(fs.readFileSync(path.join(home, rel))),
      );
}

describe('a restore with skipLost', () => {
  it('a damaged chunk loses every file that uses it, and only those', async () => {
    const shared = randomBytes(CHUNK);
    const files = {
      'data/document_library/1/a/1.0': Buffer.concat([shared, randomBytes(CHUNK), randomBytes(100)]),
      'data/document_library/1/b/1.0': Buffer.concat([shared, randomBytes(CHUNK + 7)]),
      'data/document_library/1/c/1.0': randomBytes(3 * CHUNK + 5),
      'portal-ext.properties': Buffer.from('a=1\n'),
    };
    const { home, storeDir, restoreWithSkipLost } = await backedUp('chunk', files, { chunkBytes: CHUNK });
    // Damaged in place, same size: only reading it back can tell.
    const chunkFile = path.join(storeDir, ...filesKeys.blob(sha256(shared)).split('/'));
    const bytes = fs.readFileSync(chunkFile);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    fs.writeFileSync(chunkFile, bytes);

    const { target, report, listed } = await restoreWithSkipLost();
    const lost = ['data/document_library/1/a/1.0', 'data/document_library/1/b/1.0'];
    expect(listed.map((line) => line.path)).toEqual(lost);
    expect(listed[0]?.cause).toBe(`${filesKeys.blob(sha256(shared))} is lost`);
    expect(report.results.liferayHome?.summary).toMatchObject({ files: 2, lostFiles: 2 });
    expect(report.results.liferayHome?.warnings[0]).toMatch(
      /^2 files \(262251 bytes\) were NOT restored: their content in the backup store is lost \(1 stored object is gone or damaged\)\./,
    );
    expectRestoredBut(home, target, lost);
  });

  it('finds lost objects before it writes: 70 of 80 blobs gone restore in one pass', async () => {
    const files: Record<string, Buffer> = { 'portal-ext.properties': Buffer.from('a=1\n') };
    for (let i = 0; i < 80; i += 1)
      files[`data/document_library/1/${String(i).padStart(2, '0')}/1.0`] = randomBytes(CHUNK + i);
    // One shard for all of them (the suites' default cuts shards of 10 files).
    const oneShard = { shard: { maxFiles: 1000, maxBytes: 64 * 1024 * 1024, timeBudgetSeconds: 600 } };
    const { home, store, restoreWithSkipLost } = await backedUp('many', files, oneShard);
    const lost = Object.keys(files)
      .filter((rel) => rel.startsWith('data/'))
      .slice(0, 70);
    // More than a shard starts again for (64 attempts): they must be known before the first.
    await store.delete(lost.map((rel) => filesKeys.blob(sha256(files[rel] as Buffer))));

    const { target, report, listed } = await restoreWithSkipLost();
    expect(listed.map((line) => line.path)).toEqual(lost);
    expect(report.results.liferayHome?.summary).toMatchObject({ files: 11, lostFiles: 70, shards: 1 });
    expectRestoredBut(home, target, lost);
  });
});

describe('the list of lost files', () => {
  it('is written beside the target and in the store; a copy that cannot be written is given up, saying why', async () => {
    const dir = path.join(work.dir, 'lists');
    const store = new LocalFolderStore(path.join(dir, 'store'));
    const line = {
      path: 'data/document_library/1/a/1.0',
      size: 3,
      sha256: 'a'.repeat(64),
      cause: 'x is lost',
    };
    const shardList = await JsonLinesFile.create(dir, 'shard');
    await shardList.write(line);
    const digest = await shardList.upload(store, 'work/r/lost.jsonl.gz');
    const lists = [{ key: 'work/r/lost.jsonl.gz', ...digest }];
    const merge = (key: string, copy: string) => mergeLostLists(store, dir, lists, key, copy);

    const written = await merge('restores/one.jsonl.gz', path.join(dir, 'beside.jsonl'));
    expect(written).toEqual({ files: 1, first: [line.path] });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'beside.jsonl'), 'utf8'))).toEqual(line);

    // A retried Finalize replaces its own earlier copy (never half of one: written aside, then renamed).
    const again = await merge('restores/one.jsonl.gz', path.join(dir, 'beside.jsonl'));
    expect(again).toEqual({ files: 1, first: [line.path] });
    expect(fs.readdirSync(dir).filter((name) => name.startsWith('beside'))).toEqual(['beside.jsonl']);

    // A folder that does not exist: the copy is given up and says why; the store's list is written.
    const result = await merge('restores/two.jsonl.gz', path.join(dir, 'missing', 'beside.jsonl'));
    expect(result).toMatchObject({ files: 1, copyError: expect.stringMatching(/ENOENT/) });
    expect(JSON.parse(gunzipSync(await store.read('restores/two.jsonl.gz')).toString('utf8'))).toEqual(line);
  });
});
