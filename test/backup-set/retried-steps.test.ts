import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { sweepPrefix } from '#backup-set/garbage-collection.ts';
import { readLatest, readManifest, writeManifest } from '#backup-set/manifest.ts';
import { deleteSet, finishRetention, planRetention } from '#backup-set/retention.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { MetricPoint } from '#runtime/metrics.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { allKeys, tempDir, testRuntime } from '../support/local-runtime.ts';
import { processElsewhere } from '../support/processes.ts';

/**
 * Step Functions retries Plan retention, Finish retention, the Map items (DeleteSet, Sweep), Begin
 * and Commit on Lambda.ServiceException & co: errors Lambda raises also when the function ran to
 * its end and only its answer was lost. Each test runs the real handler, loses its first answer,
 * lets the state machine (or the test, for Begin and Commit) retry it, and checks that the run
 * converged on what the same run records without a lost answer.
 */

const work = tempDir('retried-steps');
afterAll(() => work.cleanup());
const DAY = 86_400_000;
const POLICY = { daily: 0, weekly: 0, monthly: 0, minComplete: 1 };
// Every object is older than the grace period then.
const later = () => new Date(Date.now() + 3 * DAY);

function answerLost(): Error {
  return Object.assign(new Error('Lambda service error: the invocation answer was lost'), {
    name: 'Lambda.ServiceException',
  });
}

/** Runs `inner` and, the first time only, loses its answer after it ran; `after` sees the store then. */
function losesFirstAnswer(
  inner: Handler,
  after?: (rt: Runtime, result: unknown) => Promise<void>,
): { handler: Handler; calls: () => number } {
  let calls = 0;
  return {
    handler: async (event, rt) => {
      calls += 1;
      const result = await inner(event, rt);
      if (calls === 1) {
        await after?.(rt, result);
        throw answerLost();
      }
      return result;
    },
    calls: () => calls,
  };
}

/** The store, but its first `method` call on a key `matches` selects fails with `error`. */
function failingOnce(
  store: ContentStore,
  method: 'put' | 'delete',
  matches: (key: string) => boolean,
  error: Error,
): ContentStore {
  let failed = false;
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property !== method) return value.bind(target);
      return async (first: string | readonly string[], ...rest: unknown[]) => {
        const keys = typeof first === 'string' ? [first] : first;
        if (!failed && keys.some(matches)) {
          failed = true;
          throw error;
        }
        return value.call(target, first, ...rest);
      };
    },
  });
}

function runtimeFor(
  store: ContentStore,
  settings: Record<string, unknown>,
  now: () => Date,
  published: MetricPoint[] = [],
): Runtime {
  return localRuntime({
    store,
    settings: parseSettings({ environment: 'test-env', ...settings }, 'test'),
    now,
    metrics: { publish: (points) => published.push(...points) },
  });
}

function retentionRuntime(store: ContentStore, published?: MetricPoint[]): Runtime {
  return runtimeFor(store, { retention: { policy: POLICY, graceHours: 48 } }, later, published);
}

function home(root: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  }
}

