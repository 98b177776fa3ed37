import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { storeKeys } from '#backup-set/keys.ts';
import { reportRestore } from '#backup-set/report-restore.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { type RestoreContext, restoreTargets, validateRestore } from '#backup-set/validate-restore.ts';
import type { Runtime } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';
import { allKeys, testRuntime } from '../support/local-runtime.ts';
import { killedProcess } from '../support/processes.ts';

/**
 * Two restores into one target at once (a slow restore started again from the console, a
 * double-click on "Start execution") both wrote the same Liferay Home, search cluster or dump
 * database. Validate takes a lock per live target the request writes to and refuses a restore
 * whose targets overlap a running one's, naming it; Report gives the locks back on every path.
 * Step Functions is mocked at the SDK client (DescribeExecution), the store is a real folder.
 */

const sfn = mockClient(SFNClient);
beforeEach(() => {
  sfn.reset();
  // Every execution asked about still runs, unless a test says otherwise.
  sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
});
afterEach(() => sfn.reset());

const MACHINE = 'arn:aws:states:eu-west-1:111111111111:execution:RestoreStateMachine5D6E7F';
const execution = (name: string) => `${MACHINE}:${name}`;
const HOME_ROOT = '/srv/liferay';
const COMPONENTS = { liferayHome: { root: HOME_ROOT }, appServer: { root: '/srv/tomcat' } };
const T0 = new Date('2026-11-27T02:00:00Z');

function clock(start = T0) {
  let t = start.getTime();
  return () => {
    t += 1000;
    return new Date(t);
  };
}

/** A result as a files component records it (its checkRestore reads these details). */
const complete = (component: string, root: string) => ({
  component,
  status: 'complete',
  warnings: [],
  summary: {},
  details: {
    engine: 'files',
    index: { key: `objects/indexes/${component}`, size: 1, sha256: '0'.repeat(64) },
    sources: [{ mount: '', root, role: 'tree' }],
    rules: { include: [], exclude: [] },
  },
});

/** A store holding one complete set of both files components; runtimes over it as a Lambda has them (no process). */
async function deployment(): Promise<{ store: ContentStore; backupId: string; lambda: () => Runtime }> {
  const rt = testRuntime({ components: COMPONENTS, now: clock() });
  const context = await beginBackup({}, rt);
  await commitBackup(
    { backup: context, results: [complete('liferayHome', HOME_ROOT), complete('appServer', '/srv/tomcat')] },
    rt,
  );
  const lambda = () => {
    const { process: _, ...withoutProcess } = testRuntime({
      store: rt.store,
      components: COMPONENTS,
      now: clock(new Date(T0.getTime() + 3_600_000)),
    });
    return withoutProcess as Runtime;
  };
  return { store: rt.store, backupId: context.backupId, lambda };
}

/** Validate's input as the Restore state machine passes it. */
const wrapped = (
  request: Record<string, unknown>,
  executionId: string,
  startTime = '2026-11-27T03:00:00.000Z',
) => ({
  request,
  executionId,
  startTime,
});

async function restoreReports(store: ContentStore, backupId: string): Promise<string[]> {
  return (await allKeys(store)).filter((key) => key.startsWith(storeKeys.restoresPrefix(backupId)));
}

