import * as z from 'zod';
import { type ComponentName, componentNameSchema } from '#components/component.ts';
import { componentModule } from '#components/registry.ts';
import { CorruptBackupError, InvalidInputError, ObjectNotFoundError } from '#runtime/errors.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { configuredComponents } from '#runtime/settings.ts';
import { parseInput } from '#runtime/validate.ts';
import { recordAbandonedSet } from './abandoned-set.ts';
import { newBackupId } from './backup-id.ts';
import { siblingEndedStatus } from './executions.ts';
import { storeKeys } from './keys.ts';
import { acquireBackupLock, releaseBackupLock } from './lock.ts';
import { backupIdSchema, type Manifest, readLatest, readManifest, TOOL, writeManifest } from './manifest.ts';
import { selectionFlags } from './selection.ts';

/** The Backup execution input: what EventBridge Scheduler sends, or what someone types in the console. */
export const backupRequestSchema = z.strictObject({
  schedule: z.string().max(64).optional(),
  components: z.array(componentNameSchema).min(1).max(5).optional(),
  /** Who started it (recorded in the manifest). Not `source`: that is a component's name. */
  requestedBy: z.enum(['schedule', 'console', 'cli']).optional(),
  /**
   * Build on no earlier set: every file is read, and content the store lost is stored again (after
   * a drill found a damaged or missing object, which an incremental would go on referencing).
   */
  full: z.boolean().optional(),
});
export type BackupRequest = z.infer<typeof backupRequestSchema>;

/** What Begin hands to every branch (at `$.backup` in the Backup state machine). */
export const backupContextSchema = z.object({
  backupId: backupIdSchema,
  environment: z.string(),
  components: z.array(componentNameSchema),
  selected: z.record(componentNameSchema, z.boolean()),
  previousBackupId: backupIdSchema.optional(),
  startedAt: z.iso.datetime({ offset: true }),
  workPrefix: z.string(),
  /** Which capture hooks run (the workflow's Choice states read these flags). */
  hooks: z.object({ pre: z.boolean(), post: z.boolean(), continueOnPreHookFailure: z.boolean() }),
  /** Asked to build on no earlier set (the request's `full`). */
  full: z.boolean().optional(),
  /** Filled by the hook states: `{pre, post}` outcomes (or a caught `{Error, Cause}`). */
  hookOutcomes: z.record(z.string(), z.unknown()).default({}),
});
export type BackupContext = z.infer<typeof backupContextSchema>;

/**
 * What the Backup state machine hands Begin: the execution input and the execution's id, so that a
 * Begin retried after it took the lock (a timeout, a store error after the lock) resumes its own
 * run instead of finding "a backup is already running" and leaving the lock to go stale. Called
 * with a request alone (tests, tools), Begin behaves as an execution of its own.
 */
const beginInputSchema = z.strictObject({
  request: z.unknown(),
  executionId: z.string().min(1).max(2048),
});

export async function beginBackup(event: unknown, rt: Runtime): Promise<BackupContext> {
  const wrapped =
    typeof event === 'object' && event !== null && 'executionId' in event
      ? parseInput(beginInputSchema, event, 'Begin input')
      : undefined;
  const request = parseInput(
    backupRequestSchema,
    (wrapped ? wrapped.request : event) ?? {},
    'backup request',
  );
  const configured = configuredComponents(rt.settings).filter((name) => componentModule(name) !== undefined);
  const components = request.components ?? configured;
  const unavailable = components.filter((name) => !configured.includes(name));
  if (unavailable.length > 0) {
    throw new InvalidInputError(
      `components not configured in this deployment: ${unavailable.join(', ')}; configured: ${configured.join(', ') || '(none)'}`,
    );
  }
  if (components.length === 0) throw new InvalidInputError('no component is configured, nothing to back up');
  const ordered = configured.filter((name): name is ComponentName => components.includes(name));

  const started = rt.now();
  const fresh = newBackupId(started);
  // The lock comes first: a refused run must create nothing.
  const lock = await acquireBackupLock(
    rt.store,
    storeKeys.backupLock,
    fresh,
    started,
    rt.settings.lockTimeoutMinutes,
    {
      ...(wrapped ? { executionId: wrapped.executionId } : {}),
      ...(rt.process ? { process: rt.process } : {}),
      ...(wrapped
        ? { executionEnded: (holder: string) => executionEnded(rt, wrapped.executionId, holder) }
        : {}),
    },
  );
  const backupId = lock.resumed?.backupId ?? fresh;
  const now = lock.resumed ? new Date(lock.resumed.acquiredAt) : started;
  if (lock.resumed) rt.logger.info('Begin retried: resuming the run it started', { backupId });
  const takeover = lock.tookOverFrom
    ? {
        from: lock.tookOverFrom,
        why:
          lock.holderEnded !== undefined
            ? `${lock.holderEnded} without giving the lock back`
            : `it ran longer than ${rt.settings.lockTimeoutMinutes} minutes`,
      }
    : undefined;
  if (takeover)
    await recordAbandonedSet(rt, takeover.from, `${takeover.why}, and ${backupId} took over its lock`, now);
  try {
    return await writeRunningManifest(rt, {
      backupId,
      now,
      request,
      ordered,
      takeover,
      // The first attempt's manifest may say what this one cannot know again: whose lock it took over.
      earlierWarnings: lock.resumed ? await runningWarnings(rt, backupId) : [],
    });
  } catch (error) {
    // Nothing may be left holding the lock: the retry (or the next run) takes it afresh.
    await releaseBackupLock(rt.store, storeKeys.backupLock, backupId).catch(() => undefined);
    throw error;
  }
}

