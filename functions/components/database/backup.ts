import * as z from 'zod';
import { backupIdSchema, readManifest } from '#backup-set/manifest.ts';
import { type ComponentResult, withinResultBudget } from '#components/component.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { componentSettings } from '#runtime/settings.ts';
import { parseInput } from '#runtime/validate.ts';
import { resolveConnection } from './credentials.ts';
import { dumpToStore } from './dump.ts';
import {
  DatabaseNameConflictError,
  DatabaseNotAvailableError,
  DatabaseOperationFailedError,
  DatabaseWaitTimeoutError,
} from './errors.ts';
import { snapshotIdentifier, TAG_BACKUP_ID } from './naming.ts';
import { type BackupProgress, backupProgressSchema, type TrackedSnapshot } from './progress.ts';
import {
  clusterSnapshots,
  describeCluster,
  describeClusterInstances,
  describeInstance,
  instanceSnapshots,
  isErrorNamed,
  keyManager,
  type ObservedSnapshot,
  type SnapshotApi,
  tagValue,
  translateRdsError,
} from './rds-adapter.ts';
import {
  backupTags,
  clusterSource,
  FAILED_SNAPSHOT_STATES,
  instanceSource,
  SNAPSHOTTABLE_CLUSTER_STATES,
  SNAPSHOTTABLE_INSTANCE_STATES,
} from './rds-plan.ts';
import {
  type ClusterSource,
  type DatabaseDetails,
  type DatabaseSettings,
  databaseSettingsSchema,
  type InstanceSource,
  type RdsSettings,
} from './schemas.ts';

/** Only what the database handlers read of the Backup workflow's `$.backup`. */
const backupRefSchema = z.looseObject({ backupId: backupIdSchema, startedAt: z.string().optional() });
const startEventSchema = z.looseObject({ backup: backupRefSchema });
const checkEventSchema = z.looseObject({ backup: backupRefSchema, database: backupProgressSchema });

function settingsOf(rt: Runtime): DatabaseSettings {
  return componentSettings(rt.settings, 'database', databaseSettingsSchema);
}

function sourceRegion(settings: RdsSettings): string {
  const region = settings.region ?? process.env.AWS_REGION;
  if (!region)
    throw new DatabaseOperationFailedError('no AWS region: set components.database.region or AWS_REGION');
  return region;
}

function api(mode: RdsSettings['mode']): SnapshotApi {
  return mode === 'aurora-cluster' ? clusterSnapshots : instanceSnapshots;
}

function tracked(observed: ObservedSnapshot): TrackedSnapshot {
  const {
    tags: _tags,
    sourceIdentifier: _source,
    engine: _engine,
    engineVersion: _engineVersion,
    ...rest
  } = observed;
  return rest;
}

/**
 * Prepare step (runs before every other capture): starts the snapshot, or for a self-managed
 * database takes the whole dump, so that files copied afterwards include all it references.
 */
