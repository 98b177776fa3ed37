import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { closeEngines } from '#components/search/connect.ts';
import { elasticsearchEngine } from '#components/search/elasticsearch-engine.ts';
import type { SearchEngine, ShardCopy, ShardRecovery } from '#components/search/engine.ts';
import { SearchRestoreConflictError } from '#components/search/errors.ts';
import { openSearchEngine } from '#components/search/opensearch-engine.ts';
import type { PreparedRepository, RestoreState, SearchRestoreRequest } from '#components/search/records.ts';
import { checkRecovery, type StartRestoreInput, startRestore } from '#components/search/restore.ts';
import { indexOrigin, type RestoreSource } from '#components/search/restore-ownership.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { type AslDefinition, definitionsFromTemplate } from '#local/template-definitions.ts';
import { synthTemplate } from '../../../cdk/synth.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';
import { DETAILS, searchRuntimeFor } from './fixtures.ts';

/**
 * `Search start restore` retried after the engine accepted its restore but the answer was lost
 * (the state machine retries RetryableError — a timeout, a reset connection — and Lambda's transient
 * errors with the same input). The retry must recognise the indexes its first attempt is restoring
 * and wait for them, not fail on them, rename them again or delete them; an index restored from the
 * same snapshot by someone else before this restore began stays a conflict.
 *
 * Each case runs the real client of each engine through a proxy that forwards every request to the
 * stand-in (test/support/search-engine-server.ts) and resets the connection instead of returning
 * the first `_restore` answer: the engine has accepted the restore, the client sees a transport error.
 */

const SNAPSHOT = DETAILS.snapshot.name;
/** The two primary-storage indexes of the fixture set: what `"indexes": "primary"` restores. */
const RANKINGS = 'liferay-20097-search-tuning-rankings';
const SLA = 'liferay-20097-workflow-metrics-sla-task-results';
const RESTORE_PATH = `/_snapshot/liferay-backup/${SNAPSHOT}/_restore`;

const CREDENTIALS = {
  accessKeyId: 'AKIDSTANDIN000000001',
  secretAccessKey: 'stand-in-secret-key',
  sessionToken: 'stand-in-session-token',
};

interface Flavoured {
  readonly title: string;
  readonly server: () => Promise<SearchEngineStandIn>;
  readonly engine: (endpoint: string) => SearchEngine;
}

const SEEDS = {
  'liferay-0': { docs: 120 },
  'liferay-20097': { docs: 5400, pri: 2 },
  [RANKINGS]: { docs: 7 },
  [SLA]: { docs: 42 },
};

const FLAVOURS: Flavoured[] = [
  {
    title: 'Elasticsearch 8',
    server: () => SearchEngineStandIn.start({ flavour: 'elasticsearch', version: '8.15.0', indices: SEEDS }),
    engine: (endpoint) => elasticsearchEngine({ endpoint, auth: { type: 'none' }, requestTimeoutMs: 5000 }),
  },
  {
    title: 'Amazon OpenSearch Service (SigV4)',
    server: () =>
      SearchEngineStandIn.start({
        flavour: 'opensearch',
        version: '2.11.0',
        auth: { type: 'sigv4', ...CREDENTIALS, region: 'eu-west-1', service: 'es' },
        indices: SEEDS,
      }),
    engine: (endpoint) =>
      openSearchEngine({
        endpoint,
        auth: { type: 'sigv4', region: 'eu-west-1', credentials: async () => CREDENTIALS },
        requestTimeoutMs: 5000,
      }),
  },
];

/**
 * A proxy in front of `target` that forwards every request unchanged (the Host header too: SigV4
 * signs it) and, for the first POST …/_restore, lets the engine answer but resets the client's
 * connection instead of passing the answer on.
 */
async function lossyProxy(target: string): Promise<{ url: string; close: () => Promise<void> }> {
  let dropped = false;
  const proxy: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const upstream = httpRequest(
        new URL(req.url ?? '/', target),
        { method: req.method, headers: req.headers },
        (answer) => {
          const body: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => body.push(chunk));
          answer.on('end', () => {
            if (!dropped && req.method === 'POST' && (req.url ?? '').includes('/_restore')) {
              dropped = true;
              req.socket.destroy();
              return;
            }
            res.writeHead(answer.statusCode ?? 500, answer.headers);
            res.end(Buffer.concat(body));
          });
        },
      );
      upstream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    close: async () => {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}

