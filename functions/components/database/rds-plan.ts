import type {
  CreateDBInstanceCommandInput,
  DBCluster,
  DBInstance,
  RestoreDBClusterFromSnapshotCommandInput,
  RestoreDBInstanceFromDBSnapshotCommandInput,
  Tag,
} from '@aws-sdk/client-rds';
import { describeIssues } from '#runtime/errors.ts';
import { parseDatabaseUrl } from './connection.ts';
import {
  MANAGED_BY,
  restoredIdentifier,
  TAG_BACKUP_ID,
  TAG_ENVIRONMENT,
  TAG_MANAGED_BY,
  TAG_RESTORE_ID,
  TAG_SCHEDULE,
  writerIdentifier,
} from './naming.ts';
import {
  type ClusterSource,
  type DatabaseDetails,
  type DatabaseRestoreRequest,
  type DatabaseSettings,
  databaseDetailsSchema,
  databaseRestoreRequestSchema,
  databaseSettingsSchema,
  type InstanceSource,
  type SnapshotDetails,
} from './schemas.ts';

/**
 * The database component's decisions, without any AWS call: what to record from a described
 * source, which states mean "wait", "go" or "give up", and the exact restore requests built from
 * the recorded settings and the person's overrides.
 */

/** CreateDBSnapshot accepts these (RDS API reference); anything else is waited for, then reported. */
export const SNAPSHOTTABLE_INSTANCE_STATES = ['available', 'storage-optimization'];
export const SNAPSHOTTABLE_CLUSTER_STATES = ['available'];

/** A snapshot or copy in one of these will never become available. */
export const FAILED_SNAPSHOT_STATES = ['failed', 'error', 'deleting', 'deleted', 'incompatible-restore'];

/** A restored instance or cluster in one of these needs a person. */
export const FAILED_RESTORE_STATES = [
  'failed',
  'incompatible-restore',
  'incompatible-parameters',
  'incompatible-network',
  'incompatible-option-group',
  'inaccessible-encryption-credentials',
  'inaccessible-encryption-credentials-recoverable',
  'storage-full',
  'deleting',
  'stopped',
];

export function backupTags(environment: string, backupId: string, schedule?: string): Tag[] {
  return [
    { Key: TAG_MANAGED_BY, Value: MANAGED_BY },
    { Key: TAG_ENVIRONMENT, Value: environment },
    { Key: TAG_BACKUP_ID, Value: backupId },
    ...(schedule ? [{ Key: TAG_SCHEDULE, Value: schedule }] : []),
  ];
}

export function restoreTags(environment: string, backupId: string, restoreId: string): Tag[] {
  return [
    { Key: TAG_MANAGED_BY, Value: MANAGED_BY },
    { Key: TAG_ENVIRONMENT, Value: environment },
    { Key: TAG_BACKUP_ID, Value: backupId },
    { Key: TAG_RESTORE_ID, Value: restoreId },
  ];
}

function defined<T extends Record<string, unknown>>(record: T): T {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as T;
}

