import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { recordAbandonedSet } from '#backup-set/abandoned-set.ts';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { storeKeys } from '#backup-set/keys.ts';
import { listBackupIds, readManifest } from '#backup-set/manifest.ts';
import { deleteSet, planRetention } from '#backup-set/retention.ts';
import { closeEngines } from '#components/search/connect.ts';
import { prepareSearchRepository } from '#components/search/handlers/prepare-repository.ts';
import { startSearchSnapshot } from '#components/search/handlers/start-snapshot.ts';
import { allHandlers } from '#local/handlers.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { MetricPoint } from '#runtime/metrics.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import { type ContentStore, readJson } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { allKeys, liferayHomeReferences, tempDir } from '../support/local-runtime.ts';
import { type LocalS3Server, startS3Server } from '../support/s3-server.ts';
import { SearchEngineStandIn } from '../support/search-engine-server.ts';

/**
 * A set retention planned to delete but cannot delete right now (a restore began reading it after
 * the plan, or its search snapshot is still IN_PROGRESS) is postponed: left whole and restorable,
 * named with the reason in the run's outcome and report, while the run deletes the other sets,
 * collects garbage (keeping what the postponed set references) and ends complete. Before, the
 * DeleteSet item failed after its retries, the run failed and collected nothing.
 */

const DAY = 86_400_000;
/**
 * The retention runs' clock, two hours ahead with a grace period of one hour: the content the
 * backups just wrote is old enough to collect, and a restore started now (its report's time is the
 * execution's start) is still running as retention sees it.
 */
const AHEAD = 2 * 3_600_000;
const GRACE_HOURS = 1;
const DELETE_ALL_BUT_LATEST = { daily: 0, weekly: 0, monthly: 0, minComplete: 1, incompleteDays: 0 };

const work = tempDir('review-retention-postponed');
let s3: LocalS3Server | undefined;
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  await closeEngines();
  await s3?.stop();
  work.cleanup();
});

function runtimeFor(
  store: ContentStore,
  settings: Record<string, unknown>,
  now: () => Date,
  published: MetricPoint[] = [],
): Runtime {
  return {
    ...localRuntime({
      store,
      settings: parseSettings({ environment: 'test-env', ...settings }, 'test'),
      now,
    }),
    metrics: { publish: (points) => published.push(...points) },
  };
}

