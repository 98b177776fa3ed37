import { Client } from '@elastic/elasticsearch';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chunkNames } from '#components/search/client-engine.ts';
import { elasticsearchEngine } from '#components/search/elasticsearch-engine.ts';
import type { SearchEngine } from '#components/search/engine.ts';
import { SearchEngineError, SearchSnapshotBusyError } from '#components/search/errors.ts';
import { openSearchEngine } from '#components/search/opensearch-engine.ts';
import { ConfigError, RetryableError } from '#runtime/errors.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';

/**
 * Both real clients over HTTP against the stand-in (test/support/search-engine-server.ts): the
 * requests they send, the answers they parse, and how the engines' error bodies become named errors.
 */

const INDICES = {
  'liferay-0': { docs: 120 },
  'liferay-20097': { docs: 5400, pri: 2 },
  'liferay-20097-search-tuning-rankings': { docs: 7 },
  'liferay-20097-workflow-metrics-sla-task-results': { docs: 42 },
  'other-app': { docs: 3 },
};

const CREDENTIALS = {
  accessKeyId: 'AKIDSTANDIN000000001',
  secretAccessKey: 'stand-in-secret-key',
  sessionToken: 'stand-in-session-token',
};

interface Flavoured {
  readonly title: string;
  readonly server: () => Promise<SearchEngineStandIn>;
  readonly engine: (server: SearchEngineStandIn) => SearchEngine;
}

const FLAVOURS: Flavoured[] = [
  {
    title: 'Elasticsearch 8 (basic auth)',
    server: () =>
      SearchEngineStandIn.start({
        flavour: 'elasticsearch',
        version: '8.15.0',
        auth: { type: 'basic', username: 'elastic', password: 's3cret:with@chars' },
        indices: INDICES,
      }),
    engine: (server) =>
      elasticsearchEngine({
        endpoint: server.url,
        auth: { type: 'basic', username: 'elastic', password: 's3cret:with@chars' },
      }),
  },
  {
    title: 'Amazon OpenSearch Service (SigV4)',
    server: () =>
      SearchEngineStandIn.start({
        flavour: 'opensearch',
        version: '3.1.0',
        auth: { type: 'sigv4', ...CREDENTIALS, region: 'eu-west-1', service: 'es' },
        indices: INDICES,
      }),
    engine: (server) =>
      openSearchEngine({
        endpoint: server.url,
        auth: { type: 'sigv4', region: 'eu-west-1', credentials: async () => CREDENTIALS },
      }),
  },
];