function succeeded(outcome: WorkflowOutcome): unknown {
  if (outcome.status !== 'SUCCEEDED') throw new Error(`workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output;
}

/** Two complete sets ten and nine days old, each with its own content, in a fresh store. */
async function twoOldSets(name: string) {
  const store = new LocalFolderStore(path.join(work.dir, name, 'store'));
  const root = path.join(work.dir, name, 'home');
  const start = Date.now() - 10 * DAY;
  const ids: string[] = [];
  for (const day of [0, 1]) {
    home(root, { 'portal-ext.properties': `version ${day} ${'x'.repeat(200)}` });
    const rt = runtimeFor(
      store,
      { configuredComponents: ['liferayHome'], components: { liferayHome: { root } } },
      () => new Date(start + day * DAY),
    );
    const out = succeeded(await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt)) as {
      backup: { backupId: string };
    };
    ids.push(out.backup.backupId);
  }
  return { store, older: ids[0] as string, newer: ids[1] as string };
}

/**
 * Both sets also record a search snapshot whose record cannot be read (both: the newest copy of a
 * component is kept). Deleting the older set leaves its snapshot in place and says so, a line that
 * only DeleteSet's outcome carries to the report (someone has to delete that snapshot by hand).
 */
async function withSearchSnapshots(store: ContentStore, older: string, newer: string): Promise<unknown> {
  for (const backupId of [older, newer]) {
    const manifest = await readManifest(store, backupId);
    await writeManifest(store, {
      ...manifest,
      components: [...manifest.components, 'search'],
      results: {
        ...manifest.results,
        search: { component: 'search', status: 'complete', warnings: [], summary: {}, details: {} },
      },
    });
  }
  // What follows is the record's first problem, as the schema words it.
  return expect.stringMatching(new RegExp(`^left in place: set ${older}: the search record is not readable`));
}

interface RetentionOutput {
  plan: { runId: string; reportKey: string };
  outcome: { runId: string; status: string; deletedSets: string[]; sweptObjects: number; sweptBytes: number };
}

interface Report {
  runId: string;
  status: string;
  deletedSets: string[];
  deletedArtifacts: string[];
  garbageCollection: { sweptObjects: number; sweptBytes: number };
  warnings?: string[];
  failure?: string;
}

async function reportOf(store: ContentStore, key: string): Promise<Report> {
  return JSON.parse((await store.read(key)).toString()) as Report;
}

async function retentionReports(store: ContentStore): Promise<string[]> {
  return (await allKeys(store)).filter((key) => key.startsWith('reports/retention/'));
}

/** What the same retention run records when no answer is lost (one store of its own, run once). */
let controlRun:
  | Promise<{ output: RetentionOutput; report: Report; older: string; artifact: unknown }>
  | undefined;
function control() {
  controlRun ??= (async () => {
    const { store, older, newer } = await twoOldSets('control');
    const artifact = await withSearchSnapshots(store, older, newer);
    const output = succeeded(
      await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retentionRuntime(store)),
    ) as RetentionOutput;
    return { output, report: await reportOf(store, output.plan.reportKey), older, artifact };
  })();
  return controlRun;
}

/** Checks a retried run recorded what the control run did, for its own sets. */
async function expectControlOutcome(store: ContentStore, older: string, output: RetentionOutput) {
  const { output: expected, report: expectedReport, older: controlOlder } = await control();
  const report = await reportOf(store, output.plan.reportKey);
  expect(report.status).toBe('complete');
  expect(report.deletedSets).toEqual([older]);
  expect(expectedReport.deletedSets).toEqual([controlOlder]);
  expect(report.garbageCollection).toEqual(expectedReport.garbageCollection);
  expect(report.garbageCollection.sweptObjects).toBeGreaterThan(0);
  expect(output.outcome).toMatchObject({
    status: 'complete',
    deletedSets: [older],
    sweptObjects: expected.outcome.sweptObjects,
    sweptBytes: expected.outcome.sweptBytes,
  });
  expect(await store.stat(`backups/${older}/manifest.json`)).toBeUndefined();
  expect(await store.stat('locks/retention.json')).toBeUndefined();
  expect((await allKeys(store)).filter((key) => key.startsWith(`work/${output.plan.runId}/`))).toEqual([]);
  return report;
}

describe('Plan retention retried after it ran (answer lost)', () => {
  it('goes on with the run it planned: one run, one report, the same outcome, the lock given back', async () => {
    // Prepare
    const { store, older } = await twoOldSets('plan-retry');
    const planned: string[] = [];
    const plan = losesFirstAnswer(planRetention, async (_rt, result) => {
      planned.push((result as { runId: string }).runId);
    });
    // Act
    const output = succeeded(
      await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retentionRuntime(store), {
        taskOverrides: { 'Plan retention': plan.handler },
      }),
    ) as RetentionOutput;
    // Assess: the retry resumed the first attempt's run instead of refusing itself
    expect(plan.calls()).toBe(2);
    expect(output.plan.runId).toBe(planned[0]);
    expect(await retentionReports(store)).toEqual([output.plan.reportKey]);
    const report = await expectControlOutcome(store, older, output);
    expect(report.warnings).toBeUndefined();
  });

  it('does not take over the lock of a run younger than the workflow may last (12 hours)', async () => {
    // Prepare: a run that took the lock 12.5 hours ago may still be sweeping (the time-out is 12 h).
    const { store } = await twoOldSets('plan-lock-young');
    const running = 'g20261127t010000z-beef';
    await store.put(
      'locks/retention.json',
      JSON.stringify({
        backupId: running,
        acquiredAt: new Date(later().getTime() - 12.5 * 3_600_000).toISOString(),
      }),
    );
    // Act
    const outcome = await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retentionRuntime(store));
    // Assess
    expect(outcome.status === 'FAILED' ? outcome.cause : 'SUCCEEDED').toMatch(
      new RegExp(`a retention run is already running: ${running}`),
    );
  });

  it('keeps the warning that it took over a stale lock, once', async () => {
    // Prepare: a run that died an hour ago, three days before this one (thirteen hours make it stale)
    const { store, older } = await twoOldSets('plan-retry-takeover');
    const dead = 'g20261127t010000z-dead';
    await store.put(
      'locks/retention.json',
      JSON.stringify({ backupId: dead, acquiredAt: new Date(Date.now() - 3_600_000).toISOString() }),
    );
    const plan = losesFirstAnswer(planRetention);
    // Act
    const output = succeeded(
      await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retentionRuntime(store), {
        taskOverrides: { 'Plan retention': plan.handler },
      }),
    ) as RetentionOutput;
    // Assess
    expect(plan.calls()).toBe(2);
    const report = await expectControlOutcome(store, older, output);
    expect(report.warnings).toEqual([
      `took over the lock of retention run ${dead}: it ran longer than 780 minutes without giving the lock back (this run finishes any deletion it began)`,
    ]);
  });

  it('gives the lock back when it fails after taking it, and records its report failed', async () => {
    // Prepare: the store refuses the list of sets to delete (after the report was written)
    const { store, older } = await twoOldSets('plan-fails');
    const refusing = failingOnce(
      store,
      'put',
      (key) => key.endsWith('/retention/delete.json'),
      new Error('the disk is full'),
    );
    // Act
    const failed = await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retentionRuntime(refusing));
    // Assess: nothing holds the lock, the report says why the run stopped, and no set was touched
    expect(failed.status === 'FAILED' ? `${failed.error}: ${failed.cause}` : failed.status).toBe(
      'Error: the disk is full',
    );
    expect(await store.stat('locks/retention.json')).toBeUndefined();
    const [reportKey, ...others] = await retentionReports(store);
    expect(others).toEqual([]);
    const report = await reportOf(store, reportKey ?? '');
    expect(report).toMatchObject({
      status: 'failed',
      deletedSets: [],
      failure: 'planning failed: Error: the disk is full',
    });
    expect((await readManifest(store, older)).status).toBe('complete');
    // The next run starts at once (not "a retention run is already running" for six hours).
    const next = succeeded(
      await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retentionRuntime(store)),
    ) as RetentionOutput;
    expect((await reportOf(store, next.plan.reportKey)).deletedSets).toEqual([older]);
  });
});

describe('Finish retention retried after it ran (answer lost)', () => {
  it('returns what it recorded, leaves the report as it was, and publishes the metrics once', async () => {
    // Prepare
    const { store, older } = await twoOldSets('finish-retry');
    const published: MetricPoint[] = [];
    const written: unknown[] = [];
    const finish = losesFirstAnswer(finishRetention, async (rt, result) => {
      written.push(JSON.parse((await rt.store.read((result as { reportKey: string }).reportKey)).toString()));
    });
    // Act
    const output = succeeded(
      await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retentionRuntime(store, published), {
        taskOverrides: { 'Finish retention': finish.handler },
      }),
    ) as RetentionOutput;
    // Assess
    expect(finish.calls()).toBe(2);
    const report = await expectControlOutcome(store, older, output);
    expect(report).toEqual(written[0]);
    expect(published.map((point) => `${point.name}=${point.value}`)).toEqual([
      'RetentionDeletedSets=1',
      'RetentionPostponedSets=0',
      `RetentionSweptBytes=${report.garbageCollection.sweptBytes}`,
      'RetentionFailed=0',
    ]);
  });
});

describe('Map items retried after they ran (answer lost)', () => {
  it('a Sweep item: the report counts what the first attempt collected', async () => {
    // Prepare: which item collects the older set's content is not known in advance, so every
    // item loses its first answer
    const { store, older } = await twoOldSets('sweep-retry');
    const seen = new Set<string>();
    const sweep: Handler = async (event, rt) => {
      const result = await sweepPrefix(event, rt);
      const key = JSON.stringify(event);
      if (!seen.has(key)) {
        seen.add(key);
        throw answerLost();
      }
      return result;
    };
    // Act
    const output = succeeded(
      await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retentionRuntime(store), {
        taskOverrides: { 'Sweep unreferenced content item': sweep },
      }),
    ) as RetentionOutput;
    // Assess
    expect(seen.size).toBeGreaterThan(0);
    await expectControlOutcome(store, older, output);
  });

  it('a DeleteSet item: the report keeps the snapshot the first attempt left in place', async () => {
    // Prepare
    const { store, older, newer } = await twoOldSets('delete-retry');
    const artifact = await withSearchSnapshots(store, older, newer);
    const remove = losesFirstAnswer(deleteSet);
    // Act
    const output = succeeded(
      await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retentionRuntime(store), {
        taskOverrides: { 'Delete expired sets item': remove.handler },
      }),
    ) as RetentionOutput;
    // Assess: what the control run records, and the line is there
    expect(remove.calls()).toBe(2);
    const report = await expectControlOutcome(store, older, output);
    const expected = await control();
    expect(expected.report.deletedArtifacts).toEqual([expected.artifact]);
    expect(report.deletedArtifacts).toEqual([artifact]);
  });
});

describe('Commit retried after it ran', () => {
  const HOME = { liferayHome: { root: '/tmp/not-read-here' } };
  const clock = () => {
    let t = new Date('2026-11-27T02:00:00Z').getTime();
    return () => {
      t += 1000;
      return new Date(t);
    };
  };
  const inputOf = (backup: Awaited<ReturnType<typeof beginBackup>>) => ({
    backup: {
      ...backup,
      hookOutcomes: { post: { Error: 'Lambda.Unknown', Cause: 'the post hook could not run' } },
    },
    results: [
      { component: 'liferayHome', status: 'complete', warnings: [], summary: { files: 1 }, details: {} },
    ],
  });

  it('(answer lost) leaves the manifest as the first attempt wrote it and publishes the metrics once', async () => {
    // Prepare
    const published: MetricPoint[] = [];
    const rt = {
      ...testRuntime({ components: HOME, now: clock() }),
      metrics: { publish: (points: readonly MetricPoint[]) => published.push(...points) },
    };
    const backup = await beginBackup({}, rt);
    const input = inputOf(backup);
    // Act
    const first = await commitBackup(input, rt);
    const once = await readManifest(rt.store, backup.backupId);
    const metrics = published.length;
    const retried = await commitBackup(input, rt);
    // Assess
    expect(retried).toEqual(first);
    expect(first.message).toBe(
      `backup set ${backup.backupId} is complete, but post hook (unknown (the hook step itself failed)) failed: Lambda.Unknown: the post hook could not run`,
    );
    expect(await readManifest(rt.store, backup.backupId)).toEqual(once);
    expect(once.warnings).toEqual([
      'post hook (unknown (the hook step itself failed)) failed: Lambda.Unknown: the post hook could not run',
    ]);
    expect(metrics).toBeGreaterThan(0);
    expect(published).toHaveLength(metrics);
  });

  it('(answer lost) a failed run: the same outcome and message, the reason said once', async () => {
    const rt = testRuntime({ components: HOME, now: clock() });
    const backup = await beginBackup({}, rt);
    const input = {
      ...inputOf(backup),
      failure: { Error: 'States.Timeout', Cause: 'the capture timed out' },
    };
    const first = await commitBackup(input, rt);
    const once = await readManifest(rt.store, backup.backupId);
    const retried = await commitBackup(input, rt);
    expect(first.status).toBe('failed');
    expect(retried).toEqual(first);
    expect(await readManifest(rt.store, backup.backupId)).toEqual(once);
    expect(once.warnings.filter((warning) => warning.startsWith('the workflow failed'))).toHaveLength(1);
  });

  it('stopped before moving latest: the retry moves it and gives the lock back, from what the manifest says', async () => {
    // Prepare: the store refuses the first write of the latest pointer, after the manifest is final
    const published: MetricPoint[] = [];
    const base = testRuntime({ components: HOME, now: clock() });
    const rt = {
      ...base,
      store: failingOnce(
        base.store,
        'put',
        (key) => key === 'pointers/latest.json',
        new Error('store went away'),
      ),
      metrics: { publish: (points: readonly MetricPoint[]) => published.push(...points) },
    };
    const backup = await beginBackup({}, rt);
    const input = inputOf(backup);
    // Act
    await expect(commitBackup(input, rt)).rejects.toThrow('store went away');
    const written = await readManifest(rt.store, backup.backupId);
    expect(written.status).toBe('complete');
    expect(await rt.store.stat('locks/backup.json')).toBeDefined();
    const retried = await commitBackup(input, rt);
    // Assess
    expect(retried.status).toBe('complete');
    expect(await readManifest(rt.store, backup.backupId)).toEqual(written);
    expect(await readLatest(rt.store)).toBe(backup.backupId);
    expect(await rt.store.stat('locks/backup.json')).toBeUndefined();
    expect(published.filter((point) => point.name === 'BackupComplete')).toHaveLength(1);
  });
});

describe('Begin retried after it took over a stale lock (answer lost)', () => {
  it('still says in the running manifest whose lock it took over, once', async () => {
    // Prepare: a run that died ninety minutes ago (the lock goes stale after sixty)
    const T0 = new Date('2026-11-27T02:00:00Z').getTime();
    const store = new LocalFolderStore(path.join(work.dir, 'begin-retry', 'store'));
    const components = { liferayHome: { root: '/tmp/not-read-here' } };
    const dead = await beginBackup(
      {},
      testRuntime({ store, components, now: () => new Date(T0), process: processElsewhere() }),
    );
    const rt = testRuntime({ store, components, now: () => new Date(T0 + 90 * 60_000) });
    const execution = 'arn:aws:states:eu-west-1:111111111111:execution:Backup:nightly-2';
    // Act
    const first = await beginBackup({ request: {}, executionId: execution }, rt);
    const said = (await readManifest(store, first.backupId)).warnings;
    const retried = await beginBackup({ request: {}, executionId: execution }, rt);
    // Assess
    expect(said).toEqual([`took over the lock of ${dead.backupId}: it ran longer than 60 minutes`]);
    expect(retried).toEqual(first);
    expect((await readManifest(store, first.backupId)).warnings).toEqual(said);
  });
});