/** What a restore needs from a described DB instance. */
export function instanceSource(instance: DBInstance, region: string): InstanceSource {
  return defined({
    identifier: instance.DBInstanceIdentifier ?? '',
    arn: instance.DBInstanceArn ?? '',
    region,
    engine: instance.Engine ?? '',
    engineVersion: instance.EngineVersion ?? '',
    instanceClass: instance.DBInstanceClass ?? '',
    subnetGroupName: instance.DBSubnetGroup?.DBSubnetGroupName,
    securityGroupIds: (instance.VpcSecurityGroups ?? []).flatMap((group) =>
      group.VpcSecurityGroupId ? [group.VpcSecurityGroupId] : [],
    ),
    parameterGroupName: instance.DBParameterGroups?.[0]?.DBParameterGroupName,
    optionGroupName: instance.OptionGroupMemberships?.[0]?.OptionGroupName,
    storageType: instance.StorageType,
    allocatedStorage: instance.AllocatedStorage,
    iops: instance.Iops,
    storageThroughput: instance.StorageThroughput,
    multiAz: instance.MultiAZ ?? false,
    port: instance.Endpoint?.Port ?? instance.DbInstancePort ?? 0,
    kmsKeyId: instance.KmsKeyId,
    storageEncrypted: instance.StorageEncrypted ?? false,
    publiclyAccessible: instance.PubliclyAccessible ?? false,
    availabilityZone: instance.AvailabilityZone,
    deletionProtection: instance.DeletionProtection ?? false,
    iamDatabaseAuthentication: instance.IAMDatabaseAuthenticationEnabled ?? false,
    caCertificateIdentifier: instance.CACertificateIdentifier,
    databaseName: instance.DBName,
    masterUsername: instance.MasterUsername,
    licenseModel: instance.LicenseModel,
    copyTagsToSnapshot: instance.CopyTagsToSnapshot,
    cloudwatchLogsExports: instance.EnabledCloudwatchLogsExports ?? [],
  });
}

/** What a restore needs from a described Aurora cluster and its instances. */
export function clusterSource(
  cluster: DBCluster,
  instances: readonly DBInstance[],
  region: string,
): ClusterSource {
  const roles = new Map(
    (cluster.DBClusterMembers ?? []).map((member) => [member.DBInstanceIdentifier, member]),
  );
  const scaling = cluster.ServerlessV2ScalingConfiguration;
  return defined({
    identifier: cluster.DBClusterIdentifier ?? '',
    arn: cluster.DBClusterArn ?? '',
    region,
    engine: cluster.Engine ?? '',
    engineVersion: cluster.EngineVersion ?? '',
    engineMode: cluster.EngineMode,
    subnetGroupName: cluster.DBSubnetGroup,
    securityGroupIds: (cluster.VpcSecurityGroups ?? []).flatMap((group) =>
      group.VpcSecurityGroupId ? [group.VpcSecurityGroupId] : [],
    ),
    clusterParameterGroupName: cluster.DBClusterParameterGroup,
    port: cluster.Port ?? 0,
    kmsKeyId: cluster.KmsKeyId,
    storageEncrypted: cluster.StorageEncrypted ?? false,
    storageType: cluster.StorageType,
    databaseName: cluster.DatabaseName,
    masterUsername: cluster.MasterUsername,
    deletionProtection: cluster.DeletionProtection ?? false,
    iamDatabaseAuthentication: cluster.IAMDatabaseAuthenticationEnabled ?? false,
    copyTagsToSnapshot: cluster.CopyTagsToSnapshot,
    backtrackWindow: cluster.BacktrackWindow,
    serverlessV2Scaling:
      scaling?.MinCapacity !== undefined && scaling.MaxCapacity !== undefined
        ? { minCapacity: scaling.MinCapacity, maxCapacity: scaling.MaxCapacity }
        : undefined,
    cloudwatchLogsExports: cluster.EnabledCloudwatchLogsExports ?? [],
    availabilityZones: cluster.AvailabilityZones ?? [],
    instances: instances
      .filter((instance) => instance.DBInstanceIdentifier && roles.has(instance.DBInstanceIdentifier))
      .map((instance) =>
        defined({
          identifier: instance.DBInstanceIdentifier ?? '',
          writer: roles.get(instance.DBInstanceIdentifier)?.IsClusterWriter ?? false,
          instanceClass: instance.DBInstanceClass,
          parameterGroupName: instance.DBParameterGroups?.[0]?.DBParameterGroupName,
          availabilityZone: instance.AvailabilityZone,
          promotionTier: instance.PromotionTier,
          publiclyAccessible: instance.PubliclyAccessible,
        }),
      ),
  });
}

