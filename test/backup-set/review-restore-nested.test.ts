import * as path from 'node:path';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { reportRestore } from '#backup-set/report-restore.ts';
import { RESTORE_LOCKS_PREFIX } from '#backup-set/restore-lock.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { validateRestore } from '#backup-set/validate-restore.ts';
import { allHandlers } from '#local/handlers.ts';
import { lambdaTasks } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import {
  backup,
  causeOf,
  homeSettings,
  makeHome,
  outputOf,
  restore,
  runtimeWith,
  writeTree,
} from '../reliability/support.ts';
import { allKeys, tempDir, testRuntime } from '../support/local-runtime.ts';
import { startS3Server } from '../support/s3-server.ts';

/**
 * In a DXP bundle the app server (Tomcat) lives inside the Liferay Home, and a swap of the home
 * moves it: that is why one restore runs them one after the other. Two restores, one of the
 * Liferay Home and one of the app server inside it, locked two different folders and both ran:
 * the home's swap moved the Tomcat the other restore was staging beside and then replacing.
 * Folders nested in one another are now one target for the locks; the documented runbook, which
 * restores both in one execution, is one restore and is never refused by itself. Step Functions
 * is mocked at the SDK client (DescribeExecution); the stores are a real folder and s3rver.
 */

const sfn = mockClient(SFNClient);
beforeEach(() => {
  sfn.reset();
  sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
});
afterEach(() => sfn.reset());

const MACHINE = 'arn:aws:states:eu-west-1:111111111111:execution:RestoreStateMachine5D6E7F';
const execution = (name: string) => `${MACHINE}:${name}`;
const HOME = '/mnt/liferay/liferay-home';
const TOMCAT = `${HOME}/tomcat-9.0.83`;
const T0 = new Date('2026-11-27T02:00:00Z');

function clock(start = T0) {
  let t = start.getTime();
  return () => {
    t += 1000;
    return new Date(t);
  };
}

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

