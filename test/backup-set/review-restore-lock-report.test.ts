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
import type { Runtime } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';
import { allKeys, testRuntime } from '../support/local-runtime.ts';

/**
 * Report wrote the report and only then gave the locks back: a Report that could never write it
 * (a failure Step Functions does not retry) failed the execution with every target lock left
 * behind, and a restore that could not ask Step Functions about it (a CLI restore) was refused
 * for a day. A failure that is retried still keeps them (review-restore-release.test.ts).
 * Step Functions is mocked at the SDK client: the holder's execution is not known to have ended.
 */

const sfn = mockClient(SFNClient);
beforeEach(() => {
  sfn.reset();
  sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
});
afterEach(() => sfn.reset());

const MACHINE = 'arn:aws:states:eu-west-1:111111111111:execution:RestoreStateMachine5D6E7F';
const ROOT = '/srv/liferay';
const T0 = new Date('2026-11-27T02:00:00Z');
const request = { backupId: 'latest', components: ['liferayHome'] };
const wrapped = (name: string) => ({
  request,
  executionId: `${MACHINE}:${name}`,
  startTime: '2026-11-27T03:00:00.000Z',
});
const restored = { component: 'liferayHome', status: 'complete', warnings: [], summary: {}, details: {} };

function clock(start: Date) {
  let t = start.getTime();
  return () => {
    t += 1000;
    return new Date(t);
  };
}

/** A store whose writes of restore reports are refused for good, as a key policy or a disabled KMS key refuses them. */
function refusingReports(store: ContentStore): ContentStore {
  const refusing: ContentStore = Object.create(store);
  refusing.put = async (key, body, options) => {
    if (key.includes('/restores/') && key.endsWith('.json') && body.toString().includes('"finishedAt"'))
      throw Object.assign(new Error(`Access Denied writing ${key}`), {
        name: 'AccessDenied',
        $metadata: { httpStatusCode: 403 },
      });
    return store.put(key, body, options);
  };
  return refusing;
}

async function deployment(wrap: (store: ContentStore) => ContentStore = (store) => store) {
  const components = { liferayHome: { root: ROOT } };
  const rt = testRuntime({ components, now: clock(T0) });
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
  const store = wrap(rt.store);
  const lambda = () => {
    const { process: _, ...withoutProcess } = testRuntime({
      store,
      components,
      now: clock(new Date(T0.getTime() + 3_600_000)),
    });
    return withoutProcess as Runtime;
  };
  return { store: rt.store, lambda };
}

const locksIn = async (store: ContentStore) =>
  (await allKeys(store)).filter((key) => key.startsWith(RESTORE_LOCKS_PREFIX));

describe('Report that can never record the restore', () => {
  it('whose report is unreadable gives the locks back, and the next restore starts without a takeover', async () => {
    const { store, lambda } = await deployment();
    const first = await validateRestore(wrapped('first'), lambda());
    await store.put(storeKeys.restoreReport(first.backupId, first.restoreId), '{"torn');

    await expect(reportRestore({ restore: first, results: [restored] }, lambda())).rejects.toMatchObject({
      name: 'SyntaxError',
    });
    expect(await locksIn(store)).toEqual([]);

    const next = await validateRestore(wrapped('next'), lambda());
    expect((await readRestoreReport(store, next.backupId, next.restoreId)).warnings).toBeUndefined();
  });

  it('whose report write is refused gives the locks back and fails with the refusal', async () => {
    const { store, lambda } = await deployment(refusingReports);
    const first = await validateRestore(wrapped('first'), lambda());

    await expect(reportRestore({ restore: first, results: [restored] }, lambda())).rejects.toMatchObject({
      name: 'AccessDenied',
    });
    expect(await locksIn(store)).toEqual([]);
  });

  it('leaves alone a lock another restore holds by now', async () => {
    const { store, lambda } = await deployment();
    const first = await validateRestore(wrapped('first'), lambda());
    await reportRestore({ restore: first, results: [restored] }, lambda());
    const second = await validateRestore(wrapped('second'), lambda());
    // The first Report, redriven after the report was lost meanwhile.
    await store.delete([storeKeys.restoreReport(first.backupId, first.restoreId)]);

    await expect(reportRestore({ restore: first, results: [restored] }, lambda())).rejects.toThrow();
    expect(await locksIn(store)).toEqual(second.locks);
  });
});