/** Where a restore takes its snapshot from: the source region, or the DR copy's region. */
function restoreSource(details: SnapshotDetails, request: DatabaseRestoreRequest) {
  const region = request.region ?? details.snapshot.region;
  const fromCopy = region !== details.snapshot.region;
  const snapshot = fromCopy ? details.drCopy : details.snapshot;
  return { region, fromCopy, snapshot };
}

/**
 * gp3 volumes below this size (GiB) have a fixed baseline (3,000 IOPS, 125 MiB/s) that
 * DescribeDBInstances reports as Iops/StorageThroughput but that CreateDBInstance and
 * RestoreDBInstanceFromDBSnapshot refuse ("You can't specify IOPS or storage throughput for engine
 * mysql and a storage size less than 400": RDS User Guide, gp3 storage). SQL Server has none.
 */
function gp3BaselineThreshold(engine: string): number {
  if (engine.startsWith('sqlserver')) return 0;
  return engine.startsWith('oracle') ? 200 : 400;
}

/**
 * The storage of the restored instance: the request's, else the source's. The source's IOPS and
 * throughput go along only for the same storage type, and for gp3 only when they were provisioned
 * (source and target at or above the baseline threshold); RDS applies its baseline otherwise.
 */
function restoredStorage(source: InstanceSource, request: DatabaseRestoreRequest) {
  const storageType = request.storageType ?? source.storageType;
  const allocatedStorage = request.allocatedStorage ?? source.allocatedStorage;
  let carry = storageType === source.storageType;
  if (carry && storageType === 'gp3') {
    const threshold = gp3BaselineThreshold(source.engine);
    const below = (size: number | undefined) => size !== undefined && size < threshold;
    if (below(source.allocatedStorage) || below(allocatedStorage)) carry = false;
  }
  return {
    storageType,
    allocatedStorage,
    iops: request.iops ?? (carry ? source.iops : undefined),
    storageThroughput: carry && request.iops === undefined ? source.storageThroughput : undefined,
  };
}

export interface InstanceRestorePlan {
  readonly region: string;
  readonly input: RestoreDBInstanceFromDBSnapshotCommandInput;
  readonly warnings: string[];
}

/** RestoreDBInstanceFromDBSnapshot with the recorded settings, each overridable by the request. */
export function planInstanceRestore(
  details: Extract<DatabaseDetails, { mode: 'rds-instance' }>,
  request: DatabaseRestoreRequest,
  context: { environment: string; backupId: string; restoreId: string },
): InstanceRestorePlan {
  const source = details.source;
  const { region, fromCopy, snapshot } = restoreSource(details, request);
  if (!snapshot) throw new Error(`backup set ${context.backupId} has no copy in ${region}`);
  const warnings: string[] = [];
  const parameterGroupName = request.parameterGroupName ?? (fromCopy ? undefined : source.parameterGroupName);
  const optionGroupName = request.optionGroupName ?? (fromCopy ? undefined : source.optionGroupName);
  if (fromCopy && !request.parameterGroupName && source.parameterGroupName) {
    warnings.push(
      `restored in ${region} with the engine's default parameter group (the source used ${source.parameterGroupName} in ${source.region})`,
    );
  }
  if (fromCopy && !request.optionGroupName && source.optionGroupName) {
    warnings.push(
      `restored in ${region} with the engine's default option group (the source used ${source.optionGroupName} in ${source.region})`,
    );
  }
  const storage = restoredStorage(source, request);
  const input: RestoreDBInstanceFromDBSnapshotCommandInput = defined({
    DBInstanceIdentifier:
      request.targetIdentifier ?? restoredIdentifier(source.identifier, context.restoreId),
    DBSnapshotIdentifier: snapshot.identifier,
    DBInstanceClass: request.instanceClass ?? source.instanceClass,
    Port: request.port ?? source.port,
    MultiAZ: request.multiAz ?? source.multiAz,
    DBSubnetGroupName: request.subnetGroupName ?? (fromCopy ? undefined : source.subnetGroupName),
    VpcSecurityGroupIds: request.securityGroupIds ?? (fromCopy ? undefined : source.securityGroupIds),
    DBParameterGroupName: parameterGroupName,
    OptionGroupName: optionGroupName,
    StorageType: storage.storageType,
    AllocatedStorage: storage.allocatedStorage,
    Iops: storage.iops,
    StorageThroughput: storage.storageThroughput,
    PubliclyAccessible: request.publiclyAccessible ?? source.publiclyAccessible,
    DeletionProtection: request.deletionProtection ?? source.deletionProtection,
    EnableIAMDatabaseAuthentication: source.iamDatabaseAuthentication,
    EnableCloudwatchLogsExports:
      source.cloudwatchLogsExports.length > 0 ? source.cloudwatchLogsExports : undefined,
    CACertificateIdentifier: source.caCertificateIdentifier,
    CopyTagsToSnapshot: source.copyTagsToSnapshot,
    LicenseModel: source.licenseModel,
    Tags: restoreTags(context.environment, context.backupId, context.restoreId),
  });
  return { region, input, warnings };
}