function succeeded(outcome: WorkflowOutcome): unknown {
  if (outcome.status !== 'SUCCEEDED') throw new Error(`workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

interface RunOutput {
  plan: { runId: string; reportKey: string };
  outcome: {
    status: string;
    deletedSets: string[];
    postponedSets?: { backupId: string; reason: string }[];
    message: string;
  };
}

interface Report {
  status: string;
  deletedSets: string[];
  postponedSets?: { backupId: string; reason: string }[];
  warnings?: string[];
  decisions: { backupId: string; keep: boolean; reasons: string[] }[];
  garbageCollection: { sweptObjects?: number; skipped?: string };
}

describe('a set a restore began reading after retention planned its deletion', () => {
  it('is kept whole and restorable; the run deletes the other set, collects garbage and ends complete', async () => {
    // Prepare: three sets on the S3 server, each with a document only it holds (a blob under objects/).
    const store = (s3 as LocalS3Server).store();
    const root = path.join(work.dir, 'home');
    const doc = (name: string) => path.join(root, 'data', 'document_library', name);
    fs.mkdirSync(path.dirname(doc('x')), { recursive: true });
    fs.writeFileSync(path.join(root, 'portal-ext.properties'), 'a');
    const ids: string[] = [];
    const contents = new Map<string, Buffer>();
    for (const [name, daysAgo] of [
      ['oldest', 10],
      ['middle', 9],
      ['latest', 8],
    ] as const) {
      for (const other of ['oldest', 'middle']) fs.rmSync(doc(other), { force: true });
      contents.set(name, randomBytes(200_000));
      fs.writeFileSync(doc(name), contents.get(name) as Buffer);
      if (name === 'middle')
        fs.cpSync(root, path.join(work.dir, 'middle-home'), { recursive: true, preserveTimestamps: true });
      const rt = runtimeFor(
        store,
        {
          configuredComponents: ['liferayHome'],
          components: { liferayHome: { root, blobThresholdBytes: 64 * 1024 } },
        },
        () => new Date(Date.now() - daysAgo * DAY),
      );
      const output = succeeded(await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt)) as {
        backup: { backupId: string };
      };
      ids.push(output.backup.backupId);
    }
    const [oldest, middle, latest] = ids as [string, string, string];
    const latestKeys = new Set(await liferayHomeReferences(store, latest));
    const oldestOnly = (await liferayHomeReferences(store, oldest)).filter((key) => !latestKeys.has(key));
    const middleKeys = await liferayHomeReferences(store, middle);
    const middleOnly = middleKeys.filter((key) => !latestKeys.has(key));
    expect(middleOnly.length).toBeGreaterThan(0);
    expect(oldestOnly.length).toBeGreaterThan(0);

    // Act: retention plans (both older sets go); then a restore of the middle set starts, and
    // pauses before it reads the set's index and content until the retention run has ended.
    const now = () => new Date(Date.now() + AHEAD);
    const restoreTarget = path.join(work.dir, 'restored');
    const restoreMayRead = deferred();
    const restoreValidated = deferred();
    const planFiles = allHandlers().get('files-plan-restore') as Handler;
    let restore: Promise<WorkflowOutcome> | undefined;
    const published: MetricPoint[] = [];
    const retention = await runWorkflow(
      WORKFLOWS.retention,
      { dryRun: false },
      runtimeFor(
        store,
        { retention: { policy: DELETE_ALL_BUT_LATEST, graceHours: GRACE_HOURS } },
        now,
        published,
      ),
      {
        taskOverrides: {
          'Plan retention': async (input, rt) => {
            const plan = await planRetention(input, rt);
            restore = runWorkflow(
              WORKFLOWS.restore,
              { backupId: middle, requestedBy: 'cli' },
              runtimeFor(
                store,
                {
                  configuredComponents: ['liferayHome'],
                  components: { liferayHome: { root: restoreTarget } },
                },
                now,
              ),
              {
                taskOverrides: {
                  'Liferay Home plan restore': async (event, restoreRt) => {
                    restoreValidated.resolve();
                    await restoreMayRead.promise;
                    return planFiles(event, restoreRt);
                  },
                },
              },
            );
            // A restore refused at Validate never reaches the pause: the run goes on, and the test fails below.
            void restore.then(() => restoreValidated.resolve());
            await restoreValidated.promise;
            return plan;
          },
        },
      },
    );
    restoreMayRead.resolve();

    // Assess: the run succeeded, deleted the oldest set, postponed the middle one, naming the restore.
    const output = succeeded(retention) as RunOutput;
    expect(output.outcome.status).toBe('complete');
    expect(output.outcome.deletedSets).toEqual([oldest]);
    // The run succeeds, so the failed-run alarm stays quiet: the metric is what shows a set kept.
    expect(
      published.filter((point) => point.name.startsWith('Retention')).map((p) => `${p.name}=${p.value}`),
    ).toEqual(
      expect.arrayContaining(['RetentionDeletedSets=1', 'RetentionPostponedSets=1', 'RetentionFailed=0']),
    );
    const reason = expect.stringMatching(
      /^kept until the next retention run: a restore \(r\S+\) started reading it at \S+, after this retention run planned its deletion$/,
    );
    expect(output.outcome.postponedSets).toEqual([{ backupId: middle, reason }]);
    expect(output.outcome.message).toContain(`set ${middle} not deleted: kept until the next retention run`);
    const report = (await readJson(store, output.plan.reportKey)) as Report;
    expect(report.status).toBe('complete');
    expect(report.postponedSets).toEqual([{ backupId: middle, reason }]);
    expect(report.warnings).toContainEqual(expect.stringContaining(`set ${middle} not deleted: kept until`));
    expect(report.decisions.find((decision) => decision.backupId === middle)).toMatchObject({
      keep: true,
      reasons: [reason],
    });
    // Garbage collection ran: the oldest set's own content is gone, the middle set's all there.
    expect(report.garbageCollection.skipped).toBeUndefined();
    expect(report.garbageCollection.sweptObjects).toBeGreaterThan(0);
    const keys = new Set(await allKeys(store));
    expect(oldestOnly.filter((key) => keys.has(key))).toEqual([]);
    expect(middleKeys.filter((key) => !keys.has(key))).toEqual([]);
    // The middle set is exactly as before: its manifest, no deletion marker; and the restore that
    // read it after the sweep restores it byte for byte.
    expect(await listBackupIds(store)).toEqual([middle, latest]);
    expect((await readManifest(store, middle)).status).toBe('complete');
    expect(keys.has(storeKeys.deletionMarker(middle))).toBe(false);
    const restored = await (restore as Promise<WorkflowOutcome>);
    expect(restored.status === 'FAILED' ? restored.cause : restored.status).toBe('SUCCEEDED');
    const restoredDocs = path.join(restoreTarget, 'data', 'document_library');
    expect(fs.readdirSync(restoredDocs)).toEqual(['middle']);
    expect(fs.readFileSync(path.join(restoredDocs, 'middle')).equals(contents.get('middle') as Buffer)).toBe(
      true,
    );
    expect(fs.readFileSync(path.join(restoreTarget, 'portal-ext.properties'), 'utf8')).toBe('a');

    // The next run, the restore ended, deletes it.
    const next = succeeded(
      await runWorkflow(
        WORKFLOWS.retention,
        { dryRun: false },
        runtimeFor(store, { retention: { policy: DELETE_ALL_BUT_LATEST, graceHours: GRACE_HOURS } }, now),
      ),
    ) as RunOutput;
    expect(next.outcome.deletedSets).toEqual([middle]);
    expect(next.outcome.postponedSets).toEqual([]);
  });
});

describe('a set whose deletion began', () => {
  it.each([
    ['flagged `deleting` by this version', { deleting: true }],
    // An attempt of the previous version (a deploy during the run) flagged nothing, deleted or not.
    ['written by an earlier version, without the field', {}],
  ])(
    'keeps its deletion marker (%s) when a restore report turns up: the set is no copy any more, the next run finishes it',
    async (_, flag) => {
      // Prepare: two sets; this run's first DeleteSet attempt got past its checks (marker flagged
      // `deleting`) and was cut off; a restore's Validate wrote its report meanwhile (it then finds
      // the marker and refuses, but its report still says running when the retry looks).
      const store = new LocalFolderStore(path.join(work.dir, 'begun-store'));
      const root = path.join(work.dir, 'begun-home');
      fs.mkdirSync(root, { recursive: true });
      fs.writeFileSync(path.join(root, 'portal-ext.properties'), 'a');
      const ids: string[] = [];
      for (const daysAgo of [10, 9]) {
        const rt = runtimeFor(
          store,
          { configuredComponents: ['liferayHome'], components: { liferayHome: { root } } },
          () => new Date(Date.now() - daysAgo * DAY),
        );
        const output = succeeded(await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt)) as {
          backup: { backupId: string };
        };
        ids.push(output.backup.backupId);
      }
      const [older] = ids as [string, string];
      const runId = 'g20261128t050000z-0001';
      await store.put(
        storeKeys.deletionMarker(older),
        JSON.stringify({ runId, at: new Date().toISOString(), ...flag }),
      );
      await store.put(
        storeKeys.restoreReport(older, 'r20261128t050001z-0002'),
        JSON.stringify({ status: 'running', startedAt: new Date().toISOString() }),
      );

      // Act: the retried attempt.
      const outcome = await deleteSet(
        { runId, backupId: older },
        runtimeFor(store, {}, () => new Date()),
      );

      // Assess: not deleted now, but still refused by every restore, and named as begun.
      expect(outcome.postponed).toMatch(
        new RegExp(
          `^a restore \\(r20261128t050001z-0002\\) started reading it at .*; its deletion, begun by an earlier attempt of this run \\(${runId}\\), is finished by the next run$`,
        ),
      );
      expect(await store.stat(storeKeys.deletionMarker(older))).toBeDefined();
    },
  );
});

describe('a set whose search snapshot is still IN_PROGRESS', () => {
  const REPOSITORY = 'liferay-backup';
  let server: SearchEngineStandIn | undefined;
  afterEach(async () => {
    await closeEngines();
    await server?.stop();
  });

  it('is kept whole until the snapshot ends; the run deletes the other set and its snapshot, and ends complete', async () => {
    // Prepare: the search stand-in, two complete search sets and a later run abandoned while its
    // snapshot runs (recorded failed, as the next Begin records it).
    server = await SearchEngineStandIn.start({
      flavour: 'elasticsearch',
      version: '8.15.0',
      indices: { 'liferay-0': { docs: 120 }, 'liferay-20097': { docs: 5400, pri: 2 } },
    });
    const standIn = server;
    standIn.repositories.set(REPOSITORY, { type: 's3', settings: { bucket: 'b', base_path: 'search' } });
    standIn.snapshots.set(REPOSITORY, new Map());
    standIn.defaultScript = { inProgressChecks: 0, outcome: 'SUCCESS' };
    const store = new LocalFolderStore(path.join(work.dir, 'search-store'));
    const settings = {
      configuredComponents: ['search'],
      components: {
        search: {
          engine: 'elasticsearch',
          endpoint: standIn.url,
          credentials: { type: 'none' },
          repository: { name: REPOSITORY },
          waitSeconds: 0,
          maxChecks: 5,
          dxpVersion: '7.4',
        },
      },
      retention: { policy: DELETE_ALL_BUT_LATEST, graceHours: GRACE_HOURS },
    };
    const at = (daysAgo: number) => runtimeFor(store, settings, () => new Date(Date.now() - daysAgo * DAY));
    const complete: string[] = [];
    for (const daysAgo of [11, 10]) {
      const output = succeeded(
        await runWorkflow(WORKFLOWS.backup, { components: ['search'], requestedBy: 'cli' }, at(daysAgo)),
      ) as { backup: { backupId: string } };
      expect((await readManifest(store, output.backup.backupId)).status).toBe('complete');
      complete.push(output.backup.backupId);
    }
    const [older, latest] = complete as [string, string];
    standIn.defaultScript = { inProgressChecks: 1_000, outcome: 'SUCCESS' };
    const abandonedRt = at(9);
    const context = await beginBackup({ components: ['search'] }, abandonedRt);
    const prepared = await prepareSearchRepository({ mode: 'backup', backup: context }, abandonedRt);
    await startSearchSnapshot({ backup: context, search: prepared }, abandonedRt);
    expect(
      await recordAbandonedSet(abandonedRt, context.backupId, 'the execution was stopped', new Date()),
    ).toBe('recorded');
    const abandoned = context.backupId;
    const snapshots = () => [...(standIn.snapshots.get(REPOSITORY)?.keys() ?? [])].sort();
    expect(snapshots()).toEqual([older, latest, abandoned].sort());
    const abandonedBefore = (await allKeys(store)).filter((key) => key.startsWith(`backups/${abandoned}/`));

    // Act
    const retentionRt = runtimeFor(store, settings, () => new Date(Date.now() + AHEAD));
    const output = succeeded(
      await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retentionRt),
    ) as RunOutput;

    // Assess: complete; the older set and its snapshot deleted; the abandoned set postponed, whole.
    expect(output.outcome.status).toBe('complete');
    expect(output.outcome.deletedSets).toEqual([older]);
    const reason = `kept until the next retention run: search snapshot ${REPOSITORY}/${abandoned} is still IN_PROGRESS (deleting it would abort a snapshot that may still be running; once it ends, the next retention run deletes it with the set)`;
    expect(output.outcome.postponedSets).toEqual([{ backupId: abandoned, reason }]);
    const report = (await readJson(store, output.plan.reportKey)) as Report;
    expect(report.postponedSets).toEqual([{ backupId: abandoned, reason }]);
    expect(report.warnings).toContain(`set ${abandoned} not deleted: ${reason}`);
    expect(report.garbageCollection.skipped).toBeUndefined();
    expect(report.garbageCollection.sweptObjects).toEqual(expect.any(Number));
    expect(snapshots()).toEqual([latest, abandoned].sort());
    expect((await allKeys(store)).filter((key) => key.startsWith(`backups/${abandoned}/`))).toEqual(
      abandonedBefore,
    );
    expect((await readManifest(store, abandoned)).status).toBe('failed');

    // The snapshot ends: the next run deletes the set and its snapshot.
    const running = standIn.snapshots.get(REPOSITORY)?.get(abandoned);
    if (running) running.checksLeft = 0;
    const next = succeeded(
      await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retentionRt),
    ) as RunOutput;
    expect(next.outcome.deletedSets).toEqual([abandoned]);
    expect(snapshots()).toEqual([latest]);
  });
});
