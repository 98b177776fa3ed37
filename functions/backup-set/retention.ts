import * as z from 'zod';
import { mapLimit } from '#components/files/limit.ts';
import { COMPONENT_MODULES, componentModule } from '#components/registry.ts';
import { LiferayBackupError, ObjectNotFoundError, RetryableError } from '#runtime/errors.ts';
import { hostProcessSchema } from '#runtime/host-process.ts';
import { MetricUnit } from '#runtime/metrics.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { type ContentStore, jsonBody, readJson } from '#store/content-store.ts';
import { newRunId } from './backup-id.ts';
import { storeKeys } from './keys.ts';
import { acquireBackupLock, releaseBackupLock } from './lock.ts';
import { backupIdSchema, listBackupIds, readManifest, resolveLatest } from './manifest.ts';
import { howRunEnded, runReportsOf } from './report-run.ts';
import {
  chainLinks,
  decideRetention,
  type RetentionDecision,
  type RetentionSettings,
  retentionSettingsSchema,
  type SetFacts,
} from './retention-policy.ts';

/**
 * Retention: decide which sets go (retention-policy.ts), delete them (their snapshots, dumps and
 * store objects, the manifest last), then collect content no remaining set references
 * (garbage-collection.ts). The Retention workflow runs Plan → Map(DeleteSet) → Map(MarkSet) →
 * Map(Sweep) → Finish; `{"dryRun": true}` stops after Plan with the report of what would go and why.
 */

export class RetentionRefusedError extends LiferayBackupError {
  constructor(message: string) {
    super('RetentionRefusedError', message);
  }
}

const RETENTION_LOCK_MINUTES = 6 * 60;
/** What retention reads of a restore's or drill's report: one whose run goes on is reading its set. */
const runReportSchema = z.object({
  status: z.string(),
  startedAt: z.string(),
  process: hostProcessSchema.optional().catch(undefined),
});

export const retentionRequestSchema = z.strictObject({
  dryRun: z.boolean().default(false),
  requestedBy: z.enum(['schedule', 'console', 'cli']).optional(),
});

export const retentionPlanSchema = z.object({
  runId: z.string(),
  dryRun: z.boolean(),
  startedAt: z.iso.datetime({ offset: true }),
  reportKey: z.string(),
  deleteKey: z.string(),
  keepKey: z.string(),
  prefixesKey: z.string(),
  toDelete: z.number().int(),
  toKeep: z.number().int(),
  /** Why garbage collection cannot run this time (then no content is swept). */
  gcBlocked: z.string().optional(),
  message: z.string(),
});
export type RetentionPlan = z.infer<typeof retentionPlanSchema>;

export const retentionKeys = {
  work: (runId: string) => `${storeKeys.workPrefix(runId)}retention/`,
  deleteList: (runId: string) => `${storeKeys.workPrefix(runId)}retention/delete.json`,
  keepList: (runId: string) => `${storeKeys.workPrefix(runId)}retention/keep.json`,
  prefixes: (runId: string) => `${storeKeys.workPrefix(runId)}retention/prefixes.json`,
  deleted: (runId: string, backupId: string) =>
    `${storeKeys.workPrefix(runId)}retention/deleted/${backupId}.json`,
  swept: (runId: string, index: number) =>
    `${storeKeys.workPrefix(runId)}retention/swept/${String(index).padStart(4, '0')}.json`,
};

export function retentionSettings(rt: Runtime): RetentionSettings {
  return rt.settings.retention ?? retentionSettingsSchema.parse({});
}

/** Reports under backups/<id>/restores/ and verifications/ that are still running and recent. */
async function inUse(store: ContentStore, backupId: string, now: Date): Promise<boolean> {
  for await (const { key } of runReportsOf(store, backupId)) {
    try {
      const report = runReportSchema.safeParse(await readJson(store, key, 1024 * 1024));
      if (report.success && howRunEnded(report.data, now) === undefined) return true;
    } catch {
      // An unreadable report does not make a set in use.
    }
  }
  return false;
}

/** Sets whose facts are read side by side: a manifest and two listings each, hundreds of sets. */
const FACTS_CONCURRENCY = 16;

async function gatherFacts(rt: Runtime, settings: RetentionSettings, now: Date): Promise<SetFacts[]> {
  return mapLimit(await listBackupIds(rt.store), FACTS_CONCURRENCY, async (backupId): Promise<SetFacts> => {
    let status: SetFacts['status'];
    let startedAt: Date;
    let components: string[] = [];
    let previousBackupId: string | undefined;
    try {
      const manifest = await readManifest(rt.store, backupId);
      previousBackupId = manifest.previousBackupId;
      status = manifest.status;
      startedAt = new Date(manifest.startedAt);
      components = Object.values(manifest.results)
        .filter((result) => result.status === 'complete')
        .map((result) => result.component);
    } catch {
      status = 'unreadable';
      startedAt = new Date(0);
    }
    const lockDays = settings.objectLockDays;
    return {
      backupId,
      status,
      startedAt,
      ...(lockDays && status !== 'unreadable'
        ? { lockedUntil: new Date(startedAt.getTime() + lockDays * 86_400_000) }
        : {}),
      inUse: await inUse(rt.store, backupId, now),
      components,
      ...(previousBackupId ? { previousBackupId } : {}),
    };
  });
}

