import { afterEach, describe, expect, it } from 'vitest';
import { elasticsearchEngine } from '#components/search/elasticsearch-engine.ts';
import type { SearchEngine } from '#components/search/engine.ts';
import { classifyLiferayIndex, selectIndexes } from '#components/search/liferay-indexes.ts';
import type { PreparedRepository } from '#components/search/records.ts';
import { searchSettingsSchema } from '#components/search/settings.ts';
import { checkSnapshot, listingPattern, startSnapshot } from '#components/search/snapshot.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';

/**
 * DXP 7.2 before SP3/FP8 named its synonym-set index after the company index
 * (`liferay-search-tuning-synonyms-<companyIndexName>`): liferay-learn's 7.2 cross-cluster
 * replication tutorial lists a vanilla 7.2 installation's indexes as below, and 7.2's
 * SynonymSetIndexDefinition names the index `liferay-search-tuning-synonyms` per company. Some
 * 7.2 pages also list the workflow-metrics indexes with the company id appended
 * (`workflow-metrics-sla-instance-results-20101`). Synonym sets and SLA results are primary
 * storage on 7.2: a reindex cannot bring them back.
 */
const VANILLA_72 = [
  'liferay-0',
  'liferay-20101',
  'liferay-search-tuning-rankings',
  'liferay-search-tuning-synonyms-liferay-20101',
  'workflow-metrics-instances',
  'workflow-metrics-nodes',
  'workflow-metrics-processes',
  'workflow-metrics-sla-instance-results',
  'workflow-metrics-sla-task-results',
  'workflow-metrics-tokens',
];

describe('DXP 7.2 (before SP3/FP8) index names', () => {
  it('selects the synonym-set index named after the company index, as search tuning', () => {
    expect(selectIndexes(VANILLA_72)).toContain('liferay-search-tuning-synonyms-liferay-20101');
    expect(classifyLiferayIndex('liferay-search-tuning-synonyms-liferay-20101')).toMatchObject({
      kind: 'search-tuning',
      legacy: true,
    });
  });

  it('selects workflow-metrics indexes with the company id appended, SLA results as such', () => {
    expect(classifyLiferayIndex('workflow-metrics-sla-instance-results-20101')).toMatchObject({
      kind: 'workflow-metrics-sla-results',
      legacy: true,
    });
    expect(classifyLiferayIndex('workflow-metrics-tokens-20101')).toMatchObject({
      kind: 'workflow-metrics',
      legacy: true,
    });
  });

  describe('a backup of a vanilla 7.2 cluster', () => {
    let server: SearchEngineStandIn;
    let engine: SearchEngine;
    afterEach(async () => {
      await engine.close();
      await server.stop();
    });

    it('puts the synonym sets into the snapshot as primary storage', async () => {
      server = await SearchEngineStandIn.start({
        flavour: 'elasticsearch',
        version: '7.17.21',
        indices: Object.fromEntries(VANILLA_72.map((name) => [name, { docs: 3 }])),
      });
      server.repositories.set('liferay-backup', {
        type: 's3',
        settings: { bucket: 'b', base_path: 'search' },
      });
      server.snapshots.set('liferay-backup', new Map());
      server.defaultScript = { inProgressChecks: 0, outcome: 'SUCCESS' };
      engine = elasticsearchEngine({ endpoint: server.url, auth: { type: 'none' } });
      const settings = searchSettingsSchema.parse({
        engine: 'elasticsearch',
        endpoint: 'http://127.0.0.1:9200',
        credentials: { type: 'none' },
        repository: { name: 'liferay-backup' },
        waitSeconds: 0,
      });
      const prepared: PreparedRepository = {
        engine: {
          kind: 'elasticsearch',
          distribution: 'elasticsearch',
          version: '7.17.21',
          clusterName: 'c',
          endpoint: server.url,
        },
        repository: { name: 'liferay-backup', type: 's3', location: 's3://b/search' },
        registration: 'verified',
        warnings: [],
      };
      const now = new Date('2026-11-27T02:00:00Z');
      const state = await startSnapshot(engine, {
        backupId: 'b20261127t020000z-7f3a',
        environment: 'test',
        prepared,
        settings,
        now,
      });
      const done = await checkSnapshot(engine, state, now, listingPattern(settings));

      const snapshot = server.snapshots.get('liferay-backup')?.get('b20261127t020000z-7f3a');
      expect(snapshot?.indices).toContain('liferay-search-tuning-synonyms-liferay-20101');
      const details = (done.result as { details: unknown }).details as {
        dxp: { line: string };
        indexes: { name: string; primaryStorage: boolean }[];
      };
      expect(details.dxp.line).toBe('7.2');
      expect(
        details.indexes.find((index) => index.name === 'liferay-search-tuning-synonyms-liferay-20101'),
      ).toMatchObject({
        primaryStorage: true,
      });
    });
  });
});