function prepared(): PreparedRepository {
  return {
    engine: DETAILS.engine,
    repository: DETAILS.repository,
    registration: 'verified',
    warnings: [],
  };
}

/** The retried task's input: identical for every attempt, as Step Functions passes it. */
function attempt(onConflict: SearchRestoreRequest['onConflict'], restoreStartedAt: Date): StartRestoreInput {
  return {
    details: DETAILS,
    request: { indexes: 'primary', onConflict, renamePrefix: 'restored-' },
    prepared: prepared(),
    maxChecks: 10,
    waitSeconds: 0,
    now: new Date(),
    restoreStartedAt,
  };
}

/** Runs the check loop the way the state machine does until the restore is done. */
async function recover(engine: SearchEngine, state: RestoreState): Promise<RestoreState> {
  let current = state;
  for (let checks = 0; !current.done && checks < 10; checks += 1) {
    current = await checkRecovery(engine, current, new Date());
  }
  return current;
}

/** DELETE requests for exactly this index (the setup's loss deletes two at once). */
const deletesOf = (server: SearchEngineStandIn, name: string) =>
  server.requests.filter((request) => request.method === 'DELETE' && request.segments[0] === name).length;

const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as Error,
  );

describe.each(FLAVOURS)('a retried search start restore ($title)', (flavour) => {
  let server: SearchEngineStandIn;
  let engine: SearchEngine;
  let proxy: { url: string; close: () => Promise<void> };

  afterEach(async () => {
    await engine?.close();
    await proxy?.close();
    await server?.stop();
  });

  /**
   * A cluster whose snapshot holds the fixture set's indexes; the primary-storage ones were then
   * lost, except `live` ones, which exist again with other documents (written after the backup).
   */
  async function cluster(live: readonly string[] = []): Promise<void> {
    server = await flavour.server();
    server.repositories.set('liferay-backup', { type: 's3', settings: { bucket: 'b', base_path: 'search' } });
    server.snapshots.set('liferay-backup', new Map());
    server.scripts.push({ inProgressChecks: 0, outcome: 'SUCCESS' });
    const direct = flavour.engine(server.url);
    await direct.createSnapshot('liferay-backup', SNAPSHOT, { indices: Object.keys(SEEDS), metadata: {} });
    await direct.deleteIndices([RANKINGS, SLA]);
    await direct.close();
    for (const name of live) server.addIndex(name, { docs: 9 });
    proxy = await lossyProxy(server.url);
    engine = flavour.engine(proxy.url);
  }

  /** When this restore begins: after the cluster was set up, before its first attempt. */
  async function restoreBegins(): Promise<Date> {
    await sleep(5);
    const startedAt = new Date();
    await sleep(5);
    return startedAt;
  }

  /** The first attempt: the engine accepts the restore, the answer never arrives. */
  async function firstAttemptLosesItsAnswer(input: StartRestoreInput): Promise<void> {
    const first = await errorOf(startRestore(engine, input));
    expect(first?.name).toBe('RetryableError');
    expect(server.requestsTo('POST', RESTORE_PATH)).toHaveLength(1);
  }

  it('onConflict "fail" (the default): the retry waits for the restore its first attempt started instead of failing on its indexes', async () => {
    // Prepare
    await cluster();
    const input = attempt('fail', await restoreBegins());
    await firstAttemptLosesItsAnswer(input);
    expect(server.indices.get(RANKINGS)?.restore?.snapshot).toBe(SNAPSHOT);
    // Act: the state machine's retry, same input
    const state = await startRestore(engine, input);
    // Assess: no second restore, both indexes taken as this restore's, and the loop completes
    expect(server.requestsTo('POST', RESTORE_PATH)).toHaveLength(1);
    expect(state.indexes.map((index) => [index.name, index.target, index.conflict])).toEqual([
      [RANKINGS, RANKINGS, 'none'],
      [SLA, SLA, 'none'],
    ]);
    expect(state.warnings.join('\n')).toContain(`already being restored from ${SNAPSHOT}`);
    const done = await recover(engine, state);
    expect(done.result).toMatchObject({
      status: 'complete',
      summary: { indexes: 2, documents: 49, docCountMismatches: 0 },
    });
  });

  it('onConflict "rename": the retry keeps the renamed copy its first attempt is restoring instead of failing on "restored-… exists too"', async () => {
    // Prepare: the rankings index exists again (live), so the first attempt restores it beside it
    await cluster([RANKINGS]);
    const liveUuid = server.indices.get(RANKINGS)?.uuid;
    const input = attempt('rename', await restoreBegins());
    await firstAttemptLosesItsAnswer(input);
    expect(server.indices.get(`restored-${RANKINGS}`)?.restore?.index).toBe(RANKINGS);
    // Act
    const state = await startRestore(engine, input);
    // Assess: the renamed copy and the other index are this restore's; the live index is untouched
    expect(server.requestsTo('POST', RESTORE_PATH)).toHaveLength(1);
    expect(state.indexes.map((index) => [index.name, index.target, index.conflict])).toEqual([
      [RANKINGS, `restored-${RANKINGS}`, 'renamed'],
      [SLA, SLA, 'none'],
    ]);
    expect(server.indices.get(RANKINGS)).toMatchObject({ uuid: liveUuid, docs: 9, status: 'open' });
    const done = await recover(engine, state);
    expect(done.result).toMatchObject({ status: 'complete', summary: { renamed: 1, docCountMismatches: 0 } });
  });

  it('onConflict "replace": the retry does not delete the index its first attempt is restoring', async () => {
    // Prepare: the live rankings index is what "replace" deletes, once
    await cluster([RANKINGS]);
    const input = attempt('replace', await restoreBegins());
    await firstAttemptLosesItsAnswer(input);
    expect(deletesOf(server, RANKINGS)).toBe(1);
    // Act
    const state = await startRestore(engine, input);
    // Assess: the first attempt deleted the live index; the retry deleted nothing and restored nothing
    expect(deletesOf(server, RANKINGS)).toBe(1);
    expect(server.requestsTo('POST', RESTORE_PATH)).toHaveLength(1);
    expect(state.indexes.map((index) => index.target)).toEqual([RANKINGS, SLA]);
    const done = await recover(engine, state);
    expect(done.result).toMatchObject({ status: 'complete', summary: { documents: 49 } });
    expect(server.indices.get(RANKINGS)?.docs).toBe(7);
  });

  it('recognises its restore while the primaries are still unassigned (throttled), from the routing table', async () => {
    // Prepare: _recovery leaves out indexes whose primaries no node recovers yet
    await cluster([RANKINGS]);
    server.restoreUnassignedChecks = 3;
    const input = attempt('replace', await restoreBegins());
    await firstAttemptLosesItsAnswer(input);
    const deletes = server.requestsTo('DELETE', '/').length;
    // Act
    const state = await startRestore(engine, input);
    // Assess: the routing table was asked (for these names, leniently) and nothing was deleted again
    const routing = server.requestsTo('GET', '/_cluster/state/routing_table/');
    expect(routing).toHaveLength(1);
    expect(routing[0]?.segments[3]?.split(',').sort()).toEqual([RANKINGS, SLA]);
    expect(routing[0]?.query.ignore_unavailable).toBe('true');
    expect(server.requestsTo('DELETE', '/').length).toBe(deletes);
    expect(server.requestsTo('POST', RESTORE_PATH)).toHaveLength(1);
    expect(state.indexes.map((index) => index.target)).toEqual([RANKINGS, SLA]);
    const done = await recover(engine, state);
    expect(done.result).toMatchObject({ status: 'complete', summary: { documents: 49 } });
  });

  describe('an index restored from the same snapshot by another restore, before this one began', () => {
    /** Another restore (a person, an earlier execution) restores the rankings index from this snapshot. */
    async function restoredEarlier(options: { throttled: boolean }): Promise<void> {
      await cluster();
      server.restoreUnassignedChecks = options.throttled ? 100 : 0;
      server.recoveryChecks = 100;
      const other = flavour.engine(server.url);
      await other.restoreSnapshot('liferay-backup', SNAPSHOT, { indices: [RANKINGS], includeAliases: true });
      await other.close();
      server.restoreUnassignedChecks = 0;
    }

    it('is a conflict while its recovery still runs: "fail" changes nothing and names it', async () => {
      // Prepare
      await restoredEarlier({ throttled: false });
      const restores = server.requestsTo('POST', RESTORE_PATH).length;
      // Act
      const failure = await errorOf(startRestore(engine, attempt('fail', await restoreBegins())));
      // Assess
      expect(failure).toBeInstanceOf(SearchRestoreConflictError);
      expect(failure?.message).toContain(`index ${RANKINGS} exists (open)`);
      expect(failure?.message).toContain('nothing was changed');
      expect(server.requestsTo('POST', RESTORE_PATH)).toHaveLength(restores);
      expect(server.requestsTo('DELETE', '/')).toHaveLength(1); // the setup's loss only
      // Its recovery began before this restore did: _recovery alone settles it.
      expect(server.requestsTo('GET', '/_cluster/state')).toHaveLength(0);
    });

    it('is a conflict even when its primaries are not allocated yet (the routing table dates the restore)', async () => {
      // Prepare: accepted before this restore began; its node has not begun recovering it
      await restoredEarlier({ throttled: true });
      // Act
      const failure = await errorOf(startRestore(engine, attempt('fail', await restoreBegins())));
      // Assess
      expect(failure).toBeInstanceOf(SearchRestoreConflictError);
      expect(failure?.message).toContain(`index ${RANKINGS} exists (open)`);
      expect(server.requestsTo('GET', '/_cluster/state/routing_table/')).toHaveLength(1);
    });

    it('is what "replace" deletes and restores again; that restore is then the retry\'s own', async () => {
      // Prepare
      await restoredEarlier({ throttled: false });
      const input = attempt('replace', await restoreBegins());
      // Act: the first attempt replaces the earlier copy, and its answer is lost
      const first = await errorOf(startRestore(engine, input));
      // Assess: it was a conflict like any other (deleted, then restored by this restore)
      expect(first?.name).toBe('RetryableError');
      expect(deletesOf(server, RANKINGS)).toBe(1);
      const restores = server.requestsTo('POST', RESTORE_PATH);
      expect(JSON.parse(restores[restores.length - 1]?.body ?? '{}').indices).toEqual([RANKINGS, SLA]);
      // Act: the retry
      const state = await startRestore(engine, input);
      // Assess: it does not delete this restore's copy again
      expect(deletesOf(server, RANKINGS)).toBe(1);
      expect(server.requestsTo('POST', RESTORE_PATH)).toHaveLength(restores.length);
      expect(state.indexes.map((index) => index.target)).toEqual([RANKINGS, SLA]);
    });
  });

  it('refuses, deleting nothing, when two restores of this snapshot began since this one did', async () => {
    // Prepare: someone restores the rankings index from the same snapshot after this restore began;
    // this restore's first attempt then restores the other index, and its answer is lost
    await cluster();
    const startedAt = await restoreBegins();
    const other = flavour.engine(server.url);
    await other.restoreSnapshot('liferay-backup', SNAPSHOT, { indices: [RANKINGS], includeAliases: true });
    await other.close();
    const input = attempt('replace', startedAt);
    const first = await errorOf(startRestore(engine, input));
    expect(first?.name).toBe('RetryableError');
    // Act
    const failure = await errorOf(startRestore(engine, input));
    // Assess: two restore UUIDs; which one is this restore's cannot be told
    expect(failure).toBeInstanceOf(SearchRestoreConflictError);
    expect(failure?.message).toContain('2 restores of snapshot');
    expect(server.requestsTo('DELETE', '/')).toHaveLength(1); // the setup's loss only
  });
});

