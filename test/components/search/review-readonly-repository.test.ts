import { afterEach, describe, expect, it } from 'vitest';
import { closeEngines } from '#components/search/connect.ts';
import { prepareSearchRepository } from '#components/search/handlers/prepare-repository.ts';
import { ConfigError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { testRuntime } from '../../support/local-runtime.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';

/**
 * A repository registered `readonly: true` on this cluster (by a restore that came first, e.g. on a
 * DR cluster, or by an operator because another cluster writes there) must stay read-only: only
 * one cluster may write a repository, two writers corrupt it (Elasticsearch "Register a snapshot
 * repository", "Diagnosing corrupted repositories"). A backup refuses instead of re-registering it
 * writable.
 */

const BACKUP = { backupId: 'b20261127t020000z-7f3a', environment: 'test-env' };
const ROLE = 'arn:aws:iam::111111111111:role/liferay-backup-SearchSnapshotRole';
const S3 = { bucket: 'backups', basePath: 'search', region: 'eu-west-1', roleArn: ROLE };

let server: SearchEngineStandIn | undefined;
afterEach(async () => {
  await closeEngines();
  await server?.stop();
  server = undefined;
});

async function openSearch(): Promise<SearchEngineStandIn> {
  return SearchEngineStandIn.start({
    flavour: 'opensearch',
    version: '2.11.0',
    auth: { type: 'sigv4', accessKeyId: 'test', secretAccessKey: 'test', region: 'eu-west-1', service: 'es' },
  });
}

function runtimeFor(url: string): Runtime {
  return testRuntime({
    components: {
      search: {
        engine: 'opensearch',
        endpoint: url,
        credentials: { type: 'sigv4', region: 'eu-west-1' },
        repository: { name: 'liferay-backup', s3: S3 },
      },
    },
  });
}

function registrations(standIn: SearchEngineStandIn) {
  return standIn.requests.filter(
    (request) =>
      (request.method === 'PUT' || request.method === 'POST') &&
      request.rawPath === '/_snapshot/liferay-backup',
  );
}

async function refusedBackup(standIn: SearchEngineStandIn): Promise<Error> {
  const before = registrations(standIn).length;
  const failure = await prepareSearchRepository(
    { mode: 'backup', backup: BACKUP },
    runtimeFor(standIn.url),
  ).catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(ConfigError);
  // Never re-registered: the registration stays read-only.
  expect(registrations(standIn)).toHaveLength(before);
  expect(standIn.repositories.get('liferay-backup')?.settings.readonly).toBe('true');
  return failure as Error;
}

describe('a backup meets a repository registered read-only on this cluster', () => {
  it('refuses after a restore registered it read-only first, and says what to do', async () => {
    server = await openSearch();
    const restore = { restoreId: 'r20261127t030000z-0001', backupId: BACKUP.backupId, requests: {} };
    const rt = runtimeFor(server.url);
    expect((await prepareSearchRepository({ mode: 'restore', restore }, rt)).registration).toBe('created');
    expect(server.repositories.get('liferay-backup')?.settings.readonly).toBe('true');

    const failure = await refusedBackup(server);
    expect(failure.message).toContain(
      'snapshot repository liferay-backup (s3://backups/search) is read-only on this cluster',
    );
    expect(failure.message).toContain('another cluster may be writing to it');
    expect(failure.message).toMatch(/another repository name, and another bucket or base path/);
    expect(failure.message).toMatch(/only cluster writing .*make it writable yourself/);
  });

  it('refuses a repository an operator made read-only, whatever its other settings', async () => {
    server = await openSearch();
    server.repositories.set('liferay-backup', {
      type: 's3',
      settings: { bucket: 'backups', base_path: 'search', region: 'eu-west-1', readonly: 'true' },
    });
    server.snapshots.set('liferay-backup', new Map());
    await refusedBackup(server);
    // Nothing was verified or changed on its behalf either.
    expect(server.requestsTo('POST', '/_snapshot/liferay-backup/_verify')).toEqual([]);
  });

  it('still lets a restore use it as it is', async () => {
    server = await openSearch();
    server.repositories.set('liferay-backup', {
      type: 's3',
      settings: { bucket: 'backups', base_path: 'search', region: 'eu-west-1', readonly: 'true' },
    });
    server.snapshots.set('liferay-backup', new Map());
    const restore = { restoreId: 'r20261127t030000z-0001', backupId: BACKUP.backupId, requests: {} };
    const prepared = await prepareSearchRepository({ mode: 'restore', restore }, runtimeFor(server.url));
    expect(prepared.registration).toBe('unchanged');
    expect(registrations(server)).toEqual([]);
  });
});
