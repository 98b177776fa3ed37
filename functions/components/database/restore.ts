import type { DBInstance } from '@aws-sdk/client-rds';
import * as z from 'zod';
import { backupIdSchema, readManifest } from '#backup-set/manifest.ts';
import { assertRestoreLocksHeld } from '#backup-set/restore-lock.ts';
import {
  type ComponentRestoreResult,
  RESULT_ERROR_MESSAGE_CHARS,
  withinResultBudget,
} from '#components/component.ts';
import {
  asError,
  asStepFunctionsError,
  CorruptBackupError,
  describeIssues,
  InvalidInputError,
  RetryableError,
} from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { componentSettings } from '#runtime/settings.ts';
import { parseInput } from '#runtime/validate.ts';
import { describeConnection } from './connection.ts';
import { resolveConnection } from './credentials.ts';
import { restoreDumpFromStore } from './dump.ts';
import {
  DatabaseNameConflictError,
  DatabaseOperationFailedError,
  DatabaseWaitTimeoutError,
} from './errors.ts';
import { restoredDatabaseName, TAG_RESTORE_ID } from './naming.ts';
import { type RestoreProgress, restoreProgressSchema } from './progress.ts';
import {
  createInstance,
  describeCluster,
  describeInstance,
  isErrorNamed,
  restoreCluster,
  restoreInstance,
  tagValue,
  translateRdsError,
} from './rds-adapter.ts';
import {
  CLI_FLAGS,
  checkDatabaseRestore,
  configuredTargetProblems,
  FAILED_RESTORE_STATES,
  planClusterRestore,
  planInstanceRestore,
} from './rds-plan.ts';
import {
  type DatabaseDetails,
  databaseDetailsSchema,
  databaseRestoreRequestSchema,
  databaseSettingsSchema,
} from './schemas.ts';

/** Only what the database handlers read of the Restore workflow's `$.restore`. */
const restoreRefSchema = z.looseObject({
  restoreId: z.string().regex(/^r\d{8}t\d{6}z-[0-9a-f]{4}$/),
  backupId: backupIdSchema,
  requests: z.record(z.string(), z.unknown()).default({}),
});
const startEventSchema = z.looseObject({ restore: restoreRefSchema });
const checkEventSchema = z.looseObject({ restore: restoreRefSchema, database: restoreProgressSchema });

async function recordedDetails(rt: Runtime, backupId: string): Promise<DatabaseDetails> {
  const manifest = await readManifest(rt.store, backupId);
  const result = manifest.results.database;
  if (result?.status !== 'complete') {
    throw new InvalidInputError(`backup set ${backupId} holds no complete database backup`);
  }
  const parsed = databaseDetailsSchema.safeParse(result.details);
  if (!parsed.success) {
    throw new CorruptBackupError(
      `the database details of ${backupId} are not readable: ${describeIssues(parsed.error.issues)}`,
    );
  }
  return parsed.data;
}

function restored(
  startedAt: string,
  finishedAt: string,
  warnings: string[],
  summary: ComponentRestoreResult['summary'],
  details: Record<string, unknown>,
): ComponentRestoreResult {
  return withinResultBudget({
    component: 'database',
    status: 'complete',
    startedAt,
    finishedAt,
    warnings,
    summary,
    details,
  });
}

/**
 * Starts the restore into a NEW instance or cluster (never in place, nothing deleted), or for a
 * dump streams it into the target database (refused when not empty unless overwrite).
 */
