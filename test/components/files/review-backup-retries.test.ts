import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { finalizeBackup } from '#components/files/backup-finalize.ts';
import { planBackup } from '#components/files/backup-plan.ts';
import { copyShard } from '#components/files/copy-shard.ts';
import type { RoundState } from '#components/files/events.ts';
import { type IndexEntry, readIndex, readPart } from '#components/files/index-format.ts';
import { filesKeys } from '#components/files/keys.ts';
import { readRound } from '#components/files/rounds.ts';
import { filesResultDetailsSchema } from '#components/files/settings.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { CountingStore } from './support/counting-store.ts';
import {
  backupContext,
  commitSet,
  driveBackup,
  driveRestore,
  homeRuntime,
  restoreContext,
} from './support/drive.ts';
import { bytesFor, diffTrees, readTree } from './support/trees.ts';

/**
 * Review: a shard or a Finalize that Step Functions runs again after it had finished (its answer
 * lost, or the invocation reported failed while it ran on): the set's index must stay one that
 * reads back and restores.
 */

const work = fs.mkdtempSync(path.join(tmpdir(), 'review-backup-retries-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

let homes = 0;
function setUp() {
  homes += 1;
  const home = path.join(work, `home-${homes}`);
  fs.mkdirSync(path.join(home, 'data/document_library/20101'), { recursive: true });
  fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'a=1\n');
  for (let i = 0; i < 5; i += 1)
    fs.writeFileSync(path.join(home, `data/document_library/20101/doc-${i}`), bytesFor(`doc-${i}`, 3000));
  const store = new CountingStore(new LocalFolderStore(path.join(work, `store-${homes}`)));
  const rt = (root: string, now?: () => Date): Runtime => {
    const runtime = homeRuntime(
      store,
      { root, shard: { maxFiles: 1000, maxBytes: 64 * 1024 * 1024, timeBudgetSeconds: 600 } },
      path.join(work, 'scratch'),
    );
    return now ? { ...runtime, now } : runtime;
  };
  return { home, store, rt };
}

/** Every entry of every part, read and checked against the digests the index records. */
async function entriesOf(store: LocalFolderStore | CountingStore, details: unknown): Promise<IndexEntry[]> {
  const { index: ref } = filesResultDetailsSchema.parse(details);
  const index = await readIndex(store, ref.key, ref);
  const entries: IndexEntry[] = [];
  for (const part of index.parts) for await (const entry of readPart(store, part)) entries.push(entry);
  return entries;
}

describe('a copy shard run again after it had written its result', () => {
  it('whose re-run dies after storing its part: the set still references parts that match their digests, and restores', async () => {
    // Prepare: the shard runs to its result; Step Functions runs it again (its answer was lost);
    // meanwhile Liferay made an empty folder; the re-run stores its part and dies before its
    // result (the Lambda is cut off, every retry fails, the Map tolerates the failed item).
    const { home, store, rt } = setUp();
    const id = 'b20261127t020000z-a001';
    const before = readTree(home);
    const result = await driveBackup(rt(home), backupContext(id), 'liferayHome', {
      beforeShard: async (item) => {
        const event = { backup: backupContext(id), component: 'liferayHome', shard: item };
        await copyShard(event, rt(home));
        fs.mkdirSync(path.join(home, 'data/document_library/20102'));
        store.failWhen = (call) =>
          call.method === 'put' && call.key === filesKeys.shardResult(id, 'liferayHome', item.id);
        await copyShard(event, rt(home)).catch(() => undefined);
        store.failWhen = undefined;
        return false;
      },
    });
    // Assess: every part reads back against the digest the index holds, and the set restores.
    expect(result.status).toBe('complete');
    const entries = await entriesOf(store, result.details);
    expect(entries.map((entry) => entry.path)).toContain('data/document_library/20101/doc-4');
    await commitSet(store, id, [result]);
    const target = path.join(work, `restored-${homes}`);
    const restored = await driveRestore(rt(target), restoreContext(id, {}));
    expect(restored.status).toBe('complete');
    expect(diffTrees(before, readTree(target))).toEqual([]);
  });
});

describe('a Finalize run twice (an invocation reported failed went on running)', () => {
  it('writes the same index both times: the digest the first answer carries matches what the store holds', async () => {
    // Prepare: Plan and the shards, as the workflow runs them.
    const { home, store, rt } = setUp();
    const id = 'b20261127t020000z-a002';
    const backup = backupContext(id);
    const planned = (await planBackup({ backup, component: 'liferayHome' }, rt(home))) as RoundState;
    for (const item of await readRound(store, planned.shardListKey))
      await copyShard({ backup, component: 'liferayHome', shard: item }, rt(home));
    const event = () => JSON.parse(JSON.stringify({ backup, component: 'liferayHome', files: planned }));
    // Act: the retry answers first (its result is the one the workflow keeps); the first
    // invocation, a second later by the clock, writes its index after it.
    const kept = (await finalizeBackup(
      event(),
      rt(home, () => new Date('2026-11-27T02:10:00.000Z')),
    )) as RoundState;
    await finalizeBackup(
      event(),
      rt(home, () => new Date('2026-11-27T02:10:01.000Z')),
    );
    // Assess: the index the kept result names is the one in the store.
    const details = filesResultDetailsSchema.parse((kept.result as { details: unknown }).details);
    await expect(readIndex(store, details.index.key, details.index)).resolves.toMatchObject({ backupId: id });
  });
});
