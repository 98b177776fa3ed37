/**
 * Runs one files restore (Plan, each round's shards in order, Finalize) in its own process, so that
 * a test can run it as a user that is not root (the Lambda functions write to EFS as the access
 * point's user, the CLI often as a liferay user; root ignores modes):
 *
 *   node --import tsx restore-child.ts --store DIR --id BACKUP_ID --target DIR --scratch DIR
 *        [--budget SECONDS] [--twice] [--main-thread]
 *
 * --budget: the shards' time budget (0: every shard that fills a batch hands the rest to a further round).
 * --twice: every shard runs to its end and then again, as Step Functions retries a shard whose
 *   Lambda ended after its writes (the second run finds the first one's files and modes).
 * --main-thread: a store without content sources, so files are read on the main thread (the path
 *   taken over EFS) instead of by the fetch workers.
 *
 * Before each shard it also looks at the folders the shards before it reported open (folders a
 * later shard or round may still write into): `readOnlyOpenDirs` names those it found without the
 * owner's write permission, each with the shard that is about to run.
 *
 * Prints one JSON line: {"ok": true, "restoreId", "summary", "readOnlyOpenDirs"} or
 * {"ok": false, "error": "Name: message", "readOnlyOpenDirs"}.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { ShardItem } from '#components/files/events.ts';
import { filesKeys } from '#components/files/keys.ts';
import { readRestorePlan } from '#components/files/restore-plan.ts';
import { readRestoreShardResult, restoreShard } from '#components/files/restore-shard.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { CountingStore } from './counting-store.ts';
import { driveRestore, homeRuntime, restoreContext } from './drive.ts';

const { values } = parseArgs({
  options: {
    store: { type: 'string' },
    id: { type: 'string' },
    target: { type: 'string' },
    scratch: { type: 'string' },
    budget: { type: 'string', default: '600' },
    twice: { type: 'boolean', default: false },
    'main-thread': { type: 'boolean', default: false },
  },
});
if (!values.store || !values.id || !values.target || !values.scratch)
  throw new Error('usage: see the header of restore-child.ts');

const store = new CountingStore(new LocalFolderStore(values.store), {
  contentSources: !values['main-thread'],
});
const rt = homeRuntime(
  store,
  {
    root: values.target,
    shard: { maxFiles: 100_000, maxBytes: 1024 ** 3, timeBudgetSeconds: Number(values.budget) },
  },
  values.scratch,
);
const restore = restoreContext(values.id, { target: values.target });
const { restoreId } = restore;
const finished: ShardItem[] = [];
const readOnlyOpenDirs: string[] = [];

/** The open folders of the shards run so far that the owner cannot write into. */
async function checkOpenDirs(next: ShardItem): Promise<void> {
  const { staging } = await readRestorePlan(store, filesKeys.plan(restoreId, 'liferayHome'));
  for (const item of finished) {
    const result = await readRestoreShardResult(
      store,
      filesKeys.shardResult(restoreId, 'liferayHome', item.id),
    );
    for (const dir of result?.openDirs ?? []) {
      const mode = fs.statSync(path.join(staging, ...dir.path.split('/'))).mode;
      if ((mode & 0o200) === 0)
        readOnlyOpenDirs.push(`${dir.path} (${(mode & 0o7777).toString(8)}) before shard ${next.id}`);
    }
  }
}

try {
  const result = await driveRestore(rt, restore, 'liferayHome', {
    beforeShard: async (shard) => {
      await checkOpenDirs(shard);
      if (values.twice) await restoreShard({ restore, component: 'liferayHome', shard }, rt);
      finished.push(shard);
      return true;
    },
  });
  console.log(JSON.stringify({ ok: true, restoreId, summary: result.summary, readOnlyOpenDirs }));
} catch (error) {
  const message = `${(error as Error).name}: ${(error as Error).message}`;
  console.log(JSON.stringify({ ok: false, error: message, readOnlyOpenDirs }));
}
