import { describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { reportRestore } from '#backup-set/report-restore.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { validateRestore } from '#backup-set/validate-restore.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { testRuntime } from '../support/local-runtime.ts';

/**
 * What an SRE reads at night in the Step Functions console: the execution's message (a red
 * execution has nothing else) and the report. Its first words are the verdict, then what to do
 * next (where to point Liferay, what to reindex, what was left out and where its list is), then
 * where each component went.
 */

const COMPONENTS = { liferayHome: { root: '/srv/liferay' }, appServer: { root: '/srv/tomcat' } };
const T0 = new Date('2026-11-27T02:00:00Z');

function clock() {
  let t = T0.getTime();
  return () => {
    t += 1000;
    return new Date(t);
  };
}

/** A files backup result as the files component records it (its checkRestore reads these). */
const backedUp = (component: string) => ({
  component,
  status: 'complete',
  warnings: [],
  summary: {},
  details: {
    engine: 'files',
    index: { key: `objects/indexes/${component}`, size: 1, sha256: '0'.repeat(64) },
    sources: [{ mount: '', root: '/srv/liferay', role: 'tree' }],
    rules: { include: [], exclude: [] },
  },
});

async function restoreOf(rt: Runtime) {
  const context = await beginBackup({}, rt);
  await commitBackup({ backup: context, results: [backedUp('liferayHome'), backedUp('appServer')] }, rt);
  return validateRestore({ backupId: 'latest' }, rt);
}

/** Liferay Home swapped in with skipLost, as restore-finalize.ts returns it. */
const homeRestored = (restoreId: string, backupId: string) => ({
  component: 'liferayHome',
  status: 'complete',
  warnings: [`the previous tree was kept as /srv/liferay.before-${restoreId}`],
  summary: { location: '/srv/liferay', files: 41, bytes: 9000, lostFiles: 1, lostBytes: 1000 },
  details: {
    location: '/srv/liferay',
    target: '/srv/liferay',
    swapped: true,
    previousTree: `/srv/liferay.before-${restoreId}`,
    lost: {
      files: 1,
      bytes: 1000,
      list: `backups/${backupId}/restores/${restoreId}-liferayHome-lost.jsonl.gz`,
      localList: `/srv/liferay.lost-${restoreId}.jsonl`,
    },
  },
});

describe('the restore execution tells the SRE what it did and what to do next', () => {
  it('a complete restore: verdict, then next steps (lost files and their list, reindex, start Liferay, the kept tree), then where it went', async () => {
    // Prepare
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    const restore = await restoreOf(rt);
    const { restoreId, backupId } = restore;
    // Act
    const output = await reportRestore(
      {
        restore: { ...restore, components: ['liferayHome'] },
        results: [homeRestored(restoreId, backupId)],
      },
      rt,
    );
    // Assess
    expect(output.status).toBe('complete');
    expect(output.message).toMatch(
      new RegExp(
        `^restore ${restoreId} of ${backupId} is complete, without the files whose stored content is lost \\(liferayHome: 1; the report's warnings name them\\); report: \\S+\\. next: 1\\) `,
      ),
    );
    expect(output.nextSteps).toEqual([
      `1 file(s) of liferayHome were NOT restored (their stored content is lost): the list is in /srv/liferay.lost-${restoreId}.jsonl`,
      expect.stringMatching(
        /^the search indexes were not restored: once Liferay runs, reindex \(Control Panel/,
      ),
      'start Liferay from the Liferay Home in /srv/liferay',
      `once Liferay runs from the restored liferayHome, remove the previous tree kept as /srv/liferay.before-${restoreId}`,
    ]);
    expect(output.message).toContain(
      `restored: liferayHome → /srv/liferay (the previous tree was kept as /srv/liferay.before-${restoreId})`,
    );
    // The report beside the set says the same, for whoever opens it instead.
    const report = await readRestoreReport(rt.store, backupId, restoreId);
    expect(report.nextSteps).toEqual(output.nextSteps);
  });

  it('a partial restore says which failed and why, that its live tree was not changed before the swap, how to retry it alone, and what the others did', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    const restore = await restoreOf(rt);
    const { restoreId, backupId } = restore;
    const output = await reportRestore(
      {
        restore: {
          ...restore,
          requests: { ...restore.requests, appServer: { target: '/srv/tomcat', swap: true } },
        },
        results: [
          [
            homeRestored(restoreId, backupId),
            { component: 'appServer', caught: { Error: 'RestoreTargetError', Cause: 'disk full' } },
          ],
        ],
      },
      rt,
    );
    expect(output.status).toBe('partial');
    const [verdict, next, restored] = output.message.split('. ');
    expect(verdict).toBe(
      `restore ${restoreId} of ${backupId} is partial: appServer: RestoreTargetError: disk full; report: backups/${backupId}/restores/${restoreId}.json`,
    );
    expect(next).toMatch(
      /^next: 1\) appServer failed: \/srv\/tomcat was not changed unless the error names the last step/,
    );
    expect(output.message).toContain(
      `restore it alone: {"backupId": "${backupId}", "components": ["appServer"]} (CLI: --components appServer)`,
    );
    expect(restored).toBeDefined();
    expect(output.message).toContain('restored: liferayHome → /srv/liferay');
  });

  it('a new RDS instance: the first step is to point Liferay at its endpoint, and the message names it', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    const restore = await restoreOf(rt);
    // As database/restore.ts returns a finished rds-instance restore.
    const database = {
      component: 'database',
      status: 'complete',
      warnings: [],
      summary: {
        instance: 'liferay-r1',
        region: 'eu-west-1',
        endpoint: 'liferay-r1.abc.eu-west-1.rds.amazonaws.com',
        port: 3306,
      },
      details: { mode: 'rds-instance', instance: 'liferay-r1' },
    };
    const output = await reportRestore(
      { restore: { ...restore, components: ['database'] }, results: [database] },
      rt,
    );
    expect(output.nextSteps[0]).toBe(
      "point Liferay's JDBC URL (jdbc.default.url in portal-ext.properties) at the new instance liferay-r1 at liferay-r1.abc.eu-west-1.rds.amazonaws.com:3306",
    );
    expect(output.message).toContain(
      'restored: database → new instance liferay-r1 at liferay-r1.abc.eu-west-1.rds.amazonaws.com:3306',
    );
  });

  it('search restored with its defaults: reindex what is not primary storage', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    const restore = await restoreOf(rt);
    const search = {
      component: 'search',
      status: 'complete',
      warnings: [],
      summary: { snapshot: 's1', indexes: 2, renamed: 0, documents: 10, docCountMismatches: 0 },
      details: { engine: { endpoint: 'https://search.internal:9200' } },
    };
    const output = await reportRestore(
      {
        restore: { ...restore, components: ['search'], requests: { search: { indexes: 'primary' } } },
        results: [search],
      },
      rt,
    );
    expect(output.nextSteps).toEqual([
      expect.stringMatching(
        /^only the primary-storage indexes were restored: once Liferay runs, reindex the rest/,
      ),
    ]);
    expect(output.message).toContain('restored: search → 2 index(es) on https://search.internal:9200');
  });
});

describe('the message stays a cause Step Functions accepts', () => {
  it('is cut below its 32,768 characters, saying how much more the report holds', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    const restore = await restoreOf(rt);
    const long = `the push was refused: ${'x'.repeat(40_000)}`;
    const output = await reportRestore(
      {
        restore,
        results: [[{ component: 'liferayHome', caught: { Error: 'RestoreTargetError', Cause: long } }]],
      },
      rt,
    );
    expect(output.status).toBe('failed');
    expect(output.message.length).toBeLessThanOrEqual(16_000);
    expect(output.message).toMatch(/ … \(\d+ characters more: the report has them all\)$/);
    expect(output.message).toMatch(
      new RegExp(`^restore ${restore.restoreId} of ${restore.backupId} is failed: `),
    );
  });
});