export async function startRestore(event: unknown, rt: Runtime): Promise<RestoreProgress> {
  const { restore } = parseInput(startEventSchema, event, 'database restore event');
  const request = parseInput(
    databaseRestoreRequestSchema,
    restore.requests.database ?? {},
    'database restore request',
  );
  const details = await recordedDetails(rt, restore.backupId);
  const problems = checkDatabaseRestore(details, request);
  if (problems.length > 0) throw new InvalidInputError(`database restore request: ${problems.join('; ')}`);
  const settings = componentSettings(rt.settings, 'database', databaseSettingsSchema);
  // Validate refuses these before any component restores; checked again here for a branch started
  // with settings Validate did not see.
  const refused = configuredTargetProblems(details, settings);
  if (refused.length > 0) throw new InvalidInputError(`database restore request: ${refused.join('; ')}`);
  const startedAt = rt.now().toISOString();
  const base = {
    done: false,
    attempt: 0,
    waitSeconds: settings.waitIntervalSeconds,
    startedAt,
    warnings: [] as string[],
  };
  const context = {
    environment: rt.settings.environment,
    backupId: restore.backupId,
    restoreId: restore.restoreId,
  };

  if (details.mode === 'dump') {
    // A redriven execution starts here again, never at Validate: the target database may be
    // another restore's by now (RDS restores take no lock: they create a new instance).
    await assertRestoreLocksHeld(rt, restore);
    if (settings.mode !== 'dump') {
      throw new InvalidInputError(
        `this set holds a dump: restore it with a dump-mode configuration (CLI: ${CLI_FLAGS.url})`,
      );
    }
    const connection = await resolveConnection(settings);
    const targetDatabase =
      request.targetDatabase ?? restoredDatabaseName(details.database, restore.restoreId);
    const outcome = await restoreDumpFromStore({
      store: rt.store,
      details,
      connection,
      targetDatabase,
      overwrite: request.overwrite,
      restoreId: restore.restoreId,
      backupId: restore.backupId,
      scratchDir: rt.scratchDir,
      maintenanceDatabase: settings.maintenanceDatabase,
      ...(settings.toolsDir ? { toolsDir: settings.toolsDir } : {}),
      onProgress: (bytes) => rt.progress(`database: loaded ${(bytes / 1048576).toFixed(0)} MiB`),
    });
    const target = describeConnection(connection, targetDatabase);
    rt.logger.info('database dump restored', { target, bytes: outcome.bytes });
    const result = restored(
      startedAt,
      rt.now().toISOString(),
      outcome.warnings,
      {
        target,
        database: targetDatabase,
        created: outcome.created,
        overwritten: outcome.tablesBefore > 0,
        bytes: outcome.bytes,
      },
      { mode: 'dump', target, database: targetDatabase, key: details.key, sha256: details.sha256 },
    );
    return { ...base, mode: 'dump', done: true, warnings: outcome.warnings, result };
  }

  if (details.mode === 'rds-instance') {
    const plan = planInstanceRestore(details, request, context);
    const identifier = plan.input.DBInstanceIdentifier ?? '';
    try {
      await restoreInstance(plan.region, plan.input);
    } catch (error) {
      if (!isErrorNamed(error, 'DBInstanceAlreadyExistsFault'))
        translateRdsError(error, `restoring ${plan.input.DBSnapshotIdentifier} as ${identifier}`);
      await adoptOrRefuse(
        'DB instance',
        identifier,
        plan.region,
        restore.restoreId,
        (await describeInstance(plan.region, identifier))?.TagList,
      );
    }
    rt.logger.info('database restore started', { instance: identifier, region: plan.region });
    return {
      ...base,
      mode: 'rds-instance',
      warnings: plan.warnings,
      region: plan.region,
      target: identifier,
      snapshot: plan.input.DBSnapshotIdentifier,
    };
  }

  const plan = planClusterRestore(details, request, context);
  const identifier = plan.cluster.DBClusterIdentifier ?? '';
  try {
    await restoreCluster(plan.region, plan.cluster);
  } catch (error) {
    if (!isErrorNamed(error, 'DBClusterAlreadyExistsFault'))
      translateRdsError(error, `restoring ${plan.cluster.SnapshotIdentifier} as ${identifier}`);
    await adoptOrRefuse(
      'DB cluster',
      identifier,
      plan.region,
      restore.restoreId,
      (await describeCluster(plan.region, identifier))?.TagList,
    );
  }
  rt.logger.info('database cluster restore started', { cluster: identifier, region: plan.region });
  return {
    ...base,
    mode: 'aurora-cluster',
    warnings: plan.warnings,
    region: plan.region,
    target: identifier,
    snapshot: plan.cluster.SnapshotIdentifier,
    writer: {
      identifier: plan.writer.DBInstanceIdentifier ?? '',
      created: false,
      input: plan.writer as unknown as Record<string, unknown>,
    },
  };
}

/** A retried step finds the resource it created (tagged with this restore id); anything else is refused. */
async function adoptOrRefuse(
  kind: string,
  identifier: string,
  region: string,
  restoreId: string,
  tags: { Key?: string; Value?: string }[] | undefined,
): Promise<void> {
  if (tagValue(tags, TAG_RESTORE_ID) !== restoreId) {
    throw new DatabaseNameConflictError(
      `a ${kind} named ${identifier} already exists in ${region} and was not created by restore ${restoreId}: name another target ("targetIdentifier" in the request); nothing was changed`,
    );
  }
}

function failIfBroken(kind: string, identifier: string, status: string | undefined): void {
  if (FAILED_RESTORE_STATES.includes(status ?? '')) {
    throw new DatabaseOperationFailedError(
      `the restored ${kind} ${identifier} is ${status}: look at its events in the RDS console (it was not deleted)`,
    );
  }
}

