import { afterEach, describe, expect, it } from 'vitest';
import { elasticsearchEngine } from '#components/search/elasticsearch-engine.ts';
import type { IndexInfo, SearchEngine } from '#components/search/engine.ts';
import {
  type IndexRecord,
  type PreparedRepository,
  type SearchResultDetails,
  searchRestoreRequestSchema,
} from '#components/search/records.ts';
import { planRestore, selectForRestore, startRestore } from '#components/search/restore.ts';
import { searchSettingsSchema } from '#components/search/settings.ts';
import { startSnapshot } from '#components/search/snapshot.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';
import { DETAILS } from './fixtures.ts';

/**
 * Index names starting with "." belong to the engine and its plugins (hidden and system indexes:
 * security, Kibana/Dashboards, tasks, GeoIP, the OpenSearch plugins). Configured `indices` patterns
 * (`*`) and restore patterns must not select them unless the pattern itself starts with ".", and a
 * restore never closes, deletes or replaces one: restoring over `.security*` would replace the
 * cluster's users and roles with the backed-up ones.
 *
 * The snapshot sends explicit names (chosen from `_cat/indices?expand_wildcards=all`, which lists
 * hidden indexes too), so the engine's own wildcard rules never apply: the selection is ours.
 */

const NOW = new Date('2026-11-27T02:00:00Z');
const ENGINE_INDEXES = [
  '.security-7',
  '.kibana_1',
  '.tasks',
  '.geoip_databases',
  '.opendistro-job-scheduler-lock',
  '.plugins-ml-config',
];

let server: SearchEngineStandIn;
let engine: SearchEngine;
afterEach(async () => {
  await engine.close();
  await server.stop();
});

async function cluster(): Promise<void> {
  server = await SearchEngineStandIn.start({
    flavour: 'elasticsearch',
    version: '8.15.0',
    indices: {
      'liferay-0': { docs: 120 },
      'liferay-20097': { docs: 5400, pri: 2 },
      'liferay-20097-search-tuning-rankings': { docs: 7 },
      'liferay-20097-workflow-metrics-sla-task-results': { docs: 42 },
      ...Object.fromEntries(ENGINE_INDEXES.map((name) => [name, { docs: 3 }])),
    },
  });
  server.repositories.set('liferay-backup', { type: 's3', settings: { bucket: 'b', base_path: 'search' } });
  server.snapshots.set('liferay-backup', new Map());
  server.defaultScript = { inProgressChecks: 0, outcome: 'SUCCESS' };
  engine = elasticsearchEngine({ endpoint: server.url, auth: { type: 'none' } });
}

const PREPARED: PreparedRepository = {
  engine: DETAILS.engine,
  repository: DETAILS.repository,
  registration: 'verified',
  warnings: [],
};

function snapshotWith(indices: string[]) {
  return startSnapshot(engine, {
    backupId: DETAILS.snapshot.name,
    environment: 'test',
    prepared: PREPARED,
    settings: searchSettingsSchema.parse({
      engine: 'elasticsearch',
      endpoint: 'http://127.0.0.1:9200',
      credentials: { type: 'none' },
      repository: { name: 'liferay-backup' },
      dxpVersion: '7.3',
      indices,
    }),
    now: NOW,
  });
}

/** What the create request asked the engine to snapshot. */
function snapshotRequestIndices(): string[] {
  const create = server.requestsTo('PUT', `/_snapshot/liferay-backup/${DETAILS.snapshot.name}`);
  expect(create).toHaveLength(1);
  return (JSON.parse(create[0]?.body ?? '{}') as { indices: string[] }).indices;
}

describe('configured index patterns never take the engine’s own indexes', () => {
  it('`*` snapshots every index but the dot-prefixed ones', async () => {
    await cluster();
    const state = await snapshotWith(['*']);
    const expected = [
      'liferay-0',
      'liferay-20097',
      'liferay-20097-search-tuning-rankings',
      'liferay-20097-workflow-metrics-sla-task-results',
    ];
    expect(state.indexes.map((index) => index.name)).toEqual(expected);
    expect(snapshotRequestIndices()).toEqual(expected);
  });

  it('a pattern that matches only engine indexes finds nothing to snapshot', async () => {
    await cluster();
    await expect(snapshotWith(['*config*', '*tasks'])).rejects.toThrow(/no open index .* matches/);
  });
});

