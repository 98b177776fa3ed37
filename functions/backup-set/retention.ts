import * as z from 'zod';
import { mapLimit } from '#components/files/limit.ts';
import { COMPONENT_MODULES, componentModule } from '#components/registry.ts';
import {
  asError,
  CorruptBackupError,
  describeIssues,
  LiferayBackupError,
  ObjectNotFoundError,
} from '#runtime/errors.ts';
import { hostProcessSchema } from '#runtime/host-process.ts';
import { MetricUnit } from '#runtime/metrics.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { type ContentStore, jsonBody, readJson } from '#store/content-store.ts';
import { newRunId } from './backup-id.ts';
import { resultsFromBranches } from './branch-output.ts';
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

/** The Retention state machine's time-out (cdk/retention.ts): a run never lasts longer. */
export const RETENTION_WORKFLOW_HOURS = 12;
/**
 * A retention lock older than this is taken over. Longer than a run may last, so that a slow run
 * (a large sweep) is never joined by the next one while it still deletes.
 */
const RETENTION_LOCK_MINUTES = (RETENTION_WORKFLOW_HOURS + 1) * 60;
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

/**
 * What the Retention state machine hands Plan: the execution input and the execution's id. Step
 * Functions retries Plan on Lambda.ServiceException & co, which also arrive when Plan ran to its end
 * and only its answer was lost: with the id in the lock, the retry goes on with the run it planned
 * instead of refusing itself as "already running" (as Begin does). Called with a request alone
 * (tests, tools), Plan behaves as an execution of its own.
 */
const planInputSchema = z.strictObject({
  request: z.unknown(),
  executionId: z.string().min(1).max(2048),
});

/**
 * What is read back of a retention report: its earlier warnings (a resumed Plan) and its outcome (a
 * retried Finish). Loose: a report is rewritten whole, with the fields this does not read.
 */
const retentionReportSchema = z.looseObject({
  status: z.enum(['running', 'complete', 'failed']),
  warnings: z.array(z.string()).optional(),
  deletedSets: z.array(z.string()).optional(),
  garbageCollection: z
    .object({
      sweptObjects: z.number().int().min(0).optional(),
      sweptBytes: z.number().min(0).optional(),
      heldByObjectLock: z.number().int().min(0).optional(),
      skipped: z.string().optional(),
    })
    .optional(),
  failure: z.string().optional(),
  postponedSets: z.array(z.object({ backupId: z.string(), reason: z.string() })).optional(),
  decisions: z
    .array(z.looseObject({ backupId: z.string(), keep: z.boolean(), reasons: z.array(z.string()) }))
    .optional(),
});
type RetentionReport = z.infer<typeof retentionReportSchema>;

/** What DeleteSet records of one set (work/<run>/retention/deleted/<id>.json), for Finish. */
const deletedOutcomeSchema = z.object({
  backupId: backupIdSchema,
  deleted: z.array(z.string()),
  objects: z.number().int().min(0),
});
/**
 * What DeleteSet records of a set it left in place (work/<run>/retention/postponed/<id>.json), for
 * Finish: the set could not be deleted now, and the next run decides about it again.
 */
const postponedOutcomeSchema = z.object({ backupId: backupIdSchema, reason: z.string() });
/** What Sweep records of one prefix (work/<run>/retention/swept/<index>.json), for Finish. */
export const sweptOutcomeSchema = z.object({
  prefix: z.string(),
  referenced: z.number().int().min(0),
  deleted: z.number().int().min(0),
  bytes: z.number().min(0),
  /** Unreferenced objects left because Object Lock still holds them (a later run collects them). */
  heldByObjectLock: z.number().int().min(0).default(0),
});
/**
 * How large a Sweep record may be: while a delete is in flight it also lists what it deletes, up to
 * one batch of 1,000 objects, each under a key of up to 1,024 characters (garbage-collection.ts).
 */
