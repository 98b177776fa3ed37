import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { recordAbandonedSet } from '#backup-set/abandoned-set.ts';
import { newRunId } from '#backup-set/backup-id.ts';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { listBackupIds, readManifest } from '#backup-set/manifest.ts';
import { deleteSet } from '#backup-set/retention.ts';
import type { ComponentResult } from '#components/component.ts';
import { searchRetention } from '#components/search/artifacts.ts';
import { closeEngines } from '#components/search/connect.ts';
import { checkSearchSnapshot } from '#components/search/handlers/check-snapshot.ts';
import { prepareSearchRepository } from '#components/search/handlers/prepare-repository.ts';
import { startSearchSnapshot } from '#components/search/handlers/start-snapshot.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { type AslDefinition, definitionsFromTemplate } from '#local/template-definitions.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { synthTemplate } from '../../../cdk/synth.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';
import { searchRuntimeFor } from './fixtures.ts';

/**
 * A search snapshot that the set's start made but no complete result records: the check's retries
 * ran out while the cluster was unreachable (the branch's Catch keeps only the error), or the run
 * stopped before Commit (the set has no search result at all). Retention deletes it with the set
 * when its metadata proves it is the set's; anything else under that name, or near it, stays.
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
const REPOSITORY = 'liferay-backup';

let backupDefinition: AslDefinition;
let server: SearchEngineStandIn;

beforeAll(() => {
  backupDefinition = definitionsFromTemplate(synthTemplate(CONFIG) as never).backup as AslDefinition;
});
afterAll(async () => {
  await closeEngines();
});
afterEach(async () => {
  await closeEngines();
  await server.stop();
});

async function cluster(): Promise<Runtime> {
  server = await SearchEngineStandIn.start({
    flavour: 'elasticsearch',
    version: '8.15.0',
    indices: { 'liferay-0': { docs: 120 }, 'liferay-20097': { docs: 5400, pri: 2 } },
  });
  server.repositories.set(REPOSITORY, { type: 's3', settings: { bucket: 'b', base_path: 'search' } });
  server.snapshots.set(REPOSITORY, new Map());
  server.defaultScript = { inProgressChecks: 0, outcome: 'SUCCESS' };
  return searchRuntimeFor(server.url, { maxChecks: 5, dxpVersion: '7.4' });
}

/** The same deployment while the cluster cannot be reached (nothing listens on port 1). */
function unreachable(rt: Runtime): Runtime {
  const search = rt.settings.components.search as Record<string, unknown>;
  return {
    ...rt,
    settings: {
      ...rt.settings,
      components: { ...rt.settings.components, search: { ...search, endpoint: 'http://127.0.0.1:1' } },
    },
  };
}

