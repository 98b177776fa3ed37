import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { validateRestore } from '#backup-set/validate-restore.ts';
import { closeEngines } from '#components/search/connect.ts';
import { SearchRepositoryConflictError } from '#components/search/errors.ts';
import { searchRuntime } from '#components/search/handlers/context.ts';
import { prepareSearchRepository } from '#components/search/handlers/prepare-repository.ts';
import { clusterFromUrl, searchComponent } from '#components/search/index.ts';
import { main } from '#local/cli.ts';
import { ConfigError, InvalidInputError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { allKeys, tempDir, testRuntime } from '../../support/local-runtime.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';
import { DETAILS } from './fixtures.ts';

/** The handlers with their settings, credentials and repository rules, against the stand-in. */

const BACKUP = { backupId: 'b20261127t020000z-7f3a', environment: 'test-env' };
const ROLE = 'arn:aws:iam::111111111111:role/liferay-backup-SearchSnapshotRole';
const KEY = 'arn:aws:kms:eu-west-1:111111111111:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9';

let server: SearchEngineStandIn | undefined;
afterEach(async () => {
  await closeEngines();
  await server?.stop();
  server = undefined;
});

/** Registrations sent to the stand-in (the OpenSearch client uses POST, the Elasticsearch one PUT). */
function registrations(standIn: SearchEngineStandIn, name: string) {
  return standIn.requests.filter(
    (request) =>
      (request.method === 'PUT' || request.method === 'POST') && request.rawPath === `/_snapshot/${name}`,
  );
}

/** Amazon OpenSearch Service as the stand-in plays it: SigV4 with the test credentials vitest sets. */
async function openSearch(version = '3.1.0'): Promise<SearchEngineStandIn> {
  return SearchEngineStandIn.start({
    flavour: 'opensearch',
    version,
    auth: { type: 'sigv4', accessKeyId: 'test', secretAccessKey: 'test', region: 'eu-west-1', service: 'es' },
  });
}

function openSearchRuntime(
  url: string,
  s3: Record<string, unknown> = {
    bucket: 'backups',
    basePath: 'search',
    region: 'eu-west-1',
    roleArn: ROLE,
    kmsKeyArn: KEY,
  },
): Runtime {
  return testRuntime({
    components: {
      search: {
        engine: 'opensearch',
        endpoint: url,
        credentials: { type: 'sigv4', region: 'eu-west-1' },
        repository: { name: 'liferay-backup', s3 },
      },
    },
  });
}

describe('search-prepare-repository on Amazon OpenSearch Service', () => {
  it('registers the repository with the snapshot role and SSE-KMS, then leaves an identical one alone', async () => {
    server = await openSearch();
    const rt = openSearchRuntime(server.url);
    const first = await prepareSearchRepository({ mode: 'backup', backup: BACKUP }, rt);
    expect(first).toMatchObject({
      registration: 'created',
      repository: { name: 'liferay-backup', type: 's3', location: 's3://backups/search' },
      engine: { kind: 'opensearch', distribution: 'opensearch', version: '3.1.0', endpoint: server.url },
    });
    const put = registrations(server, 'liferay-backup');
    expect(put).toHaveLength(1);
    expect(JSON.parse(put[0]?.body ?? '{}')).toEqual({
      type: 's3',
      settings: {
        bucket: 'backups',
        base_path: 'search',
        region: 'eu-west-1',
        role_arn: ROLE,
        server_side_encryption_type: 'aws:kms',
        server_side_encryption_kms_key_id: KEY,
        server_side_encryption_bucket_key_enabled: true,
      },
    });
    expect(server.requestsTo('POST', '/_snapshot/liferay-backup/_verify')).toHaveLength(1);

    const again = await prepareSearchRepository({ mode: 'backup', backup: BACKUP }, rt);
    expect(again.registration).toBe('unchanged');
    expect(registrations(server, 'liferay-backup')).toHaveLength(1);
  });

  it('updates a registration at the same place (a new role) and says so', async () => {
    server = await openSearch();
    await prepareSearchRepository({ mode: 'backup', backup: BACKUP }, openSearchRuntime(server.url));
    await closeEngines();
    const rt = openSearchRuntime(server.url, {
      bucket: 'backups',
      basePath: 'search',
      region: 'eu-west-1',
      roleArn: `${ROLE}-2`,
      kmsKeyArn: KEY,
    });
    const updated = await prepareSearchRepository({ mode: 'backup', backup: BACKUP }, rt);
    expect(updated.registration).toBe('updated');
    expect(updated.warnings).toEqual([
      'snapshot repository liferay-backup: settings updated (same location)',
    ]);
    expect(server.repositories.get('liferay-backup')?.settings.role_arn).toBe(`${ROLE}-2`);
  });

  it('never overwrites a repository that points elsewhere, and names both places', async () => {
    server = await openSearch();
    server.repositories.set('liferay-backup', {
      type: 's3',
      settings: { bucket: 'someone-elses', base_path: 'snapshots' },
    });
    server.snapshots.set('liferay-backup', new Map());
    const failure = await prepareSearchRepository(
      { mode: 'backup', backup: BACKUP },
      openSearchRuntime(server.url),
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SearchRepositoryConflictError);
    expect((failure as Error).message).toContain(
      'points to s3://someone-elses/snapshots, not to s3://backups/search',
    );
    expect(registrations(server, 'liferay-backup')).toEqual([]);
    expect(server.repositories.get('liferay-backup')?.settings.bucket).toBe('someone-elses');
  });

  it('registers read-only when a restore comes first, and a later backup refuses it (another cluster may write it)', async () => {
    server = await openSearch();
    const rt = openSearchRuntime(server.url);
    const restore = { restoreId: 'r20261127t030000z-0001', backupId: BACKUP.backupId, requests: {} };
    expect((await prepareSearchRepository({ mode: 'restore', restore }, rt)).registration).toBe('created');
    expect(server.repositories.get('liferay-backup')?.settings.readonly).toBe('true');
    expect((await prepareSearchRepository({ mode: 'restore', restore }, rt)).registration).toBe('unchanged');
    await expect(prepareSearchRepository({ mode: 'backup', backup: BACKUP }, rt)).rejects.toThrow(
      /is read-only on this cluster/,
    );
    expect(server.repositories.get('liferay-backup')?.settings.readonly).toBe('true');
  });

  it("registers without SSE-KMS settings before OpenSearch 3.1 (the bucket's default encryption applies), then leaves it alone", async () => {
    server = await openSearch('2.11.0');
    const rt = openSearchRuntime(server.url);
    const first = await prepareSearchRepository({ mode: 'backup', backup: BACKUP }, rt);
    expect(first).toMatchObject({ registration: 'created', warnings: [] });
    const put = registrations(server, 'liferay-backup');
    expect(put).toHaveLength(1);
    expect(JSON.parse(put[0]?.body ?? '{}')).toEqual({
      type: 's3',
      settings: { bucket: 'backups', base_path: 'search', region: 'eu-west-1', role_arn: ROLE },
    });
    expect((await prepareSearchRepository({ mode: 'backup', backup: BACKUP }, rt)).registration).toBe(
      'unchanged',
    );
    expect(registrations(server, 'liferay-backup')).toHaveLength(1);
  });

  it("takes the bucket, role and key from the function's environment, and names what is missing", async () => {
    server = await openSearch();
    const saved = { ...process.env };
    try {
      process.env.STORE_BUCKET = 'stack-bucket';
      process.env.STORE_KMS_KEY_ARN = KEY;
      delete process.env.SEARCH_SNAPSHOT_ROLE_ARN;
      const rt = openSearchRuntime(server.url, { basePath: 'search', region: 'eu-west-1' });
      await expect(prepareSearchRepository({ mode: 'backup', backup: BACKUP }, rt)).rejects.toThrow(
        /no role .*SEARCH_SNAPSHOT_ROLE_ARN/,
      );
      process.env.SEARCH_SNAPSHOT_ROLE_ARN = ROLE;
      const prepared = await prepareSearchRepository({ mode: 'backup', backup: BACKUP }, rt);
      expect(prepared.repository.location).toBe('s3://stack-bucket/search');
      expect(server.repositories.get('liferay-backup')?.settings).toMatchObject({
        role_arn: ROLE,
        server_side_encryption_kms_key_id: KEY,
      });
    } finally {
      process.env = saved;
    }
  });

  it('refuses an event it does not understand, before any request', async () => {
    server = await openSearch();
    await expect(
      prepareSearchRepository({ mode: 'sideways' }, openSearchRuntime(server.url)),
    ).rejects.toBeInstanceOf(InvalidInputError);
    expect(server.requests).toEqual([]);
  });
});

describe('search-prepare-repository on Elasticsearch, credentials from SSM', () => {
  const ssm = mockClient(SSMClient);
  beforeEach(() => ssm.reset());

  function esRuntime(url: string, parameterName: string): Runtime {
    return testRuntime({
      components: {
        search: {
          engine: 'elasticsearch',
          endpoint: url,
          credentials: { type: 'ssm', parameterName },
          repository: { name: 'found-snapshots' },
        },
      },
    });
  }

  async function elasticsearch(auth: ConstructorParameters<typeof Object>[0]): Promise<SearchEngineStandIn> {
    const started = await SearchEngineStandIn.start({ flavour: 'elasticsearch', version: '8.15.0', auth });
    started.repositories.set('found-snapshots', {
      type: 's3',
      settings: { bucket: 'es-bucket', base_path: 'liferay/' },
    });
    started.snapshots.set('found-snapshots', new Map());
    return started;
  }

  it('reads user and password from the SecureString (decrypted) and verifies the operator-registered repository', async () => {
    server = await elasticsearch({ type: 'basic', username: 'backup', password: 'from-ssm-7Q' });
    ssm
      .on(GetParameterCommand)
      .resolves({ Parameter: { Value: JSON.stringify({ username: 'backup', password: 'from-ssm-7Q' }) } });
    const prepared = await prepareSearchRepository(
      { mode: 'backup', backup: BACKUP },
      esRuntime(server.url, '/search/basic'),
    );
    expect(prepared).toMatchObject({
      registration: 'verified',
      repository: { location: 's3://es-bucket/liferay' },
    });
    expect(ssm.commandCalls(GetParameterCommand)[0]?.args[0].input).toEqual({
      Name: '/search/basic',
      WithDecryption: true,
    });
    expect(registrations(server, 'found-snapshots')).toEqual([]);
    expect(server.requestsTo('POST', '/_snapshot/found-snapshots/_verify')).toHaveLength(1);
  });

  it('gives the restore tasks the restore credentials when there are some, and the backup tasks the others', async () => {
    server = await elasticsearch({ type: 'basic', username: 'restorer', password: 'restore-pw-4R' });
    ssm
      .on(GetParameterCommand, { Name: '/search/backup-user' })
      .resolves({ Parameter: { Value: JSON.stringify({ username: 'backup', password: 'backup-pw-9B' }) } })
      .on(GetParameterCommand, { Name: '/search/restore-user' })
      .resolves({
        Parameter: { Value: JSON.stringify({ username: 'restorer', password: 'restore-pw-4R' }) },
      });
    const rt = testRuntime({
      components: {
        search: {
          engine: 'elasticsearch',
          endpoint: server.url,
          credentials: { type: 'ssm', parameterName: '/search/backup-user' },
          restoreCredentials: { type: 'ssm', parameterName: '/search/restore-user' },
          repository: { name: 'found-snapshots' },
        },
      },
    });
    const restoreSide = await searchRuntime(rt, 'restore');
    expect((await restoreSide.engine.info()).version).toBe('8.15.0');
    // This stand-in knows only the restore user: the backup tasks' user is refused.
    await expect((await searchRuntime(rt)).engine.info()).rejects.toThrow(/401|authentication|credentials/i);
  });

  it('uses an API key from the SecureString', async () => {
    server = await elasticsearch({ type: 'apiKey', key: 'a2V5LWlkOmtleS1zZWNyZXQ=' });
    ssm
      .on(GetParameterCommand)
      .resolves({ Parameter: { Value: JSON.stringify({ apiKey: 'a2V5LWlkOmtleS1zZWNyZXQ=' }) } });
    const prepared = await prepareSearchRepository(
      { mode: 'backup', backup: BACKUP },
      esRuntime(server.url, '/search/api-key'),
    );
    expect(prepared.engine.version).toBe('8.15.0');
  });

  it('names the parameter, never its value, when the value is not usable', async () => {
    server = await elasticsearch({ type: 'basic', username: 'backup', password: 'x' });
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'backup:hunter2-not-json' } });
    const failure = await prepareSearchRepository(
      { mode: 'backup', backup: BACKUP },
      esRuntime(server.url, '/search/raw'),
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toBe('SSM parameter /search/raw is not JSON');
    expect(server.requests).toEqual([]);
  });

  it('refuses a repository the operator has not registered, and a read-only one for a backup', async () => {
    server = await elasticsearch({ type: 'basic', username: 'backup', password: 'pw' });
    ssm
      .on(GetParameterCommand)
      .resolves({ Parameter: { Value: JSON.stringify({ username: 'backup', password: 'pw' }) } });
    server.repositories.delete('found-snapshots');
    await expect(
      prepareSearchRepository({ mode: 'backup', backup: BACKUP }, esRuntime(server.url, '/search/p1')),
    ).rejects.toThrow(/snapshot repository found-snapshots is not registered on the cluster/);
    server.repositories.set('found-snapshots', {
      type: 's3',
      settings: { bucket: 'es-bucket', readonly: 'true' },
    });
    await expect(
      prepareSearchRepository({ mode: 'backup', backup: BACKUP }, esRuntime(server.url, '/search/p1')),
    ).rejects.toThrow(/is read-only on this cluster/);
    server.repositories.set('found-snapshots', { type: 's3', settings: { bucket: 'es-bucket' } });
    server.unverifiable.add('found-snapshots');
    await expect(
      prepareSearchRepository({ mode: 'backup', backup: BACKUP }, esRuntime(server.url, '/search/p1')),
    ).rejects.toThrow(/repository_verification_exception/);
  });
});

