import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireBackupLock, readBackupLock } from '#backup-set/lock.ts';
import { assertRestoreLocksHeld, restoreLockKey } from '#backup-set/restore-lock.ts';
import { allHandlers } from '#local/handlers.ts';
import { lambdaTasks } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import {
  backup,
  homeSettings,
  makeHome,
  outputOf,
  restore,
  restoreIdsOf,
  restoreReport,
  runtimeWith,
} from '../../reliability/support.ts';
import { tempDir } from '../../support/local-runtime.ts';
import { diffTrees, readTree } from './support/trees.ts';

/**
 * A Restore execution that failed or was stopped can be redriven in the Step Functions console for
 * 14 days: it goes on from the failed states (a Parallel's failed branches, a Distributed Map's
 * failed children, the Finalize after them), never from Validate. Meanwhile the next restore of
 * the same folder took its lock over (its execution had ended). The redriven run must see that it
 * no longer holds the lock before it writes: above all, its swap would rename the live Liferay
 * Home the other restore now owns. Simulated here through the local runner: a task of the
 * committed definition first lets another restore take the lock over, by the backup lock's own
 * takeover (acquireBackupLock, told that the holder's execution has ended), then runs the real
 * handler.
 */

const OTHER_RESTORE = 'r20261128t030000z-0b0b';
const OTHER_EXECUTION = 'arn:aws:states:eu-west-1:111111111111:execution:RestoreStateMachine5D6E7F:other';

const work = tempDir('review-restore-redrive');
afterAll(() => work.cleanup());

let home: string;
let rt: Runtime;
let targets = 0;
/** A live Liferay Home (another content than the set's), in its own folder. */
const liveTarget = () => {
  targets += 1;
  const to = path.join(work.dir, `live-${targets}`, 'liferay-home');
  makeHome(to, 5, 'live');
  return to;
};

beforeAll(async () => {
  home = path.join(work.dir, 'liferay-home');
  makeHome(home, 12);
  rt = runtimeWith(new LocalFolderStore(path.join(work.dir, 'store')), { liferayHome: homeSettings(home) });
  outputOf(await backup(rt));
});

function handlerOf(stateName: string): Handler {
  const task = lambdaTasks(WORKFLOWS.restore).find((candidate) => candidate.stateName === stateName);
  if (!task) throw new Error(`the Restore definition has no task "${stateName}"`);
  const handler = allHandlers().get(task.handlerId);
  if (!handler) throw new Error(`no handler ${task.handlerId}`);
  return handler;
}

/** Another restore takes over every lock this one recorded, as its Validate does once this one's execution has ended. */
async function takeOverLocks(event: unknown): Promise<string[]> {
  const locks = (event as { restore: { locks?: string[] } }).restore.locks ?? [];
  for (const key of locks) {
    const held = await readBackupLock(rt.store, key);
    await acquireBackupLock(rt.store, key, OTHER_RESTORE, new Date(), 60, {
      executionId: OTHER_EXECUTION,
      executionEnded: async () => 'its execution had ended (FAILED)',
      about: {
        backupId: held?.about?.backupId ?? '',
        target: held?.about?.target ?? '',
        requestedBy: 'console',
      },
    });
  }
  return locks;
}

/** The state's real handler, run after another restore took the locks over (on its first call only). */
function afterTakeover(stateName: string): { handler: Handler; taken: () => string[] } {
  // One takeover, however many calls run at once (the Map runs two shards together).
  let takeover: Promise<string[]> | undefined;
  let taken: string[] = [];
  const handler: Handler = async (event, runtime) => {
    takeover ??= takeOverLocks(event);
    taken = await takeover;
    return handlerOf(stateName)(event, runtime);
  };
  return { handler, taken: () => taken };
}

async function liferayHomeError(outcome: Awaited<ReturnType<typeof restore>>) {
  const report = await restoreReport(rt.store, restoreIdsOf(outcome));
  return { status: report.status, result: report.results.liferayHome };
}