/** The warnings of the run's own running manifest, written by an earlier attempt of this Begin. */
async function runningWarnings(rt: Runtime, backupId: string): Promise<string[]> {
  try {
    const manifest = await readManifest(rt.store, backupId);
    return manifest.status === 'running' ? manifest.warnings : [];
  } catch (error) {
    // None written yet, or one this attempt rewrites whole anyway.
    if (error instanceof ObjectNotFoundError || error instanceof CorruptBackupError) return [];
    throw error;
  }
}

/** A lock taken over: from which run, and why that run counts as dead. */
interface Takeover {
  readonly from: string;
  readonly why: string;
}

/**
 * Why the execution holding the lock has ended, when Step Functions says so (both it and this run
 * are executions of the Backup state machine on AWS). Anything else counts as still running: the
 * lock then waits to go stale.
 */
async function executionEnded(rt: Runtime, own: string, holder: string): Promise<string | undefined> {
  const status = await siblingEndedStatus(rt.logger, own, holder, 'the lock holder');
  return status === undefined ? undefined : `its execution had ended (${status})`;
}

/**
 * The set this backup builds on: `latest`. A damaged pointer must not stop every backup after it:
 * this one then builds on no set (its files are all read again) and its Commit writes the pointer
 * anew. A store that cannot be read at all still fails Begin, which is retried.
 */
async function latestToBuildOn(rt: Runtime): Promise<{ previousBackupId?: string; unreadable?: string }> {
  try {
    const previousBackupId = await readLatest(rt.store);
    return previousBackupId ? { previousBackupId } : {};
  } catch (error) {
    if (!(error instanceof CorruptBackupError)) throw error;
    const unreadable = `${storeKeys.latest} cannot be read (${error.message}): this backup builds on no earlier set and reads every file again; its Commit writes the pointer anew`;
    rt.logger.warn(unreadable);
    return { unreadable };
  }
}

async function writeRunningManifest(
  rt: Runtime,
  run: {
    backupId: string;
    now: Date;
    request: BackupRequest;
    ordered: ComponentName[];
    takeover: Takeover | undefined;
    earlierWarnings: readonly string[];
  },
): Promise<BackupContext> {
  const { backupId, now, request, ordered, takeover, earlierWarnings } = run;
  const { previousBackupId, unreadable } = request.full ? {} : await latestToBuildOn(rt);
  const manifest: Manifest = {
    schemaVersion: 1,
    backupId,
    environment: rt.settings.environment,
    status: 'running',
    trigger: {
      source: request.requestedBy ?? (request.schedule ? 'schedule' : 'console'),
      ...(request.schedule ? { schedule: request.schedule } : {}),
      ...(request.full ? { full: true as const } : {}),
    },
    components: ordered,
    ...(previousBackupId ? { previousBackupId } : {}),
    startedAt: now.toISOString(),
    tool: TOOL,
    results: {},
    // A resumed Begin finds again what it can still see (an unreadable pointer): said once.
    warnings: [
      ...new Set([
        ...earlierWarnings,
        ...(takeover ? [`took over the lock of ${takeover.from}: ${takeover.why}`] : []),
        ...(unreadable ? [unreadable] : []),
      ]),
    ],
  };
  await writeManifest(rt.store, manifest);
  rt.logger.appendKeys({ backupId });
  rt.logger.info('backup started', { components: ordered, previousBackupId });
  return {
    backupId,
    environment: rt.settings.environment,
    components: ordered,
    selected: selectionFlags(ordered),
    ...(previousBackupId ? { previousBackupId } : {}),
    ...(request.full ? { full: true } : {}),
    startedAt: now.toISOString(),
    workPrefix: storeKeys.workPrefix(backupId),
    hooks: {
      pre: rt.settings.hooks?.pre !== undefined,
      post: rt.settings.hooks?.post !== undefined,
      continueOnPreHookFailure: rt.settings.hooks?.onPreHookFailure === 'continue',
    },
    hookOutcomes: {},
  };
}

export const handler = lambdaHandler(beginBackup);