describe.each(FLAVOURS)('$title through its client', (flavour) => {
  let server: SearchEngineStandIn;
  let engine: SearchEngine;

  beforeAll(async () => {
    server = await flavour.server();
    engine = flavour.engine(server);
  });
  afterAll(async () => {
    await engine.close();
    await server.stop();
  });

  it('reads the cluster version', async () => {
    const info = await engine.info();
    expect(info.version).toBe(server.options.version);
    expect(info.distribution).toBe(server.options.flavour);
  });

  it('finds no repository, registers one, reads its settings back as strings and verifies it', async () => {
    expect(await engine.getRepository('liferay-backup')).toBeUndefined();
    await engine.putRepository('liferay-backup', {
      type: 's3',
      settings: { bucket: 'backups', base_path: 'search', server_side_encryption_bucket_key_enabled: true },
    });
    expect(await engine.getRepository('liferay-backup')).toEqual({
      type: 's3',
      settings: { bucket: 'backups', base_path: 'search', server_side_encryption_bucket_key_enabled: 'true' },
    });
    expect(await engine.verifyRepository('liferay-backup')).toEqual(['node-1']);
  });

  it('lists open and closed indexes with their document counts', async () => {
    const indices = await engine.listIndices('liferay-*');
    expect(indices.map((index) => [index.name, index.docCount, index.primaryShards])).toEqual([
      ['liferay-0', 120, 1],
      ['liferay-20097', 5400, 2],
      ['liferay-20097-search-tuning-rankings', 7, 1],
      ['liferay-20097-workflow-metrics-sla-task-results', 42, 1],
    ]);
    expect(await engine.listIndices('nothing-like-this-*')).toEqual([]);
  });

  it('finds indexes by exact name, leaving out the missing ones instead of failing the request', async () => {
    const found = await engine.findIndices(['liferay-0', 'no-such-index', 'liferay-20097']);
    // liferay-20097* also matches its app indexes: only the exact names come back.
    expect(found.map((index) => index.name).sort()).toEqual(['liferay-0', 'liferay-20097']);
    expect(await engine.findIndices(['no-such-index'])).toEqual([]);
  });

  it('starts a snapshot without waiting and without the global state, then follows it to SUCCESS', async () => {
    server.scripts.push({ inProgressChecks: 2, outcome: 'SUCCESS' });
    await engine.createSnapshot('liferay-backup', 'b20261127t020000z-7f3a', {
      indices: ['liferay-0', 'liferay-20097'],
      metadata: { backup_id: 'b20261127t020000z-7f3a' },
    });
    const create = server
      .requestsTo('POST', '/_snapshot/liferay-backup/b2026')
      .concat(server.requestsTo('PUT', '/_snapshot/liferay-backup/b2026'));
    expect(create).toHaveLength(1);
    expect(create[0]?.query.wait_for_completion).toBe('false');
    expect(JSON.parse(create[0]?.body ?? '{}')).toMatchObject({
      indices: ['liferay-0', 'liferay-20097'],
      include_global_state: false,
      metadata: { backup_id: 'b20261127t020000z-7f3a' },
    });

    expect((await engine.getSnapshot('liferay-backup', 'b20261127t020000z-7f3a'))?.state).toBe('IN_PROGRESS');
    const progress = await engine.snapshotProgress('liferay-backup', 'b20261127t020000z-7f3a');
    expect(progress).toMatchObject({ shardsTotal: 3 });
    expect((await engine.getSnapshot('liferay-backup', 'b20261127t020000z-7f3a'))?.state).toBe('IN_PROGRESS');
    const done = await engine.getSnapshot('liferay-backup', 'b20261127t020000z-7f3a');
    expect(done).toMatchObject({
      state: 'SUCCESS',
      indices: ['liferay-0', 'liferay-20097'],
      metadata: { backup_id: 'b20261127t020000z-7f3a' },
      shards: { total: 3, failed: 0, successful: 3 },
      failures: [],
    });
  });

  it('refuses a second snapshot with the same name (invalid_snapshot_name_exception)', async () => {
    const failure = await engine
      .createSnapshot('liferay-backup', 'b20261127t020000z-7f3a', { indices: ['liferay-0'], metadata: {} })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SearchEngineError);
    expect(failure).toMatchObject({ status: 400, type: 'invalid_snapshot_name_exception' });
  });

  it('turns concurrent_snapshot_execution_exception into SearchSnapshotBusyError', async () => {
    server.busyCreates = 1;
    const failure = await engine
      .createSnapshot('liferay-backup', 'b20261127t030000z-0001', { indices: ['liferay-0'], metadata: {} })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SearchSnapshotBusyError);
    expect((failure as Error).message).toContain('a snapshot is already running');
  });

  it('reports PARTIAL with its shard failures', async () => {
    server.scripts.push({ inProgressChecks: 0, outcome: 'PARTIAL' });
    await engine.createSnapshot('liferay-backup', 'b20261127t040000z-0002', {
      indices: ['liferay-0'],
      metadata: {},
    });
    const info = await engine.getSnapshot('liferay-backup', 'b20261127t040000z-0002');
    expect(info?.state).toBe('PARTIAL');
    expect(info?.failures[0]).toMatchObject({
      index: 'liferay-0',
      shardId: 0,
      status: 'INTERNAL_SERVER_ERROR',
    });
    expect(info?.failures[0]?.reason).toContain('IndexShardSnapshotFailedException');
  });

  it('deletes a snapshot, and says false for one that is not there', async () => {
    expect(await engine.deleteSnapshot('liferay-backup', 'b20261127t040000z-0002')).toBe(true);
    expect(await engine.deleteSnapshot('liferay-backup', 'b20261127t040000z-0002')).toBe(false);
    expect(await engine.getSnapshot('liferay-backup', 'b20261127t040000z-0002')).toBeUndefined();
  });

  it('refuses to restore over an open index (snapshot_restore_exception) and changes nothing', async () => {
    const failure = await engine
      .restoreSnapshot('liferay-backup', 'b20261127t020000z-7f3a', {
        indices: ['liferay-0'],
        includeAliases: true,
      })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SearchEngineError);
    expect(failure).toMatchObject({ status: 500, type: 'snapshot_restore_exception' });
    expect((failure as Error).message).toContain('because an open index with same name already exists');
  });

  it('restores under a new name, waits for recovery, then closes and deletes', async () => {
    server.recoveryChecks = 1;
    await engine.restoreSnapshot('liferay-backup', 'b20261127t020000z-7f3a', {
      indices: ['liferay-0'],
      includeAliases: false,
      rename: { pattern: '^(liferay-0)$', replacement: 'restored-$1' },
    });
    expect(server.lastRestore?.body).toMatchObject({
      indices: ['liferay-0'],
      include_global_state: false,
      include_aliases: false,
      rename_pattern: '^(liferay-0)$',
      rename_replacement: 'restored-$1',
    });
    const first = await engine.recovery(['restored-liferay-0']);
    expect(first.get('restored-liferay-0')?.[0]).toMatchObject({
      type: 'SNAPSHOT',
      stage: 'INDEX',
      primary: true,
      snapshot: 'b20261127t020000z-7f3a',
    });
    const second = await engine.recovery(['restored-liferay-0']);
    expect(second.get('restored-liferay-0')?.[0]?.stage).toBe('DONE');
    expect((await engine.listIndices('restored-liferay-0'))[0]).toMatchObject({
      docCount: 120,
      health: 'green',
    });

    await engine.closeIndices(['restored-liferay-0']);
    expect((await engine.listIndices('restored-*'))[0]).toMatchObject({ status: 'close' });
    await engine.deleteIndices(['restored-liferay-0']);
    expect(await engine.listIndices('restored-*')).toEqual([]);
  });

  it('maps a missing index to SearchEngineError 404', async () => {
    const failure = await engine.deleteIndices(['no-such-index']).catch((error: unknown) => error);
    expect(failure).toMatchObject({ status: 404, type: 'index_not_found_exception' });
  });
});

