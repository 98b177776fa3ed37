import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { storeKeys } from '#backup-set/keys.ts';
import { listBackupIds } from '#backup-set/manifest.ts';
import { deleteSet, retentionKeys } from '#backup-set/retention.ts';
import { allHandlers } from '#local/handlers.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import { type ContentStore, readJson } from '#store/content-store.ts';
import { allKeys, liferayHomeReferences, tempDir } from '../support/local-runtime.ts';
import { type LocalS3Server, startS3Server } from '../support/s3-server.ts';

/**
 * Retention's worst nights, now that it postpones a set it cannot delete (review of c62b951): the
 * sweep never takes what a remaining set references, a DeleteSet that fails outright stops the run
 * before any mark or sweep, a set whose deletion began and is postponed does not fail the marking,
 * a restore that starts while DeleteSet looks is refused, and Finish counts a set once.
 */

const DAY = 86_400_000;
/** The retention runs' clock, two hours ahead with a grace of one hour: fresh content is collectable. */
const AHEAD = 2 * 3_600_000;
const GRACE_HOURS = 1;
const DELETE_ALL_BUT_LATEST = { daily: 0, weekly: 0, monthly: 0, minComplete: 1, incompleteDays: 0 };
const RETENTION = { retention: { policy: DELETE_ALL_BUT_LATEST, graceHours: GRACE_HOURS } };

const work = tempDir('review-retention-postpone-adversarial');
/** One S3 server per test: each holds one bucket, and each test wants its own store. */
const servers: LocalS3Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
});
afterAll(() => work.cleanup());

function runtimeFor(store: ContentStore, settings: Record<string, unknown>, now: () => Date): Runtime {
  return {
    ...localRuntime({
      store,
      settings: parseSettings({ environment: 'test-env', ...settings }, 'test'),
      now,
    }),
    metrics: { publish: () => undefined },
  };
}

const ahead = () => new Date(Date.now() + AHEAD);