/** One turn of the Wait loop: done once the new instance (or the cluster and its writer) is available. */
export async function checkRestore(event: unknown, rt: Runtime): Promise<RestoreProgress> {
  const { restore, database } = parseInput(checkEventSchema, event, 'database restore check event');
  if (database.done) return database;
  const settings = componentSettings(rt.settings, 'database', databaseSettingsSchema);
  const progress: RestoreProgress = {
    ...database,
    attempt: database.attempt + 1,
    waitSeconds: settings.waitIntervalSeconds,
  };
  const { region, target } = progress;
  if (!region || !target || progress.mode === 'dump')
    throw new DatabaseOperationFailedError('the restore check got nothing to wait for');
  const seen = new Map<string, string>();
  try {
    return await checkOnce(restore.restoreId, progress, region, target, settings, seen, rt);
  } catch (error) {
    const left = await leftBehind(progress, region, target, seen);
    const retry = retryNote(restore.requests.database, restore.restoreId, left);
    const leftText = describeLeft(left, region, retry);
    // Retried by the state machine: the new attempt may still succeed. Should the retries run out,
    // the branch's Catch keeps only this message, so it names what exists. A transient fault the
    // adapter passed on as it came (a cut connection, a 5xx) is one too: the handler would have
    // made it a RetryableError, and it must not end the restore here.
    const retryable = asStepFunctionsError(error);
    if (retryable instanceof RetryableError)
      throw new RetryableError(`${retryable.message}; ${leftText}`, { cause: error });
    // Anything else ends the branch: its Catch would keep only the error's name and message, and
    // the SRE must know what this restore created (it costs money, it may be usable). So the
    // failure is returned as the component's failed result, with what was left behind.
    const { name, message } = asError(error);
    rt.logger.error('database restore failed', { target, region, left, error: message });
    return {
      ...progress,
      done: true,
      result: {
        component: 'database',
        status: 'failed',
        startedAt: progress.startedAt,
        finishedAt: rt.now().toISOString(),
        error: { name, message: `${message}; ${leftText}`.slice(0, RESULT_ERROR_MESSAGE_CHARS) },
        warnings: progress.warnings,
        summary: {
          [progress.mode === 'aurora-cluster' ? 'cluster' : 'instance']: target,
          region,
          ...(seen.get(target) ? { state: seen.get(target) } : {}),
        },
        details: { mode: progress.mode, region, created: left, leftBehind: leftText, retry },
      },
    };
  }
}

/** What a failed check found of what this restore created: kind, name, and state when known. */
interface LeftResource {
  kind: 'DB instance' | 'DB cluster';
  identifier: string;
  state?: string;
}

const GONE = '(gone)';

/**
 * What this restore created and still exists, with its state: seen in this turn, else described
 * once more. Best effort: a describe that fails leaves the state unknown, never hides the failure.
 */
async function leftBehind(
  progress: RestoreProgress,
  region: string,
  target: string,
  seen: Map<string, string>,
): Promise<LeftResource[]> {
  const wanted: LeftResource[] =
    progress.mode === 'aurora-cluster'
      ? [
          { kind: 'DB cluster', identifier: target },
          ...(progress.writer?.created
            ? [{ kind: 'DB instance' as const, identifier: progress.writer.identifier }]
            : []),
        ]
      : [{ kind: 'DB instance', identifier: target }];
  const left: LeftResource[] = [];
  for (const resource of wanted) {
    let state = seen.get(resource.identifier);
    if (state === undefined) {
      try {
        const found =
          resource.kind === 'DB cluster'
            ? (await describeCluster(region, resource.identifier))?.Status
            : (await describeInstance(region, resource.identifier))?.DBInstanceStatus;
        state = found === undefined ? GONE : found;
      } catch {
        state = undefined;
      }
    }
    if (state === GONE) continue;
    left.push(state ? { ...resource, state } : resource);
  }
  return left;
}

/**
 * What retrying the restore does with what this one left: a retry is a new restore (new restore
 * id). Under the default name it creates another instance or cluster beside this one; under the
 * request's targetIdentifier it is refused (adoptOrRefuse: the name exists and carries this
 * restore's id, not the retry's) until this one is deleted.
 */
function retryNote(request: unknown, restoreId: string, left: readonly LeftResource[]): string {
  const named = databaseRestoreRequestSchema.safeParse(request ?? {});
  const targetIdentifier = named.success ? named.data.targetIdentifier : undefined;
  if (left.length === 0) return 'a retry restores into a new instance or cluster';
  if (targetIdentifier)
    return `a retry with the same "targetIdentifier" (${targetIdentifier}) is refused while it exists (it is tagged with restore ${restoreId}): delete it first, or name another target`;
  return "a retry does not reuse it: it restores into a new one named after the retry's own restore id, beside this one";
}