export const SWEPT_RECORD_MAX_BYTES = 4 * 1024 * 1024;

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
  /** The folders of the records DeleteSet and Sweep write, one per set or prefix: Finish lists them. */
  deletedRecords: (runId: string) => `${storeKeys.workPrefix(runId)}retention/deleted/`,
  postponedRecords: (runId: string) => `${storeKeys.workPrefix(runId)}retention/postponed/`,
  sweptRecords: (runId: string) => `${storeKeys.workPrefix(runId)}retention/swept/`,
  deleted: (runId: string, backupId: string) => `${retentionKeys.deletedRecords(runId)}${backupId}.json`,
  postponed: (runId: string, backupId: string) => `${retentionKeys.postponedRecords(runId)}${backupId}.json`,
  swept: (runId: string, index: number) =>
    `${retentionKeys.sweptRecords(runId)}${String(index).padStart(4, '0')}.json`,
};

export function retentionSettings(rt: Runtime): RetentionSettings {
  return rt.settings.retention ?? retentionSettingsSchema.parse({});
}

/** A restore or drill still reading a set: its report under backups/<id>/restores/ or verifications/. */
interface SetReader {
  readonly kind: 'restore' | 'drill';
  readonly id: string;
  readonly startedAt: string;
}

/** The first restore or drill whose report is still running and recent, if any. */
async function readerOf(store: ContentStore, backupId: string, now: Date): Promise<SetReader | undefined> {
  for await (const { kind, id, key } of runReportsOf(store, backupId)) {
    try {
      const report = runReportSchema.safeParse(await readJson(store, key, 1024 * 1024));
      if (report.success && howRunEnded(report.data, now) === undefined)
        return { kind, id, startedAt: report.data.startedAt };
    } catch {
      // An unreadable report does not make a set in use.
    }
  }
  return undefined;
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
      inUse: (await readerOf(rt.store, backupId, now)) !== undefined,
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
  const wrapped =
    typeof event === 'object' && event !== null && 'executionId' in event
      ? parseInput(planInputSchema, event, 'Plan retention input')
      : undefined;
  const request = parseInput(
    retentionRequestSchema,
    (wrapped ? wrapped.request : event) ?? {},
    'retention request',
  );
  const settings = retentionSettings(rt);
  const started = rt.now();
  const fresh = newRunId('g', started);
  if (request.dryRun) return writePlan(rt, { request, settings, runId: fresh, now: started, warnings: [] });
  // A CLI run records its process: the next run takes the lock over at once if that process died.
  const lock = await acquireBackupLock(
    rt.store,
    storeKeys.retentionLock,
    fresh,
    started,
    RETENTION_LOCK_MINUTES,
    {
      ...(wrapped ? { executionId: wrapped.executionId } : {}),
      ...(rt.process ? { process: rt.process } : {}),
    },
  );
  const runId = lock.resumed?.backupId ?? fresh;
  // A resumed run keeps its first start: its id, its report and the ages the policy sees agree.
  const now = lock.resumed ? new Date(lock.resumed.acquiredAt) : started;
  const warnings: string[] = [];
  try {
    if (lock.resumed) {
      rt.logger.info('Plan retention retried: resuming the run it planned', { runId });
      // The first attempt's report may hold what this one cannot know again: whose lock it took over.
      warnings.push(...(await earlierWarnings(rt.store, storeKeys.retentionReport(runId))));
    }
    if (lock.tookOverFrom) {
      const warning = `took over the lock of retention run ${lock.tookOverFrom}: ${lock.holderEnded ?? `it ran longer than ${RETENTION_LOCK_MINUTES} minutes`} without giving the lock back (this run finishes any deletion it began)`;
      warnings.push(warning);
      rt.logger.warn(warning);
    }
    return await writePlan(rt, { request, settings, runId, now, warnings });
  } catch (error) {
    await givePlanUp(rt, runId, now, warnings, error);
    throw error;
  }
}

async function earlierWarnings(store: ContentStore, reportKey: string): Promise<string[]> {
  try {
    return (await readRetentionReport(store, reportKey)).warnings ?? [];
  } catch (error) {
    // None written yet, or one this attempt rewrites whole anyway.
    if (error instanceof ObjectNotFoundError || error instanceof CorruptBackupError) return [];
    throw error;
  }
}

/**
 * A Plan that failed after taking the lock gives it back: no set is touched before Plan answers, so
 * the retry (or the next run) may start afresh at once instead of waiting thirteen hours for the lock to
 * go stale. Its report is recorded failed, keeping its warnings (a takeover is said nowhere else).
 * Best effort: the store that failed Plan may fail these too, and Plan's own error is what counts.
 */
