import { afterEach, describe, expect, it } from 'vitest';
import type { ComponentResult } from '#components/component.ts';
import { searchRetention, verifySearchSnapshot } from '#components/search/artifacts.ts';
import { elasticsearchEngine } from '#components/search/elasticsearch-engine.ts';
import type { IndexInfo, SearchEngine } from '#components/search/engine.ts';
import {
  type PreparedRepository,
  type SearchRestoreRequest,
  searchRestoreRequestSchema,
} from '#components/search/records.ts';
import { prepareRepository } from '#components/search/repository.ts';
import { planRestore, selectForRestore } from '#components/search/restore.ts';
import { searchSettingsSchema } from '#components/search/settings.ts';
import { startSnapshot } from '#components/search/snapshot.ts';
import { testRuntime } from '../../support/local-runtime.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';
import { DETAILS } from './fixtures.ts';

/**
 * The same Lambda code answers a request JSON (Step Functions console) and the CLI's flags: a
 * message that tells the SRE what to change names the request field and the CLI flag, as the
 * files and database components do.
 */

const request = (value: unknown): SearchRestoreRequest => searchRestoreRequestSchema.parse(value);
const open = (name: string, primaryShards = 1): IndexInfo => ({
  name,
  status: 'open',
  docCount: 1,
  primaryShards,
});
const primary = selectForRestore(DETAILS, request({})).indexes;

describe('the restore plan names the request field and the CLI flag', () => {
  it('an existing index with "onConflict" fail: --search-on-conflict', () => {
    const plan = planRestore(primary, [open('liferay-20097-search-tuning-rankings')], request({}));
    expect(plan.problems.at(-1)).toBe(
      'nothing was changed; choose "onConflict" (CLI: --search-on-conflict): "rename" (restore beside them), "close" or "replace"',
    );
  });

  it('a renamed index whose new name is taken: "renamePrefix", --search-rename-prefix', () => {
    const plan = planRestore(
      primary,
      [open('liferay-20097-search-tuning-rankings'), open('old-liferay-20097-search-tuning-rankings')],
      request({ onConflict: 'rename', renamePrefix: 'old-' }),
    );
    expect(plan.problems).toEqual([
      'index liferay-20097-search-tuning-rankings would be restored as old-liferay-20097-search-tuning-rankings, which exists too; choose another "renamePrefix" (CLI: --search-rename-prefix)',
    ]);
  });

  it('a close over other shard counts, and an engine index, name --search-on-conflict too', () => {
    const shards = planRestore(
      primary,
      [open('liferay-20097-search-tuning-rankings', 3)],
      request({ onConflict: 'close' }),
    );
    expect(shards.problems[0]).toMatch(
      /cannot be restored over; choose "onConflict": "rename" or "replace" \(CLI: --search-on-conflict\)$/,
    );
    const engineIndex = planRestore(
      [{ name: '.security-7', kind: 'other', primaryStorage: false, docCount: 3, primaryShards: 1 }],
      [open('.security-7')],
      request({ indexes: 'all', onConflict: 'replace' }),
    );
    expect(engineIndex.problems[0]).toMatch(
      /"onConflict": "rename" \(CLI: --search-on-conflict rename\), or by hand$/,
    );
  });
});

describe('backup and drill messages name the CLI flag', () => {
  let server: SearchEngineStandIn | undefined;
  let engine: SearchEngine | undefined;
  afterEach(async () => {
    await engine?.close();
    await server?.stop();
    engine = undefined;
    server = undefined;
  });

  async function cluster(): Promise<SearchEngine> {
    server = await SearchEngineStandIn.start({
      flavour: 'elasticsearch',
      version: '8.15.0',
      indices: { 'liferay-0': { docs: 1 }, 'liferay-20097': { docs: 2 } },
    });
    server.snapshots.set('liferay-backup', new Map());
    server.defaultScript = { inProgressChecks: 0, outcome: 'SUCCESS' };
    engine = elasticsearchEngine({ endpoint: server.url, auth: { type: 'none' } });
    return engine;
  }

  it('an unknown DXP version: dxpVersion, --search-dxp-version', async () => {
    const es = await cluster();
    server?.repositories.set('liferay-backup', {
      type: 's3',
      settings: { bucket: 'b', base_path: 'search' },
    });
    const prepared: PreparedRepository = {
      engine: DETAILS.engine,
      repository: DETAILS.repository,
      registration: 'verified',
      warnings: [],
    };
    const state = await startSnapshot(es, {
      backupId: DETAILS.snapshot.name,
      environment: 'test',
      prepared,
      settings: searchSettingsSchema.parse({
        engine: 'elasticsearch',
        endpoint: 'http://127.0.0.1:9200',
        credentials: { type: 'none' },
        repository: { name: 'liferay-backup' },
      }),
      now: new Date('2026-11-27T02:00:00Z'),
    });
    expect(state.warnings).toContain(
      'DXP version unknown (set dxpVersion in the search configuration, CLI: --search-dxp-version): search tuning indexes are treated as primary storage',
    );
  });

  it('an unregistered repository: repository.name, --search-repository', async () => {
    const es = await cluster();
    await expect(
      prepareRepository(es, await es.info(), { name: 'found-snapshots' }, 'restore'),
    ).rejects.toThrow(
      'snapshot repository found-snapshots is not registered on the cluster: register it (see docs/readme/search.md) or configure another name (repository.name in the search configuration, CLI: --search-repository)',
    );
  });

  const result: ComponentResult = {
    component: 'search',
    status: 'complete',
    warnings: [],
    summary: {},
    details: DETAILS,
  };

  it('a drill without the search component: a local drill needs verify --search-url', async () => {
    const rt = testRuntime({ components: {} });
    expect(await verifySearchSnapshot({ backupId: DETAILS.snapshot.name, result }, rt)).toEqual({
      status: 'failed',
      checks: [],
      problems: [
        `search snapshot liferay-backup/${DETAILS.snapshot.name}: the search component is not configured in this deployment (the drill asks the cluster for the snapshot; a local drill needs verify --search-url URL)`,
      ],
    });
    // Retention runs in its own workflow, never from verify: its message names no verify flag.
    expect(await searchRetention.deleteArtifacts?.({ backupId: DETAILS.snapshot.name, result }, rt)).toEqual([
      `left in place: search snapshot liferay-backup/${DETAILS.snapshot.name}: the search component is not configured in this deployment`,
    ]);
  });
});
