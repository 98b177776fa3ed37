import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { setRuns } from '#backup-set/set-runs.ts';
import { RESULT_BUDGET_BYTES } from '#components/component.ts';
import { closeEngines } from '#components/search/connect.ts';
import { checkSearchRecovery } from '#components/search/handlers/check-recovery.ts';
import {
  payloadBytes,
  runWorkflow,
  STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES,
  type WorkflowOutcome,
} from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Runtime } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';
import { searchRuntimeFor } from './fixtures.ts';

/**
 * The search RESTORE through the local runner, which enforces Step Functions' 256 KiB per state:
 * its result's details stay small whatever the number of indexes (the Restore's Parallel gathers
 * every component's result into one state, where States.DataLimitExceeded stops the run before
 * Report: no report, locks left behind), with the full per-index list stored beside the report;
 * and its loop state (Start restore → Wait → Check recovery) either fits with room to spare or
 * the restore is refused before anything is changed.
 */

let server: SearchEngineStandIn | undefined;
afterEach(async () => {
  await closeEngines();
  await server?.stop();
  server = undefined;
});

async function standIn(indices: Record<string, { docs: number }>) {
  server = await SearchEngineStandIn.start({ flavour: 'elasticsearch', version: '8.15.0', indices });
  server.repositories.set('liferay-backup', {
    type: 's3',
    settings: { bucket: 'es-snapshots', base_path: 'liferay' },
  });
  server.snapshots.set('liferay-backup', new Map());
  return server;
}

