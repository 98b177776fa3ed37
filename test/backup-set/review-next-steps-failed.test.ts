import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { reportRestore } from '#backup-set/report-restore.ts';
import { readRestoreReport, restoreNextSteps } from '#backup-set/restore-report.ts';
import { validateRestore } from '#backup-set/validate-restore.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import {
  backupContext,
  commitSet,
  driveBackup,
  driveRestore,
  homeRuntime,
} from '../components/files/support/drive.ts';
import { testRuntime } from '../support/local-runtime.ts';

/**
 * A failed component's next step says what it changed: the RDS instance or cluster a failed
 * restore created (and what a retry does with it), each Git target's outcome.
 */

const T0 = new Date('2026-11-27T02:00:00Z');
function clock() {
  let t = T0.getTime();
  return () => {
    t += 1000;
    return new Date(t);
  };
}

const backedUp = {
  component: 'liferayHome',
  status: 'complete',
  warnings: [],
  summary: {},
  details: {
    engine: 'files',
    index: { key: 'objects/indexes/liferayHome', size: 1, sha256: '0'.repeat(64) },
    sources: [{ mount: '', root: '/srv/liferay', role: 'tree' }],
    rules: { include: [], exclude: [] },
  },
};

async function restoreOf(rt: Runtime) {
  const context = await beginBackup({}, rt);
  await commitBackup({ backup: context, results: [backedUp] }, rt);
  return validateRestore({ backupId: 'latest' }, rt);
}

const LEFT =
  "this restore created DB cluster liferay-aurora-r1 (state: available) and DB instance liferay-aurora-r1-writer (state: failed) in eu-west-1; it was not deleted and costs money while it exists: use it if it becomes available, or delete it (aws rds delete-db-instance --region eu-west-1 --db-instance-identifier liferay-aurora-r1-writer --skip-final-snapshot, then aws rds delete-db-cluster --region eu-west-1 --db-cluster-identifier liferay-aurora-r1 --skip-final-snapshot; turn off deletion protection first if it is on); a retry does not reuse it: it restores into a new one named after the retry's own restore id, beside this one";

/** As database/restore.ts returns a failed Aurora restore whose writer failed. */
const databaseFailed = {
  component: 'database',
  status: 'failed',
  startedAt: '2026-11-27T02:00:05.000Z',
  finishedAt: '2026-11-27T02:40:00.000Z',
  error: {
    name: 'DatabaseOperationFailedError',
    message: `the restored DB instance liferay-aurora-r1-writer is failed: look at its events in the RDS console (it was not deleted); ${LEFT}`,
  },
  warnings: [],
  summary: { cluster: 'liferay-aurora-r1', region: 'eu-west-1', state: 'available' },
  details: {
    mode: 'aurora-cluster',
    region: 'eu-west-1',
    created: [
      { kind: 'DB cluster', identifier: 'liferay-aurora-r1', state: 'available' },
      { kind: 'DB instance', identifier: 'liferay-aurora-r1-writer', state: 'failed' },
    ],
    leftBehind: LEFT,
    retry:
      "a retry does not reuse it: it restores into a new one named after the retry's own restore id, beside this one",
  },
};

/** As source/finish-restore.ts returns a restore with one target pushed, one failed, one not tried. */
const sourceFailed = {
  component: 'source',
  status: 'failed',
  error: {
    name: 'SourceComponentError',
    message:
      '1 of 3 restore target(s) failed: portal → https://git.example.com/b.git: GitAuthenticationError: HTTP 403',
  },
  warnings: [],
  summary: { targets: 3, pushed: 1, failed: 1 },
  details: {
    targets: [
      {
        repository: 'portal',
        url: 'https://git.example.com/a.git',
        status: 'pushed',
        refs: 12,
        pushed: 12,
        from: 'store',
      },
      {
        repository: 'portal',
        url: 'https://git.example.com/b.git',
        status: 'failed',
        error: 'GitAuthenticationError: HTTP 403',
      },
      { url: 'https://git.example.com/c.git', status: 'not tried' },
    ],
  },
};

