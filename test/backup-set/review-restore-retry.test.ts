import { afterAll, describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { storeKeys } from '#backup-set/keys.ts';
import { readRestoreReport, writeRestoreReport } from '#backup-set/restore-report.ts';
import { validateRestore } from '#backup-set/validate-restore.ts';
import type { ContentStore } from '#store/content-store.ts';
import { allKeys, testRuntime } from '../support/local-runtime.ts';
import { startS3Server } from '../support/s3-server.ts';

/**
 * A Validate retried after its answer was lost (a Lambda time-out after it wrote the report)
 * created a second restore id and report: the set showed two restores, the first `running` until
 * the 24-hour rule. Validate's id now comes from the execution (its id and start time, which the
 * state machine passes, as it does to Begin): a retry resumes the same restore and is not refused
 * by its own lock. Against a real S3 protocol (s3rver) and a folder store.
 */

const T0 = new Date('2026-11-27T02:00:00Z');
const COMPONENTS = { liferayHome: { root: '/srv/liferay' } };
const EXECUTION = 'arn:aws:states:eu-west-1:111111111111:execution:RestoreStateMachine5D6E7F:night-1';
const START = '2026-11-27T03:00:00.123Z';

function clock(start: Date) {
  let t = start.getTime();
  return () => {
    t += 1000;
    return new Date(t);
  };
}

/** One s3rver per test: a bucket that holds nothing of another test (the same execution ids). */
const servers: Awaited<ReturnType<typeof startS3Server>>[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

async function setIn(store: ContentStore): Promise<string> {
  const rt = testRuntime({ store, components: COMPONENTS, now: clock(T0) });
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
            sources: [{ mount: '', root: '/srv/liferay', role: 'tree' }],
            rules: { include: [], exclude: [] },
          },
        },
      ],
    },
    rt,
  );
  return backup.backupId;
}

const stores: [string, () => Promise<ContentStore>][] = [
  ['a folder store', async () => testRuntime({}).store],
  [
    'an S3 store (s3rver)',
    async () => {
      const server = await startS3Server();
      servers.push(server);
      return server.store();
    },
  ],
];

describe.each(stores)('a retried Validate, over %s', (_, makeStore) => {
  it('resumes the same restore: one id, one report, not refused by its own lock', async () => {
    const store = await makeStore();
    const backupId = await setIn(store);
    const input = { request: { backupId: 'latest' }, executionId: EXECUTION, startTime: START };
    const first = await validateRestore(
      input,
      testRuntime({ store, components: COMPONENTS, now: clock(T0) }),
    );
    // The retry runs minutes later, in another Lambda instance.
    const later = testRuntime({
      store,
      components: COMPONENTS,
      now: clock(new Date(T0.getTime() + 600_000)),
    });
    const retried = await validateRestore(input, later);

    expect(retried).toEqual(first);
    expect(first.startedAt).toBe(START);
    expect(first.restoreId).toMatch(/^r20261127t030000z-[0-9a-f]{4}$/);
    const reports = (await allKeys(store)).filter((key) =>
      key.startsWith(storeKeys.restoresPrefix(backupId)),
    );
    expect(reports).toEqual([storeKeys.restoreReport(backupId, first.restoreId)]);
    const report = await readRestoreReport(store, backupId, first.restoreId);
    expect(report).toMatchObject({ status: 'running', startedAt: START, executionId: EXECUTION });
  });

  it('gives another execution started in the same second another id, and never reuses its report', async () => {
    const store = await makeStore();
    const backupId = await setIn(store);
    const rt = testRuntime({ store, components: COMPONENTS, now: clock(T0) });
    const elsewhere = { liferayHome: { target: '/srv/elsewhere' } };
    const one = await validateRestore(
      { request: { backupId: 'latest' }, executionId: EXECUTION, startTime: START },
      rt,
    );
    const other = await validateRestore(
      { request: { backupId: 'latest', ...elsewhere }, executionId: `${EXECUTION}-b`, startTime: START },
      rt,
    );
    expect(other.restoreId).not.toBe(one.restoreId);

    // An id taken by another execution's report (two executions whose ids hash alike in one
    // second): refused, and that report is left as it was.
    const taken = await readRestoreReport(store, backupId, other.restoreId);
    await writeRestoreReport(store, { ...taken, executionId: `${EXECUTION}-c` });
    await expect(
      validateRestore(
        { request: { backupId: 'latest', ...elsewhere }, executionId: `${EXECUTION}-b`, startTime: START },
        rt,
      ),
    ).rejects.toThrow(`restore id ${other.restoreId} is already used by another execution`);
    expect((await readRestoreReport(store, backupId, other.restoreId)).executionId).toBe(`${EXECUTION}-c`);
  });
});
