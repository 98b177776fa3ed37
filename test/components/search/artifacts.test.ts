import { afterEach, describe, expect, it } from 'vitest';
import type { ComponentResult } from '#components/component.ts';
import { searchRetention, verifySearchSnapshot } from '#components/search/artifacts.ts';
import { closeEngines } from '#components/search/connect.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { testRuntime } from '../../support/local-runtime.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';
import { DETAILS, searchRuntimeFor } from './fixtures.ts';

/** The set's snapshot for retention (delete it) and the restore drill (prove it is there). */

const BACKUP_ID = DETAILS.snapshot.name;

let server: SearchEngineStandIn | undefined;
afterEach(async () => {
  await closeEngines();
  await server?.stop();
  server = undefined;
});

/** A stand-in holding the set's snapshot in the repository the set recorded (s3://b/search). */
async function withSnapshot(): Promise<{ rt: Runtime; result: ComponentResult }> {
  server = await SearchEngineStandIn.start({
    flavour: 'elasticsearch',
    version: '8.15.0',
    indices: Object.fromEntries(
      DETAILS.indexes.map((index) => [index.name, { docs: index.docCount, pri: index.primaryShards }]),
    ),
  });
  server.repositories.set('liferay-backup', { type: 's3', settings: { bucket: 'b', base_path: 'search' } });
  server.snapshots.set('liferay-backup', new Map());
  server.defaultScript = { inProgressChecks: 0, outcome: 'SUCCESS' };
  const create = await fetch(`${server.url}/_snapshot/liferay-backup/${BACKUP_ID}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      indices: DETAILS.indexes.map((index) => index.name),
      include_global_state: false,
    }),
  });
  expect(create.status).toBe(200);
  const rt = searchRuntimeFor(server.url);
  const result: ComponentResult = {
    component: 'search',
    status: 'complete',
    warnings: [],
    summary: {},
    details: { ...DETAILS, repository: { name: 'liferay-backup', type: 's3', location: 's3://b/search' } },
  };
  return { rt, result };
}

describe('retention: deleteArtifacts', () => {
  it('deletes the set snapshot, and says so when it is already gone', async () => {
    const { rt, result } = await withSnapshot();
    expect(await searchRetention.deleteArtifacts?.({ backupId: BACKUP_ID, result }, rt)).toEqual([
      `search snapshot liferay-backup/${BACKUP_ID} deleted`,
    ]);
    expect(server?.snapshots.get('liferay-backup')?.has(BACKUP_ID)).toBe(false);
    expect(await searchRetention.deleteArtifacts?.({ backupId: BACKUP_ID, result }, rt)).toEqual([
      `search snapshot liferay-backup/${BACKUP_ID} was already gone`,
    ]);
  });

  it('for a failed result, leaves a snapshot of the set name that carries no metadata of ours', async () => {
    // Failed and missing results: review-unrecorded-snapshots.test.ts.
    const { rt, result } = await withSnapshot();
    const failed: ComponentResult = { ...result, status: 'failed', details: {} };
    expect(await searchRetention.deleteArtifacts?.({ backupId: BACKUP_ID, result: failed }, rt)).toEqual([
      `left in place: search snapshot liferay-backup/${BACKUP_ID} is not set ${BACKUP_ID}'s: its metadata has no taken_by, not liferay-backup`,
    ]);
    expect(server?.requests.filter((request) => request.method === 'DELETE')).toEqual([]);
  });

  it('leaves the snapshot in place, and says why, when the repository now reads another place', async () => {
    const { rt, result } = await withSnapshot();
    server?.repositories.set('liferay-backup', {
      type: 's3',
      settings: { bucket: 'other', base_path: 'search' },
    });
    expect(await searchRetention.deleteArtifacts?.({ backupId: BACKUP_ID, result }, rt)).toEqual([
      `left in place: search snapshot liferay-backup/${BACKUP_ID}: the set wrote to s3://b/search, the repository now reads s3://other/search`,
    ]);
    expect(server?.requests.filter((request) => request.method === 'DELETE')).toEqual([]);
  });

  it('leaves it in place when the search component is no longer configured', async () => {
    const { result } = await withSnapshot();
    const rt = testRuntime({ components: {} });
    expect(await searchRetention.deleteArtifacts?.({ backupId: BACKUP_ID, result }, rt)).toEqual([
      `left in place: search snapshot liferay-backup/${BACKUP_ID}: the search component is not configured in this deployment`,
    ]);
  });
});

describe('restore drill: verify', () => {
  it('verifies a snapshot that exists, succeeded and holds every recorded index', async () => {
    const { rt, result } = await withSnapshot();
    const outcome = await verifySearchSnapshot({ backupId: BACKUP_ID, result }, rt);
    expect(outcome).toEqual({
      status: 'verified',
      checks: [
        'repository liferay-backup reads s3://b/search',
        `search snapshot liferay-backup/${BACKUP_ID} exists`,
        `search snapshot liferay-backup/${BACKUP_ID} is SUCCESS`,
        `search snapshot liferay-backup/${BACKUP_ID} holds the 4 recorded indexes`,
      ],
      problems: [],
    });
    // Nothing but reads.
    expect(
      server?.requests.filter((request) => request.method !== 'GET').map((request) => request.rawPath),
    ).toEqual([`/_snapshot/liferay-backup/${BACKUP_ID}`]);
  });

  it('fails when the snapshot is gone or lacks an index', async () => {
    const { rt, result } = await withSnapshot();
    const extra = {
      ...result,
      details: {
        ...(result.details as typeof DETAILS),
        indexes: [...DETAILS.indexes, { ...DETAILS.indexes[0], name: 'liferay-99999' }],
      },
    } as ComponentResult;
    expect((await verifySearchSnapshot({ backupId: BACKUP_ID, result: extra }, rt)).problems).toEqual([
      `search snapshot liferay-backup/${BACKUP_ID} lacks liferay-99999`,
    ]);
    server?.snapshots.get('liferay-backup')?.delete(BACKUP_ID);
    expect(await verifySearchSnapshot({ backupId: BACKUP_ID, result }, rt)).toMatchObject({
      status: 'failed',
      problems: [`search snapshot liferay-backup/${BACKUP_ID} does not exist`],
    });
  });
});