export interface ClusterRestorePlan {
  readonly region: string;
  readonly cluster: RestoreDBClusterFromSnapshotCommandInput;
  readonly writer: CreateDBInstanceCommandInput;
  readonly warnings: string[];
}

/** RestoreDBClusterFromSnapshot with the recorded settings, then CreateDBInstance for its writer. */
export function planClusterRestore(
  details: Extract<DatabaseDetails, { mode: 'aurora-cluster' }>,
  request: DatabaseRestoreRequest,
  context: { environment: string; backupId: string; restoreId: string },
): ClusterRestorePlan {
  const source = details.source;
  const { region, fromCopy, snapshot } = restoreSource(details, request);
  if (!snapshot) throw new Error(`backup set ${context.backupId} has no copy in ${region}`);
  const warnings: string[] = [];
  const clusterIdentifier =
    request.targetIdentifier ?? restoredIdentifier(source.identifier, context.restoreId);
  const writer = source.instances.find((instance) => instance.writer) ?? source.instances[0];
  const readers = source.instances.filter((instance) => instance !== writer);
  if (readers.length > 0) {
    warnings.push(
      `only the writer instance was created; the source also had ${readers.length} reader(s) (${readers.map((reader) => `${reader.identifier} ${reader.instanceClass ?? ''}`.trim()).join(', ')}): add readers when the cluster is in use`,
    );
  }
  const clusterParameterGroupName =
    request.clusterParameterGroupName ?? (fromCopy ? undefined : source.clusterParameterGroupName);
  if (fromCopy && !request.clusterParameterGroupName && source.clusterParameterGroupName) {
    warnings.push(
      `restored in ${region} with the engine's default cluster parameter group (the source used ${source.clusterParameterGroupName})`,
    );
  }
  const tags = restoreTags(context.environment, context.backupId, context.restoreId);
  const cluster: RestoreDBClusterFromSnapshotCommandInput = defined({
    DBClusterIdentifier: clusterIdentifier,
    SnapshotIdentifier: snapshot.identifier,
    Engine: source.engine,
    EngineVersion: source.engineVersion,
    EngineMode: source.engineMode && source.engineMode !== 'provisioned' ? source.engineMode : undefined,
    Port: request.port ?? source.port,
    DBSubnetGroupName: request.subnetGroupName ?? (fromCopy ? undefined : source.subnetGroupName),
    VpcSecurityGroupIds: request.securityGroupIds ?? (fromCopy ? undefined : source.securityGroupIds),
    DBClusterParameterGroupName: clusterParameterGroupName,
    OptionGroupName: request.optionGroupName,
    DeletionProtection: request.deletionProtection ?? source.deletionProtection,
    EnableIAMDatabaseAuthentication: source.iamDatabaseAuthentication,
    EnableCloudwatchLogsExports:
      source.cloudwatchLogsExports.length > 0 ? source.cloudwatchLogsExports : undefined,
    CopyTagsToSnapshot: source.copyTagsToSnapshot,
    BacktrackWindow: fromCopy ? undefined : source.backtrackWindow,
    StorageType: request.storageType ?? source.storageType,
    ServerlessV2ScalingConfiguration: source.serverlessV2Scaling
      ? {
          MinCapacity: source.serverlessV2Scaling.minCapacity,
          MaxCapacity: source.serverlessV2Scaling.maxCapacity,
        }
      : undefined,
    Tags: tags,
  });
  const writerInput: CreateDBInstanceCommandInput = defined({
    DBInstanceIdentifier: writerIdentifier(clusterIdentifier),
    DBClusterIdentifier: clusterIdentifier,
    Engine: source.engine,
    DBInstanceClass: request.instanceClass ?? writer?.instanceClass ?? 'db.serverless',
    DBParameterGroupName: request.parameterGroupName ?? (fromCopy ? undefined : writer?.parameterGroupName),
    PubliclyAccessible: request.publiclyAccessible ?? writer?.publiclyAccessible,
    Tags: tags,
  });
  return { region, cluster, writer: writerInput, warnings };
}