function describeLeft(left: readonly LeftResource[], region: string, retry: string): string {
  if (left.length === 0) return `nothing this restore created is left in ${region}; ${retry}`;
  const named = left
    .map(
      (resource) =>
        `${resource.kind} ${resource.identifier} (${resource.state ? `state: ${resource.state}` : 'state unknown'})`,
    )
    .join(' and ');
  // A cluster is deleted after its instances; a deletion-protected one after that is turned off.
  const deletes = [...left]
    .sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'DB instance' ? -1 : 1))
    .map((resource) =>
      resource.kind === 'DB cluster'
        ? `aws rds delete-db-cluster --region ${region} --db-cluster-identifier ${resource.identifier} --skip-final-snapshot`
        : `aws rds delete-db-instance --region ${region} --db-instance-identifier ${resource.identifier} --skip-final-snapshot`,
    )
    .join(', then ');
  return `this restore created ${named} in ${region}; it was not deleted and costs money while it exists: use it if it becomes available, or delete it (${deletes}; turn off deletion protection first if it is on); ${retry}`;
}

async function checkOnce(
  restoreId: string,
  progress: RestoreProgress,
  region: string,
  target: string,
  settings: { waitIntervalSeconds: number; maxWaitAttempts: number },
  seen: Map<string, string>,
  rt: Runtime,
): Promise<RestoreProgress> {
  if (progress.attempt > settings.maxWaitAttempts) {
    throw new DatabaseWaitTimeoutError(
      `${target} in ${region} was not available after ${settings.maxWaitAttempts} checks ${settings.waitIntervalSeconds} s apart; it was not deleted and may still become available`,
    );
  }
  if (progress.mode === 'rds-instance') {
    const instance = await describeInstance(region, target);
    seen.set(target, instance?.DBInstanceStatus ?? (instance ? '' : GONE));
    if (!instance)
      throw new DatabaseOperationFailedError(`the restored DB instance ${target} is not in ${region}`);
    failIfBroken('DB instance', target, instance.DBInstanceStatus);
    if (instance.DBInstanceStatus !== 'available') return progress;
    return { ...progress, done: true, result: instanceResult(progress, instance, rt) };
  }

  const cluster = await describeCluster(region, target);
  seen.set(target, cluster?.Status ?? (cluster ? '' : GONE));
  if (!cluster)
    throw new DatabaseOperationFailedError(`the restored DB cluster ${target} is not in ${region}`);
  failIfBroken('DB cluster', target, cluster.Status);
  const writer = progress.writer;
  if (!writer) throw new DatabaseOperationFailedError('the restore check has no writer instance to create');
  if (!writer.created) {
    if (cluster.Status !== 'available') return progress;
    try {
      await createInstance(region, writer.input as never);
    } catch (error) {
      if (!isErrorNamed(error, 'DBInstanceAlreadyExistsFault'))
        translateRdsError(error, `creating the writer ${writer.identifier} of ${target}`);
      await adoptOrRefuse(
        'DB instance',
        writer.identifier,
        region,
        restoreId,
        (await describeInstance(region, writer.identifier))?.TagList,
      );
    }
    return { ...progress, writer: { ...writer, created: true } };
  }
  const instance = await describeInstance(region, writer.identifier);
  seen.set(writer.identifier, instance?.DBInstanceStatus ?? (instance ? '' : GONE));
  if (!instance)
    throw new DatabaseOperationFailedError(
      `the writer ${writer.identifier} of ${target} is not in ${region}`,
    );
  failIfBroken('DB instance', writer.identifier, instance.DBInstanceStatus);
  if (instance.DBInstanceStatus !== 'available' || cluster.Status !== 'available') return progress;
  const endpoint = cluster.Endpoint ?? '';
  const result = restored(
    progress.startedAt,
    rt.now().toISOString(),
    progress.warnings,
    {
      cluster: target,
      region,
      endpoint,
      readerEndpoint: cluster.ReaderEndpoint ?? '',
      port: cluster.Port ?? 0,
      writer: writer.identifier,
    },
    {
      mode: 'aurora-cluster',
      cluster: target,
      region,
      endpoint,
      readerEndpoint: cluster.ReaderEndpoint,
      port: cluster.Port,
      writer: writer.identifier,
      arn: cluster.DBClusterArn,
      snapshot: progress.snapshot,
    },
  );
  return { ...progress, done: true, result };
}

function instanceResult(
  progress: RestoreProgress,
  instance: DBInstance,
  rt: Runtime,
): ComponentRestoreResult {
  const endpoint = instance.Endpoint?.Address ?? '';
  const port = instance.Endpoint?.Port ?? 0;
  return restored(
    progress.startedAt,
    rt.now().toISOString(),
    progress.warnings,
    { instance: progress.target ?? '', region: progress.region ?? '', endpoint, port },
    {
      mode: 'rds-instance',
      instance: progress.target,
      region: progress.region,
      endpoint,
      port,
      arn: instance.DBInstanceArn,
      snapshot: progress.snapshot,
    },
  );
}