/** A snapshot made by someone else, straight through the API (metadata as given, or none). */
async function foreignSnapshot(name: string, metadata?: Record<string, string>): Promise<void> {
  const answer = await fetch(`${server.url}/_snapshot/${REPOSITORY}/${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ indices: ['liferay-0'], ...(metadata ? { metadata } : {}) }),
  });
  expect(answer.status).toBe(200);
}

async function snapshotState(name: string): Promise<unknown> {
  const answer = await fetch(`${server.url}/_snapshot/${REPOSITORY}/${name}`);
  return ((await answer.json()) as { snapshots?: { state?: unknown }[] }).snapshots?.[0]?.state;
}

const snapshotNames = () => [...(server.snapshots.get(REPOSITORY)?.keys() ?? [])].sort();
const deletes = () => server.requestsTo('DELETE', '/_snapshot/').map((request) => request.rawPath);

async function backup(rt: Runtime, checkRuntime?: Runtime): Promise<string> {
  const before = new Set(await listBackupIds(rt.store));
  await runWorkflow(
    backupDefinition,
    { components: ['search'] },
    rt,
    checkRuntime
      ? { taskOverrides: { 'Search check snapshot': (event) => checkSearchSnapshot(event, checkRuntime) } }
      : {},
  );
  const made = (await listBackupIds(rt.store)).filter((id) => !before.has(id));
  expect(made).toHaveLength(1);
  return made[0] as string;
}

describe('retention deletes the search snapshot of a set whose search result is not complete', () => {
  it('deletes the snapshot left by a check that could not reach the cluster, and nothing else', async () => {
    const rt = await cluster();
    const completeId = await backup(rt);
    expect((await readManifest(rt.store, completeId)).status).toBe('complete');
    const failedId = await backup(rt, unreachable(rt));
    const manifest = await readManifest(rt.store, failedId);
    expect(manifest.status).toBe('failed');
    expect(manifest.results.search).toMatchObject({ status: 'failed', details: {} });
    // The engine finished the snapshot the run could no longer see.
    expect(server.snapshots.get(REPOSITORY)?.get(failedId)?.metadata).toMatchObject({ backup_id: failedId });
    // Names close to the set's, made by other tools: never looked at.
    await foreignSnapshot(`${failedId}-manual`, { taken_by: 'liferay-backup', backup_id: failedId });
    await foreignSnapshot(`nightly-${failedId}`);

    const outcome = await deleteSet({ runId: newRunId('g', new Date()), backupId: failedId }, rt);

    expect(outcome.deleted).toEqual([
      `search snapshot ${REPOSITORY}/${failedId} (SUCCESS, of a search result that is not complete) deleted`,
    ]);
    expect(snapshotNames()).toEqual([completeId, `${failedId}-manual`, `nightly-${failedId}`].sort());
    expect(deletes()).toEqual([`/_snapshot/${REPOSITORY}/${failedId}`]);
  });

  it('deletes the snapshot of a run stopped before Commit (no search result), once it no longer runs', async () => {
    const rt = await cluster();
    server.defaultScript = { inProgressChecks: 2, outcome: 'SUCCESS' };
    const context = await beginBackup({ components: ['search'] }, rt);
    const prepared = await prepareSearchRepository({ mode: 'backup', backup: context }, rt);
    await startSearchSnapshot({ backup: context, search: prepared }, rt);
    // The execution is stopped here; the next Begin records the set as abandoned.
    expect(await recordAbandonedSet(rt, context.backupId, 'the execution was stopped', new Date())).toBe(
      'recorded',
    );
    const manifest = await readManifest(rt.store, context.backupId);
    expect(manifest.status).toBe('failed');
    expect(manifest.results.search).toBeUndefined();

    // Still IN_PROGRESS: never deleted, the set is postponed to the next run.
    const runId = newRunId('g', new Date());
    expect((await deleteSet({ runId, backupId: context.backupId }, rt)).postponed).toMatch(/IN_PROGRESS/);
    expect(snapshotNames()).toEqual([context.backupId]);
    expect(deletes()).toEqual([]);

    // The engine finishes it (the stand-in moves on with each read of the snapshot).
    for (let read = 0; read < 5 && (await snapshotState(context.backupId)) === 'IN_PROGRESS'; read += 1);
    expect(await snapshotState(context.backupId)).toBe('SUCCESS');
    const outcome = await deleteSet({ runId, backupId: context.backupId }, rt);
    expect(outcome.deleted).toEqual([
      `search snapshot ${REPOSITORY}/${context.backupId} (SUCCESS, of a search result that is not complete) deleted`,
    ]);
    expect(snapshotNames()).toEqual([]);
  });

  it('reports a snapshot already gone (the component deleted its PARTIAL snapshot), without error', async () => {
    const rt = await cluster();
    server.defaultScript = { inProgressChecks: 0, outcome: 'PARTIAL' };
    const failedId = await backup(rt);
    expect((await readManifest(rt.store, failedId)).results.search?.status).toBe('failed');
    expect(snapshotNames()).toEqual([]);

    const outcome = await deleteSet({ runId: newRunId('g', new Date()), backupId: failedId }, rt);

    expect(outcome.deleted).toEqual([
      `search snapshot ${REPOSITORY}/${failedId} was already gone (or never started)`,
    ]);
  });

  it('leaves a snapshot of the set name that another tool or deployment made, and says why', async () => {
    const rt = await cluster();
    const backupId = 'b20261127t020000z-7f3a';
    const failed: ComponentResult = {
      component: 'search',
      status: 'failed',
      error: { name: 'RetryableError', message: 'connect ECONNREFUSED' },
      warnings: [],
      summary: {},
      details: {},
    };
    const cases: [Record<string, string> | undefined, string][] = [
      [undefined, 'its metadata has no taken_by, not liferay-backup'],
      [
        { taken_by: 'curator', backup_id: backupId },
        'its metadata has taken_by "curator", not liferay-backup',
      ],
      [
        { taken_by: 'liferay-backup', backup_id: 'b20261126t020000z-0000', environment: 'test-env' },
        `its metadata has backup_id "b20261126t020000z-0000", not ${backupId}`,
      ],
      [
        { taken_by: 'liferay-backup', backup_id: backupId, environment: 'staging' },
        'its metadata has environment "staging", not test-env',
      ],
    ];
    for (const [metadata, why] of cases) {
      server.snapshots.get(REPOSITORY)?.clear();
      await foreignSnapshot(backupId, metadata);
      expect(await searchRetention.deleteArtifacts?.({ backupId, result: failed }, rt)).toEqual([
        `left in place: search snapshot ${REPOSITORY}/${backupId} is not set ${backupId}'s: ${why}`,
      ]);
      expect(snapshotNames()).toEqual([backupId]);
    }
    expect(deletes()).toEqual([]);
    // A skipped component never started one: nothing is asked of the cluster.
    const asked = server.requests.length;
    expect(
      await searchRetention.deleteArtifacts?.({ backupId, result: { ...failed, status: 'skipped' } }, rt),
    ).toEqual([]);
    expect(server.requests).toHaveLength(asked);
  });
});