describe('Validate refuses a second restore into a target a running restore writes', () => {
  it('names the running restore (id, set, start, execution) and how to stop it, and writes nothing', async () => {
    const { store, backupId, lambda } = await deployment();
    const first = await validateRestore(
      wrapped({ backupId: 'latest', components: ['liferayHome'], requestedBy: 'console' }, execution('slow')),
      lambda(),
    );
    const before = await allKeys(store);

    const second = validateRestore(
      wrapped(
        { backupId: 'latest', components: ['liferayHome'], liferayHome: { swap: true } },
        execution('double-click'),
        '2026-11-27T03:00:01.000Z',
      ),
      lambda(),
    );

    await expect(second).rejects.toMatchObject({ name: 'RestoreAlreadyRunningError' });
    const message = await second.catch((error: Error) => error.message);
    expect(message).toContain(`another restore is writing folder ${HOME_ROOT}`);
    expect(message).toContain(`restore ${first.restoreId} of ${backupId}`);
    expect(message).toContain(`started at ${first.startedAt}`);
    expect(message).toContain(`execution ${execution('slow')}`);
    expect(message).toContain('"Stop execution"');
    expect(await allKeys(store), 'a refused restore writes nothing').toEqual(before);
    expect(await restoreReports(store, backupId)).toHaveLength(1);
    // The holder was asked about, exactly: it still runs.
    expect(sfn.commandCalls(DescribeExecutionCommand).map((call) => call.args[0].input)).toEqual([
      { executionArn: execution('slow') },
    ]);
  });

  it('refuses a restore any of whose targets overlaps, also from another component into that folder', async () => {
    const { lambda } = await deployment();
    await validateRestore(
      wrapped({ backupId: 'latest', components: ['appServer'] }, execution('tomcat')),
      lambda(),
    );
    // The Liferay Home restored into the app server's folder: the same folder, another component.
    await expect(
      validateRestore(
        wrapped(
          { backupId: 'latest', components: ['liferayHome'], liferayHome: { target: '/srv/tomcat' } },
          execution('home-into-tomcat'),
        ),
        lambda(),
      ),
    ).rejects.toThrow(/another restore is writing folder \/srv\/tomcat/);
    // Both components, one of them free: still refused as a whole.
    await expect(
      validateRestore(wrapped({ backupId: 'latest' }, execution('both')), lambda()),
    ).rejects.toThrow(/another restore is writing folder \/srv\/tomcat/);
    // The free one's lock was given back with the refusal: a restore of it alone goes ahead.
    await validateRestore(
      wrapped({ backupId: 'latest', components: ['liferayHome'] }, execution('home')),
      lambda(),
    );
  });

  it('lets restores into other folders, and drills into their scratch folders, run beside it', async () => {
    const { lambda } = await deployment();
    const drill = (name: string) =>
      wrapped(
        {
          backupId: 'latest',
          components: ['liferayHome'],
          requestedBy: 'verify',
          liferayHome: { target: `/srv/scratch/${name}/liferayHome`, swap: false },
        },
        execution(`drill-${name}`),
      );
    // A drill running first does not block the SRE's restore of the live tree ...
    await validateRestore(drill('v20261127t030000z-aaaa'), lambda());
    await validateRestore(
      wrapped({ backupId: 'latest', components: ['liferayHome'] }, execution('live')),
      lambda(),
    );
    // ... nor does the live restore block the next drill, or a restore into another folder.
    await validateRestore(drill('v20261127t040000z-bbbb'), lambda());
    await validateRestore(
      wrapped(
        { backupId: 'latest', components: ['liferayHome'], liferayHome: { target: '/srv/liferay-copy' } },
        execution('copy'),
      ),
      lambda(),
    );
  });
});

describe('Report gives the locks back', () => {
  it('after a restore that completed, and after one that failed', async () => {
    const { store, lambda } = await deployment();
    const request = { backupId: 'latest', components: ['liferayHome'] };
    const first = await validateRestore(wrapped(request, execution('first')), lambda());
    await reportRestore({ restore: first, results: [restored(first)] }, lambda());

    const second = await validateRestore(wrapped(request, execution('second')), lambda());
    expect(second.restoreId).not.toBe(first.restoreId);
    await reportRestore(
      { restore: second, failure: { Error: 'States.Runtime', Cause: 'the Parallel failed' } },
      lambda(),
    );

    const third = await validateRestore(wrapped(request, execution('third')), lambda());
    expect((await readRestoreReport(store, third.backupId, third.restoreId)).status).toBe('running');
  });
});

describe('a lock whose holder has ended without reaching Report', () => {
  it('is taken over when Step Functions says its execution ended, and the report says so', async () => {
    const { store, lambda } = await deployment();
    const request = { backupId: 'latest', components: ['liferayHome'] };
    const stopped = await validateRestore(wrapped(request, execution('stopped-in-the-console')), lambda());
    sfn.reset();
    sfn.on(DescribeExecutionCommand).resolves({ status: 'ABORTED' });

    const next = await validateRestore(wrapped(request, execution('next')), lambda());

    expect((await readRestoreReport(store, next.backupId, next.restoreId)).warnings).toEqual([
      `took over the lock on folder ${HOME_ROOT} from restore ${stopped.restoreId}: its execution had ended (ABORTED) without giving it back`,
    ]);
  });

  it("is taken over when it is a CLI restore's and its process was killed", async () => {
    const { store, backupId } = await deployment();
    const request = { backupId: 'latest', components: ['liferayHome'], requestedBy: 'cli' };
    const local = (name: string) => `arn:aws:states:local:000000000000:execution:local:${name}`;
    const cli = (process?: Awaited<ReturnType<typeof killedProcess>>) =>
      testRuntime({ store, components: COMPONENTS, now: clock(), ...(process ? { process } : {}) });
    await validateRestore(wrapped(request, local('killed')), cli(await killedProcess()));
    const running = await validateRestore(wrapped(request, local('alive')), cli());

    // This process still runs: its restore is not taken over, and the message says how to stop it.
    await expect(validateRestore(wrapped(request, local('third')), cli())).rejects.toThrow(
      new RegExp(
        `restore ${running.restoreId} of ${backupId} .*CLI process ${process.pid} .*press Ctrl-C in the terminal of that restore \\(or: kill -INT ${process.pid}\\)`,
      ),
    );
  });
});