const servers: Awaited<ReturnType<typeof startS3Server>>[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

/**
 * A set of both trees, read where the Lambdas mount them; Validate's runtime as on AWS: no files
 * settings (the targets come from where the set was read), no process.
 */
async function deployment(store?: ContentStore): Promise<{ store: ContentStore; lambda: () => Runtime }> {
  const components = { liferayHome: { root: HOME }, appServer: { root: TOMCAT } };
  const rt = testRuntime({ ...(store ? { store } : {}), components, now: clock() });
  const context = await beginBackup({}, rt);
  await commitBackup(
    { backup: context, results: [complete('liferayHome', HOME), complete('appServer', TOMCAT)] },
    rt,
  );
  const lambda = () => {
    const { process: _, ...withoutProcess } = testRuntime({
      store: rt.store,
      components: { liferayHome: {}, appServer: {} },
      now: clock(new Date(T0.getTime() + 3_600_000)),
    });
    return { ...withoutProcess, settings: { ...withoutProcess.settings, components: {} } } as Runtime;
  };
  return { store: rt.store, lambda };
}

const wrapped = (request: Record<string, unknown>, executionId: string) => ({
  request,
  executionId,
  startTime: '2026-11-27T03:00:00.000Z',
});
const HOME_ONLY = { backupId: 'latest', components: ['liferayHome'], liferayHome: { swap: true } };
const TOMCAT_ONLY = { backupId: 'latest', components: ['appServer'], appServer: { swap: true } };
const RUNBOOK = {
  backupId: 'latest',
  components: ['liferayHome', 'appServer'],
  liferayHome: { swap: true },
  appServer: { swap: true },
};

const locksIn = async (store: ContentStore) =>
  (await allKeys(store)).filter((key) => key.startsWith(RESTORE_LOCKS_PREFIX));

describe('a restore into a folder inside, or around, the folder another restore writes', () => {
  it('is refused while the Liferay Home restore runs: the app server inside it', async () => {
    const { store, lambda } = await deployment();
    const home = await validateRestore(wrapped(HOME_ONLY, execution('home')), lambda());
    const before = await allKeys(store);

    const tomcat = validateRestore(wrapped(TOMCAT_ONLY, execution('tomcat')), lambda());

    await expect(tomcat).rejects.toMatchObject({ name: 'RestoreAlreadyRunningError' });
    const message = await tomcat.catch((error: Error) => error.message);
    expect(message).toContain(
      `another restore is writing folder ${HOME}, which holds folder ${TOMCAT} that this restore writes: restore ${home.restoreId}`,
    );
    expect(message).toContain('"Stop execution"');
    expect(await allKeys(store), 'a refused restore writes nothing').toEqual(before);
  });

  it('is refused while the app server restore runs: the Liferay Home around it', async () => {
    const { store, lambda } = await deployment();
    const tomcat = await validateRestore(wrapped(TOMCAT_ONLY, execution('tomcat')), lambda());

    const home = validateRestore(wrapped(HOME_ONLY, execution('home')), lambda());

    await expect(home).rejects.toThrow(
      `another restore is writing folder ${TOMCAT}, inside folder ${HOME} that this restore writes: restore ${tomcat.restoreId}`,
    );
    // The lock it took on the Liferay Home was given back with the refusal.
    expect(await locksIn(store)).toHaveLength(1);
  });

  it('never refuses the runbook (both trees in one execution), retried or not, and Report gives every lock back', async () => {
    const { store, lambda } = await deployment();
    const first = await validateRestore(wrapped(RUNBOOK, execution('night')), lambda());
    const retried = await validateRestore(wrapped(RUNBOOK, execution('night')), lambda());
    expect(retried).toEqual(first);
    expect(first.locks).toHaveLength(2);
    // Meanwhile a second restore of either tree is refused.
    await expect(validateRestore(wrapped(TOMCAT_ONLY, execution('other')), lambda())).rejects.toThrow(
      /another restore is writing folder/,
    );

    await reportRestore(
      { restore: first, results: [[restored('liferayHome'), restored('appServer')]] },
      lambda(),
    );
    expect(await locksIn(store)).toEqual([]);
    await validateRestore(wrapped(TOMCAT_ONLY, execution('after')), lambda());
  });

  it('takes over the nested lock of a restore whose execution has ended, and says so', async () => {
    const { store, lambda } = await deployment();
    const stopped = await validateRestore(wrapped(HOME_ONLY, execution('stopped')), lambda());
    sfn.reset();
    sfn.on(DescribeExecutionCommand).resolves({ status: 'ABORTED' });

    const tomcat = await validateRestore(wrapped(TOMCAT_ONLY, execution('tomcat')), lambda());

    expect((await readRestoreReport(store, tomcat.backupId, tomcat.restoreId)).warnings).toEqual([
      `took over the lock on folder ${HOME} from restore ${stopped.restoreId}: its execution had ended (ABORTED) without giving it back`,
    ]);
    // Held by this restore until its Report: a third restore of the home waits for it.
    sfn.reset();
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
    await expect(validateRestore(wrapped(HOME_ONLY, execution('third')), lambda())).rejects.toThrow(
      `restore ${tomcat.restoreId}`,
    );
    await reportRestore({ restore: tomcat, results: [restored('appServer')] }, lambda());
    expect(await locksIn(store)).toEqual([]);
  });

  it('leaves siblings and folders that only share a name prefix alone', async () => {
    const { lambda } = await deployment();
    await validateRestore(wrapped(HOME_ONLY, execution('home')), lambda());
    for (const target of [`${HOME}-copy`, `${HOME}.restored`, '/mnt/liferay/other/tomcat'])
      await validateRestore(
        wrapped(
          { backupId: 'latest', components: ['appServer'], appServer: { target } },
          execution(`to-${target.length}`),
        ),
        lambda(),
      );
  });
});

const storeMakers: [string, () => Promise<ContentStore | undefined>][] = [
  ['a folder store', async () => undefined],
  [
    'an S3 store (s3rver)',
    async () => {
      const server = await startS3Server();
      servers.push(server);
      return server.store();
    },
  ],
];

describe.each(storeMakers)('restores that start at the same moment, over %s', (_, makeStore) => {
  it('into one folder: exactly one goes ahead', async () => {
    const { store, lambda } = await deployment(await makeStore());
    const outcomes = await Promise.allSettled(
      ['a', 'b', 'c'].map((name) => validateRestore(wrapped(HOME_ONLY, execution(`same-${name}`)), lambda())),
    );
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    for (const outcome of outcomes)
      if (outcome.status === 'rejected')
        expect(outcome.reason).toMatchObject({ name: 'RestoreAlreadyRunningError' });
    expect(await locksIn(store)).toHaveLength(1);
  });

  it('into nested folders: never both (each writes its lock before it looks for the other)', async () => {
    const { lambda } = await deployment(await makeStore());
    for (let round = 0; round < 3; round += 1) {
      const outcomes = await Promise.allSettled([
        validateRestore(wrapped(HOME_ONLY, execution(`home-${round}`)), lambda()),
        validateRestore(wrapped(TOMCAT_ONLY, execution(`tomcat-${round}`)), lambda()),
      ]);
      const ahead = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
      expect(ahead.length).toBeLessThanOrEqual(1);
      for (const context of ahead)
        await reportRestore(
          { restore: context, results: [restored(context.components[0] as string)] },
          lambda(),
        );
    }
  });
});

/** A files restore result as the branch returns it. */
function restored(component: string) {
  return { component, status: 'complete', warnings: [], summary: {}, details: {} };
}

describe('the runbook as the CLI runs it (local ASL interpreter, real handlers, real trees)', () => {
  const work = tempDir('review-restore-nested');
  afterAll(() => work.cleanup());

  it('refuses an app server restore while a Liferay Home restore runs; the runbook (both, swapped, one execution) completes', async () => {
    const home = path.join(work.dir, 'liferay-home');
    const tomcat = path.join(home, 'tomcat-9.0.83');
    makeHome(home, 6);
    writeTree(tomcat, { 'bin/catalina.sh': '#!/bin/sh\n', 'conf/server.xml': '<Server/>\n' });
    const rt = runtimeWith(new LocalFolderStore(path.join(work.dir, 'store')), {
      liferayHome: homeSettings(home),
      appServer: homeSettings(tomcat),
    });
    outputOf(await backup(rt));

    const plan = gatedPlan();
    const homeOnly = restore(rt, HOME_ONLY, { taskOverrides: { 'Liferay Home plan restore': plan.handler } });
    await plan.waiting;
    const tomcatOnly = await restore(rt, TOMCAT_ONLY);
    plan.open();
    expect(outputOf<{ report: { status: string } }>(await homeOnly).report.status).toBe('complete');
    expect(tomcatOnly.status === 'FAILED' ? tomcatOnly.error : tomcatOnly.status).toBe(
      'RestoreAlreadyRunningError',
    );
    expect(causeOf(tomcatOnly)).toContain(
      `another restore is writing folder ${home}, which holds folder ${tomcat} that this restore writes`,
    );

    const runbook = await restore(rt, RUNBOOK);
    expect(outputOf<{ report: { status: string } }>(runbook).report.status).toBe('complete');
    expect(await locksIn(rt.store)).toEqual([]);
  });
});

/** The Liferay Home's plan step waiting at a gate: the restore holds its targets until the test opens it. */
function gatedPlan() {
  const task = lambdaTasks(WORKFLOWS.restore).find(
    (candidate) => candidate.stateName === 'Liferay Home plan restore',
  );
  const real = task ? allHandlers().get(task.handlerId) : undefined;
  if (!real) throw new Error('the Restore definition has no "Liferay Home plan restore" task');
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let reached: () => void = () => undefined;
  const waiting = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const handler: Handler = async (event, runtime) => {
    reached();
    await gate;
    return real(event, runtime);
  };
  return { handler, waiting, open };
}