/**
 * The CLI flags that set the request fields these messages name (the database module's local
 * options; a test pins that they exist there). The same messages reach the Step Functions console,
 * where the request's JSON fields apply, so a hint names both.
 */
export const CLI_FLAGS = { url: '--database-url', overwrite: '--database-overwrite' } as const;

/** The Restore workflow's Validate calls this: every problem with this request for this set. */
/**
 * What this deployment's database configuration cannot restore from the set, known from the
 * configuration alone (never connecting, never reading the URL's SSM parameter): a dump needs a
 * dump-mode configuration of the same engine family; a snapshot needs the RDS mode it was taken in
 * (each mode's Lambdas are granted only its own RDS actions and resources, cdk/components/database.ts).
 * Checked at Validate so that a mismatch fails the request before any component restores.
 */
export function configuredTargetProblems(details: DatabaseDetails, settings: DatabaseSettings): string[] {
  if (details.mode === 'dump') {
    if (settings.mode !== 'dump')
      return [
        `the set holds a ${details.engine} dump, and the database is configured in ${settings.mode} mode: restore it with a dump-mode configuration (CLI: ${CLI_FLAGS.url})`,
      ];
    if (settings.url === undefined) return [];
    let engine: string;
    try {
      engine = parseDatabaseUrl(settings.url, 'components.database.url').engine;
    } catch (error) {
      return [(error as Error).message];
    }
    if ((engine === 'postgresql') !== (details.engine === 'postgresql'))
      return [`a ${details.engine} dump cannot be restored into the configured ${engine} database`];
    return [];
  }
  const taken = details.mode === 'aurora-cluster' ? 'an Aurora cluster snapshot' : 'a DB instance snapshot';
  if (settings.mode === 'dump')
    return [
      `the set holds ${taken}, and the database is configured in dump mode: restore it with a deployment configured for ${details.mode} (or from the RDS console: snapshot ${details.snapshot.identifier})`,
    ];
  if (settings.mode !== details.mode)
    return [
      `the set holds ${taken}, and the database is configured in ${settings.mode} mode: restore it with a deployment configured for ${details.mode} (or from the RDS console: snapshot ${details.snapshot.identifier})`,
    ];
  return [];
}

/** configuredTargetProblems for Validate, from the manifest's details and the settings as given. */
export function checkConfiguredTarget(backupDetails: unknown, rawSettings: unknown): string[] {
  const details = databaseDetailsSchema.safeParse(backupDetails);
  // Unreadable details are checkDatabaseRestore's to report; no settings: nothing to compare.
  if (!details.success || rawSettings === undefined) return [];
  const settings = databaseSettingsSchema.safeParse(rawSettings);
  if (!settings.success)
    return [`this deployment's database settings are not valid: ${describeIssues(settings.error.issues)}`];
  return configuredTargetProblems(details.data, settings.data);
}

