import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newRunId } from '#backup-set/backup-id.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler } from '#runtime/runtime.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';
import {
  backup,
  backupIdOf,
  expectNothingLost,
  homeSettings,
  makeHome,
  outputOf,
  restore,
  restoreIdsOf,
  runtimeWith,
  storeSnapshot,
  verifySet,
} from './support.ts';

/**
 * Runs leave scratch objects under `work/<runId>/`: a backup's Commit clears its own, but a
 * restore's and a drill's stay (the next restore reads a failed one's plan), and a shard still
 * running when its Map failed can write after Commit. Retention removes the work areas of runs
 * that ended long ago, and nothing else.
 */

const work = tempDir('work-areas');
afterAll(() => work.cleanup());

const DAY = 86_400_000;

describe('work areas of finished runs', () => {
  it('are removed by a later retention run; a recent run keeps its own, and nothing else changes', async () => {
    const store = new LocalFolderStore(path.join(work.dir, 'store'));
    const home = path.join(work.dir, 'home');
    makeHome(home, 8);
    const rt = runtimeWith(store, { liferayHome: homeSettings(home) });
    const backupId = backupIdOf(await backup(rt));
    outputOf(await restore(rt, { backupId, liferayHome: { target: path.join(work.dir, 'restored') } }));
    const failing: Handler = async () => {
      throw new Error('the restore target went away');
    };
    const failed = await restore(
      rt,
      { backupId, liferayHome: { target: path.join(work.dir, 'restored-failed') } },
      { taskOverrides: { 'Liferay Home restore shard': failing } },
    );
    const failedId = restoreIdsOf(failed).restoreId;
    // A shard that outlived its failed Map wrote after Commit had cleared the backup's work area.
    await store.put(`work/${backupId}/files/liferayHome/shards/00-00009/result.json`, '{}');
    const later = new Date(Date.now() + 3 * DAY);
    // A backup that started an hour before the retention run is still working in its area.
    const running = newRunId('b', new Date(later.getTime() - 3_600_000));
    await store.put(`work/${running}/files/liferayHome/plan.json`, '{}');
    const workKeys = async () => {
      const keys: string[] = [];
      for await (const object of store.list('work/')) keys.push(object.key);
      return keys;
    };
    expect((await workKeys()).some((key) => key.startsWith(`work/${failedId}/`))).toBe(true);
    const before = await storeSnapshot(store);

    const retention = runtimeWith(store, {}, { now: () => later });
    const outcome = outputOf<{ outcome: { reportKey: string; deletedSets: string[] } }>(
      await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retention, { validate: false }),
    );
    expect(outcome.outcome.deletedSets).toEqual([]);
    const report = JSON.parse((await store.read(outcome.outcome.reportKey)).toString('utf8')) as {
      staleWorkObjects: number;
    };
    expect(await workKeys()).toEqual([`work/${running}/files/liferayHome/plan.json`]);
    expect(report.staleWorkObjects).toBe(before.size - (await storeSnapshot(store)).size + 1);
    expectNothingLost(before, await storeSnapshot(store), [/^work\//]);
    expect((await verifySet(rt, backupId)).status).toBe('verified');
  });
});