/** Sets whose deletion an earlier run started (their marker is there): finish them first. */
async function interruptedDeletions(store: ContentStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const object of store.list(storeKeys.backupsPrefix)) {
    const match = /^backups\/([^/]+)\/deleting\.json$/.exec(object.key);
    if (match?.[1] && backupIdSchema.safeParse(match[1]).success) ids.push(match[1]);
  }
  return ids;
}

/** Every sweep prefix of every registered component, in a fixed order (their index names marks). */
export function sweepPrefixes(): string[] {
  return [
    ...new Set(COMPONENT_MODULES.flatMap((module) => module.retention?.sweepPrefixes?.() ?? [])),
  ].sort();
}

export async function planRetention(event: unknown, rt: Runtime): Promise<RetentionPlan> {
  const request = parseInput(retentionRequestSchema, event ?? {}, 'retention request');
  const settings = retentionSettings(rt);
  const now = rt.now();
  const runId = newRunId('g', now);
  // A CLI run records its process: the next run takes the lock over at once if that process died.
  const lock = request.dryRun
    ? undefined
    : await acquireBackupLock(
        rt.store,
        storeKeys.retentionLock,
        runId,
        now,
        RETENTION_LOCK_MINUTES,
        rt.process ? { process: rt.process } : {},
      );
  const warnings = lock?.tookOverFrom
    ? [
        `took over the lock of retention run ${lock.tookOverFrom}: ${lock.holderEnded ?? `it ran longer than ${RETENTION_LOCK_MINUTES} minutes`} without giving the lock back (this run finishes any deletion it began)`,
      ]
    : [];
  for (const warning of warnings) rt.logger.warn(warning);

  const facts = await gatherFacts(rt, settings, now);
  // A damaged pointer: the newest complete set is what it records, and is kept as the latest.
  const { backupId: latest, warning: latestWarning } = await resolveLatest(rt.store);
  if (latestWarning) {
    warnings.push(latestWarning);
    rt.logger.warn(latestWarning);
  }
  const interrupted = new Set(await interruptedDeletions(rt.store));
  const links = chainLinks(facts, latest);
  const decisions: RetentionDecision[] = decideRetention(facts, settings.policy, now).map((decision) => {
    const link = links.get(decision.backupId);
    if (link && decision.backupId !== latest) {
      return { ...decision, keep: true, reasons: [...(decision.keep ? decision.reasons : []), link] };
    }
    if (decision.backupId === latest) {
      return {
        ...decision,
        keep: true,
        reasons: [...(decision.keep ? decision.reasons : []), 'the latest complete set'],
      };
    }
    if (interrupted.has(decision.backupId) && !decision.keep) {
      return { ...decision, reasons: [...decision.reasons, 'its deletion was started by an earlier run'] };
    }
    return decision;
  });
  const byId = new Map(facts.map((fact) => [fact.backupId, fact]));
  const toDelete = decisions.filter((d) => !d.keep).map((d) => d.backupId);
  const kept = decisions.filter((d) => d.keep).map((d) => d.backupId);
  const unreadable = kept.filter((id) => byId.get(id)?.status === 'unreadable');
  const markable = kept.filter((id) => {
    const status = byId.get(id)?.status;
    return status === 'complete' || status === 'partial' || status === 'failed';
  });
  const gcBlocked =
    unreadable.length > 0
      ? `kept sets whose manifest cannot be read (${unreadable.join(', ')}): their content cannot be marked, so nothing is collected`
      : undefined;

  const reportKey = storeKeys.retentionReport(runId);
  const plan: RetentionPlan = {
    runId,
    dryRun: request.dryRun,
    startedAt: now.toISOString(),
    reportKey,
    deleteKey: retentionKeys.deleteList(runId),
    keepKey: retentionKeys.keepList(runId),
    prefixesKey: retentionKeys.prefixes(runId),
    toDelete: toDelete.length,
    toKeep: kept.length,
    ...(gcBlocked ? { gcBlocked } : {}),
    message: `${request.dryRun ? 'dry run: would delete' : 'deleting'} ${toDelete.length} of ${decisions.length} backup sets; report ${reportKey}`,
  };
  await rt.store.put(
    reportKey,
    jsonBody({
      runId,
      dryRun: request.dryRun,
      status: request.dryRun ? 'complete' : 'running',
      startedAt: plan.startedAt,
      policy: settings.policy,
      graceHours: settings.graceHours,
      decisions: decisions.map((decision) => ({
        ...decision,
        status: byId.get(decision.backupId)?.status,
        startedAt: byId.get(decision.backupId)?.startedAt.toISOString(),
      })),
      ...(gcBlocked ? { gcBlocked } : {}),
      ...(warnings.length > 0 ? { warnings } : {}),
    }),
    { contentType: 'application/json' },
  );
  if (!request.dryRun) {
    await rt.store.put(plan.deleteKey, JSON.stringify(toDelete.map((backupId) => ({ backupId }))));
    await rt.store.put(plan.keepKey, JSON.stringify(markable.map((backupId) => ({ backupId }))));
    const prefixes = gcBlocked ? [] : sweepPrefixes().map((prefix, index) => ({ prefix, index }));
    await rt.store.put(plan.prefixesKey, JSON.stringify(prefixes));
  }
  rt.logger.info('retention planned', {
    runId,
    toDelete: toDelete.length,
    kept: kept.length,
    dryRun: request.dryRun,
  });
  return plan;
}