export async function startBackup(event: unknown, rt: Runtime): Promise<BackupProgress> {
  const { backup } = parseInput(startEventSchema, event, 'database start event');
  const settings = settingsOf(rt);
  const startedAt = rt.now().toISOString();
  if (settings.mode === 'dump') {
    const connection = await resolveConnection(settings);
    const outcome = await dumpToStore({
      store: rt.store,
      backupId: backup.backupId,
      connection,
      scratchDir: rt.scratchDir,
      compressionLevel: settings.compressionLevel,
      ...(settings.toolsDir ? { toolsDir: settings.toolsDir } : {}),
      onProgress: (bytes) => rt.progress(`database: dumped ${(bytes / 1048576).toFixed(0)} MiB`),
    });
    rt.logger.info('database dumped', { key: outcome.details.key, size: outcome.details.size });
    const result = complete(outcome.details, startedAt, rt.now().toISOString(), outcome.warnings, {
      mode: 'dump',
      engine: outcome.details.engine,
      database: outcome.details.database,
      bytes: outcome.details.size,
      dumpBytes: outcome.details.dumpBytes,
    });
    return {
      mode: 'dump',
      phase: 'done',
      done: true,
      attempt: 0,
      waitSeconds: settings.waitIntervalSeconds,
      startedAt,
      warnings: outcome.warnings,
      sharedWith: [],
      result,
    };
  }

  const region = sourceRegion(settings);
  const identifier = snapshotIdentifier(rt.settings.environment, backup.backupId);
  // A retried start: the snapshot is ours when it carries this backup id and comes from this source.
  const ownSnapshot = async (): Promise<ObservedSnapshot | undefined> => {
    const existing = await api(settings.mode).describe(region, identifier);
    return existing &&
      tagValue(existing.tags, TAG_BACKUP_ID) === backup.backupId &&
      (!existing.sourceIdentifier || existing.sourceIdentifier === settings.identifier)
      ? existing
      : undefined;
  };
  let source: InstanceSource | ClusterSource;
  let adopted: ObservedSnapshot | undefined;
  try {
    source = await describeSource(settings, region);
  } catch (error) {
    // The first run's snapshot (its answer lost) keeps the source `backing-up` while it is taken:
    // adopt it rather than wait for the source, which may outlast the not-available retries.
    if (!(error instanceof DatabaseNotAvailableError)) throw error;
    adopted = await ownSnapshot();
    if (!adopted) throw error;
    source = await describeSource(settings, region, { anyState: true });
  }
  let snapshot: ObservedSnapshot;
  if (adopted) {
    snapshot = adopted;
  } else {
    const manifest = await readManifest(rt.store, backup.backupId);
    const tags = backupTags(rt.settings.environment, backup.backupId, manifest.trigger.schedule);
    try {
      snapshot = await api(settings.mode).create(region, settings.identifier, identifier, tags);
    } catch (error) {
      if (!isErrorNamed(error, api(settings.mode).alreadyExists))
        translateRdsError(error, `creating snapshot ${identifier} of ${settings.identifier}`);
      const existing = await ownSnapshot();
      if (!existing) {
        throw new DatabaseNameConflictError(
          `a snapshot named ${identifier} already exists in ${region} and was not made by backup ${backup.backupId}`,
        );
      }
      snapshot = existing;
    }
  }
  rt.logger.info('database snapshot started', { snapshot: identifier, source: settings.identifier });
  return {
    mode: settings.mode,
    phase: 'snapshot',
    done: false,
    attempt: 0,
    waitSeconds: settings.waitIntervalSeconds,
    startedAt,
    warnings: [],
    source,
    snapshot: tracked(snapshot),
    sharedWith: [],
  };
}

/** The source's settings; it must be in a state a snapshot can be taken in, unless `anyState`. */
async function describeSource(
  settings: RdsSettings,
  region: string,
  { anyState = false }: { anyState?: boolean } = {},
): Promise<InstanceSource | ClusterSource> {
  if (settings.mode === 'aurora-cluster') {
    const cluster = await describeCluster(region, settings.identifier);
    if (!cluster)
      throw new DatabaseOperationFailedError(`DB cluster ${settings.identifier} does not exist in ${region}`);
    if (!anyState && !SNAPSHOTTABLE_CLUSTER_STATES.includes(cluster.Status ?? '')) {
      throw new DatabaseNotAvailableError(
        `DB cluster ${settings.identifier} is ${cluster.Status}; a snapshot needs it available`,
      );
    }
    return clusterSource(cluster, await describeClusterInstances(region, settings.identifier), region);
  }
  const instance = await describeInstance(region, settings.identifier);
  if (!instance)
    throw new DatabaseOperationFailedError(`DB instance ${settings.identifier} does not exist in ${region}`);
  if (!anyState && !SNAPSHOTTABLE_INSTANCE_STATES.includes(instance.DBInstanceStatus ?? '')) {
    throw new DatabaseNotAvailableError(
      `DB instance ${settings.identifier} is ${instance.DBInstanceStatus}; a snapshot needs it available${instance.DBInstanceStatus === 'stopped' ? ' (start it, or the backup waits until the retry window ends)' : ''}`,
    );
  }
  return instanceSource(instance, region);
}