function succeeded(outcome: WorkflowOutcome): unknown {
  if (outcome.status !== 'SUCCEEDED') throw new Error(`workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output;
}

interface RunOutput {
  plan: { runId: string; reportKey: string };
  outcome: { status: string; deletedSets: string[]; postponedSets: { backupId: string; reason: string }[] };
}

interface Report {
  status: string;
  deletedSets: string[];
  postponedSets?: { backupId: string; reason: string }[];
  decisions: { backupId: string; keep: boolean; postponed?: boolean; reasons: string[] }[];
  garbageCollection: { sweptObjects?: number; skipped?: string };
}

interface ThreeSets {
  store: ContentStore;
  oldest: string;
  middle: string;
  latest: string;
  /** Keys under objects/ only that set references (the latest references none of them). */
  only: Record<'oldest' | 'middle', string[]>;
  latestKeys: string[];
}

/** Three sets in their own bucket of the S3 server, each with a document (a blob) only it holds. */
async function threeSets(name: string): Promise<ThreeSets> {
  const server = await startS3Server();
  servers.push(server);
  const store = server.store();
  const root = path.join(work.dir, `${name}-home`);
  const doc = (file: string) => path.join(root, 'data', 'document_library', file);
  fs.mkdirSync(path.dirname(doc('x')), { recursive: true });
  fs.writeFileSync(path.join(root, 'portal-ext.properties'), 'a');
  const ids: string[] = [];
  for (const [file, daysAgo] of [
    ['oldest', 10],
    ['middle', 9],
    ['latest', 8],
  ] as const) {
    for (const other of ['oldest', 'middle']) fs.rmSync(doc(other), { force: true });
    fs.writeFileSync(doc(file), randomBytes(150_000));
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
  const latestKeys = await liferayHomeReferences(store, latest);
  const notLatest = (keys: string[]) => keys.filter((key) => !latestKeys.includes(key));
  const only = {
    oldest: notLatest(await liferayHomeReferences(store, oldest)),
    middle: notLatest(await liferayHomeReferences(store, middle)),
  };
  expect(only.oldest.length).toBeGreaterThan(0);
  expect(only.middle.length).toBeGreaterThan(0);
  return { store, oldest, middle, latest, only, latestKeys };
}

/** The store, but every delete that names one of the keys `refused` picks fails, as AccessDenied would. */
function refusingDeletes(store: ContentStore, refused: (key: string) => boolean): ContentStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'delete')
        return async (keys: readonly string[]) => {
          const key = keys.find(refused);
          if (key) throw new Error(`AccessDenied: deleting ${key}`);
          return target.delete(keys);
        };
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function retention(store: ContentStore, overrides: Record<string, Handler> = {}) {
  return runWorkflow(WORKFLOWS.retention, { dryRun: false }, runtimeFor(store, RETENTION, ahead), {
    taskOverrides: overrides,
  });
}

describe('a DeleteSet the store refuses, and its retry by the next run', () => {
  it('stops the run before any mark or sweep; the next run finishes the set, collects only its content, and marks a set another run recorded deleted from its manifest', async () => {
    // Prepare: the store refuses to delete the middle set's manifest (its other parts go first).
    const sets = await threeSets('refused-delete');
    const { store, oldest, middle, latest } = sets;
    const objectsBefore = (await allKeys(store)).filter((key) => key.startsWith('objects/'));

    // Act 1
    const first = await retention(refusingDeletes(store, (key) => key === storeKeys.manifest(middle)));

    // Assess 1: the run failed; nothing under objects/ went (no mark, no sweep ran); the middle set
    // lost its parts but keeps its manifest and a marker saying its deletion began.
    expect(first.status).toBe('FAILED');
    expect((await allKeys(store)).filter((key) => key.startsWith('objects/'))).toEqual(objectsBefore);
    expect(await listBackupIds(store)).toEqual([middle, latest]);
    expect(await readJson(store, storeKeys.deletionMarker(middle))).toMatchObject({ deleting: true });
    expect((await allKeys(store)).filter((key) => key.startsWith(`backups/${middle}/`))).toEqual([
      storeKeys.deletionMarker(middle),
      storeKeys.manifest(middle),
    ]);

    // Prepare 2: an earlier, crashed run recorded the latest set deleted (its work area is left).
    await store.put(
      retentionKeys.deleted('g20260101t000000z-0000', latest),
      JSON.stringify({ backupId: latest, deleted: [], objects: 0 }),
    );

    // Act 2: the store deletes again.
    const second = succeeded(await retention(store)) as RunOutput;

    // Assess 2: the middle set finished; its content and the oldest's collected, the latest's all there.
    expect(second.outcome.status).toBe('complete');
    expect(second.outcome.deletedSets).toEqual([middle]);
    expect(oldest).not.toEqual(middle);
    const keys = new Set(await allKeys(store));
    expect(sets.only.middle.filter((key) => keys.has(key))).toEqual([]);
    expect(sets.only.oldest.filter((key) => keys.has(key))).toEqual([]);
    expect(sets.latestKeys.filter((key) => !keys.has(key))).toEqual([]);
    expect(await listBackupIds(store)).toEqual([latest]);
  });
});

describe('a set deleted this run whose deletion record is lost before Mark', () => {
  it('fails the mark and the run: nothing is collected on a guess', async () => {
    const sets = await threeSets('lost-record');
    const { store } = sets;
    const objectsBefore = (await allKeys(store)).filter((key) => key.startsWith('objects/'));
    const mark = allHandlers().get('mark-set') as Handler;

    const run = await retention(store, {
      'Mark kept sets item': async (event, rt) => {
        const { runId, backupId } = event as { runId: string; backupId: string };
        await rt.store.delete([retentionKeys.deleted(runId, backupId)]);
        return mark(event, rt);
      },
    });

    expect(run.status).toBe('FAILED');
    expect((await allKeys(store)).filter((key) => key.startsWith('objects/'))).toEqual(objectsBefore);
  });
});

describe('a set whose deletion began, postponed because a restore report still says running', () => {
  it('does not fail the marking for the parts it lost: the run completes and the next one finishes it', async () => {
    // Prepare: an earlier run got past its checks on the middle set and deleted all but its manifest
    // and marker; a restore refused meanwhile could not record its end (its report says running).
    const sets = await threeSets('begun-postponed');
    const { store, middle, latest } = sets;
    expect(
      (await retention(refusingDeletes(store, (key) => key === storeKeys.manifest(middle)))).status,
    ).toBe('FAILED');
    const restoreId = 'r20261128t050001z-0002';
    await store.put(
      storeKeys.restoreReport(middle, restoreId),
      JSON.stringify({ restoreId, backupId: middle, status: 'running', startedAt: ahead().toISOString() }),
    );

    // Act
    const output = succeeded(await retention(store)) as RunOutput;

    // Assess: complete, the middle set postponed (still refused by every restore), the latest whole.
    expect(output.outcome.status).toBe('complete');
    expect(output.outcome.deletedSets).toEqual([]);
    expect(output.outcome.postponedSets).toEqual([
      { backupId: middle, reason: expect.stringContaining('is finished by the next run') },
    ]);
    expect(await store.stat(storeKeys.deletionMarker(middle))).toBeDefined();
    const report = (await readJson(store, output.plan.reportKey)) as Report;
    expect(report.garbageCollection.skipped).toBeUndefined();
    const keys = new Set(await allKeys(store));
    expect(sets.latestKeys.filter((key) => !keys.has(key))).toEqual([]);

    // The report ends: the next run deletes it.
    await store.delete([storeKeys.restoreReport(middle, restoreId)]);
    const next = succeeded(await retention(store)) as RunOutput;
    expect(next.outcome.deletedSets).toEqual([middle]);
    expect(await listBackupIds(store)).toEqual([latest]);
  });
});

describe('a DeleteSet retried after its first attempt postponed the set (its answer lost)', () => {
  it('counts the set once, as deleted, and its decision stays a deletion', async () => {
    const sets = await threeSets('postponed-then-deleted');
    const { store, oldest, middle, latest } = sets;
    const restoreId = 'r20261128t050001z-0003';
    const remove = allHandlers().get('delete-set') as Handler;

    const output = succeeded(
      await retention(store, {
        'Delete expired sets item': async (event, rt) => {
          const { backupId } = event as { backupId: string };
          if (backupId !== middle) return remove(event, rt);
          await rt.store.put(
            storeKeys.restoreReport(middle, restoreId),
            JSON.stringify({ restoreId, backupId, status: 'running', startedAt: rt.now().toISOString() }),
          );
          expect(await deleteSet(event, rt)).toMatchObject({ postponed: expect.any(String) });
          await rt.store.delete([storeKeys.restoreReport(middle, restoreId)]);
          return remove(event, rt);
        },
      }),
    ) as RunOutput;

    expect(output.outcome.deletedSets).toEqual([oldest, middle].sort());
    expect(output.outcome.postponedSets).toEqual([]);
    const report = (await readJson(store, output.plan.reportKey)) as Report;
    expect(report.postponedSets).toBeUndefined();
    expect(report.decisions.find((decision) => decision.backupId === middle)).toMatchObject({ keep: false });
    expect(report.decisions.find((decision) => decision.backupId === middle)?.postponed).toBeUndefined();
    const keys = new Set(await allKeys(store));
    expect(sets.only.middle.filter((key) => keys.has(key))).toEqual([]);
    expect(await listBackupIds(store)).toEqual([latest]);
  });
});

describe('a restore that starts after DeleteSet looked for readers and before it deletes', () => {
  it('is refused at Validate: the marker was there before DeleteSet looked', async () => {
    const sets = await threeSets('race');
    const { store, middle, latest } = sets;
    const remove = allHandlers().get('delete-set') as Handler;
    let restore: WorkflowOutcome | undefined;
    const restoreRt = runtimeFor(
      store,
      {
        configuredComponents: ['liferayHome'],
        components: { liferayHome: { root: path.join(work.dir, 'race-restored') } },
      },
      ahead,
    );
    /** The store DeleteSet uses: the restore runs just before DeleteSet flags the marker `deleting`. */
    const racing = new Proxy(store, {
      get(target, property) {
        if (property === 'put')
          return async (key: string, ...rest: unknown[]) => {
            const [body] = rest;
            if (
              key === storeKeys.deletionMarker(middle) &&
              typeof body === 'string' &&
              body.includes('"deleting": true') &&
              !restore
            )
              restore = await runWorkflow(
                WORKFLOWS.restore,
                { backupId: middle, requestedBy: 'cli' },
                restoreRt,
              );
            return (target.put as (...args: unknown[]) => Promise<unknown>)(key, ...rest);
          };
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });

    const output = succeeded(
      await retention(store, {
        'Delete expired sets item': (event, rt) => remove(event, { ...rt, store: racing }),
      }),
    ) as RunOutput;

    const refused = restore as WorkflowOutcome;
    expect(refused.status === 'FAILED' ? refused.cause : refused.status).toContain(
      `backup set ${middle} is being deleted by retention`,
    );
    expect(output.outcome.deletedSets).toContain(middle);
    expect(await listBackupIds(store)).toEqual([latest]);
  });
});

describe('a DeleteSet cut off between postponing and taking its marker back', () => {
  it('is retried: the retry takes the marker back, and the set stays whole and restorable', async () => {
    const sets = await threeSets('marker-left');
    const { store, middle } = sets;
    const runId = 'g20261128t050000z-0005';
    const restoreId = 'r20261128t050001z-0006';
    await store.put(
      storeKeys.restoreReport(middle, restoreId),
      JSON.stringify({ restoreId, backupId: middle, status: 'running', startedAt: new Date().toISOString() }),
    );
    const before = (await allKeys(store)).filter((key) => key.startsWith(`backups/${middle}/`));
    const rt = runtimeFor(store, {}, () => new Date());
    const cutOff = {
      ...rt,
      store: refusingDeletes(store, (key) => key === storeKeys.deletionMarker(middle)),
    };

    await expect(deleteSet({ runId, backupId: middle }, cutOff)).rejects.toThrow(/AccessDenied/);
    expect(await store.stat(storeKeys.deletionMarker(middle))).toBeDefined();
    const retried = await deleteSet({ runId, backupId: middle }, rt);

    expect(retried.postponed).toMatch(/^kept until the next retention run: a restore/);
    expect(await store.stat(storeKeys.deletionMarker(middle))).toBeUndefined();
    expect((await allKeys(store)).filter((key) => key.startsWith(`backups/${middle}/`))).toEqual(before);
  });
});

describe('a dry run', () => {
  it('writes the report alone: no lists for the Maps, no postponed sets, every set in place', async () => {
    const sets = await threeSets('dry-run');
    const { store, oldest, middle, latest } = sets;
    const keysBefore = await allKeys(store);

    const output = succeeded(
      await runWorkflow(WORKFLOWS.retention, { dryRun: true }, runtimeFor(store, RETENTION, ahead)),
    ) as RunOutput;

    const report = (await readJson(store, output.plan.reportKey)) as Report & { dryRun: boolean };
    expect(report.dryRun).toBe(true);
    expect(report.postponedSets).toBeUndefined();
    expect(report.decisions.filter((decision) => !decision.keep).map((d) => d.backupId)).toEqual([
      oldest,
      middle,
    ]);
    expect(await allKeys(store)).toEqual([...keysBefore, output.plan.reportKey].sort());
    expect(await listBackupIds(store)).toEqual([oldest, middle, latest]);
  });
});
