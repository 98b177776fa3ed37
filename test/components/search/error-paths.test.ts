import { afterEach, describe, expect, it } from 'vitest';
import { elasticsearchEngine } from '#components/search/elasticsearch-engine.ts';
import type { SearchEngine } from '#components/search/engine.ts';
import {
  SearchRestoreConflictError,
  SearchSnapshotFailedError,
  SearchTimeoutError,
} from '#components/search/errors.ts';
import type { PreparedRepository, SearchResultDetails } from '#components/search/records.ts';
import { checkRecovery, startRestore } from '#components/search/restore.ts';
import { searchSettingsSchema } from '#components/search/settings.ts';
import { checkSnapshot, startSnapshot } from '#components/search/snapshot.ts';
import { ConfigError } from '#runtime/errors.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';

/**
 * The component's own error paths (beyond the engines' error bodies), each against the stand-in
 * through the real Elasticsearch client: what is refused, what the message names, and that nothing
 * was changed on the cluster.
 */

const BACKUP_ID = 'b20261127t020000z-7f3a';
const NOW = new Date('2026-11-27T02:00:00Z');
const LISTING = 'liferay-*';

let server: SearchEngineStandIn;
let engine: SearchEngine;
afterEach(async () => {
  await engine.close();
  await server.stop();
});

async function cluster(indices: Record<string, { docs: number; status?: 'open' | 'close' }>) {
  server = await SearchEngineStandIn.start({ flavour: 'elasticsearch', version: '8.15.0', indices });
  server.repositories.set('liferay-backup', { type: 's3', settings: { bucket: 'b', base_path: 'search' } });
  server.snapshots.set('liferay-backup', new Map());
  engine = elasticsearchEngine({ endpoint: server.url, auth: { type: 'none' } });
}

function prepared(location = 's3://b/search'): PreparedRepository {
  return {
    engine: {
      kind: 'elasticsearch',
      distribution: 'elasticsearch',
      version: '8.15.0',
      clusterName: 'c',
      endpoint: server.url,
    },
    repository: { name: 'liferay-backup', type: 's3', location },
    registration: 'verified',
    warnings: [],
  };
}

const settings = (extra: Record<string, unknown> = {}) =>
  searchSettingsSchema.parse({
    engine: 'elasticsearch',
    endpoint: 'http://127.0.0.1:9200',
    credentials: { type: 'none' },
    repository: { name: 'liferay-backup' },
    dxpVersion: '7.3',
    waitSeconds: 0,
    ...extra,
  });

async function started() {
  return startSnapshot(engine, {
    backupId: BACKUP_ID,
    environment: 'test',
    prepared: prepared(),
    settings: settings(),
    now: NOW,
  });
}

describe('the snapshot', () => {
  it('is not started when no open index matches, and the message names the prefix', async () => {
    await cluster({ 'liferay-0': { docs: 1, status: 'close' }, 'other-app': { docs: 3 } });
    const failure = await started().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toBe(
      `no open index on ${server.url} matches prefix liferay-: nothing to snapshot`,
    );
    expect(server.snapshots.get('liferay-backup')?.size).toBe(0);
  });

  it('fails when its snapshot is deleted while it runs', async () => {
    await cluster({ 'liferay-0': { docs: 1 } });
    server.scripts.push({ inProgressChecks: 5, outcome: 'SUCCESS' });
    const state = await started();
    server.snapshots.get('liferay-backup')?.delete(BACKUP_ID);
    await expect(checkSnapshot(engine, state, NOW, LISTING)).rejects.toThrow(
      new SearchSnapshotFailedError(
        `snapshot liferay-backup/${BACKUP_ID} is gone from the repository (deleted while it ran?)`,
      ),
    );
  });

  it('fails when it succeeded without an index it was asked for', async () => {
    await cluster({ 'liferay-0': { docs: 1 }, 'liferay-20097': { docs: 5 } });
    server.scripts.push({ inProgressChecks: 0, outcome: 'SUCCESS' });
    const state = await started();
    server.snapshots.get('liferay-backup')?.get(BACKUP_ID)?.indices.splice(1);
    const failure = await checkSnapshot(engine, state, NOW, LISTING).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SearchSnapshotFailedError);
    expect((failure as Error).message).toContain('succeeded without liferay-20097');
  });
});