describe('Validate checks the search request before anything changes', () => {
  // A 7.4 set: only the SLA results are primary storage.
  const DETAILS_74 = {
    ...DETAILS,
    dxp: { line: '7.4+', source: 'config' },
    indexes: DETAILS.indexes.map((index) => ({
      ...index,
      primaryStorage: index.kind === 'workflow-metrics-sla-results',
    })),
  };

  it('refuses a request naming an index the set does not hold, or an unknown option, writing nothing', async () => {
    const rt = testRuntime({
      components: {
        search: {
          engine: 'elasticsearch',
          endpoint: 'http://127.0.0.1:9',
          credentials: { type: 'none' },
          repository: { name: 'liferay-backup' },
        },
      },
    });
    const context = await beginBackup({}, rt);
    await commitBackup(
      {
        backup: context,
        results: [
          { component: 'search', status: 'complete', warnings: [], summary: {}, details: DETAILS_74 },
        ],
      },
      rt,
    );
    const before = await allKeys(rt.store);
    await expect(
      validateRestore({ backupId: 'latest', search: { indexes: ['liferay-1'] } }, rt),
    ).rejects.toThrow("search: index liferay-1 is not in the set's snapshot");
    await expect(
      validateRestore({ backupId: 'latest', search: { onConflict: 'delete' } }, rt),
    ).rejects.toThrow(/search\.onConflict/);
    expect(await allKeys(rt.store)).toEqual(before);
    const ok = await validateRestore({ backupId: 'latest', search: { onConflict: 'rename' } }, rt);
    expect(ok.requests.search).toEqual({
      indexes: 'primary',
      onConflict: 'rename',
      renamePrefix: 'restored-',
    });
  });
});