const deleteSetInputSchema = z.object({ runId: z.string(), backupId: backupIdSchema });

/**
 * Deletes one set: a marker first (Validate refuses the set from then on), the components' own
 * artifacts (snapshots), its dumps and store objects, the manifest last. Re-running it after a
 * failure finishes the job.
 */
export async function deleteSet(
  event: unknown,
  rt: Runtime,
): Promise<{ backupId: string; deleted: string[]; objects: number }> {
  const { runId, backupId } = parseInput(deleteSetInputSchema, event, 'delete-set input');
  if ((await resolveLatest(rt.store)).backupId === backupId) {
    throw new RetentionRefusedError(`refusing to delete ${backupId}: it is the latest complete set`);
  }
  rt.logger.appendKeys({ backupId });
  await rt.store.put(storeKeys.deletionMarker(backupId), jsonBody({ runId, at: rt.now().toISOString() }));
  // A restore or drill that started reading the set after the plan was made: the marker is taken
  // back and the deletion waits (the task is retried, then the run fails and collects nothing).
  // Validate writes its report before looking for the marker, so one of the two always sees the other.
  if (await inUse(rt.store, backupId, rt.now())) {
    await rt.store.delete([storeKeys.deletionMarker(backupId)]);
    throw new RetryableError(
      `not deleting ${backupId} yet: a restore or restore drill started reading it after this retention run planned its deletion`,
    );
  }
  const deleted: string[] = [];
  try {
    const manifest = await readManifest(rt.store, backupId);
    for (const result of Object.values(manifest.results)) {
      const hooks = componentModule(result.component)?.retention;
      if (hooks?.deleteArtifacts) deleted.push(...(await hooks.deleteArtifacts({ backupId, result }, rt)));
    }
  } catch (error) {
    // A set whose manifest is already gone (a deletion interrupted at its very end) has nothing else to delete.
    if (!(error instanceof ObjectNotFoundError)) throw error;
  }
  let objects = await deletePrefix(rt.store, storeKeys.dumpsPrefix(backupId), () => true);
  const keepForLast = new Set([storeKeys.manifest(backupId), storeKeys.deletionMarker(backupId)]);
  objects += await deletePrefix(rt.store, storeKeys.backupPrefix(backupId), (key) => !keepForLast.has(key));
  await rt.store.delete([storeKeys.manifest(backupId)]);
  await rt.store.delete([storeKeys.deletionMarker(backupId)]);
  const outcome = { backupId, deleted, objects: objects + 1 };
  await rt.store.put(retentionKeys.deleted(runId, backupId), JSON.stringify(outcome));
  rt.logger.info('backup set deleted', outcome);
  return outcome;
}

export async function deletePrefix(
  store: ContentStore,
  prefix: string,
  selected: (key: string) => boolean,
): Promise<number> {
  let batch: string[] = [];
  let count = 0;
  for await (const object of store.list(prefix)) {
    if (!selected(object.key)) continue;
    batch.push(object.key);
    if (batch.length === 1000) {
      await store.delete(batch);
      count += batch.length;
      batch = [];
    }
  }
  await store.delete(batch);
  return count + batch.length;
}

const finishInputSchema = z.object({
  plan: retentionPlanSchema,
  failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
});

export interface RetentionOutcome {
  readonly runId: string;
  readonly status: 'complete' | 'failed';
  readonly deletedSets: string[];
  readonly sweptObjects: number;
  readonly sweptBytes: number;
  readonly reportKey: string;
  readonly message: string;
}

/** Restores and drills give up after a day (their state machines' timeout). */
const RUN_TIMEOUT_HOURS = 24;
const RUN_ID_TIME = /^([bgrv])(\d{4})(\d{2})(\d{2})t(\d{2})(\d{2})(\d{2})z-[0-9a-f]{4}$/;