describe('the next steps of a failed component say what it changed', () => {
  it('database and source failed: the cluster and writer left behind, each Git target’s outcome, in the report and the message', async () => {
    // Prepare
    const rt = testRuntime({ components: { liferayHome: { root: '/srv/liferay' } }, now: clock() });
    const restore = await restoreOf(rt);
    // Act
    const output = await reportRestore(
      {
        restore: { ...restore, components: ['database', 'source'] },
        results: [databaseFailed, sourceFailed],
      },
      rt,
    );
    // Assess
    const retryAlone = (name: string) =>
      `fix the cause, then restore it alone: {"backupId": "${restore.backupId}", "components": ["${name}"]} (CLI: --components ${name})`;
    expect(output.nextSteps).toEqual([
      `database failed: the live database was not changed; ${LEFT}; ${retryAlone('database')}`,
      'source failed: Git targets got their refs: https://git.example.com/a.git (portal), 12 ref(s) (a retry leaves them as they are); ' +
        'failed (check their refs: a push that failed part way may have updated some): https://git.example.com/b.git (portal): GitAuthenticationError: HTTP 403; ' +
        `not tried (unchanged): https://git.example.com/c.git; ${retryAlone('source')}`,
    ]);
    const report = await readRestoreReport(rt.store, restore.backupId, restore.restoreId);
    expect(report.results.database?.details).toEqual(databaseFailed.details);
    expect(report.results.source?.details).toEqual(sourceFailed.details);
    expect(output.message).toContain('liferay-aurora-r1-writer');

    // A failure the workflow's Catch made (no details) keeps the general lines.
    const rt2 = testRuntime({ components: { liferayHome: { root: '/srv/liferay' } }, now: clock() });
    const restore2 = await restoreOf(rt2);
    const caught = (component: string) => ({
      component,
      caught: { Error: 'States.Timeout', Cause: 'the task timed out' },
    });
    const general = await reportRestore(
      {
        restore: { ...restore2, components: ['database', 'source'] },
        results: [caught('database'), caught('source')],
      },
      rt2,
    );
    expect(general.nextSteps[0]).toMatch(/^database failed: a restore writes only a new instance or cluster/);
    expect(general.nextSteps[1]).toMatch(
      /^source failed: the targets the error does not name may have received their refs;/,
    );
  });
});

describe('a complete restore left in its staging folder says so', () => {
  const work = fs.mkdtempSync(path.join(tmpdir(), 'review-next-steps-staged-'));
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it('Liferay Home restored beside a live tree without swap: move it or restore again with swap; Liferay does not start from the staging folder', async () => {
    // Prepare: a backed-up tree, and a target that already holds a tree.
    const store = new LocalFolderStore(path.join(work, 'store'));
    const tree = path.join(work, 'home');
    fs.mkdirSync(path.join(tree, 'data'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'portal-ext.properties'), 'a=b\n');
    const backupId = 'b20261127t020001z-0001';
    await commitSet(store, backupId, [
      await driveBackup(homeRuntime(store, { root: tree }), backupContext(backupId)),
    ]);
    const target = path.join(work, 'live');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'live.txt'), 'live');
    const rt = homeRuntime(store, { root: target });
    const context = await validateRestore(
      { backupId, components: ['liferayHome'], liferayHome: { target } },
      rt,
    );
    // Act
    const result = await driveRestore(rt, context);
    const steps = restoreNextSteps({
      backupId,
      components: ['liferayHome'],
      requests: { liferayHome: { target } },
      results: { liferayHome: result },
    });
    // Assess
    const staging = String(result.details.staging);
    expect(result.summary.location).toBe(staging);
    expect(fs.readFileSync(path.join(staging, 'portal-ext.properties'), 'utf8')).toBe('a=b\n');
    expect(steps[0]).toBe(
      `liferayHome was restored into the staging folder ${staging}, NOT into ${target}: ${target} already held a tree and the request did not ask for a swap, so it was left as it was; with Liferay stopped, move the restored tree into place, or restore liferayHome alone again with a swap: {"backupId": "${backupId}", "components": ["liferayHome"], "liferayHome": {"swap": true}} (CLI: --components liferayHome --swap; the tree it replaces is kept as ${target}.before-<restoreId>)`,
    );
    expect(steps).toContain(
      `start Liferay from the Liferay Home in ${target}, once the restored tree from ${staging} is in place`,
    );
  }, 60_000);
});