describe('the local CLI', () => {
  it('takes credentials from the URL user info, keeps them out of the settings URL, or signs with SigV4', () => {
    expect(clusterFromUrl('https://elastic:p%40ss@es.local:9200/', undefined)).toEqual({
      endpoint: 'https://es.local:9200',
      credentials: { type: 'basic', username: 'elastic', password: 'p@ss' },
    });
    expect(clusterFromUrl('http://es.local:9200', undefined).credentials).toEqual({ type: 'env' });
    expect(clusterFromUrl('https://search-x.eu-west-1.es.amazonaws.com', 'eu-west-1').credentials).toEqual({
      type: 'sigv4',
      region: 'eu-west-1',
    });
    const bad = (() => {
      try {
        clusterFromUrl('http://elastic:secret-9@[not-a-host', undefined);
      } catch (error) {
        return error as Error;
      }
      return undefined;
    })();
    expect(bad?.message).not.toContain('secret-9');
    expect(searchComponent.local?.restoreRequestFromOptions?.({})).toBeUndefined();
    expect(
      searchComponent.local?.restoreRequestFromOptions?.({
        'search-indexes': 'a,b',
        'search-on-conflict': 'close',
      }),
    ).toEqual({ indexes: ['a', 'b'], onConflict: 'close' });
  });

  it('backs up and restores a cluster given as --search-url, never printing or storing its password', async () => {
    server = await SearchEngineStandIn.start({
      flavour: 'elasticsearch',
      version: '7.17.21',
      auth: { type: 'basic', username: 'elastic', password: 'cli-secret-42' },
      indices: {
        'liferay-0': { docs: 5 },
        'liferay-20101-search-tuning-synonyms': { docs: 2 },
        'workflow-metrics-sla-task-results': { docs: 1 },
      },
    });
    server.repositories.set('liferay-backup', { type: 'fs', settings: { location: '/mnt/snapshots' } });
    server.snapshots.set('liferay-backup', new Map());
    const store = tempDir('search-cli');
    const lines: string[] = [];
    const io = { out: (line: string) => lines.push(line), err: process.stderr };
    const url = server.url.replace('http://', 'http://elastic:cli-secret-42@');
    try {
      const code = await main(
        [
          'backup',
          '--store',
          store.dir,
          '--search-url',
          url,
          '--search-dxp-version',
          '7.2',
          '--json',
          '--quiet',
        ],
        io,
      );
      expect(code, lines.join('\n')).toBe(0);
      expect(lines.join('\n')).not.toContain('cli-secret-42');
      const manifest = JSON.parse(lines.join('\n')) as {
        results: { search: { details: { indexes: { name: string; primaryStorage: boolean }[] } } };
      };
      expect(
        manifest.results.search.details.indexes
          .filter((index) => index.primaryStorage)
          .map((index) => index.name),
      ).toEqual(['liferay-20101-search-tuning-synonyms', 'workflow-metrics-sla-task-results']);
      const restore = await main(
        [
          'restore',
          'latest',
          '--store',
          store.dir,
          '--search-url',
          url,
          '--search-on-conflict',
          'rename',
          '--quiet',
        ],
        io,
      );
      expect(restore, lines.join('\n')).toBe(0);
      expect(server.lastRestore?.body.indices).toEqual([
        'liferay-20101-search-tuning-synonyms',
        'workflow-metrics-sla-task-results',
      ]);
      expect(server.indices.get('restored-workflow-metrics-sla-task-results')?.docs).toBe(1);
      expect(lines.join('\n')).not.toContain('cli-secret-42');
      const local = new LocalFolderStore(store.dir);
      for (const key of await allKeys(local)) {
        const body = await readAll(local, key);
        expect(body, key).not.toContain('cli-secret-42');
      }
    } finally {
      store.cleanup();
    }
  });
});

async function readAll(store: LocalFolderStore, key: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const path = await import('node:path');
  return readFile(path.join(store.location, ...key.split('/')), 'latin1');
}