/** A files restore result as the branch returns it. */
function restored(context: RestoreContext) {
  return {
    component: context.components[0],
    status: 'complete',
    warnings: [],
    summary: { target: HOME_ROOT },
    details: {},
  };
}

describe('the targets a restore locks, per component', () => {
  const result = (details: Record<string, unknown>) => ({
    component: 'database' as const,
    status: 'complete' as const,
    warnings: [],
    summary: {},
    details,
  });

  it('are the live things it writes, never a password, and nothing for what a restore creates anew', () => {
    const files = complete('liferayHome', '/mnt/efs/liferay') as Parameters<
      typeof restoreTargets
    >[1]['backup'];
    // Files: the request's target, else the configured root, else where the set was read from
    // (Validate on AWS has no files settings).
    expect(
      restoreTargets('liferayHome', { request: { target: '/x/y' }, settings: { root: '/r' }, backup: files }),
    ).toEqual(['folder /x/y']);
    expect(restoreTargets('appServer', { request: {}, settings: { root: '/r' }, backup: files })).toEqual([
      'folder /r',
    ]);
    expect(restoreTargets('liferayHome', { request: {}, settings: undefined, backup: files })).toEqual([
      'folder /mnt/efs/liferay',
    ]);
    // Search: the cluster, without its user info; the deployment's one when Validate has no settings.
    expect(
      restoreTargets('search', {
        request: {},
        settings: { endpoint: 'https://search.example.com:9200/' },
        backup: result({}),
      }),
    ).toEqual(['search cluster https://search.example.com:9200']);
    expect(restoreTargets('search', { request: {}, settings: undefined, backup: result({}) })).toEqual([
      'the search cluster of this deployment',
    ]);
    // A dump into a named database: server and database, never the URL's password. Into the
    // database named after the restore, or an RDS/Aurora restore (a new instance): nothing.
    const dump = result({ mode: 'dump' });
    const url = 'mysql://liferay:s3cr3t-pass@db.example.com/lportal';
    const named = restoreTargets('database', {
      request: { targetDatabase: 'lportal', overwrite: true },
      settings: { mode: 'dump', url },
      backup: dump,
    });
    expect(named).toEqual(['database lportal on db.example.com:3306']);
    expect(JSON.stringify(named)).not.toContain('s3cr3t');
    expect(
      restoreTargets('database', {
        request: { targetDatabase: 'lportal' },
        settings: { mode: 'dump', urlParameterName: '/liferay/db-url' },
        backup: dump,
      }),
    ).toEqual(['database lportal on the server of SSM parameter /liferay/db-url']);
    expect(
      restoreTargets('database', { request: {}, settings: { mode: 'dump', url }, backup: dump }),
    ).toEqual([]);
    expect(
      restoreTargets('database', {
        request: { targetIdentifier: 'liferay-restored' },
        settings: undefined,
        backup: result({ mode: 'rds-instance' }),
      }),
    ).toEqual([]);
    // Source: each target repository.
    expect(
      restoreTargets('source', {
        request: {
          targets: [
            { repository: 'workspace', url: 'https://git.example.com/liferay/workspace.git/' },
            { repository: 'themes', url: 'https://git.example.com/liferay/themes.git' },
          ],
        },
        settings: undefined,
        backup: result({}),
      }),
    ).toEqual([
      'Git repository https://git.example.com/liferay/workspace.git',
      'Git repository https://git.example.com/liferay/themes.git',
    ]);
  });
});
