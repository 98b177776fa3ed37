import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeKeys } from '#backup-set/keys.ts';
import { RESTORE_LOCKS_PREFIX } from '#backup-set/restore-lock.ts';
import { allHandlers } from '#local/handlers.ts';
import { restoreStopPlan } from '#local/interrupt.ts';
import { lambdaTasks, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import { RetryableError } from '#runtime/errors.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { diffTrees, readTree } from '../components/files/support/trees.ts';
import {
  backup,
  causeOf,
  homeSettings,
  makeHome,
  outputOf,
  restore,
  restoreIdsOf,
  restoreReport,
  runtimeWith,
} from '../reliability/support.ts';
import { allKeys, tempDir } from '../support/local-runtime.ts';

/**
 * The Restore workflow as the CLI runs it (the committed definition, executed by the local ASL
 * interpreter with the real handlers): two restores into one Liferay Home at once, and a Validate
 * retried after its answer was lost.
 */

const PLAN = 'Liferay Home plan restore';
const work = tempDir('review-restore-workflow');
afterAll(() => work.cleanup());

function handlerOf(stateName: string): Handler {
  const task = lambdaTasks(WORKFLOWS.restore).find((candidate) => candidate.stateName === stateName);
  if (!task) throw new Error(`the Restore definition has no task "${stateName}"`);
  const handler = allHandlers().get(task.handlerId);
  if (!handler) throw new Error(`no handler ${task.handlerId}`);
  return handler;
}

/** A plan step that waits at a gate: the restore holds its target until the test opens it. */
function gatedPlan() {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let reached: () => void = () => undefined;
  const waiting = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const handler: Handler = async (event, rt) => {
    reached();
    await gate;
    return handlerOf(PLAN)(event, rt);
  };
  return { handler, waiting, open };
}

let home: string;
let rt: Runtime;
let restores = 0;
const target = () => {
  restores += 1;
  return path.join(work.dir, `restored-${restores}`, 'liferay-home');
};

beforeAll(async () => {
  home = path.join(work.dir, 'liferay-home');
  makeHome(home, 12);
  rt = runtimeWith(new LocalFolderStore(path.join(work.dir, 'store')), { liferayHome: homeSettings(home) });
  outputOf(await backup(rt));
});

async function restoreKeys(backupId: string): Promise<string[]> {
  return (await allKeys(rt.store)).filter((key) => key.startsWith(storeKeys.restoresPrefix(backupId)));
}

describe('two restores into one Liferay Home at once', () => {
  it('refuses the second, naming the first; the first completes and gives its lock back', async () => {
    const to = target();
    const request = { backupId: 'latest', liferayHome: { target: to } };
    const plan = gatedPlan();
    const first = restore(rt, request, { taskOverrides: { [PLAN]: plan.handler } });
    await plan.waiting;

    const second = await restore(rt, { ...request, liferayHome: { target: to, swap: true } });
    // Another folder meanwhile is no conflict.
    const elsewhere = await restore(rt, { backupId: 'latest', liferayHome: { target: target() } });
    plan.open();
    const firstOutcome = await first;

    const ids = restoreIdsOf(firstOutcome);
    expect(outputOf<{ report: { status: string } }>(firstOutcome).report.status).toBe('complete');
    expect(second.status === 'FAILED' ? second.error : second.status).toBe('RestoreAlreadyRunningError');
    expect(causeOf(second)).toContain(
      `another restore is writing folder ${to}: restore ${ids.restoreId} of ${ids.backupId}`,
    );
    expect(causeOf(second)).toContain(`CLI process ${process.pid}`);
    expect(outputOf<{ report: { status: string } }>(elsewhere).report.status).toBe('complete');
    expect(await restoreKeys(ids.backupId), 'the refused restore left no report').toHaveLength(2);
    expect(diffTrees(readTree(home), readTree(to))).toEqual([]);

    // Report gave the lock back: the same restore now runs.
    const again = await restore(rt, { ...request, liferayHome: { target: to, swap: true } });
    expect(outputOf<{ report: { status: string } }>(again).report.status).toBe('complete');
    expect((await allKeys(rt.store)).filter((key) => key.startsWith(RESTORE_LOCKS_PREFIX))).toEqual([]);
  });

  it('gives the lock back when a component fails (Report on the failure path)', async () => {
    const to = target();
    const failingPlan: Handler = async () => {
      throw Object.assign(new Error('no space left on device'), { name: 'DiskFullError' });
    };
    const failed = await restore(
      rt,
      { backupId: 'latest', liferayHome: { target: to } },
      { taskOverrides: { [PLAN]: failingPlan } },
    );
    expect(failed.status === 'FAILED' ? failed.error : failed.status).toBe('RestoreFailed');

    const again = await restore(rt, { backupId: 'latest', liferayHome: { target: to } });
    expect(outputOf<{ report: { status: string } }>(again).report.status).toBe('complete');
  });

  it('a CLI restore stopped with Ctrl-C gives its lock back', async () => {
    const to = target();
    const plan = gatedPlan();
    const said: string[] = [];
    const stop = restoreStopPlan(rt, (line) => said.push(line));
    const abort = new AbortController();
    const stopped = restore(
      rt,
      { backupId: 'latest', liferayHome: { target: to } },
      {
        taskOverrides: { [PLAN]: plan.handler },
        onStateExited: (state, output) => stop.observe?.(state, output),
        signal: abort.signal,
      },
    );
    await plan.waiting;
    await stop.stop('SIGINT');
    abort.abort();
    plan.open();
    const outcome: WorkflowOutcome = await stopped.catch((error: Error) => ({
      status: 'FAILED',
      error: error.name,
      cause: error.message,
      statesEntered: [],
    }));
    expect(outcome.status).not.toBe('SUCCEEDED');
    expect(said.join('\n')).toMatch(/recorded as failed/);

    const again = await restore(rt, { backupId: 'latest', liferayHome: { target: to } });
    expect(outputOf<{ report: { status: string } }>(again).report.status).toBe('complete');
  });
});

describe('a Validate retried after its answer was lost', () => {
  it('resumes its restore: one restore id, one report, complete', async () => {
    const to = target();
    let lost = 0;
    const losesFirstAnswer: Handler = async (event, runtime) => {
      const answer = await handlerOf('Validate')(event, runtime);
      if (lost === 0) {
        lost += 1;
        throw new RetryableError('the answer of Validate was lost (a Lambda time-out after it had written)');
      }
      return answer;
    };

    const outcome = await restore(
      rt,
      { backupId: 'latest', liferayHome: { target: to } },
      { taskOverrides: { Validate: losesFirstAnswer } },
    );

    expect(lost).toBe(1);
    const ids = restoreIdsOf(outcome);
    expect(outputOf<{ report: { status: string } }>(outcome).report.status).toBe('complete');
    const ofThisRun = [];
    for (const key of await restoreKeys(ids.backupId)) {
      const report = await restoreReport(rt.store, {
        backupId: ids.backupId,
        restoreId: path.basename(key, '.json'),
      });
      if (report.requests.liferayHome && JSON.stringify(report.requests).includes(to)) ofThisRun.push(report);
    }
    expect(ofThisRun.map((report) => [report.restoreId, report.status])).toEqual([
      [ids.restoreId, 'complete'],
    ]);
    expect(diffTrees(readTree(home), readTree(to))).toEqual([]);
  });
});
