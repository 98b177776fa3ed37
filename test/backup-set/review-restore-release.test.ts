import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { storeKeys } from '#backup-set/keys.ts';
import { reportRestore } from '#backup-set/report-restore.ts';
import { RESTORE_LOCKS_PREFIX } from '#backup-set/restore-lock.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { validateRestore } from '#backup-set/validate-restore.ts';
import { RetryableError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';
import { allKeys, testRuntime } from '../support/local-runtime.ts';

/**
 * Paths on which a restore's target locks could stay behind: Report failing to write its report
 * and retried, Report retried after another restore took the target, and an execution that ended
 * without any Report (the Parallel failing with States.DataLimitExceeded or States.Runtime, which
 * a States.ALL Catch does not catch; a time-out). Step Functions is mocked at the SDK client.
 */

const sfn = mockClient(SFNClient);
beforeEach(() => {
  sfn.reset();
  sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
});
afterEach(() => sfn.reset());

const MACHINE = 'arn:aws:states:eu-west-1:111111111111:execution:RestoreStateMachine5D6E7F';
const execution = (name: string) => `${MACHINE}:${name}`;
const ROOT = '/srv/liferay';
const T0 = new Date('2026-11-27T02:00:00Z');
const request = { backupId: 'latest', components: ['liferayHome'] };
const wrapped = (executionId: string) => ({ request, executionId, startTime: '2026-11-27T03:00:00.000Z' });
const restored = { component: 'liferayHome', status: 'complete', warnings: [], summary: {}, details: {} };

function clock(start = T0) {
  let t = start.getTime();
  return () => {
    t += 1000;
    return new Date(t);
  };
}

/** The store, with the next `failPuts` writes of a restore report failing as S3 does under a 503. */
function flakyReports(store: ContentStore): { store: ContentStore; failPuts: (count: number) => void } {
  let failing = 0;
  const flaky: ContentStore = Object.create(store);
  flaky.put = async (key, body, options) => {
    if (failing > 0 && key.includes('/restores/')) {
      failing -= 1;
      throw new RetryableError(`SlowDown writing ${key}`);
    }
    return store.put(key, body, options);
  };
  return { store: flaky, failPuts: (count) => (failing = count) };
}

async function deployment() {
  const components = { liferayHome: { root: ROOT } };
  const rt = testRuntime({ components, now: clock() });
  const backup = await beginBackup({}, rt);
  await commitBackup(
    {
      backup,
      results: [
        {
          component: 'liferayHome',
          status: 'complete',
          warnings: [],
          summary: {},
          details: {
            engine: 'files',
            index: { key: 'objects/indexes/x', size: 1, sha256: '0'.repeat(64) },
            sources: [{ mount: '', root: ROOT, role: 'tree' }],
            rules: { include: [], exclude: [] },
          },
        },
      ],
    },
    rt,
  );
  const flaky = flakyReports(rt.store);
  const lambda = () => {
    const { process: _, ...withoutProcess } = testRuntime({
      store: flaky.store,
      components,
      now: clock(new Date(T0.getTime() + 3_600_000)),
    });
    return withoutProcess as Runtime;
  };
  return { store: rt.store, lambda, failPuts: flaky.failPuts };
}

const locksIn = async (store: ContentStore) =>
  (await allKeys(store)).filter((key) => key.startsWith(RESTORE_LOCKS_PREFIX));

describe('Report', () => {
  it('whose report write fails keeps the locks, and its retry writes the report and gives them back', async () => {
    const { store, lambda, failPuts } = await deployment();
    const context = await validateRestore(wrapped(execution('night')), lambda());

    failPuts(1);
    await expect(reportRestore({ restore: context, results: [restored] }, lambda())).rejects.toThrow(
      'SlowDown',
    );
    expect(await locksIn(store), 'not given back before the report says how it ended').toHaveLength(1);

    await reportRestore({ restore: context, results: [restored] }, lambda());
    expect((await readRestoreReport(store, context.backupId, context.restoreId)).status).toBe('complete');
    expect(await locksIn(store)).toEqual([]);
  });

  it('retried after another restore took the target leaves that restore its lock', async () => {
    const { store, lambda } = await deployment();
    const first = await validateRestore(wrapped(execution('first')), lambda());
    await reportRestore({ restore: first, results: [restored] }, lambda());
    const second = await validateRestore(wrapped(execution('second')), lambda());

    // The first Report's answer was lost: Step Functions runs it again.
    await reportRestore({ restore: first, results: [restored] }, lambda());

    expect(await locksIn(store)).toHaveLength(1);
    await expect(validateRestore(wrapped(execution('third')), lambda())).rejects.toThrow(
      `restore ${second.restoreId}`,
    );
  });
});

describe.each(['FAILED', 'TIMED_OUT'] as const)(
  'an execution that ended %s without reaching Report',
  (status) => {
    it('has its locks taken over by the next restore at once', async () => {
      const { store, lambda } = await deployment();
      const dead = await validateRestore(wrapped(execution('parallel-data-limit')), lambda());
      sfn.reset();
      sfn.on(DescribeExecutionCommand).resolves({ status });

      const next = await validateRestore(wrapped(execution('next')), lambda());

      expect((await readRestoreReport(store, next.backupId, next.restoreId)).warnings).toEqual([
        `took over the lock on folder ${ROOT} from restore ${dead.restoreId}: its execution had ended (${status}) without giving it back`,
      ]);
      expect(await allKeys(store)).toContain(storeKeys.restoreReport(next.backupId, next.restoreId));
    });
  },
);