describe('Elasticsearch specifics', () => {
  let server: SearchEngineStandIn | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('answers with x-elastic-product, which the client requires, and gets JSON without the compatibility media type', async () => {
    server = await SearchEngineStandIn.start({ flavour: 'elasticsearch', version: '8.15.0' });
    const engine = elasticsearchEngine({ endpoint: server.url, auth: { type: 'none' } });
    await engine.info();
    await engine.close();
    expect(server.requests[0]?.headers.accept).toBe('application/json');
  });

  it('works with Elasticsearch 7.17, which refuses the 8.x client default media type', async () => {
    server = await SearchEngineStandIn.start({
      flavour: 'elasticsearch',
      version: '7.17.21',
      indices: INDICES,
    });
    // The client as it comes: compatible-with=8 is refused by a 7.x server.
    const stock = new Client({ node: server.url });
    await expect(stock.cat.indices({ format: 'json' })).rejects.toThrow(/media_type_header_exception/);
    await stock.close();
    const engine = elasticsearchEngine({ endpoint: server.url, auth: { type: 'none' } });
    expect((await engine.info()).version).toBe('7.17.21');
    expect(await engine.listIndices('liferay-0')).toHaveLength(1);
    await engine.close();
  });

  it('refuses an OpenSearch server (no x-elastic-product) with a ConfigError that names the fix', async () => {
    server = await SearchEngineStandIn.start({ flavour: 'opensearch', version: '2.11.0' });
    const engine = elasticsearchEngine({ endpoint: server.url, auth: { type: 'none' } });
    const failure = await engine.info().catch((error: unknown) => error);
    await engine.close();
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toContain('configure the engine as "opensearch"');
  });

  it('authenticates with an API key, and turns a refused password into a ConfigError without the password', async () => {
    server = await SearchEngineStandIn.start({
      flavour: 'elasticsearch',
      version: '8.15.0',
      auth: { type: 'apiKey', key: 'VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==' },
    });
    const withKey = elasticsearchEngine({
      endpoint: server.url,
      auth: { type: 'apiKey', apiKey: 'VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==' },
    });
    expect((await withKey.info()).version).toBe('8.15.0');
    await withKey.close();
    const wrong = elasticsearchEngine({
      endpoint: server.url,
      auth: { type: 'basic', username: 'elastic', password: 'wrong-password-x' },
    });
    const failure = await wrong.info().catch((error: unknown) => error);
    await wrong.close();
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toContain('401 security_exception');
    expect((failure as Error).message).not.toContain('wrong-password-x');
  });

  it('turns a refused connection into a RetryableError', async () => {
    server = await SearchEngineStandIn.start({ flavour: 'elasticsearch', version: '8.15.0' });
    const url = server.url;
    await server.stop();
    server = undefined;
    const engine = elasticsearchEngine({ endpoint: url, auth: { type: 'none' }, requestTimeoutMs: 2000 });
    await expect(engine.info()).rejects.toBeInstanceOf(RetryableError);
    await engine.close();
  });
});

