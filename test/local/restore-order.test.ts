import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allHandlers } from '#local/handlers.ts';
import { lambdaTasks } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { diffTrees, readTree } from '../components/files/support/trees.ts';
import {
  backup,
  homeSettings,
  makeHome,
  outputOf,
  restore,
  restoreIdsOf,
  restoreReport,
  runtimeWith,
  writeTree,
} from '../reliability/support.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * The Restore workflow as the CLI runs it (the committed definition), with both files components.
 * In the DXP bundle the app server lives inside the Liferay Home (`<home>/tomcat-9.0.83`), and a
 * swap of the Liferay Home renames the live home with everything in it: so the app server restore
 * starts only once the Liferay Home restore has ended, whatever its outcome, and each still fails
 * or is skipped on its own (cdk/workflows.ts, RESTORE_IN_SEQUENCE).
 */

const HOME_PLAN = 'Liferay Home plan restore';
const HOME_FINALIZE = 'Liferay Home restore finalize';
const APP_SERVER_PLAN = 'App server plan restore';
const APP_SERVER_FINALIZE = 'App server restore finalize';

const work = tempDir('restore-order');
afterAll(() => work.cleanup());

/** The handler a Task of the committed Restore definition is bound to (the override replaces it). */
function handlerOf(stateName: string): Handler {
  const task = lambdaTasks(WORKFLOWS.restore).find((candidate) => candidate.stateName === stateName);
  if (!task) throw new Error(`the Restore definition has no task "${stateName}"`);
  const handler = allHandlers().get(task.handlerId);
  if (!handler) throw new Error(`no handler ${task.handlerId}`);
  return handler;
}

/** Task overrides that run the real handlers and record when each call starts and ends. */
function recording(calls: string[], ...stateNames: string[]): Record<string, Handler> {
  return Object.fromEntries(
    stateNames.map((stateName) => {
      const real = handlerOf(stateName);
      const recorded: Handler = async (event, runtime) => {
        calls.push(`${stateName}: start`);
        try {
          return await real(event, runtime);
        } finally {
          calls.push(`${stateName}: end`);
        }
      };
      return [stateName, recorded];
    }),
  );
}

interface Deployment {
  readonly home: string;
  readonly tomcat: string;
  readonly rt: Runtime;
}

/** The deployment every test restores from: backed up once. */
let deployment: Deployment;
let restores = 0;

/** A fresh pair of targets for each restore. */
function targets(): { home: string; tomcat: string } {
  restores += 1;
  return {
    home: path.join(work.dir, `restored-${restores}`, 'liferay-home'),
    tomcat: path.join(work.dir, `restored-${restores}`, 'tomcat'),
  };
}

beforeAll(async () => {
  const home = path.join(work.dir, 'liferay-home');
  const tomcat = path.join(work.dir, 'tomcat');
  makeHome(home, 12);
  writeTree(tomcat, {
    'conf/server.xml': '<Server port="8005"/>',
    'bin/setenv.sh': 'CATALINA_OPTS="-Xmx4g"\n',
  });
  const rt = runtimeWith(new LocalFolderStore(path.join(work.dir, 'store')), {
    liferayHome: homeSettings(home),
    appServer: homeSettings(tomcat),
  });
  outputOf(await backup(rt));
  deployment = { home, tomcat, rt };
});

