import type { SearchResultDetails } from '#components/search/records.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { testRuntime } from '../../support/local-runtime.ts';

/** A DXP 7.3 set's search record: two primary-storage indexes among four. */
export const DETAILS: SearchResultDetails = {
  engine: {
    kind: 'elasticsearch',
    distribution: 'elasticsearch',
    version: '8.15.0',
    clusterName: 'c',
    endpoint: 'https://es:9200',
  },
  repository: { name: 'liferay-backup', type: 's3', location: 's3://b/search' },
  snapshot: { name: 'b20261127t020000z-7f3a', state: 'SUCCESS' },
  dxp: { line: '7.3', source: 'config', evidence: '7.3' },
  indexNamePrefix: 'liferay-',
  indexes: [
    { name: 'liferay-0', kind: 'system', primaryStorage: false, docCount: 120, primaryShards: 1 },
    { name: 'liferay-20097', kind: 'company', primaryStorage: false, docCount: 5400, primaryShards: 2 },
    {
      name: 'liferay-20097-search-tuning-rankings',
      kind: 'search-tuning',
      primaryStorage: true,
      docCount: 7,
      primaryShards: 1,
    },
    {
      name: 'liferay-20097-workflow-metrics-sla-task-results',
      kind: 'workflow-metrics-sla-results',
      primaryStorage: true,
      docCount: 40,
      docCountAtEnd: 42,
      primaryShards: 1,
    },
  ],
};

/** A runtime (fresh local store) whose search settings point at a stand-in: Elasticsearch, no auth. */
export function searchRuntimeFor(url: string, overrides: Record<string, unknown> = {}): Runtime {
  return testRuntime({
    components: {
      search: {
        engine: 'elasticsearch',
        endpoint: url,
        credentials: { type: 'none' },
        repository: { name: 'liferay-backup' },
        // The local runner does not wait: give up on the number of checks alone.
        waitSeconds: 0,
        ...overrides,
      },
    },
  });
}