describe('a restore whose target lock another restore took over (a redriven execution)', () => {
  it('fails before the swap, naming the holder, and leaves the live Liferay Home untouched', async () => {
    const to = liveTarget();
    const live = readTree(to);
    const finalize = afterTakeover('Liferay Home restore finalize');

    const outcome = await restore(
      rt,
      { backupId: 'latest', liferayHome: { target: to, swap: true } },
      { taskOverrides: { 'Liferay Home restore finalize': finalize.handler } },
    );

    expect(finalize.taken()).toEqual([restoreLockKey(`folder ${to}`)]);
    expect(outcome.status).toBe('FAILED');
    const { restoreId } = restoreIdsOf(outcome);
    const { status, result } = await liferayHomeError(outcome);
    expect(status).not.toBe('complete');
    expect(result?.status).toBe('failed');
    expect(result?.error?.name).toBe('RestoreLockLostError');
    expect(result?.error?.message).toContain(`restore ${OTHER_RESTORE}`);
    expect(result?.error?.message).toContain(`folder ${to}`);
    expect(result?.error?.message).toContain('wrote nothing more');
    // The live tree is the other restore's: not renamed aside, not replaced, nothing carried out of it.
    expect(diffTrees(live, readTree(to))).toEqual([]);
    expect(fs.existsSync(`${to}.before-${restoreId}`)).toBe(false);
    // Report gave back only what this restore holds: the other restore's lock stays.
    expect((await readBackupLock(rt.store, restoreLockKey(`folder ${to}`)))?.backupId).toBe(OTHER_RESTORE);
  });

  it('fails at Plan before the staging folder is made', async () => {
    const to = liveTarget();
    const live = readTree(to);
    const plan = afterTakeover('Liferay Home plan restore');

    const outcome = await restore(
      rt,
      { backupId: 'latest', liferayHome: { target: to, swap: true } },
      { taskOverrides: { 'Liferay Home plan restore': plan.handler } },
    );

    expect(outcome.status).toBe('FAILED');
    const { restoreId } = restoreIdsOf(outcome);
    const { result } = await liferayHomeError(outcome);
    expect(result?.error?.name).toBe('RestoreLockLostError');
    expect(fs.existsSync(`${to}.restore-${restoreId}`)).toBe(false);
    expect(diffTrees(live, readTree(to))).toEqual([]);
  });

  it('fails in the shards: Finalize never runs, the live Liferay Home is untouched', async () => {
    const to = liveTarget();
    const live = readTree(to);
    const shard = afterTakeover('Liferay Home restore shard');

    const outcome = await restore(
      rt,
      { backupId: 'latest', liferayHome: { target: to, swap: true } },
      { taskOverrides: { 'Liferay Home restore shard': shard.handler } },
    );

    expect(outcome.status).toBe('FAILED');
    const { restoreId } = restoreIdsOf(outcome);
    const { result } = await liferayHomeError(outcome);
    expect(result?.status).toBe('failed');
    expect(JSON.stringify(result?.error)).toContain(OTHER_RESTORE);
    expect(fs.existsSync(`${to}.before-${restoreId}`)).toBe(false);
    expect(diffTrees(live, readTree(to))).toEqual([]);
  });

  it('a restore that still holds its lock swaps as before and gives the lock back', async () => {
    const to = liveTarget();
    const outcome = await restore(rt, { backupId: 'latest', liferayHome: { target: to, swap: true } });

    const { restoreId } = restoreIdsOf(outcome);
    expect(outputOf<{ report: { status: string } }>(outcome).report.status).toBe('complete');
    expect(diffTrees(readTree(home), readTree(to))).toEqual([]);
    expect(fs.existsSync(`${to}.before-${restoreId}`)).toBe(true);
    expect(await readBackupLock(rt.store, restoreLockKey(`folder ${to}`))).toBeUndefined();
  });
});

describe('assertRestoreLocksHeld', () => {
  const RESTORE = 'r20261128t020000z-0a0a';

  it('passes for a restore that took no lock (Validate called with a request alone)', async () => {
    await expect(assertRestoreLocksHeld(rt, { restoreId: RESTORE })).resolves.toBeUndefined();
    await expect(assertRestoreLocksHeld(rt, { restoreId: RESTORE, locks: [] })).resolves.toBeUndefined();
  });

  it('passes while the restore holds its locks; fails once one is gone, naming the key', async () => {
    const key = restoreLockKey('folder /srv/review-redrive/held');
    await acquireBackupLock(rt.store, key, RESTORE, new Date(), 60, {
      about: { backupId: 'b20261127t020000z-7f3a', target: 'folder /srv/review-redrive/held' },
    });
    await expect(assertRestoreLocksHeld(rt, { restoreId: RESTORE, locks: [key] })).resolves.toBeUndefined();

    await rt.store.delete([key]);
    const gone = assertRestoreLocksHeld(rt, { restoreId: RESTORE, locks: [key] });
    await expect(gone).rejects.toMatchObject({ name: 'RestoreLockLostError' });
    await expect(gone).rejects.toThrow(key);
  });
});