const DETAILS: SearchResultDetails = {
  engine: {
    kind: 'elasticsearch',
    distribution: 'elasticsearch',
    version: '8.15.0',
    clusterName: 'c',
    endpoint: 'http://es',
  },
  repository: { name: 'liferay-backup', type: 's3', location: 's3://b/search' },
  snapshot: { name: BACKUP_ID, state: 'SUCCESS' },
  dxp: { line: '7.3', source: 'config', evidence: '7.3' },
  indexNamePrefix: 'liferay-',
  indexes: [
    {
      name: 'liferay-20097-search-tuning-rankings',
      kind: 'search-tuning',
      primaryStorage: true,
      docCount: 7,
      primaryShards: 1,
    },
  ],
};

function restoreInput(location?: string, maxChecks = 5) {
  return {
    details: DETAILS,
    request: { indexes: 'primary' as const, onConflict: 'fail' as const, renamePrefix: 'restored-' },
    prepared: prepared(location),
    maxChecks,
    waitSeconds: 0,
    now: NOW,
  };
}

describe('the restore', () => {
  it('refuses a repository that now reads another place, before touching anything', async () => {
    await cluster({});
    const failure = await startRestore(engine, restoreInput('s3://elsewhere/search')).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(SearchRestoreConflictError);
    expect((failure as Error).message).toBe(
      `the set's snapshot ${BACKUP_ID} was written to s3://b/search, but repository liferay-backup on ${server.url} reads s3://elsewhere/search`,
    );
    expect(server.lastRestore).toBeUndefined();
  });

  it('refuses a snapshot that is not in the repository, or did not succeed', async () => {
    await cluster({ 'liferay-20097-search-tuning-rankings': { docs: 7 } });
    await expect(startRestore(engine, restoreInput())).rejects.toThrow(
      new SearchSnapshotFailedError(
        `snapshot ${BACKUP_ID} is not in repository liferay-backup (s3://b/search)`,
      ),
    );
    server.scripts.push({ inProgressChecks: 0, outcome: 'PARTIAL' });
    await engine.createSnapshot('liferay-backup', BACKUP_ID, { indices: ['liferay-*'], metadata: {} });
    await expect(startRestore(engine, restoreInput())).rejects.toThrow(
      new SearchSnapshotFailedError(`snapshot liferay-backup/${BACKUP_ID} is PARTIAL`),
    );
    expect(server.lastRestore).toBeUndefined();
  });

  it('gives up after maxChecks while recovery goes on, naming the pending index', async () => {
    await cluster({ 'liferay-20097-search-tuning-rankings': { docs: 7 } });
    server.scripts.push({ inProgressChecks: 0, outcome: 'SUCCESS' });
    await engine.createSnapshot('liferay-backup', BACKUP_ID, { indices: ['liferay-*'], metadata: {} });
    await engine.deleteIndices(['liferay-20097-search-tuning-rankings']);
    server.recoveryChecks = 100;
    const state = await startRestore(engine, restoreInput(undefined, 2));
    const once = await checkRecovery(engine, state, NOW);
    expect(once).toMatchObject({ done: false, checks: 1 });
    await expect(checkRecovery(engine, once, NOW)).rejects.toThrow(
      new SearchTimeoutError(
        `the restore of ${BACKUP_ID} has not recovered after 2 checks since ${NOW.toISOString()}: ` +
          'liferay-20097-search-tuning-rankings (the restore goes on in the cluster; check GET liferay-20097-search-tuning-rankings/_recovery)',
      ),
    );
  });
});
