import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { reportRestore } from '#backup-set/report-restore.ts';
import { validateRestore } from '#backup-set/validate-restore.ts';
import { closeEngines } from '#components/search/connect.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';
import { SearchEngineStandIn } from '../support/search-engine-server.ts';
import {
  backup,
  backupIdOf,
  homeSettings,
  makeHome,
  restore,
  restoreIdsOf,
  restoreReport,
  runtimeWith,
} from './support.ts';

/**
 * The restore report tells what happened even when a component's result is larger than usual
 * (found in review): a search restore over the live indexes of many virtual instances.
 */

const work = tempDir('review-restore-report');
let search: SearchEngineStandIn | undefined;
afterEach(async () => {
  await closeEngines();
  await search?.stop();
});
afterAll(() => work.cleanup());

/** The indexes of a DXP 7.4 cluster with `companies` virtual instances. */
function liferayIndexes(companies: number): Record<string, { docs: number }> {
  const indices: Record<string, { docs: number }> = { 'liferay-0': { docs: 10 } };
  for (let i = 0; i < companies; i += 1) {
    const company = `liferay-${20097 + i * 100}`;
    indices[company] = { docs: 100 };
    for (const suffix of [
      'search-tuning-rankings',
      'search-tuning-synonyms',
      'workflow-metrics-instances',
      'workflow-metrics-nodes',
      'workflow-metrics-processes',
      'workflow-metrics-sla-instance-results',
      'workflow-metrics-sla-task-results',
      'workflow-metrics-tasks',
      'workflow-metrics-transitions',
    ])
      indices[`${company}-${suffix}`] = { docs: 3 };
  }
  return indices;
}

describe('Report given a result longer than a report keeps', () => {
  it('keeps the component complete, its warnings shortened, instead of "ended without a result"', async () => {
    // Prepare: a set of the Liferay Home, validated for a restore.
    const home = path.join(work.dir, 'long', 'home');
    makeHome(home, 4);
    const store = new LocalFolderStore(path.join(work.dir, 'long', 'store'));
    const rt = runtimeWith(store, { liferayHome: homeSettings(home) });
    const backupId = backupIdOf(await backup(rt));
    const context = await validateRestore(
      { backupId, liferayHome: { target: path.join(work.dir, 'long', 'to') } },
      rt,
    );
    // What a component that did restore can return: one warning naming a few hundred entries,
    // and more warnings than the report's schema keeps.
    const names = Array.from(
      { length: 300 },
      (_, i) => `liferay-${20097 + i}-workflow-metrics-sla-task-results`,
    );
    const result = {
      component: 'liferayHome',
      status: 'complete',
      warnings: [
        `deleted before restoring them: ${names.join(', ')}`,
        ...names.map((name) => `${name}: checked`),
        ...names.map((name) => `${name}: checked again`),
        ...names.map((name) => `${name}: and again`),
        ...names.map((name) => `${name}: once more`),
      ],
      summary: { location: path.join(work.dir, 'long', 'to') },
      details: {},
    };

    // Act
    const output = await reportRestore({ restore: context, results: [[result]] }, rt);

    // Assess
    expect(output.problems).toEqual([]);
    expect(output.status).toBe('complete');
    const report = await restoreReport(store, context);
    expect(report.results.liferayHome?.status).toBe('complete');
    const warnings = report.results.liferayHome?.warnings ?? [];
    expect(warnings).toHaveLength(1000);
    expect(warnings[0]).toMatch(/^deleted before restoring them: liferay-20097-.*… \(\d+ characters more\)$/);
    expect(warnings[999]).toBe('and 202 more warnings (not kept in the report)');
  });

  it('a result it cannot read at all is a failure that says why', async () => {
    const home = path.join(work.dir, 'bad', 'home');
    makeHome(home, 4);
    const store = new LocalFolderStore(path.join(work.dir, 'bad', 'store'));
    const rt = runtimeWith(store, { liferayHome: homeSettings(home) });
    const backupId = backupIdOf(await backup(rt));
    const context = await validateRestore(
      { backupId, liferayHome: { target: path.join(work.dir, 'bad', 'to') } },
      rt,
    );

    const output = await reportRestore(
      {
        restore: context,
        results: [[{ component: 'liferayHome', status: 'done', warnings: [], summary: {}, details: {} }]],
      },
      rt,
    );

    expect(output.status).toBe('failed');
    expect(output.problems[0]).toMatch(
      /^liferayHome: InvalidResultError: the branch returned a result the report cannot read: status: /,
    );
  });
});

describe('a search restore that replaces the live indexes of 20 virtual instances', () => {
  // Found in review: the warning that named every index deleted (or closed) first was one string,
  // over 4,096 characters past about a hundred indexes, and the check-recovery event's schema
  // refused it: the component failed with "search.warnings.0: Too big" after it had deleted every
  // live index and the engine had begun restoring them. It now names the first twenty.
  it('is reported complete, with what it deleted first', async () => {
    // Prepare
    search = await SearchEngineStandIn.start({
      flavour: 'elasticsearch',
      version: '8.15.0',
      indices: liferayIndexes(20),
    });
    search.repositories.set('liferay-backup', { type: 'fs', settings: { location: '/snapshots' } });
    search.snapshots.set('liferay-backup', new Map());
    const store = new LocalFolderStore(path.join(work.dir, 'store'));
    const rt = runtimeWith(store, {
      search: {
        engine: 'elasticsearch',
        endpoint: search.url,
        credentials: { type: 'none' },
        repository: { name: 'liferay-backup' },
        waitSeconds: 0,
        maxChecks: 5,
      },
    });
    const backupId = backupIdOf(await backup(rt));

    // Act: every index back over the live ones.
    const outcome = await restore(rt, {
      backupId,
      components: ['search'],
      search: { indexes: 'all', onConflict: 'replace' },
    });

    // Assess
    const report = await restoreReport(store, restoreIdsOf(outcome));
    expect(report.results.search?.error).toBeUndefined();
    expect(report.results.search?.status).toBe('complete');
    expect(outcome.status === 'FAILED' ? outcome.cause : outcome.status).toBe('SUCCEEDED');
    expect(report.results.search?.warnings.join('\n')).toMatch(
      /deleted before restoring them: liferay-0.*, and \d+ more \(\d+ in all\)/,
    );
  });
});