async function givePlanUp(
  rt: Runtime,
  runId: string,
  startedAt: Date,
  warnings: readonly string[],
  error: unknown,
): Promise<void> {
  await releaseBackupLock(rt.store, storeKeys.retentionLock, runId).catch(() => undefined);
  const reportKey = storeKeys.retentionReport(runId);
  try {
    const earlier = await readRetentionReport(rt.store, reportKey).catch(() => undefined);
    const cause = asError(error);
    await rt.store.put(
      reportKey,
      jsonBody({
        ...(earlier ?? { runId, dryRun: false, startedAt: startedAt.toISOString(), decisions: [] }),
        status: 'failed',
        finishedAt: rt.now().toISOString(),
        deletedSets: [],
        ...(warnings.length > 0
          ? { warnings: [...new Set([...(earlier?.warnings ?? []), ...warnings])] }
          : {}),
        failure: `planning failed: ${cause.name}: ${cause.message}`,
      }),
      { contentType: 'application/json' },
    );
  } catch (recordError) {
    rt.logger.warn('could not record the failed retention plan', {
      runId,
      error: asError(recordError).message,
    });
  }
}

/** Decides, writes the report and the Map states' item lists, and returns the plan. */
async function writePlan(
  rt: Runtime,
  run: {
    request: z.infer<typeof retentionRequestSchema>;
    settings: RetentionSettings;
    runId: string;
    now: Date;
    warnings: string[];
  },
): Promise<RetentionPlan> {
  const { request, settings, runId, now, warnings } = run;
  const facts = await gatherFacts(rt, settings, now);
  // A damaged pointer: the newest complete set is what it records, and is kept as the latest.
  const { backupId: latest, warning: latestWarning } = await resolveLatest(rt.store);
  if (latestWarning) {
    // A resumed Plan finds it again in the first attempt's warnings.
    if (!warnings.includes(latestWarning)) warnings.push(latestWarning);
    rt.logger.warn(latestWarning);
  }
  const interrupted = new Set(await interruptedDeletions(rt.store));
  const links = chainLinks(facts, latest);
  // A set whose deletion an earlier run started has lost what it deleted first (its snapshots, its
  // index) and every restore refuses it: it is no copy to keep, whatever the policy says now (raised
  // since, or a newer set unreadable), and marking its content would fail every run from now on. Its
  // deletion is finished, and it takes no place among the sets the policy keeps.
  // (One whose manifest cannot be read is left for a person, as any unreadable set.)
  const unfinished = (fact: SetFacts) =>
    interrupted.has(fact.backupId) && fact.backupId !== latest && fact.status !== 'unreadable';
  const decided = new Map(
    decideRetention(
      facts.filter((fact) => !unfinished(fact)),
      settings.policy,
      now,
    ).map((decision) => [decision.backupId, decision]),
  );
  const decisions: RetentionDecision[] = facts.map((fact) => {
    const decision = decided.get(fact.backupId);
    if (!decision)
      return {
        backupId: fact.backupId,
        keep: false,
        reasons: ['its deletion was started by an earlier run'],
      };
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
    return decision;
  });
  // A deletion cut off after it removed the manifest (or a report written under a set being
  // deleted): no manifest, so no facts, but objects and the marker are left; DeleteSet removes them.
  const known = new Set(facts.map((fact) => fact.backupId));
  for (const backupId of [...interrupted].sort())
    if (!known.has(backupId) && backupId !== latest)
      decisions.push({
        backupId,
        keep: false,
        reasons: ['its deletion was started by an earlier run, which removed its manifest already'],
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
    // The sets planned for deletion are marked too: one DeleteSet postponed is still there, still
    // restorable, and the sweep must keep what it references (one it deleted marks nothing).
    await rt.store.put(
      plan.keepKey,
      JSON.stringify([...markable, ...toDelete].map((backupId) => ({ backupId }))),
    );
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

/** What DeleteSet answers: what it deleted of the set, or why it left the set in place. */
export interface DeleteSetOutcome {
  readonly backupId: string;
  readonly deleted: string[];
  readonly objects: number;
  /** Set when the set was left in place, whole and restorable: why, for the report and the SRE. */
  readonly postponed?: string;
}

/** A set's deletion marker (`backups/<id>/deleting.json`) as DeleteSet writes it. */
const deletionMarkerSchema = z.object({ runId: z.string(), deleting: z.boolean().optional() });

/**
 * The set's deletion marker, or undefined when there is none or it cannot be read as one. Read by
 * DeleteSet (who began deleting the set) and by Mark (whether a postponed set lost parts).
 */
export async function readDeletionMarker(
  store: ContentStore,
  backupId: string,
): Promise<z.infer<typeof deletionMarkerSchema> | undefined> {
  try {
    const marker = deletionMarkerSchema.safeParse(
      await readJson(store, storeKeys.deletionMarker(backupId), 64 * 1024),
    );
    return marker.success ? marker.data : undefined;
  } catch (error) {
    if (error instanceof ObjectNotFoundError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/**
 * Who began deleting the set, when someone did: an earlier retention run (its marker), or an
 * earlier attempt of this DeleteSet that got past its checks (it flags the marker `deleting` before
 * it deletes anything), or one of an earlier version (a deploy during the run), whose marker has no
 * `deleting` field. Such a set has lost parts already, or may have: it is no copy any more.
 */
async function deletionBegunBy(rt: Runtime, backupId: string, runId: string): Promise<string | undefined> {
  const marker = await readDeletionMarker(rt.store, backupId);
  if (!marker) return undefined;
  if (marker.runId !== runId) return `retention run ${marker.runId}`;
  // Unflagged (no field at all): an attempt of an earlier version, which deleted without flagging.
  return marker.deleting !== false ? `an earlier attempt of this run (${runId})` : undefined;
}

/**
 * Deletes one set: a marker first (Validate refuses the set from then on), the components' own
 * artifacts (snapshots), its dumps and store objects, the manifest last. Re-running it after a
 * failure finishes the job.
 *
 * A set that cannot be deleted right now is postponed, not failed: a restore or drill started
 * reading it after the plan was made, or a component says it must wait (a search snapshot still
 * IN_PROGRESS). It is left as it was (its marker taken back, nothing of it deleted), recorded for
 * Finish, and the run goes on: the other sets and the garbage collection (which marks it, Plan put
 * it in the mark list) do not wait days for a restore or a stuck snapshot, and no alarm fires for
 * a set that is merely busy. The next run decides about it again.
 */
export async function deleteSet(event: unknown, rt: Runtime): Promise<DeleteSetOutcome> {
  const { runId, backupId } = parseInput(deleteSetInputSchema, event, 'delete-set input');
  if ((await resolveLatest(rt.store)).backupId === backupId) {
    throw new RetentionRefusedError(`refusing to delete ${backupId}: it is the latest complete set`);
  }
  rt.logger.appendKeys({ backupId });
  // A set whose deletion began has lost parts (or may have) and every restore refuses it: its marker
  // stays whatever happens here, so that the next run finishes it.
  const begunBy = await deletionBegunBy(rt, backupId, runId);
  const marker = (deleting: boolean) =>
    rt.store.put(
      storeKeys.deletionMarker(backupId),
      // `deleting` is always written: a marker of this run without it was written by an earlier
      // version, whose attempt may have deleted parts before it died (deletionBegunBy).
      jsonBody({ runId, at: rt.now().toISOString(), deleting }),
    );
  await marker(begunBy !== undefined);
  const postpone = async (reason: string): Promise<DeleteSetOutcome> => {
    if (!begunBy) await rt.store.delete([storeKeys.deletionMarker(backupId)]);
    const why = begunBy
      ? `${reason}; its deletion, begun by ${begunBy}, is finished by the next run`
      : `kept until the next retention run: ${reason}`;
    await rt.store.put(retentionKeys.postponed(runId, backupId), JSON.stringify({ backupId, reason: why }));
    rt.logger.warn('backup set not deleted this run', { backupId, reason: why });
    return { backupId, deleted: [], objects: 0, postponed: why };
  };
  // A restore or drill that started reading the set after the plan was made: the marker is taken
  // back and the deletion waits for the next run (retrying here would not help: a restore lasts
  // hours). Validate writes its report before looking for the marker, so one of the two always
  // sees the other.
  const reader = await readerOf(rt.store, backupId, rt.now());
  if (reader) {
    return postpone(
      `a ${reader.kind === 'restore' ? 'restore' : 'restore drill'} (${reader.id}) started reading it at ${reader.startedAt}, after this retention run planned its deletion`,
    );
  }
  const deleted: string[] = [];
  let manifestFound = false;
  try {
    const manifest = await readManifest(rt.store, backupId);
    manifestFound = true;
    // A run that ended before Commit (stopped, timed out, abandoned) recorded no result for the
    // components it began, yet they may have made something (a snapshot named after the set): their
    // hooks get the failed result Commit would have written, and look for it by the set's name.
    const unrecorded = resultsFromBranches(
      [],
      manifest.components.filter((name) => manifest.results[name] === undefined),
    );
    const results = [...Object.values(manifest.results), ...unrecorded.values()];
    // Every component is asked before any deletes: one waiting must find the others' parts in place.
    const waits: string[] = [];
    for (const result of results) {
      const wait = await componentModule(result.component)?.retention?.postponeDeletion?.(
        { backupId, result },
        rt,
      );
      if (wait) waits.push(wait);
    }
    if (waits.length > 0) return await postpone(waits.join('; '));
    // From here on parts go: a retry (or a restore racing it) must never find the set whole again.
    if (!begunBy) await marker(true);
    for (const result of results) {
      const hooks = componentModule(result.component)?.retention;
      if (hooks?.deleteArtifacts) deleted.push(...(await hooks.deleteArtifacts({ backupId, result }, rt)));
    }
  } catch (error) {
    // A set whose manifest is already gone (a deletion interrupted at its very end) has nothing else to delete.
    if (!(error instanceof ObjectNotFoundError)) throw error;
    if (!begunBy && !manifestFound) await marker(true);
  }
  let objects = await deletePrefix(rt.store, storeKeys.dumpsPrefix(backupId), () => true);
  const keepForLast = new Set([storeKeys.manifest(backupId), storeKeys.deletionMarker(backupId)]);
  objects += await deletePrefix(rt.store, storeKeys.backupPrefix(backupId), (key) => !keepForLast.has(key));
  await rt.store.delete([storeKeys.manifest(backupId)]);
  await rt.store.delete([storeKeys.deletionMarker(backupId)]);
  // A retry of an attempt that ran to its end finds the set gone: what it deleted (the names of the
  // snapshots above all, which nothing else records) is added to, never replaced by "nothing".
  const key = retentionKeys.deleted(runId, backupId);
  const earlier = await earlierOutcome(rt, key, deletedOutcomeSchema);
  const outcome = {
    backupId,
    deleted: [...new Set([...(earlier?.deleted ?? []), ...deleted])],
    // The manifest counts when this attempt found it (a retry finds it gone).
    objects: (earlier?.objects ?? 0) + objects + (manifestFound ? 1 : 0),
  };
  await rt.store.put(key, JSON.stringify(outcome));
  rt.logger.info('backup set deleted', outcome);
  return outcome;
}

/**
 * The outcome an earlier attempt of the same Map item recorded, if any: Step Functions retries an
 * item also when it ran to its end and only its answer was lost, and the retry finds done what that
 * attempt did. One that cannot be read is replaced (Finish could not read it either), and said so.
 */
export async function earlierOutcome<T>(
  rt: Runtime,
  key: string,
  schema: z.ZodType<T>,
  maxBytes = 1024 * 1024,
): Promise<T | undefined> {
  let raw: unknown;
  try {
    raw = await readJson(rt.store, key, maxBytes);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return undefined;
    if (!(error instanceof SyntaxError)) throw error;
    raw = undefined;
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  rt.logger.warn('an earlier attempt left an outcome that cannot be read: it is replaced', { key });
  return undefined;
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

export interface PostponedSet {
  readonly backupId: string;
  readonly reason: string;
}

export interface RetentionOutcome {
  readonly runId: string;
  readonly status: 'complete' | 'failed';
  readonly deletedSets: string[];
  /** Sets planned for deletion but left in place, whole: the run still ends complete (a warning). */
  readonly postponedSets: PostponedSet[];
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

/** A Map item's outcome, as Finish counts it. */
async function recordedOutcome<T>(
  store: ContentStore,
  key: string,
  schema: z.ZodType<T>,
  maxBytes = 1024 * 1024,
): Promise<T> {
  const parsed = schema.safeParse(await readJson(store, key, maxBytes));
  if (!parsed.success)
    throw new CorruptBackupError(`${key} is not a valid outcome: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}

/** Reads a retention report back, validated; ObjectNotFoundError when there is none. */
async function readRetentionReport(store: ContentStore, key: string): Promise<RetentionReport> {
  let raw: unknown;
  try {
    raw = await readJson(store, key);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new CorruptBackupError(error.message, { cause: error });
  }
  const parsed = retentionReportSchema.safeParse(raw);
  if (!parsed.success)
    throw new CorruptBackupError(
      `the retention report ${key} is not valid: ${describeIssues(parsed.error.issues)}`,
    );
  return parsed.data;
}

/** Writes the final retention report, publishes metrics, releases the lock, clears the work area. */
export async function finishRetention(event: unknown, rt: Runtime): Promise<RetentionOutcome> {
  const { plan, failure } = parseInput(finishInputSchema, event, 'finish-retention input');
  const recorded = await readRetentionReport(rt.store, plan.reportKey);
  if (recorded.status !== 'running') return finishedBefore(rt, plan, recorded, recorded.status);
  const deletedSets: string[] = [];
  const artifacts: string[] = [];
  for await (const object of rt.store.list(retentionKeys.deletedRecords(plan.runId))) {
    const outcome = await recordedOutcome(rt.store, object.key, deletedOutcomeSchema);
    deletedSets.push(outcome.backupId);
    artifacts.push(...outcome.deleted);
  }
  const postponedSets: PostponedSet[] = [];
  for await (const object of rt.store.list(retentionKeys.postponedRecords(plan.runId))) {
    const outcome = await recordedOutcome(rt.store, object.key, postponedOutcomeSchema);
    // A retried DeleteSet that postponed first and deleted on its retry: the set went.
    if (!deletedSets.includes(outcome.backupId)) postponedSets.push(outcome);
  }
  for (const set of postponedSets) rt.logger.warn('backup set kept until the next retention run', { ...set });
  const postponedWarnings = postponedSets.map((set) => `set ${set.backupId} not deleted: ${set.reason}`);
  const postponedIds = new Map(postponedSets.map((set) => [set.backupId, set.reason]));
  let sweptObjects = 0;
  let sweptBytes = 0;
  let heldByObjectLock = 0;
  for await (const object of rt.store.list(retentionKeys.sweptRecords(plan.runId))) {
    const outcome = await recordedOutcome(rt.store, object.key, sweptOutcomeSchema, SWEPT_RECORD_MAX_BYTES);
    sweptObjects += outcome.deleted;
    sweptBytes += outcome.bytes;
    heldByObjectLock += outcome.heldByObjectLock;
  }
  const status = failure ? 'failed' : 'complete';
  const staleWorkObjects = failure ? 0 : await removeStaleWorkAreas(rt, plan.runId);
  const reason = failure ? `${failure.Error ?? 'Error'}: ${failure.Cause ?? ''}` : undefined;
  const warnings = [...new Set([...(recorded.warnings ?? []), ...postponedWarnings])];
  await rt.store.put(
    plan.reportKey,
    jsonBody({
      ...recorded,
      status,
      finishedAt: rt.now().toISOString(),
      // The plan said delete; what happened is that the set stays, and why (the CLI prints this).
      ...(recorded.decisions
        ? {
            decisions: recorded.decisions.map((decision) => {
              const reason = postponedIds.get(decision.backupId);
              return reason ? { ...decision, keep: true, postponed: true, reasons: [reason] } : decision;
            }),
          }
        : {}),
      ...(warnings.length > 0 ? { warnings } : {}),
      deletedSets,
      ...(postponedSets.length > 0 ? { postponedSets } : {}),
      deletedArtifacts: artifacts,
      garbageCollection: plan.gcBlocked
        ? { skipped: plan.gcBlocked }
        : { sweptObjects, sweptBytes, ...(heldByObjectLock > 0 ? { heldByObjectLock } : {}) },
      staleWorkObjects,
      ...(reason ? { failure: reason } : {}),
    }),
    { contentType: 'application/json' },
  );
  await deletePrefix(rt.store, storeKeys.workPrefix(plan.runId), () => true);
  await releaseBackupLock(rt.store, storeKeys.retentionLock, plan.runId);
  const outcome = retentionOutcome(plan, {
    status,
    deletedSets,
    postponedSets,
    sweptObjects,
    sweptBytes,
    reason,
  });
  publishRetentionMetrics(rt, outcome);
  return outcome;
}

/**
 * Finish retried after it wrote the final report (Step Functions retries it also when it ran to its
 * end and only its answer was lost): the work area it counted is gone, and counting again would
 * rewrite the report as "deleted nothing". The report stands and its outcome is returned. Only what
 * the earlier attempt may have stopped short of is done: its work area, its lock, and then (they
 * follow the lock) its metrics, published only when it still held the lock, never twice.
 */
async function finishedBefore(
  rt: Runtime,
  plan: RetentionPlan,
  report: RetentionReport,
  status: RetentionOutcome['status'],
): Promise<RetentionOutcome> {
  await deletePrefix(rt.store, storeKeys.workPrefix(plan.runId), () => true);
  const released = await releaseBackupLock(rt.store, storeKeys.retentionLock, plan.runId);
  const outcome = retentionOutcome(plan, {
    status,
    deletedSets: report.deletedSets ?? [],
    postponedSets: report.postponedSets ?? [],
    sweptObjects: report.garbageCollection?.sweptObjects ?? 0,
    sweptBytes: report.garbageCollection?.sweptBytes ?? 0,
    reason: report.failure,
  });
  if (released) publishRetentionMetrics(rt, outcome);
  rt.logger.info('Finish retention retried: the run was already finished', { runId: plan.runId, released });
  return outcome;
}

function retentionOutcome(
  plan: RetentionPlan,
  run: {
    status: RetentionOutcome['status'];
    deletedSets: string[];
    postponedSets: PostponedSet[];
    sweptObjects: number;
    sweptBytes: number;
    reason: string | undefined;
  },
): RetentionOutcome {
  const { status, deletedSets, postponedSets, sweptObjects, sweptBytes, reason } = run;
  const postponed = postponedSets.map((set) => `; set ${set.backupId} not deleted: ${set.reason}`).join('');
  return {
    runId: plan.runId,
    status,
    deletedSets,
    postponedSets,
    sweptObjects,
    sweptBytes,
    reportKey: plan.reportKey,
    message: `retention ${plan.runId} ${status}: deleted ${deletedSets.length} sets${postponedSets.length > 0 ? `, kept ${postponedSets.length} until the next run` : ''}, collected ${sweptObjects} objects (${sweptBytes} bytes)${postponed}${reason ? `; ${reason}` : ''}; report ${plan.reportKey}`,
  };
}

function publishRetentionMetrics(rt: Runtime, outcome: RetentionOutcome): void {
  rt.metrics.publish([
    {
      name: 'RetentionDeletedSets',
      unit: MetricUnit.Count,
      value: outcome.deletedSets.length,
      dimensions: { Environment: rt.settings.environment },
    },
    {
      // A set kept over and over (a search snapshot stuck IN_PROGRESS) shows here: the run itself succeeds.
      name: 'RetentionPostponedSets',
      unit: MetricUnit.Count,
      value: outcome.postponedSets.length,
      dimensions: { Environment: rt.settings.environment },
    },
    {
      name: 'RetentionSweptBytes',
      unit: MetricUnit.Bytes,
      value: outcome.sweptBytes,
      dimensions: { Environment: rt.settings.environment },
    },
    {
      name: 'RetentionFailed',
      unit: MetricUnit.Count,
      value: outcome.status === 'failed' ? 1 : 0,
      dimensions: { Environment: rt.settings.environment },
    },
  ]);
}