function complete(
  details: DatabaseDetails,
  startedAt: string,
  finishedAt: string,
  warnings: string[],
  summary: ComponentResult['summary'],
): ComponentResult {
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
 * One turn of the Wait loop: describe what is pending and take the next step (copy to the DR
 * region, share); returns `done` with the component's result once everything is available.
 */
export async function checkBackup(event: unknown, rt: Runtime): Promise<BackupProgress> {
  const { backup, database } = parseInput(checkEventSchema, event, 'database check event');
  const settings = settingsOf(rt);
  if (database.done) return database;
  if (settings.mode === 'dump') throw new DatabaseOperationFailedError('a dump has nothing to wait for');
  const progress: BackupProgress = {
    ...database,
    attempt: database.attempt + 1,
    waitSeconds: settings.waitIntervalSeconds,
  };
  const snapshots = api(settings.mode);
  const snapshot = progress.snapshot;
  if (!snapshot || !progress.source)
    throw new DatabaseOperationFailedError('the check step got no snapshot to wait for');
  if (progress.attempt > settings.maxWaitAttempts) {
    const pending =
      progress.phase === 'copy'
        ? `the copy ${progress.drCopy?.identifier} in ${settings.drRegion}`
        : `snapshot ${snapshot.identifier}`;
    throw new DatabaseWaitTimeoutError(
      `${pending} was still ${(progress.phase === 'copy' ? progress.drCopy?.status : snapshot.status) ?? 'pending'} after ${settings.maxWaitAttempts} checks ${settings.waitIntervalSeconds} s apart; nothing was deleted, it may still complete: look at it in the RDS console`,
    );
  }

  if (progress.phase === 'snapshot') {
    const observed = await snapshots.describe(snapshot.region, snapshot.identifier);
    if (!observed)
      throw new DatabaseOperationFailedError(
        `snapshot ${snapshot.identifier} disappeared from ${snapshot.region}`,
      );
    progress.snapshot = tracked(observed);
    if (FAILED_SNAPSHOT_STATES.includes(observed.status ?? '')) {
      throw new DatabaseOperationFailedError(`snapshot ${snapshot.identifier} is ${observed.status}`);
    }
    if (observed.status !== 'available') return progress;
    progress.phase = settings.drRegion ? 'copy' : 'share';
  }

  if (progress.phase === 'copy' && settings.drRegion && settings.drKmsKeyArn) {
    const source = progress.snapshot ?? snapshot;
    if (!progress.drCopy) {
      const tags = backupTags(rt.settings.environment, backup.backupId);
      let copy: ObservedSnapshot;
      try {
        copy = await snapshots.copy(settings.drRegion, source, settings.drKmsKeyArn, tags);
      } catch (error) {
        if (!isErrorNamed(error, snapshots.alreadyExists))
          translateRdsError(error, `copying ${source.identifier} to ${settings.drRegion}`);
        const existing = await snapshots.describe(settings.drRegion, source.identifier);
        if (!existing || tagValue(existing.tags, TAG_BACKUP_ID) !== backup.backupId) {
          throw new DatabaseNameConflictError(
            `a snapshot named ${source.identifier} already exists in ${settings.drRegion} and was not copied by backup ${backup.backupId}`,
          );
        }
        copy = existing;
      }
      progress.drCopy = tracked(copy);
      if (source.encrypted === false && !snapshots.encryptsCopy) {
        progress.warnings.push(
          `${snapshots.kind} ${source.identifier} is not encrypted, and Aurora cannot encrypt a copy of it: its DR copy in ${settings.drRegion} is not encrypted either (drKmsKeyArn is not used); encrypt the cluster to get encrypted copies`,
        );
      }
      return progress;
    }
    const observed = await snapshots.describe(settings.drRegion, progress.drCopy.identifier);
    if (!observed)
      throw new DatabaseOperationFailedError(
        `the copy ${progress.drCopy.identifier} disappeared from ${settings.drRegion}`,
      );
    progress.drCopy = tracked(observed);
    if (FAILED_SNAPSHOT_STATES.includes(observed.status ?? '')) {
      throw new DatabaseOperationFailedError(
        `the copy ${observed.identifier} in ${settings.drRegion} is ${observed.status}`,
      );
    }
    if (observed.status !== 'available') return progress;
    progress.phase = 'share';
  }

  if (progress.phase === 'share') {
    if (settings.shareWithAccount) await share(settings, progress, settings.shareWithAccount);
    progress.phase = 'done';
  }
  return finish(progress, settings, rt);
}

/**
 * Shares the snapshot and its copy. A snapshot encrypted with the AWS managed key aws/rds cannot
 * be shared with another account (its key policy cannot be changed): that is found out with KMS
 * first and said in the result, instead of an AWS error.
 */
async function share(settings: RdsSettings, progress: BackupProgress, account: string): Promise<void> {
  const snapshots = api(settings.mode);
  const candidates = [progress.snapshot, progress.drCopy].filter(
    (item): item is TrackedSnapshot => item !== undefined,
  );
  for (const candidate of candidates) {
    if (progress.sharedWith.some((shared) => shared.snapshotArn === candidate.arn)) continue;
    if (
      candidate.encrypted &&
      candidate.kmsKeyId &&
      (await keyManager(candidate.region, candidate.kmsKeyId)) === 'AWS'
    ) {
      progress.warnings.push(
        `snapshot ${candidate.identifier} in ${candidate.region} is encrypted with the AWS managed key aws/rds, which cannot be shared: it was NOT shared with account ${account}${progress.drCopy && candidate !== progress.drCopy ? ' (its DR copy, encrypted with drKmsKeyArn, is shared instead)' : '; configure drRegion and drKmsKeyArn to get a shareable copy, or encrypt the database with a customer managed key'}`,
      );
      continue;
    }
    await snapshots.share(candidate.region, candidate.identifier, account);
    progress.sharedWith.push({ account, snapshotArn: candidate.arn });
  }
}

function finish(progress: BackupProgress, settings: RdsSettings, rt: Runtime): BackupProgress {
  const snapshot = progress.snapshot;
  const source = progress.source;
  if (!snapshot || !source) throw new DatabaseOperationFailedError('nothing to finish');
  const snapshotRef = { ...snapshot };
  delete snapshotRef.percent;
  const drCopy = progress.drCopy ? { ...progress.drCopy } : undefined;
  if (drCopy) delete drCopy.percent;
  const details: DatabaseDetails =
    settings.mode === 'aurora-cluster'
      ? {
          mode: 'aurora-cluster',
          source: source as ClusterSource,
          snapshot: snapshotRef,
          ...(drCopy ? { drCopy } : {}),
          sharedWith: progress.sharedWith,
        }
      : {
          mode: 'rds-instance',
          source: source as InstanceSource,
          snapshot: snapshotRef,
          ...(drCopy ? { drCopy } : {}),
          sharedWith: progress.sharedWith,
        };
  const result = complete(details, progress.startedAt, rt.now().toISOString(), progress.warnings, {
    mode: settings.mode,
    engine: `${source.engine} ${source.engineVersion}`,
    snapshot: snapshot.identifier,
    ...(snapshot.sizeGiB !== undefined ? { allocatedGiB: snapshot.sizeGiB } : {}),
    ...(drCopy ? { drCopy: `${drCopy.region}/${drCopy.identifier}` } : {}),
    ...(progress.sharedWith.length > 0
      ? { sharedWith: [...new Set(progress.sharedWith.map((shared) => shared.account))].join(',') }
      : {}),
    checks: progress.attempt,
  });
  return { ...progress, phase: 'done', done: true, result };
}
