/**
 * Names of what the database component creates in RDS: pure, shared by the functions and the CDK
 * construct (whose IAM policies are scoped to the snapshot prefix).
 *
 * RDS identifiers (snapshots, instances, clusters): letters, digits and hyphens, first a letter,
 * no two consecutive hyphens, not ending with a hyphen; snapshots up to 255 characters,
 * instances and clusters up to 63.
 */
export const RDS_IDENTIFIER = /^[A-Za-z](?!.*--)[A-Za-z0-9-]*[A-Za-z0-9]$|^[A-Za-z]$/;
export const MAX_INSTANCE_IDENTIFIER = 63;
export const MAX_SNAPSHOT_IDENTIFIER = 255;

/** Tag keys written on every snapshot, copy and restored resource. */
export const TAG_MANAGED_BY = 'managed-by';
export const TAG_BACKUP_ID = 'liferay-backup:backup-id';
export const TAG_ENVIRONMENT = 'liferay-backup:environment';
export const TAG_SCHEDULE = 'liferay-backup:schedule';
export const TAG_RESTORE_ID = 'liferay-backup:restore-id';
export const MANAGED_BY = 'liferay-backup';

export function isRdsIdentifier(value: string, maxLength = MAX_INSTANCE_IDENTIFIER): boolean {
  return value.length >= 1 && value.length <= maxLength && RDS_IDENTIFIER.test(value);
}

/** Collapses runs of hyphens (an environment name may contain `--`, RDS refuses it). */
function rdsSafe(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-{2,}/g, '-');
}

/**
 * Every snapshot this environment makes starts with this prefix; the IAM policies allow
 * creating snapshots under it only. e.g. `liferay-backup-liferay-prod-`.
 */
export function snapshotPrefix(environment: string): string {
  return `liferay-backup-${rdsSafe(environment).replace(/-$/, '')}-`;
}

/** The snapshot of one backup set (the DR copy has the same name in its region). */
export function snapshotIdentifier(environment: string, backupId: string): string {
  const id = `${snapshotPrefix(environment)}${backupId}`;
  if (!isRdsIdentifier(id, MAX_SNAPSHOT_IDENTIFIER))
    throw new Error(`not a valid snapshot identifier: ${id}`);
  return id;
}

/**
 * The default name of a restored instance or cluster: the source's name and the restore id, so
 * it never equals the source and a retried restore of the same run finds its own resource.
 */
export function restoredIdentifier(sourceIdentifier: string, restoreId: string): string {
  const suffix = `-${restoreId}`;
  const head = rdsSafe(sourceIdentifier)
    .slice(0, MAX_INSTANCE_IDENTIFIER - suffix.length)
    .replace(/-+$/, '');
  const id = `${head || 'liferay'}${suffix}`;
  if (!isRdsIdentifier(id)) throw new Error(`not a valid instance identifier: ${id}`);
  return id;
}

/** The writer instance of a restored Aurora cluster. */
export function writerIdentifier(clusterIdentifier: string): string {
  const suffix = '-writer';
  return `${clusterIdentifier.slice(0, MAX_INSTANCE_IDENTIFIER - suffix.length).replace(/-+$/, '')}${suffix}`;
}

/** A SQL database name we are willing to create and quote: no quoting tricks possible. */
export const SQL_DATABASE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** The default target database of a dump restore: never the source's own name. */
export function restoredDatabaseName(sourceDatabase: string, restoreId: string): string {
  const suffix = `_${restoreId.replace(/-/g, '_')}`;
  const head = sourceDatabase.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 63 - suffix.length);
  const name = `${/^[A-Za-z_]/.test(head) ? head : `db_${head}`}${suffix}`.slice(0, 63);
  return name;
}

/** Where a set's dump lives in the store. */
export function dumpKey(backupId: string, database: string, format: 'sql-gzip' | 'pg-custom'): string {
  const file = format === 'sql-gzip' ? `${database}.sql.gz` : `${database}.pgdump`;
  return `dumps/${backupId}/database/${file}`;
}