describe('the Restore workflow with the Liferay Home and the app server', () => {
  it('starts the app server restore only after the Liferay Home restore has ended', async () => {
    const { rt, home, tomcat } = deployment;
    const to = targets();
    const calls: string[] = [];

    const outcome = await restore(
      rt,
      { backupId: 'latest', liferayHome: { target: to.home }, appServer: { target: to.tomcat } },
      { taskOverrides: recording(calls, HOME_PLAN, HOME_FINALIZE, APP_SERVER_PLAN, APP_SERVER_FINALIZE) },
    );

    const { report } = outputOf<{ report: { status: string } }>(outcome);
    expect(report.status).toBe('complete');
    expect(calls).toEqual([
      `${HOME_PLAN}: start`,
      `${HOME_PLAN}: end`,
      `${HOME_FINALIZE}: start`,
      `${HOME_FINALIZE}: end`,
      `${APP_SERVER_PLAN}: start`,
      `${APP_SERVER_PLAN}: end`,
      `${APP_SERVER_FINALIZE}: start`,
      `${APP_SERVER_FINALIZE}: end`,
    ]);
    expect(diffTrees(readTree(home), readTree(to.home))).toEqual([]);
    expect(diffTrees(readTree(tomcat), readTree(to.tomcat))).toEqual([]);
  });

  it('a failing Liferay Home restore still lets the app server restore run and complete', async () => {
    const { rt, tomcat } = deployment;
    const to = targets();
    const calls: string[] = [];
    const failingFinalize: Handler = async () => {
      calls.push(`${HOME_FINALIZE}: failed`);
      throw Object.assign(new Error('no space left on device'), { name: 'DiskFullError' });
    };

    const outcome = await restore(
      rt,
      { backupId: 'latest', liferayHome: { target: to.home }, appServer: { target: to.tomcat } },
      {
        taskOverrides: { ...recording(calls, APP_SERVER_PLAN), [HOME_FINALIZE]: failingFinalize },
      },
    );

    expect(outcome.status).toBe('FAILED');
    expect(outcome.status === 'FAILED' ? outcome.error : '').toBe('RestorePartial');
    expect(calls).toEqual([
      `${HOME_FINALIZE}: failed`,
      `${APP_SERVER_PLAN}: start`,
      `${APP_SERVER_PLAN}: end`,
    ]);
    const report = await restoreReport(rt.store, restoreIdsOf(outcome));
    expect(report.status).toBe('partial');
    expect(report.results.liferayHome).toMatchObject({
      status: 'failed',
      error: { name: 'DiskFullError', message: 'no space left on device' },
    });
    expect(report.results.appServer?.status).toBe('complete');
    expect(diffTrees(readTree(tomcat), readTree(to.tomcat))).toEqual([]);
  });

  it('a Liferay Home that is not selected still lets the app server restore run', async () => {
    const { rt, tomcat } = deployment;
    const to = targets();
    const entered: string[] = [];

    const outcome = await restore(
      rt,
      { backupId: 'latest', components: ['appServer'], appServer: { target: to.tomcat } },
      { onStateEntered: (name) => entered.push(name) },
    );

    const { report } = outputOf<{ report: { status: string; components: Record<string, unknown> } }>(outcome);
    expect(report.status).toBe('complete');
    expect(report.components.appServer).toMatchObject({ status: 'complete' });
    expect(entered).toContain('Liferay Home not selected (restore)');
    expect(entered.indexOf(APP_SERVER_PLAN)).toBeGreaterThan(
      entered.indexOf('Liferay Home not selected (restore)'),
    );
    expect(diffTrees(readTree(tomcat), readTree(to.tomcat))).toEqual([]);
  });

  it('a failing app server restore leaves the Liferay Home restore complete', async () => {
    const { rt, home } = deployment;
    const to = targets();
    const failingPlan: Handler = async () => {
      throw Object.assign(new Error('conf/server.xml: sha256 differs'), { name: 'ChecksumMismatchError' });
    };

    const outcome = await restore(
      rt,
      { backupId: 'latest', liferayHome: { target: to.home }, appServer: { target: to.tomcat } },
      { taskOverrides: { [APP_SERVER_PLAN]: failingPlan } },
    );

    expect(outcome.status === 'FAILED' ? outcome.error : outcome.status).toBe('RestorePartial');
    const report = await restoreReport(rt.store, restoreIdsOf(outcome));
    expect(report.results.liferayHome?.status).toBe('complete');
    expect(report.results.appServer).toMatchObject({
      status: 'failed',
      error: { name: 'ChecksumMismatchError' },
    });
    expect(diffTrees(readTree(home), readTree(to.home))).toEqual([]);
  });
});