describe('the synthesized Restore workflow, its start task retried after a lost answer', () => {
  let server: SearchEngineStandIn;
  let proxy: { url: string; close: () => Promise<void> };
  let definitions: Record<string, AslDefinition>;

  beforeAll(() => {
    definitions = definitionsFromTemplate(
      synthTemplate({
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
      }) as never,
    );
  });
  afterAll(async () => {
    await closeEngines();
    await proxy?.close();
    await server?.stop();
  });

  it('ends complete with one restore request: the retry (with $.restore.startedAt) took the running restore as its own', async () => {
    // Prepare: a backup of the stand-in through the proxy; then the primary-storage indexes are lost
    server = await SearchEngineStandIn.start({ flavour: 'elasticsearch', version: '8.15.0', indices: SEEDS });
    server.repositories.set('liferay-backup', { type: 's3', settings: { bucket: 'b', base_path: 'search' } });
    server.snapshots.set('liferay-backup', new Map());
    proxy = await lossyProxy(server.url);
    const rt = searchRuntimeFor(proxy.url, { dxpVersion: '7.3', maxChecks: 10 });
    const backup = await runWorkflow(definitions.backup as AslDefinition, { components: ['search'] }, rt);
    expect(backup.status, JSON.stringify(backup)).toBe('SUCCEEDED');
    server.indices.delete(RANKINGS);
    server.indices.delete(SLA);
    // Act
    const restore = await runWorkflow(
      definitions.restore as AslDefinition,
      { backupId: 'latest', components: ['search'] },
      rt,
    );
    // Assess
    expect(restore.status, JSON.stringify(restore)).toBe('SUCCEEDED');
    const backupId = server.lastRestore?.snapshot ?? '';
    expect(server.requestsTo('POST', `/_snapshot/liferay-backup/${backupId}/_restore`)).toHaveLength(1);
    const { restoreId } = (restore as { output: { report: { restoreId: string } } }).output.report;
    const report = await readRestoreReport(rt.store, backupId, restoreId);
    expect(report.status).toBe('complete');
    expect(report.results.search?.summary).toMatchObject({
      indexes: 2,
      documents: 49,
      docCountMismatches: 0,
    });
    expect(report.results.search?.warnings?.join('\n')).toContain('already being restored');
  });
});

