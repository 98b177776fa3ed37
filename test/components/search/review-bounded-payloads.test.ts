import { afterEach, describe, expect, it } from 'vitest';
import { readManifest, writeManifest } from '#backup-set/manifest.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { RESULT_BUDGET_BYTES } from '#components/component.ts';
import { verifySearchSnapshot } from '#components/search/artifacts.ts';
import { closeEngines } from '#components/search/connect.ts';
import { allHandlers } from '#local/handlers.ts';
import { payloadBytes, runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';
import { searchRuntimeFor } from './fixtures.ts';

/**
 * The search branches through the local runner, which enforces Step Functions' 256 KiB per state
 * (States.DataLimitExceeded): what the loops carry and what the component returns stay bounded
 * whatever the number and the length of the index names, and a restore never fails its own
 * state's parse halfway.
 */

let server: SearchEngineStandIn | undefined;
afterEach(async () => {
  await closeEngines();
  await server?.stop();
  server = undefined;
});

async function standIn(indices: Record<string, { docs: number; status?: 'open' | 'close' }>) {
  server = await SearchEngineStandIn.start({ flavour: 'elasticsearch', version: '8.15.0', indices });
  server.repositories.set('liferay-backup', {
    type: 's3',
    settings: { bucket: 'es-snapshots', base_path: 'liferay' },
  });
  server.snapshots.set('liferay-backup', new Map());
  return server;
}

const handler = (id: string): Handler => {
  const found = allHandlers().get(id);
  if (!found) throw new Error(`no handler ${id}`);
  return found;
};

function succeeded(outcome: WorkflowOutcome): {
  backup?: { backupId: string };
  report?: { restoreId: string; backupId: string };
} {
  if (outcome.status !== 'SUCCEEDED')
    throw new Error(`the workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output as never;
}

async function backUp(rt: Runtime, options: Parameters<typeof runWorkflow>[3] = {}) {
  const outcome = await runWorkflow(
    WORKFLOWS.backup,
    { components: ['search'], requestedBy: 'cli' },
    rt,
    options,
  );
  const backupId = succeeded(outcome).backup?.backupId ?? '';
  const result = (await readManifest(rt.store, backupId)).results.search;
  return { backupId, result };
}

async function reportOf(rt: Runtime, restore: WorkflowOutcome) {
  const { restoreId = '', backupId = '' } = succeeded(restore).report ?? {};
  return readRestoreReport(rt.store, backupId, restoreId);
}

/** A name of exactly `length` characters, unique by `i` (Liferay's company indexes, padded). */
const longName = (i: number, length = 255) => {
  const head = `liferay-${20_097 + i}-`;
  return head + 'x'.repeat(length - head.length);
};

describe('the capture loop', () => {
  it('returns the warnings once when it is done: in the result, not also in the loop state', async () => {
    await standIn({ 'liferay-0': { docs: 1 }, 'liferay-20097': { docs: 2 } });
    const rt = searchRuntimeFor(server?.url ?? '');
    const checkOutputs: unknown[] = [];
    const { result } = await backUp(rt, {
      taskOverrides: {
        // What prepare may hand on (50 warnings of up to 4,096 characters): 30 of 4,000 here.
        'Search start snapshot': async (event, taskRt) => {
          const started = (await handler('search-start-snapshot')(event, taskRt)) as { warnings: string[] };
          started.warnings = Array.from(
            { length: 30 },
            (_, i) => `repository warning ${i} ${'w'.repeat(3980)}`,
          );
          return started;
        },
      },
      onStateExited: (name, output) => {
        if (name === 'Search check snapshot') checkOutputs.push(output);
      },
    });
    expect(result?.status).toBe('complete');
    // Before: the done state carried the 120 KB of warnings beside the result that holds them.
    const done = checkOutputs.at(-1) as { search: { warnings: string[]; result: unknown } };
    expect(done.search.warnings.length).toBe(0);
    expect(payloadBytes(done.search)).toBeLessThan(payloadBytes(done.search.result) + 2048);
  }, 60_000);

  it('names closed indexes within a warning of 4,096 characters, however many and long they are', async () => {
    const indices: Record<string, { docs: number; status?: 'open' | 'close' }> = { 'liferay-0': { docs: 1 } };
    for (let i = 0; i < 40; i++) indices[longName(i, 200)] = { docs: 0, status: 'close' };
    await standIn(indices);
    const rt = searchRuntimeFor(server?.url ?? '');
    // Before: the warning named all 40 (8 KB), and Check snapshot refused its own loop state.
    const { result } = await backUp(rt);
    expect(result?.status, JSON.stringify(result?.error)).toBe('complete');
    const closed = result?.warnings.find((warning) => warning.startsWith('closed indexes'));
    expect(closed?.length).toBeLessThanOrEqual(4096);
    expect(closed).toMatch(/, and \d+ more \(40 in all\)$/);
    expect(closed).toContain(longName(0, 200));
  }, 60_000);
});

describe('a restore that renames many indexes', () => {
  it('says once what it restored beside the existing ones, and finishes', async () => {
    const indices = Object.fromEntries(
      Array.from({ length: 120 }, (_, i) => [`liferay-${20_097 + i}`, { docs: i + 1 }]),
    );
    await standIn(indices);
    const rt = searchRuntimeFor(server?.url ?? '');
    await backUp(rt);
    // Before: one warning per renamed index (120), and Check recovery refused its state (100 at most).
    const restore = await runWorkflow(
      WORKFLOWS.restore,
      {
        backupId: 'latest',
        components: ['search'],
        search: { indexes: 'all', onConflict: 'rename' },
        requestedBy: 'cli',
      },
      rt,
    );
    const report = await reportOf(rt, restore);
    expect(report.results.search?.summary).toMatchObject({
      indexes: 120,
      renamed: 120,
      docCountMismatches: 0,
    });
    const beside = report.results.search?.warnings.filter((warning) => warning.includes('restored beside'));
    expect(beside).toHaveLength(1);
    expect(beside?.[0]).toMatch(
      /^120 indexes exist: restored beside them as restored-<name>: liferay-20097, /,
    );
    expect(beside?.[0]).toMatch(/, and 100 more \(120 in all\)$/);
    expect(server?.indices.get('restored-liferay-20216')?.docs).toBe(120);
  }, 120_000);
});

describe("a set of 500 indexes named with 255 characters (the engines' longest names)", () => {
  const INDEXES = 500;
  async function largeSet() {
    const indices = Object.fromEntries(
      Array.from({ length: INDEXES }, (_, i) => [longName(i), { docs: 1_000 + i }]),
    );
    await standIn(indices);
    const rt = searchRuntimeFor(server?.url ?? '');
    const { backupId, result } = await backUp(rt);
    return { rt, backupId, result };
  }
  const restoreTen = (rt: Runtime) =>
    runWorkflow(
      WORKFLOWS.restore,
      {
        backupId: 'latest',
        components: ['search'],
        // liferay-20100-... to liferay-20109-...
        search: { indexes: ['liferay-2010*'], onConflict: 'replace' },
        requestedBy: 'cli',
      },
      rt,
    );

  it('keeps its result within the budget, the records in the set, and restores from them', async () => {
    const { rt, backupId, result } = await largeSet();
    // Before: 217 KB of details in the result, beside the four other components' results.
    expect(payloadBytes(result)).toBeLessThanOrEqual(RESULT_BUDGET_BYTES);
    const details = result?.details as { indexes?: unknown; indexList?: Record<string, unknown> };
    expect(details.indexes).toBeUndefined();
    expect(details.indexList).toMatchObject({
      key: `backups/${backupId}/search/indexes.json`,
      count: INDEXES,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(details.indexList?.firstNames).toEqual(Array.from({ length: 10 }, (_, i) => longName(i)));
    expect(result?.summary).toMatchObject({
      indexes: INDEXES,
      documents: INDEXES * 1_000 + (INDEXES * 499) / 2,
    });

    const report = await reportOf(rt, await restoreTen(rt));
    expect(report.results.search?.summary).toMatchObject({ indexes: 10, docCountMismatches: 0 });
    expect(server?.lastRestore?.body).toMatchObject({
      indices: Array.from({ length: 10 }, (_, i) => longName(3 + i)),
    });

    // The restore drill checks the snapshot against the stored records.
    const verified = await verifySearchSnapshot({ backupId, result: result as never }, rt);
    expect(verified.problems).toEqual([]);
    expect(verified.status).toBe('verified');
    expect(verified.checks).toContain(
      `backups/${backupId}/search/indexes.json matches its recorded size and sha256 (500 index records)`,
    );
  }, 120_000);

  it('refuses a stored list that is not what the manifest recorded, before changing anything', async () => {
    const { rt, backupId, result } = await largeSet();
    const key = `backups/${backupId}/search/indexes.json`;
    const records = JSON.parse((await rt.store.read(key)).toString('utf8')) as { docCount: number }[];
    (records[3] as { docCount: number }).docCount = 7;
    await rt.store.put(key, JSON.stringify(records));
    const changes = () =>
      server?.requests.filter((request) => request.method !== 'GET' && !request.rawPath.endsWith('/_verify'))
        .length;
    const changesBefore = changes();

    const restore = await runWorkflow(
      WORKFLOWS.restore,
      {
        backupId: 'latest',
        components: ['search'],
        search: { indexes: 'all', onConflict: 'replace' },
        requestedBy: 'cli',
      },
      rt,
    );
    expect(restore.status).toBe('FAILED');
    expect(restore.status === 'FAILED' && restore.cause).toMatch(
      new RegExp(`CorruptBackupError: backup set ${backupId}: ${key} does not match the size and sha256`),
    );
    expect(changes()).toBe(changesBefore);

    const verified = await verifySearchSnapshot({ backupId, result: result as never }, rt);
    expect(verified.status).toBe('failed');
    expect(verified.problems[0]).toContain(`${key} does not match the size and sha256`);
  }, 120_000);

  it('still restores a set recorded with every record inline', async () => {
    const { rt, backupId } = await largeSet();
    // The form every set had before the list could be stored: the same records in the details.
    const manifest = await readManifest(rt.store, backupId);
    const search = manifest.results.search as { details: Record<string, unknown> };
    const { indexList, ...rest } = search.details as { indexList: { key: string } };
    const records = JSON.parse((await rt.store.read(indexList.key)).toString('utf8')) as unknown[];
    search.details = { ...rest, indexes: records };
    await writeManifest(rt.store, manifest);
    await rt.store.delete([indexList.key]);

    const report = await reportOf(rt, await restoreTen(rt));
    expect(report.results.search?.summary).toMatchObject({ indexes: 10, docCountMismatches: 0 });
  }, 120_000);
});