export function checkDatabaseRestore(backupDetails: unknown, rawRequest: unknown): string[] {
  const parsedDetails = databaseDetailsSchema.safeParse(backupDetails);
  if (!parsedDetails.success)
    return ['the manifest does not record what a database restore needs (its details are not readable)'];
  const details = parsedDetails.data;
  const parsedRequest = databaseRestoreRequestSchema.safeParse(rawRequest ?? {});
  if (!parsedRequest.success)
    return parsedRequest.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  const request = parsedRequest.data;
  const problems: string[] = [];
  const given = (keys: readonly (keyof DatabaseRestoreRequest)[]) =>
    keys.filter((key) => request[key] !== undefined);
  if (details.mode === 'dump') {
    const rdsOnly = given([
      'targetIdentifier',
      'region',
      'instanceClass',
      'subnetGroupName',
      'securityGroupIds',
      'parameterGroupName',
      'clusterParameterGroupName',
      'optionGroupName',
      'multiAz',
      'port',
      'storageType',
      'allocatedStorage',
      'iops',
      'publiclyAccessible',
      'deletionProtection',
    ]);
    if (rdsOnly.length > 0)
      problems.push(
        `${rdsOnly.join(', ')}: apply to RDS snapshots; this set holds a ${details.engine} dump: remove them from the request (a dump takes only "targetDatabase" and "overwrite"; CLI: the database of ${CLI_FLAGS.url}, and ${CLI_FLAGS.overwrite})`,
      );
    if (
      request.targetDatabase !== undefined &&
      request.targetDatabase === details.database &&
      !request.overwrite
    ) {
      problems.push(
        `targetDatabase ${request.targetDatabase} is the database that was backed up; restore into another database (request "targetDatabase", CLI: the database named in ${CLI_FLAGS.url}), or replace it with "overwrite": true in the request (CLI: ${CLI_FLAGS.overwrite})`,
      );
    }
    return problems;
  }
  const dumpOnly = given(['targetDatabase']);
  if (dumpOnly.length > 0 || request.overwrite) {
    problems.push(
      `${[...dumpOnly, ...(request.overwrite ? ['overwrite'] : [])].join(', ')}: apply to dumps (CLI: ${CLI_FLAGS.url}, ${CLI_FLAGS.overwrite}); an RDS restore always creates a new ${details.mode === 'aurora-cluster' ? 'cluster' : 'instance'}: remove them from the request, and name the new one with "targetIdentifier"`,
    );
  }
  if (
    request.targetIdentifier !== undefined &&
    request.targetIdentifier.toLowerCase() === details.source.identifier.toLowerCase()
  ) {
    problems.push(
      `targetIdentifier ${request.targetIdentifier} is the source itself; a restore never replaces it: choose a new name`,
    );
  }
  if (request.region !== undefined && request.region !== details.snapshot.region) {
    if (details.drCopy?.region !== request.region) {
      problems.push(
        `region ${request.region}: the set has no copy there (snapshot in ${details.snapshot.region}${details.drCopy ? `, copy in ${details.drCopy.region}` : ', no DR copy'})`,
      );
    }
    if (!request.subnetGroupName || !request.securityGroupIds) {
      problems.push(
        `region ${request.region}: give subnetGroupName and securityGroupIds of that region (the recorded ones are in ${details.snapshot.region})`,
      );
    }
  }
  if (details.mode === 'rds-instance' && request.clusterParameterGroupName !== undefined) {
    problems.push(
      'clusterParameterGroupName applies to Aurora clusters; this set holds a DB instance snapshot',
    );
  }
  if (details.mode === 'aurora-cluster') {
    const instanceOnly = given(['multiAz', 'allocatedStorage', 'iops']);
    if (instanceOnly.length > 0)
      problems.push(
        `${instanceOnly.join(', ')}: apply to DB instances; this set holds an Aurora cluster snapshot`,
      );
  }
  return problems;
}