function succeeded(outcome: WorkflowOutcome): {
  backup?: { backupId: string };
  report?: { restoreId: string; backupId: string };
} {
  if (outcome.status !== 'SUCCEEDED')
    throw new Error(`the workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output as never;
}

async function backUp(rt: Runtime): Promise<string> {
  const outcome = await runWorkflow(WORKFLOWS.backup, { components: ['search'], requestedBy: 'cli' }, rt);
  return succeeded(outcome).backup?.backupId ?? '';
}

/** Restores every index of the latest set; the size of each state's output, by state, at most. */
async function restoreAll(rt: Runtime, onConflict: 'rename' | 'replace') {
  const largest = new Map<string, number>();
  const outcome = await runWorkflow(
    WORKFLOWS.restore,
    {
      backupId: 'latest',
      components: ['search'],
      search: { indexes: 'all', onConflict },
      requestedBy: 'cli',
    },
    rt,
    {
      onStateExited: (name, output) => {
        largest.set(name, Math.max(largest.get(name) ?? 0, payloadBytes(output)));
      },
    },
  );
  return { outcome, largest };
}

/**
 * Twenty virtual instances with Liferay's 25 indexes each: the company index, its apps' indexes
 * (LIFERAY.md, "Search indexes") and a few of a custom app.
 */
const LIFERAY_APPS = [
  '',
  '-search-tuning-rankings',
  '-search-tuning-synonyms',
  '-tokens',
  '-workflow-metrics-instances',
  '-workflow-metrics-nodes',
  '-workflow-metrics-processes',
  '-workflow-metrics-sla-instance-results',
  '-workflow-metrics-sla-task-results',
  '-workflow-metrics-tasks',
  '-workflow-metrics-transitions',
  '-commerce-ml-forecast',
  '-product-content-commerce-ml-recommendation',
  '-product-interaction-commerce-ml-recommendation',
  '-user-commerce-ml-recommendation',
  ...Array.from({ length: 10 }, (_, i) => `-custom-object-definition-${i}`),
];
const usualNames = Array.from({ length: 20 }, (_, company) =>
  LIFERAY_APPS.map((app) => `liferay-${20_097 + company * 1_000}${app}`),
).flat();

/** A name of exactly 255 characters (the engines' longest), unique by `i`. */
const longName = (i: number) => {
  const head = `liferay-${20_097 + i}-`;
  return head + 'x'.repeat(255 - head.length);
};

/** Room the loop state leaves, at the least, for a longer restore context than these tests' ones. */
const LOOP_STATE_MARGIN_BYTES = 64 * 1024;

describe('a restore of 500 indexes (20 virtual instances) with usual names', () => {
  it('keeps its details small, stores the per-index list beside the report, and says where it is', async () => {
    expect(usualNames).toHaveLength(500);
    await standIn(Object.fromEntries(usualNames.map((name, i) => [name, { docs: 100 + i }])));
    const rt = searchRuntimeFor(server?.url ?? '');
    const backupId = await backUp(rt);

    const { outcome, largest } = await restoreAll(rt, 'rename');
    const { restoreId = '' } = succeeded(outcome).report ?? {};
    const report = await readRestoreReport(rt.store, backupId, restoreId);
    const result = report.results.search;
    expect(result?.status).toBe('complete');
    expect(result?.summary).toMatchObject({ indexes: 500, renamed: 500, docCountMismatches: 0 });

    // Before: 127.8 KB of details (one record per index) beside the other components' results.
    expect(payloadBytes(result?.details)).toBeLessThanOrEqual(16 * 1024);
    expect(payloadBytes(result)).toBeLessThanOrEqual(RESULT_BUDGET_BYTES);
    const key = `backups/${backupId}/restores/${restoreId}-search-indexes.json.gz`;
    const details = result?.details as { indexes?: unknown; indexList?: Record<string, unknown> };
    expect(details.indexes).toBeUndefined();
    expect(details.indexList).toMatchObject({ key, count: 500 });

    // The stored list: the size and sha256 the details give, one record per index.
    const stored = await rt.store.read(key);
    expect(details.indexList?.size).toBe(stored.length);
    expect(details.indexList?.sha256).toBe(createHash('sha256').update(stored).digest('hex'));
    const records = JSON.parse(gunzipSync(stored).toString('utf8')) as { name: string; restoredAs: string }[];
    expect(records.map((record) => record.name).sort()).toEqual([...usualNames].sort());
    expect(records.find((record) => record.name === usualNames[7])).toEqual({
      name: usualNames[7],
      restoredAs: `restored-${usualNames[7]}`,
      conflict: 'renamed',
      primaryStorage: true,
      docCount: 107,
      expectedDocs: { min: 107, max: 107 },
      docCountMatches: true,
    });
    // The first ten named in the details as the cluster now calls them.
    expect(details.indexList?.firstNames).toEqual(records.slice(0, 10).map((record) => record.restoredAs));
    expect(details.indexList?.firstNames).toContain('restored-liferay-20097');

    // What the report prints: the counts, the renamed ones named, and where the whole list is.
    expect(result?.summary.indexList).toBe(key);
    expect(result?.warnings).toContainEqual(
      expect.stringMatching(
        /^500 indexes exist: restored beside them as restored-<name>: liferay-20097, .*, and 480 more \(500 in all\)$/,
      ),
    );
    // The list is not a report: `show` lists the one restore, complete.
    const runs = await setRuns(rt.store, backupId, new Date());
    expect(runs.map((run) => [run.kind, run.id, run.status])).toEqual([['restore', restoreId, 'complete']]);

    // The loop (Start restore → Wait → Check recovery) carries every index: 98,440 bytes here (with a
    // restore context of 565 bytes; about 15 KB on AWS). The search result: 2,249 (before: 119,051).
    const loop = Math.max(
      largest.get('Search start restore') ?? 0,
      largest.get('Search wait for recovery') ?? 0,
      largest.get('Search check recovery') ?? 0,
    );
    expect(loop).toBeGreaterThan(0);
    expect(loop).toBeLessThan(STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES - LOOP_STATE_MARGIN_BYTES);
  }, 180_000);
});

describe("a restore of 500 indexes named with 255 characters (the engines' longest)", () => {
  it('is refused before anything is changed when its loop state would not fit, and says what to do', async () => {
    await standIn(Object.fromEntries(Array.from({ length: 500 }, (_, i) => [longName(i), { docs: i }])));
    const rt = searchRuntimeFor(server?.url ?? '');
    const backupId = await backUp(rt);
    const changes = () =>
      server?.requests.filter((request) => request.method !== 'GET' && !request.rawPath.endsWith('/_verify'))
        .length;
    const changesBefore = changes();

    // Before: Start restore deleted the 500 indexes, started the restore, then its own output
    // (over 300 KB) failed the run with States.DataLimitExceeded: no report, the locks left behind.
    const { outcome } = await restoreAll(rt, 'replace');
    expect(outcome.status === 'FAILED' ? outcome.error : 'SUCCEEDED').not.toBe('States.DataLimitExceeded');
    expect(changes()).toBe(changesBefore);
    expect(server?.indices.size).toBe(500);
    // Report ran (the target locks are given back) and says why.
    const [run] = await setRuns(rt.store, backupId, new Date());
    expect(run).toMatchObject({ kind: 'restore', status: 'failed' });
    const report = await readRestoreReport(rt.store, backupId, run?.id ?? '');
    expect(report.results.search?.status).toBe('failed');
    expect(report.results.search?.error?.message).toMatch(
      /^the restore of 500 indexes would carry \d+ bytes between its steps .*: nothing was changed; restore them in parts, .* of at most about \d+ indexes each$/,
    );
  }, 180_000);
});

describe('a restore whose list of indexes cannot be stored', () => {
  it('is complete (the indexes are restored), and its first warning says the list is missing', async () => {
    const names = usualNames.slice(0, 100);
    await standIn(Object.fromEntries(names.map((name, i) => [name, { docs: i }])));
    const rt = searchRuntimeFor(server?.url ?? '');
    const backupId = await backUp(rt);
    // The store refuses the list (a role without the grant, say); everything else goes through.
    const refusing = new Proxy(rt.store, {
      get(target, property, receiver) {
        if (property === 'put')
          return async (key: string, ...rest: unknown[]) => {
            if (key.endsWith('-search-indexes.json.gz')) throw new Error(`AccessDenied: PutObject ${key}`);
            return (target.put as (...args: unknown[]) => Promise<void>).call(target, key, ...rest);
          };
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as ContentStore;
    const outcome = await runWorkflow(
      WORKFLOWS.restore,
      {
        backupId: 'latest',
        components: ['search'],
        search: { indexes: 'all', onConflict: 'replace' },
        requestedBy: 'cli',
      },
      rt,
      {
        taskOverrides: {
          'Search check recovery': (event, taskRt) =>
            checkSearchRecovery(event, { ...taskRt, store: refusing }),
        },
      },
    );
    const { restoreId = '' } = succeeded(outcome).report ?? {};
    const result = (await readRestoreReport(rt.store, backupId, restoreId)).results.search;
    expect(result?.status).toBe('complete');
    expect(result?.summary).toMatchObject({ indexes: 100, docCountMismatches: 0 });
    expect(result?.summary.indexList).toBeUndefined();
    expect(result?.warnings[0]).toMatch(
      /^the list of what each of the 100 indexes was restored as could not be stored \(AccessDenied: PutObject backups\/.*-search-indexes\.json\.gz\): this report keeps their counts and first names only; they are liferay-20097, .*, and 80 more \(100 in all\)$/,
    );
    expect(result?.details).toMatchObject({ indexesNotStored: { count: 100 } });
    expect(payloadBytes(result?.details)).toBeLessThanOrEqual(16 * 1024);
  }, 180_000);
});