describe('indexOrigin: whose restore an existing index is, from its primaries', () => {
  const SINCE = Date.parse('2026-11-27T03:00:00Z');
  const SOURCE: RestoreSource = { repository: 'liferay-backup', snapshot: SNAPSHOT, sinceMillis: SINCE };
  const recovery = (fields: Partial<ShardRecovery>): ShardRecovery => ({
    shard: 0,
    type: 'SNAPSHOT',
    stage: 'INDEX',
    primary: true,
    repository: 'liferay-backup',
    snapshot: SNAPSHOT,
    sourceIndex: RANKINGS,
    restoreUuid: 'u1',
    startTimeMillis: SINCE + 5000,
    ...fields,
  });

  it('is this restore when every primary comes from this snapshot and index since it began', () => {
    const origin = indexOrigin(SOURCE, RANKINGS, RANKINGS, 2, [recovery({}), recovery({ shard: 1 })], []);
    expect(origin).toEqual({ kind: 'this-restore', restoreUuids: ['u1'] });
  });

  it('is another when a primary was recovering before this restore began, whatever the source', () => {
    expect(
      indexOrigin(SOURCE, RANKINGS, RANKINGS, 1, [recovery({ startTimeMillis: SINCE - 1 })], []),
    ).toEqual({
      kind: 'other',
    });
    const live = recovery({ type: 'EXISTING_STORE', startTimeMillis: SINCE - 86_400_000 });
    expect(indexOrigin(SOURCE, RANKINGS, RANKINGS, 1, [live], []).kind).toBe('other');
  });

  it('is another when restored since from another snapshot, from another index, or created empty', () => {
    for (const fields of [
      { snapshot: 'b20261126t020000z-0001' },
      { sourceIndex: SLA },
      { type: 'EMPTY_STORE' },
    ]) {
      expect(indexOrigin(SOURCE, RANKINGS, RANKINGS, 1, [recovery(fields)], []).kind).toBe('other');
    }
  });

  it('dates an unstarted copy by the routing table (when the restore was accepted), not by when its node began', () => {
    // Accepted before this restore began, throttled, allocated after: not this restore's.
    const copy: ShardCopy = {
      shard: 0,
      primary: true,
      state: 'INITIALIZING',
      recoverySource: { type: 'SNAPSHOT', repository: 'liferay-backup', snapshot: SNAPSHOT, index: RANKINGS },
      unassigned: { reason: 'NEW_INDEX_RESTORED', atMillis: SINCE - 1000 },
    };
    expect(indexOrigin(SOURCE, RANKINGS, RANKINGS, 1, [recovery({})], [copy]).kind).toBe('other');
    const later = { ...copy, unassigned: { reason: 'NEW_INDEX_RESTORED', atMillis: SINCE + 1000 } };
    expect(indexOrigin(SOURCE, RANKINGS, RANKINGS, 1, [], [later]).kind).toBe('this-restore');
  });

  it('cannot tell when a primary recovered again since (restart, relocation) or says nothing', () => {
    const moved = indexOrigin(SOURCE, RANKINGS, RANKINGS, 1, [recovery({ type: 'PEER' })], []);
    expect(moved).toMatchObject({
      kind: 'unknown',
      why: expect.stringContaining('recovering from PEER since'),
    });
    const silent = indexOrigin(SOURCE, RANKINGS, RANKINGS, 2, [recovery({})], []);
    expect(silent).toMatchObject({ kind: 'unknown', why: expect.stringContaining('primary shard 1') });
    const mixed = indexOrigin(
      SOURCE,
      RANKINGS,
      RANKINGS,
      2,
      [recovery({}), recovery({ shard: 1, snapshot: 'b20261126t020000z-0001' })],
      [],
    );
    expect(mixed).toMatchObject({ kind: 'unknown', why: expect.stringContaining('others not') });
  });
});