/**
 * Removes the work areas (`work/<runId>/`) that nothing will read again: a restore's and a drill's
 * are never removed by the run itself (a failed restore's plan tells the next attempt which partial
 * tree to clear), so they go once older than both the grace period and the longest such a run
 * lasts; a backup's goes once its manifest is final (Commit cleared it, but a shard still running
 * when its Map failed may have written after that). A backup still `running` keeps its own.
 */
async function removeStaleWorkAreas(rt: Runtime, currentRunId: string): Promise<number> {
  const hours = Math.max(retentionSettings(rt).graceHours, RUN_TIMEOUT_HOURS + 1);
  const cutoff = rt.now().getTime() - hours * 3_600_000;
  const byRun = new Map<string, string[]>();
  for await (const object of rt.store.list('work/')) {
    const runId = object.key.split('/')[1] ?? '';
    if (runId === currentRunId || !RUN_ID_TIME.test(runId)) continue;
    byRun.set(runId, [...(byRun.get(runId) ?? []), object.key]);
  }
  const stale: string[] = [];
  for (const [runId, keys] of byRun) {
    const [, kind, ...parts] = RUN_ID_TIME.exec(runId) ?? [];
    const [year, month, day, hour, minute, second] = parts.map(Number);
    const startedAt = Date.UTC(year ?? 0, (month ?? 1) - 1, day, hour, minute, second);
    let done = startedAt < cutoff;
    if (kind === 'b') {
      const manifest = await readManifest(rt.store, runId).catch(() => undefined);
      done = manifest ? manifest.status !== 'running' : done;
    }
    if (done) stale.push(...keys);
  }
  await rt.store.delete(stale);
  return stale.length;
}

/** Writes the final retention report, publishes metrics, releases the lock, clears the work area. */
export async function finishRetention(event: unknown, rt: Runtime): Promise<RetentionOutcome> {
  const { plan, failure } = parseInput(finishInputSchema, event, 'finish-retention input');
  const deletedSets: string[] = [];
  const artifacts: string[] = [];
  for await (const object of rt.store.list(`${retentionKeys.work(plan.runId)}deleted/`)) {
    const outcome = (await readJson(rt.store, object.key)) as { backupId: string; deleted: string[] };
    deletedSets.push(outcome.backupId);
    artifacts.push(...outcome.deleted);
  }
  let sweptObjects = 0;
  let sweptBytes = 0;
  for await (const object of rt.store.list(`${retentionKeys.work(plan.runId)}swept/`)) {
    const outcome = (await readJson(rt.store, object.key)) as { deleted: number; bytes: number };
    sweptObjects += outcome.deleted;
    sweptBytes += outcome.bytes;
  }
  const status = failure ? 'failed' : 'complete';
  const staleWorkObjects = failure ? 0 : await removeStaleWorkAreas(rt, plan.runId);
  const report = (await readJson(rt.store, plan.reportKey)) as Record<string, unknown>;
  const reason = failure ? `${failure.Error ?? 'Error'}: ${failure.Cause ?? ''}` : undefined;
  await rt.store.put(
    plan.reportKey,
    jsonBody({
      ...report,
      status,
      finishedAt: rt.now().toISOString(),
      deletedSets,
      deletedArtifacts: artifacts,
      garbageCollection: plan.gcBlocked ? { skipped: plan.gcBlocked } : { sweptObjects, sweptBytes },
      staleWorkObjects,
      ...(reason ? { failure: reason } : {}),
    }),
    { contentType: 'application/json' },
  );
  await deletePrefix(rt.store, storeKeys.workPrefix(plan.runId), () => true);
  await releaseBackupLock(rt.store, storeKeys.retentionLock, plan.runId);
  rt.metrics.publish([
    {
      name: 'RetentionDeletedSets',
      unit: MetricUnit.Count,
      value: deletedSets.length,
      dimensions: { Environment: rt.settings.environment },
    },
    {
      name: 'RetentionSweptBytes',
      unit: MetricUnit.Bytes,
      value: sweptBytes,
      dimensions: { Environment: rt.settings.environment },
    },
    {
      name: 'RetentionFailed',
      unit: MetricUnit.Count,
      value: failure ? 1 : 0,
      dimensions: { Environment: rt.settings.environment },
    },
  ]);
  return {
    runId: plan.runId,
    status,
    deletedSets,
    sweptObjects,
    sweptBytes,
    reportKey: plan.reportKey,
    message: `retention ${plan.runId} ${status}: deleted ${deletedSets.length} sets, collected ${sweptObjects} objects (${sweptBytes} bytes)${reason ? `; ${reason}` : ''}; report ${plan.reportKey}`,
  };
}
