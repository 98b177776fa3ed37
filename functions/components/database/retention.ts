import type { ComponentResult, RetentionHooks, SetComponent } from '#components/component.ts';
import { CorruptBackupError, describeIssues } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { SnapshotNotDeletableYetError, SnapshotOwnershipError } from './errors.ts';
import { snapshotIdentifier, snapshotPrefix, TAG_BACKUP_ID, TAG_ENVIRONMENT } from './naming.ts';
import {
  clusterSnapshots,
  instanceSnapshots,
  type ObservedSnapshot,
  type SnapshotApi,
  tagValue,
} from './rds-adapter.ts';
import { databaseDetailsSchema, databaseSettingsSchema } from './schemas.ts';

/**
 * What the database component owns outside the store, for retention: the set's RDS DB snapshot
 * or Aurora cluster snapshot and its DR copy. A dump lives under `dumps/<id>/`, which retention
 * removes itself; the component keeps nothing under `objects/` (no references, no sweep prefixes).
 */

/** States a snapshot passes through before it can be deleted (RDS deletes `available` ones only). */
const NOT_YET_DELETABLE = new Set(['creating', 'copying', 'pending', 'modifying', 'upgrading']);

export function snapshotsOf(mode: 'rds-instance' | 'aurora-cluster'): SnapshotApi {
  return mode === 'aurora-cluster' ? clusterSnapshots : instanceSnapshots;
}

interface Target {
  /** `snapshot` or `DR copy`, for the report. */
  readonly role: string;
  readonly region: string;
  readonly identifier: string;
  /** The ARN the set recorded; absent for a snapshot looked up by name. */
  readonly arn?: string;
}

interface DeletionPlan {
  readonly snapshots: SnapshotApi;
  readonly targets: Target[];
  /**
   * true: the set recorded these snapshots, anything not provably the set's is refused with an
   * error. false: a failed result recorded none, the set's name is looked up, and a snapshot by
   * that name that is not the set's is left alone and said.
   */
  readonly recorded: boolean;
}

/**
 * A failed result records no snapshot (the branch's Catch keeps only the error), yet a failed
 * backup may have made one (the wait ran out, the copy failed): it carries the set's name, so it is
 * looked up in the configured regions. Without the component's settings there is nowhere to look.
 */
function failedSetPlan(rt: Runtime, identifier: string): DeletionPlan | undefined {
  const settings = databaseSettingsSchema.safeParse(rt.settings.components.database);
  if (!settings.success || settings.data.mode === 'dump') return undefined;
  const region = settings.data.region ?? process.env.AWS_REGION;
  if (!region) return undefined;
  const regions = [region, ...(settings.data.drRegion ? [settings.data.drRegion] : [])];
  return {
    snapshots: snapshotsOf(settings.data.mode),
    recorded: false,
    targets: regions.map((where, index) => ({
      role: index === 0 ? 'snapshot' : 'DR copy',
      region: where,
      identifier,
    })),
  };
}

function deletionPlan(backupId: string, result: ComponentResult, rt: Runtime): DeletionPlan | undefined {
  if (result.status === 'skipped') return undefined;
  const parsed = databaseDetailsSchema.safeParse(result.details);
  if (parsed.success) {
    const details = parsed.data;
    if (details.mode === 'dump') return undefined;
    const targets: Target[] = [
      { role: 'snapshot', ...details.snapshot },
      ...(details.drCopy ? [{ role: 'DR copy', ...details.drCopy }] : []),
    ];
    return { snapshots: snapshotsOf(details.mode), recorded: true, targets };
  }
  if (result.status === 'complete') {
    // Deleting the manifest would lose the only record of the snapshots: refuse instead.
    throw new CorruptBackupError(
      `set ${backupId}: the database record cannot be read (${describeIssues(parsed.error.issues)}); its snapshots are left and the set is not deleted`,
    );
  }
  return failedSetPlan(rt, snapshotIdentifier(rt.settings.environment, backupId));
}

/** `snapshot X in R`, `cluster snapshot X in R` or `DR copy X in R`. */
function describeTarget(snapshots: SnapshotApi, target: Target): string {
  return `${target.role === 'DR copy' ? 'DR copy' : snapshots.kind} ${target.identifier} in ${target.region}`;
}

/** Why this snapshot is not provably the set's, or undefined when it is. */
function notOurs(observed: ObservedSnapshot, target: Target, backupId: string, environment: string) {
  const taggedId = tagValue(observed.tags, TAG_BACKUP_ID);
  if (taggedId !== backupId) {
    return `its ${TAG_BACKUP_ID} tag is ${taggedId === undefined ? 'missing' : JSON.stringify(taggedId)}, not ${backupId}`;
  }
  const taggedEnvironment = tagValue(observed.tags, TAG_ENVIRONMENT);
  if (taggedEnvironment !== undefined && taggedEnvironment !== environment) {
    return `its ${TAG_ENVIRONMENT} tag is ${JSON.stringify(taggedEnvironment)}, not ${environment}`;
  }
  if (target.arn && observed.arn && observed.arn !== target.arn) {
    return `its ARN is ${observed.arn}, the set recorded ${target.arn}`;
  }
  return undefined;
}