/** A set taken before this rule, whose snapshot holds engine indexes as well. */
async function setWithEngineIndexes(): Promise<SearchResultDetails> {
  const held = [...DETAILS.indexes.map((index) => index.name), '.security-7', '.kibana_1'];
  await engine.createSnapshot('liferay-backup', DETAILS.snapshot.name, {
    indices: held,
    metadata: { backup_id: DETAILS.snapshot.name },
  });
  const engineRecords: IndexRecord[] = ['.security-7', '.kibana_1'].map((name) => ({
    name,
    kind: 'other',
    primaryStorage: false,
    docCount: 3,
    primaryShards: 1,
  }));
  return { ...DETAILS, indexes: [...DETAILS.indexes, ...engineRecords] };
}

const request = (value: unknown) => searchRestoreRequestSchema.parse(value);

describe('a restore never touches the engine’s own indexes', () => {
  it.each([
    ['"all" with replace', { indexes: 'all', onConflict: 'replace' }],
    ['`*` with close', { indexes: ['*'], onConflict: 'close' }],
  ])('%s: restores the rest, leaves .security-7 and .kibana_1 alone, and says so', async (_title, raw) => {
    await cluster();
    const details = await setWithEngineIndexes();
    const security = server.indices.get('.security-7');
    const state = await startRestore(engine, {
      details,
      request: request(raw),
      prepared: PREPARED,
      maxChecks: 5,
      waitSeconds: 0,
      now: NOW,
    });
    const restored = state.indexes.map((index) => index.name);
    expect(restored).toEqual(DETAILS.indexes.map((index) => index.name));
    expect(server.lastRestore?.body.indices).toEqual(restored);
    // Neither deleted nor closed nor restored over.
    expect(server.indices.get('.security-7')).toBe(security);
    expect(server.indices.get('.security-7')?.status).toBe('open');
    const touched = server.requests
      .filter((entry) => entry.method !== 'GET')
      .map((entry) => entry.rawPath)
      .filter((path) => path.includes('.security') || path.includes('.kibana'));
    expect(touched).toEqual([]);
    expect(state.warnings.join('\n')).toMatch(/not restored.*\.security-7, \.kibana_1/);
  });

  it('the set check (Validate) and selection leave them out too', async () => {
    const details: SearchResultDetails = {
      ...DETAILS,
      indexes: [
        ...DETAILS.indexes,
        { name: '.security-7', kind: 'other', primaryStorage: false, docCount: 3, primaryShards: 1 },
      ],
    };
    expect(
      selectForRestore(details, request({ indexes: 'all' })).indexes.map((index) => index.name),
    ).not.toContain('.security-7');
    expect(selectForRestore(details, request({ indexes: ['*security*'] })).problems.join('; ')).toMatch(
      /\*security\* matches only .*\.security-7/,
    );
  });

  it('planRestore refuses to close or delete one even when it is selected', () => {
    const security: IndexRecord = {
      name: '.security-7',
      kind: 'other',
      primaryStorage: false,
      docCount: 3,
      primaryShards: 1,
    };
    const live: IndexInfo = { name: '.security-7', status: 'open', docCount: 3, primaryShards: 1 };
    for (const onConflict of ['close', 'replace'] as const) {
      const plan = planRestore([security], [live], request({ onConflict }));
      expect(plan.close).toEqual([]);
      expect(plan.delete).toEqual([]);
      expect(plan.problems.join('; ')).toMatch(/\.security-7 .*never closed or deleted/);
    }
    // Beside it, under another name, is fine.
    expect(planRestore([security], [live], request({ onConflict: 'rename' })).problems).toEqual([]);
  });
});