describe('OpenSearch SigV4 signing', () => {
  let server: SearchEngineStandIn | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('signs every request (Authorization AWS4-HMAC-SHA256, x-amz-date, x-amz-content-sha256, x-amz-security-token), verified by recomputing the signature', async () => {
    server = await SearchEngineStandIn.start({
      flavour: 'opensearch',
      version: '3.1.0',
      auth: { type: 'sigv4', ...CREDENTIALS, region: 'eu-west-1', service: 'es' },
      indices: INDICES,
    });
    const engine = openSearchEngine({
      endpoint: server.url,
      auth: { type: 'sigv4', region: 'eu-west-1', credentials: async () => CREDENTIALS },
    });
    await engine.info();
    await engine.putRepository('repo', { type: 's3', settings: { bucket: 'b', base_path: 'search' } });
    // A comma in the path and a query string: the parts of the canonical request that differ most.
    await engine.recovery(['liferay-0', 'liferay-20097']);
    await engine.listIndices('liferay-*');
    await engine.close();
    expect(server.requests.length).toBeGreaterThanOrEqual(4);
    for (const request of server.requests) {
      expect(request.status, `${request.method} ${request.rawPath}`).toBe(200);
      expect(request.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDSTANDIN000000001\/\d{8}\/eu-west-1\/es\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
      );
      expect(request.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
      expect(request.headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
      expect(request.headers['x-amz-security-token']).toBe('stand-in-session-token');
      expect(request.headers['x-elastic-product']).toBeUndefined();
    }
  });

  it('is refused (403, ConfigError) when signed with another secret', async () => {
    server = await SearchEngineStandIn.start({
      flavour: 'opensearch',
      version: '3.1.0',
      auth: { type: 'sigv4', ...CREDENTIALS, region: 'eu-west-1', service: 'es' },
    });
    const engine = openSearchEngine({
      endpoint: server.url,
      auth: {
        type: 'sigv4',
        region: 'eu-west-1',
        credentials: async () => ({ ...CREDENTIALS, secretAccessKey: 'another-secret' }),
      },
    });
    const failure = await engine.info().catch((error: unknown) => error);
    await engine.close();
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toContain('signature we calculated does not match');
  });

  it('talks to a self-managed OpenSearch with basic auth', async () => {
    server = await SearchEngineStandIn.start({
      flavour: 'opensearch',
      version: '2.11.0',
      auth: { type: 'basic', username: 'admin', password: 'admin-pass' },
    });
    const engine = openSearchEngine({
      endpoint: server.url,
      auth: { type: 'basic', username: 'admin', password: 'admin-pass' },
    });
    expect(await engine.info()).toMatchObject({ distribution: 'opensearch', version: '2.11.0' });
    await engine.close();
  });
});

describe('index lists in URL paths', () => {
  it('are split so that a request line stays far below 4 KB, keeping every name once and in order', () => {
    const names = Array.from(
      { length: 300 },
      (_, i) => `liferay-${20000 + i}-workflow-metrics-sla-task-results`,
    );
    const chunks = chunkNames(names);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) expect(chunk.join(',').length).toBeLessThanOrEqual(2000);
    expect(chunks.flat()).toEqual(names);
    expect(chunkNames([])).toEqual([]);
  });
});