/** The set's snapshots as RDS describes them now: which can be deleted, and which are still busy. */
interface Inspected {
  readonly snapshots: SnapshotApi;
  /** What needs no deletion (already gone, being deleted, not this set's), for the report. */
  readonly lines: string[];
  readonly deletable: Target[];
  /** `<snapshot> is <status>`, for each one RDS cannot delete yet. */
  readonly busy: string[];
}

/**
 * Checks every snapshot of the set before anything is deleted: each name must be this
 * environment's name for this set, each snapshot must carry this set's backup id (and the
 * recorded ARN). Undefined when the set has none to delete (a dump, a skipped component).
 */
async function inspectSnapshots(
  { backupId, result }: SetComponent,
  rt: Runtime,
): Promise<Inspected | undefined> {
  const plan = deletionPlan(backupId, result, rt);
  if (!plan) return undefined;
  const environment = rt.settings.environment;
  const prefix = snapshotPrefix(environment);
  const expected = snapshotIdentifier(environment, backupId);
  const { snapshots } = plan;
  const lines: string[] = [];
  const deletable: Target[] = [];
  const busy: string[] = [];
  for (const target of plan.targets) {
    const what = describeTarget(snapshots, target);
    if (!target.identifier.startsWith(prefix)) {
      throw new SnapshotOwnershipError(
        `set ${backupId}: refusing to delete the ${what}: this environment's snapshots are named ${prefix}<backup id>; nothing was deleted`,
      );
    }
    if (target.identifier !== expected) {
      throw new SnapshotOwnershipError(
        `set ${backupId}: refusing to delete the ${what}: this set's is named ${expected}; nothing was deleted`,
      );
    }
    const observed = await snapshots.describe(target.region, target.identifier);
    if (!observed) {
      if (plan.recorded) lines.push(`${what} was already gone`);
      continue;
    }
    const reason = notOurs(observed, target, backupId, environment);
    if (reason) {
      if (!plan.recorded) {
        lines.push(`left in place: ${what} is not this set's (${reason})`);
        continue;
      }
      throw new SnapshotOwnershipError(
        `set ${backupId}: refusing to delete the ${what}: ${reason}; nothing was deleted`,
      );
    }
    if (observed.status === 'deleting') {
      lines.push(`${what} was already being deleted`);
    } else if (NOT_YET_DELETABLE.has(observed.status ?? '')) {
      busy.push(`${what} is ${observed.status}`);
    } else {
      deletable.push(target);
    }
  }
  return { snapshots, lines, deletable, busy };
}

/**
 * Deletes the set's snapshot and DR copy, once inspectSnapshots found them all this set's; a
 * snapshot still `creating`/`copying` makes the whole call retryable (one that became busy after
 * retention asked postponeDeletion). A snapshot already gone is reported, not an error, so a re-run
 * finishes an interrupted deletion. Sharing needs no undoing: the owner may delete a shared
 * snapshot, and with it the other account's access goes.
 */
export async function deleteDatabaseArtifacts(input: SetComponent, rt: Runtime) {
  const inspected = await inspectSnapshots(input, rt);
  if (!inspected) return [];
  const { snapshots, lines, deletable, busy } = inspected;
  if (busy.length > 0) {
    throw new SnapshotNotDeletableYetError(
      `set ${input.backupId}: ${busy.join(', ')}; RDS deletes only available snapshots, so the set's deletion is retried (nothing was deleted this time)`,
    );
  }
  for (const target of deletable) {
    const what = describeTarget(snapshots, target);
    const outcome = await snapshots.delete(target.region, target.identifier);
    lines.push(outcome === 'deleted' ? `${what} deleted` : `${what} was already gone`);
    rt.logger.info('database snapshot deleted', {
      snapshot: target.identifier,
      region: target.region,
      outcome,
    });
  }
  return lines;
}

/**
 * A snapshot or DR copy of the set still being created or copied (a DR copy of a large database
 * takes hours): the set waits for the next retention run, whole, rather than this run waiting
 * for it or failing (asked before any component deletes). A snapshot that is not provably the
 * set's refuses the deletion here already, before anything is deleted.
 */
async function postponeDatabaseDeletion(input: SetComponent, rt: Runtime): Promise<string | undefined> {
  const inspected = await inspectSnapshots(input, rt);
  if (!inspected || inspected.busy.length === 0) return undefined;
  return `${inspected.busy.join(', ')} (RDS deletes only available snapshots; once it is, the next retention run deletes it with the set)`;
}

export const databaseRetention: RetentionHooks = {
  deleteArtifacts: deleteDatabaseArtifacts,
  postponeDeletion: postponeDatabaseDeletion,
};
