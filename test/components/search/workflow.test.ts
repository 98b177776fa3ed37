import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '#backup-set/manifest.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { closeEngines } from '#components/search/connect.ts';
import { searchResultDetailsSchema } from '#components/search/records.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { type AslDefinition, definitionsFromTemplate } from '#local/template-definitions.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { synthTemplate } from '../../../cdk/synth.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';
import { searchRuntimeFor } from './fixtures.ts';

/**
 * The synthesized Backup and Restore state machines (the definitions `npm run workflows` writes),
 * run by the local interpreter with every Lambda task bound to its handler, against the stand-in
 * cluster: the search branches go through their Wait + check loops to a manifest and a report.
 */

const CONFIG = {
  environment: 'liferay-test',
  account: '111111111111',
  region: 'eu-west-1',
  components: {
    search: {
      enabled: true,
      engine: 'elasticsearch',
      endpoint: 'https://search.example.com:9200',
      waitSeconds: 30,
      maxChecks: 5,
    },
  },
};

let definitions: Record<string, AslDefinition>;

/** The output of a run that must have succeeded. */
function outputOf<T>(outcome: WorkflowOutcome): T {
  if (outcome.status !== 'SUCCEEDED')
    throw new Error(`the workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output as T;
}

/** The restore and backup ids a failed Restore names in its cause. */
function failedRestore(outcome: WorkflowOutcome): { restoreId: string; backupId: string } {
  const cause = outcome.status === 'FAILED' ? outcome.cause : '';
  const match = /restore (r\S+) of (b\S+?)[:\s]/.exec(cause);
  if (!match?.[1] || !match[2]) throw new Error(`not a failed restore: ${JSON.stringify(outcome)}`);
  return { restoreId: match[1], backupId: match[2] };
}

beforeAll(() => {
  definitions = definitionsFromTemplate(synthTemplate(CONFIG) as never);
});
afterAll(async () => {
  await closeEngines();
});

const LIFERAY_73 = {
  'liferay-0': { docs: 120 },
  'liferay-20097': { docs: 5400, pri: 2 },
  'liferay-20097-search-tuning-rankings': { docs: 7 },
  'liferay-20097-search-tuning-synonyms': { docs: 3 },
  'liferay-20097-workflow-metrics-sla-task-results': { docs: 42 },
  'liferay-20097-workflow-metrics-tokens': { docs: 11 },
  '.kibana_1': { docs: 1 },
};

async function elasticsearch(): Promise<SearchEngineStandIn> {
  const server = await SearchEngineStandIn.start({
    flavour: 'elasticsearch',
    version: '8.15.0',
    auth: { type: 'basic', username: 'elastic', password: 'pw-in-memory-only' },
    indices: LIFERAY_73,
  });
  server.repositories.set('liferay-backup', {
    type: 's3',
    settings: { bucket: 'es-snapshots', base_path: 'liferay' },
  });
  server.snapshots.set('liferay-backup', new Map());
  return server;
}

function runtimeFor(server: SearchEngineStandIn, extra: Record<string, unknown> = {}): Runtime {
  return searchRuntimeFor(server.url, {
    credentials: { type: 'basic', username: 'elastic', password: 'pw-in-memory-only' },
    maxChecks: 5,
    ...extra,
  });
}

describe('the synthesized search branches, run locally', () => {
  let server: SearchEngineStandIn;
  afterEach(async () => {
    await closeEngines();
    await server.stop();
  });

  it('loops Wait → check until SUCCESS and commits the snapshot record; the restore loops until recovered', async () => {
    server = await elasticsearch();
    server.scripts.push({ inProgressChecks: 3, outcome: 'SUCCESS' });
    const rt = runtimeFor(server);

    const backup = await runWorkflow(definitions.backup as AslDefinition, { components: ['search'] }, rt);
    expect(backup.status, JSON.stringify(backup)).toBe('SUCCEEDED');
    // Three IN_PROGRESS answers, then SUCCESS: four checks, four waits.
    expect(backup.statesEntered.filter((name) => name === 'Search check snapshot')).toHaveLength(4);
    expect(backup.statesEntered.filter((name) => name === 'Search wait for snapshot')).toHaveLength(4);
    const backupId = outputOf<{ backup: { backupId: string } }>(backup).backup.backupId;
    const manifest = await readManifest(rt.store, backupId);
    expect(manifest.status).toBe('complete');
    const result = manifest.results.search;
    expect(result?.status).toBe('complete');
    const details = searchResultDetailsSchema.parse(result?.details);
    expect(details.snapshot).toMatchObject({ name: backupId, state: 'SUCCESS' });
    expect(details.repository).toEqual({
      name: 'liferay-backup',
      type: 's3',
      location: 's3://es-snapshots/liferay',
    });
    expect(details.engine).toMatchObject({
      kind: 'elasticsearch',
      distribution: 'elasticsearch',
      version: '8.15.0',
    });
    expect(details.dxp).toEqual({
      line: '7.3',
      source: 'index-names',
      evidence: 'liferay-20097-workflow-metrics-tokens',
    });
    expect(details.indexes.map((index) => [index.name, index.docCount, index.primaryStorage])).toEqual([
      ['liferay-0', 120, false],
      ['liferay-20097', 5400, false],
      ['liferay-20097-search-tuning-rankings', 7, true],
      ['liferay-20097-search-tuning-synonyms', 3, true],
      ['liferay-20097-workflow-metrics-sla-task-results', 42, true],
      ['liferay-20097-workflow-metrics-tokens', 11, false],
    ]);
    // Only Liferay's names are listed (a role limited to them can do it).
    expect(server.requestsTo('GET', '/_cat/indices')[0]?.segments).toEqual([
      '_cat',
      'indices',
      'liferay-*,liferay-search-tuning-*,workflow-metrics-*',
    ]);
    const snapshotRequest = server.requestsTo('PUT', `/_snapshot/liferay-backup/${backupId}`)[0];
    expect(JSON.parse(snapshotRequest?.body ?? '{}')).toMatchObject({ include_global_state: false });
    expect(snapshotRequest?.query.wait_for_completion).toBe('false');
    // The password was held in memory only.
    expect(JSON.stringify(manifest)).not.toContain('pw-in-memory-only');

    // Restore the primary-storage indexes beside the live ones.
    server.recoveryChecks = 2;
    const restore = await runWorkflow(
      definitions.restore as AslDefinition,
      { backupId: 'latest', components: ['search'], search: { onConflict: 'rename' } },
      rt,
    );
    expect(restore.status, JSON.stringify(restore)).toBe('SUCCEEDED');
    expect(restore.statesEntered.filter((name) => name === 'Search check recovery')).toHaveLength(3);
    const { restoreId } = outputOf<{ report: { restoreId: string } }>(restore).report;
    const report = await readRestoreReport(rt.store, backupId, restoreId);
    expect(report.status).toBe('complete');
    expect(report.results.search?.summary).toMatchObject({ indexes: 3, renamed: 3, docCountMismatches: 0 });
    expect(server.lastRestore?.body).toMatchObject({
      indices: [
        'liferay-20097-search-tuning-rankings',
        'liferay-20097-search-tuning-synonyms',
        'liferay-20097-workflow-metrics-sla-task-results',
      ],
      include_global_state: false,
      include_aliases: false,
      rename_replacement: 'restored-$1',
    });
    expect(server.indices.get('restored-liferay-20097-search-tuning-rankings')?.docs).toBe(7);
    expect(server.indices.get('liferay-20097-search-tuning-rankings')?.status).toBe('open');
  });

  it.each([
    {
      outcome: 'PARTIAL' as const,
      reason:
        /ended PARTIAL \(1 of 7 shards failed\): liferay-0\[0\] on \S+: INTERNAL_SERVER_ERROR IndexShardSnapshotFailedException/,
    },
    {
      outcome: 'FAILED' as const,
      reason:
        /ended FAILED \(6 of 7 shards failed\): liferay-0\[0\] on \S+: INTERNAL_SERVER_ERROR IndexShardSnapshotFailedException.*AccessDeniedException.*; liferay-20097-workflow-metrics-tokens\[0\]/,
    },
  ])(
    'fails the search component on $outcome with the shard failures, deletes the snapshot, and the set is failed',
    async ({ outcome, reason }) => {
      server = await elasticsearch();
      server.scripts.push({ inProgressChecks: 1, outcome });
      const rt = runtimeFor(server);
      const backup = await runWorkflow(definitions.backup as AslDefinition, { components: ['search'] }, rt);
      expect(backup.statesEntered.filter((name) => name === 'Search check snapshot')).toHaveLength(2);
      const backupId = /(b\d{8}t\d{6}z-[0-9a-f]{4})/.exec(JSON.stringify(backup))?.[1] ?? '';
      const manifest = await readManifest(rt.store, backupId);
      expect(manifest.status).toBe('failed');
      expect(manifest.results.search?.error?.name).toBe('SearchSnapshotFailedError');
      expect(manifest.results.search?.error?.message).toMatch(reason);
      expect(manifest.results.search?.error?.message).toContain('the snapshot was deleted');
      expect(server.snapshots.get('liferay-backup')?.has(backupId)).toBe(false);
    },
  );

  it('gives up after maxChecks, aborting the snapshot', async () => {
    server = await elasticsearch();
    server.scripts.push({ inProgressChecks: 100, outcome: 'SUCCESS' });
    const rt = runtimeFor(server, { maxChecks: 3 });
    const backup = await runWorkflow(definitions.backup as AslDefinition, { components: ['search'] }, rt);
    expect(backup.statesEntered.filter((name) => name === 'Search check snapshot')).toHaveLength(3);
    const backupId = /(b\d{8}t\d{6}z-[0-9a-f]{4})/.exec(JSON.stringify(backup))?.[1] ?? '';
    const manifest = await readManifest(rt.store, backupId);
    expect(manifest.results.search?.error?.name).toBe('SearchTimeoutError');
    expect(manifest.results.search?.error?.message).toContain('it was aborted');
    expect(server.snapshots.get('liferay-backup')?.size).toBe(0);
  });

  it('does not give up before maxChecks × waitSeconds have passed, however fast the runner checks', async () => {
    server = await elasticsearch();
    server.scripts.push({ inProgressChecks: 10, outcome: 'SUCCESS' });
    const rt = runtimeFor(server, { maxChecks: 3, waitSeconds: 3600 });
    const backup = await runWorkflow(definitions.backup as AslDefinition, { components: ['search'] }, rt);
    expect(backup.status, JSON.stringify(backup)).toBe('SUCCEEDED');
    expect(backup.statesEntered.filter((name) => name === 'Search check snapshot')).toHaveLength(11);
  });

  it('keeps a 500-index result within what Step Functions passes between states, and refuses more', async () => {
    const many = Object.fromEntries(
      Array.from({ length: 500 }, (_, i) => [
        `liferay-${30000 + i}-workflow-metrics-sla-instance-results`,
        { docs: 1_000_000 + i },
      ]),
    );
    server = await SearchEngineStandIn.start({ flavour: 'elasticsearch', version: '8.15.0', indices: many });
    server.repositories.set('liferay-backup', {
      type: 's3',
      settings: { bucket: 'es-snapshots', base_path: 'liferay' },
    });
    server.snapshots.set('liferay-backup', new Map());
    const rt = searchRuntimeFor(server.url);
    const backup = await runWorkflow(definitions.backup as AslDefinition, { components: ['search'] }, rt);
    const backupId = outputOf<{ backup: { backupId: string } }>(backup).backup.backupId;
    const result = (await readManifest(rt.store, backupId)).results.search;
    expect(result?.status).toBe('complete');
    // 256 KB is the limit for the whole state; leave room for the other components' results.
    expect(JSON.stringify(result).length).toBeLessThan(128 * 1024);

    server.addIndex('liferay-39999-workflow-metrics-sla-instance-results', { docs: 1 });
    const refused = await runWorkflow(definitions.backup as AslDefinition, { components: ['search'] }, rt);
    const refusedId = /(b\d{8}t\d{6}z-[0-9a-f]{4})/.exec(JSON.stringify(refused))?.[1] ?? '';
    expect((await readManifest(rt.store, refusedId)).results.search?.error?.message).toMatch(
      /501 indexes match, more than 500/,
    );
  });

  it('retries the start while another snapshot holds the repository (concurrent_snapshot_execution_exception)', async () => {
    server = await elasticsearch();
    server.busyCreates = 2;
    const rt = runtimeFor(server);
    const backup = await runWorkflow(definitions.backup as AslDefinition, { components: ['search'] }, rt, {
      retryDelayMs: 1,
    });
    expect(backup.status, JSON.stringify(backup)).toBe('SUCCEEDED');
    expect(server.requestsTo('PUT', '/_snapshot/liferay-backup/b').map((request) => request.status)).toEqual([
      503, 503, 200,
    ]);
  });

  it('stops a restore that would overwrite an open index, naming the conflicts and changing nothing', async () => {
    server = await elasticsearch();
    const rt = runtimeFor(server);
    const backup = await runWorkflow(definitions.backup as AslDefinition, { components: ['search'] }, rt);
    expect(backup.status).toBe('SUCCEEDED');
    server.setDocs('liferay-20097-search-tuning-rankings', 9);
    const before = server.requests.length;

    const restore = await runWorkflow(
      definitions.restore as AslDefinition,
      { backupId: 'latest', components: ['search'] },
      rt,
    );
    expect(restore.status).toBe('FAILED');
    const { restoreId, backupId } = failedRestore(restore);
    const report = await readRestoreReport(rt.store, backupId, restoreId);
    expect(report.results.search?.error?.name).toBe('SearchRestoreConflictError');
    expect(report.results.search?.error?.message).toContain(
      'index liferay-20097-search-tuning-rankings exists (open)',
    );
    expect(report.results.search?.error?.message).toContain(
      'choose "onConflict" (CLI: --search-on-conflict): "rename"',
    );
    const changes = server.requests
      .slice(before)
      .filter((request) => request.method !== 'GET' && !request.rawPath.endsWith('/_verify'));
    expect(changes).toEqual([]);
    expect(server.indices.get('liferay-20097-search-tuning-rankings')?.docs).toBe(9);
  });

  it('replaces on request, and reports a document count that differs from the manifest', async () => {
    server = await elasticsearch();
    const rt = runtimeFor(server);
    expect(
      (await runWorkflow(definitions.backup as AslDefinition, { components: ['search'] }, rt)).status,
    ).toBe('SUCCEEDED');
    // The stand-in restores what it captured; make the capture differ from the recorded count.
    const snapshot = [...(server.snapshots.get('liferay-backup')?.values() ?? [])][0];
    snapshot?.contents.set('liferay-20097-workflow-metrics-sla-task-results', { docs: 40, pri: 1 });

    const restore = await runWorkflow(
      definitions.restore as AslDefinition,
      {
        backupId: 'latest',
        components: ['search'],
        search: { indexes: ['liferay-20097-workflow-metrics-*'], onConflict: 'replace' },
      },
      rt,
    );
    expect(restore.status, JSON.stringify(restore)).toBe('SUCCEEDED');
    const { restoreId, backupId } = outputOf<{ report: { restoreId: string; backupId: string } }>(
      restore,
    ).report;
    const report = await readRestoreReport(rt.store, backupId, restoreId);
    expect(report.results.search?.summary).toMatchObject({ indexes: 2, docCountMismatches: 1 });
    expect(report.results.search?.warnings).toContain(
      'liferay-20097-workflow-metrics-sla-task-results: 40 documents restored, the manifest recorded 42',
    );
    expect(report.results.search?.warnings).toContain(
      'deleted before restoring them: liferay-20097-workflow-metrics-sla-task-results, liferay-20097-workflow-metrics-tokens',
    );
  });
});
