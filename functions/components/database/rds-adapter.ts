import type { KMSClient } from '@aws-sdk/client-kms';
import type {
  CreateDBInstanceCommandInput,
  DBCluster,
  DBClusterSnapshot,
  DBInstance,
  DBSnapshot,
  RDSClient,
  RestoreDBClusterFromSnapshotCommandInput,
  RestoreDBInstanceFromDBSnapshotCommandInput,
  Tag,
} from '@aws-sdk/client-rds';
import { ConfigError, RetryableError } from '#runtime/errors.ts';
import {
  DatabaseNotAvailableError,
  SnapshotNotDeletableYetError,
  SnapshotQuotaExceededError,
} from './errors.ts';
import type { SnapshotRef } from './schemas.ts';

/**
 * The one adapter to Amazon RDS (and KMS, to tell an AWS managed key from a customer key). One
 * client per region, built once per container; every call's error is translated into the
 * component's named errors so the state machine can retry or fail with a clear reason.
 */

const rdsClients = new Map<string, RDSClient>();
const kmsClients = new Map<string, KMSClient>();

type RdsSdk = typeof import('@aws-sdk/client-rds');
type KmsSdk = typeof import('@aws-sdk/client-kms');
let rdsModule: Promise<RdsSdk> | undefined;
let kmsModule: Promise<KmsSdk> | undefined;

/** The RDS SDK, imported on first use: a CLI run that backs up no RDS database never loads it. */
export function rdsSdk(): Promise<RdsSdk> {
  rdsModule ??= import('@aws-sdk/client-rds');
  return rdsModule;
}

function kmsSdk(): Promise<KmsSdk> {
  kmsModule ??= import('@aws-sdk/client-kms');
  return kmsModule;
}

export async function rdsClient(region: string): Promise<RDSClient> {
  const { RDSClient } = await rdsSdk();
  let client = rdsClients.get(region);
  if (!client) {
    client = new RDSClient({ region, maxAttempts: 4 });
    rdsClients.set(region, client);
  }
  return client;
}

async function kmsClient(region: string): Promise<KMSClient> {
  const { KMSClient } = await kmsSdk();
  let client = kmsClients.get(region);
  if (!client) {
    client = new KMSClient({ region, maxAttempts: 4 });
    kmsClients.set(region, client);
  }
  return client;
}

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
]);

function errorName(error: unknown): string {
  return typeof error === 'object' && error !== null && 'name' in error
    ? String((error as { name: unknown }).name)
    : '';
}

export function isErrorNamed(error: unknown, ...names: string[]): boolean {
  return names.includes(errorName(error));
}

/** Translates the documented RDS errors; anything else is rethrown unchanged. */
export function translateRdsError(error: unknown, what: string): never {
  const name = errorName(error);
  const message = error instanceof Error ? error.message : String(error);
  const throttled =
    THROTTLING.has(name) ||
    (typeof error === 'object' &&
      error !== null &&
      (error as { $retryable?: { throttling?: boolean } }).$retryable?.throttling === true);
  if (throttled) throw new RetryableError(`${what}: throttled by RDS (${name}): ${message}`);
  switch (name) {
    case 'InvalidDBInstanceStateFault':
    case 'InvalidDBClusterStateFault':
      throw new DatabaseNotAvailableError(`${what}: ${message}`);
    case 'SnapshotQuotaExceededFault':
      throw new SnapshotQuotaExceededError(
        `${what}: the account's manual snapshot quota is reached (${message}); delete old manual snapshots or ask AWS to raise the "Manual DB snapshots" quota`,
      );
    case 'DBInstanceNotFoundFault':
    case 'DBClusterNotFoundFault':
      throw new ConfigError(`${what}: ${message} (check components.database.identifier)`);
    default:
      throw error;
  }
}

async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    translateRdsError(error, what);
  }
}

export function tagValue(tags: readonly Tag[] | undefined, key: string): string | undefined {
  return tags?.find((tag) => tag.Key === key)?.Value;
}

/** What a describe call tells beyond the recorded reference (never recorded as such). */
interface SnapshotFacts {
  tags: Tag[];
  sourceIdentifier?: string;
  percent?: number;
  engine?: string;
  engineVersion?: string;
}

function instanceSnapshotRef(snapshot: DBSnapshot, region: string): SnapshotRef & SnapshotFacts {
  return {
    identifier: snapshot.DBSnapshotIdentifier ?? '',
    arn: snapshot.DBSnapshotArn ?? '',
    region,
    ...(snapshot.Status ? { status: snapshot.Status } : {}),
    ...(snapshot.KmsKeyId ? { kmsKeyId: snapshot.KmsKeyId } : {}),
    ...(snapshot.Encrypted !== undefined ? { encrypted: snapshot.Encrypted } : {}),
    ...(snapshot.SnapshotCreateTime ? { createdAt: snapshot.SnapshotCreateTime.toISOString() } : {}),
    ...(snapshot.AllocatedStorage !== undefined ? { sizeGiB: snapshot.AllocatedStorage } : {}),
    tags: snapshot.TagList ?? [],
    ...(snapshot.DBInstanceIdentifier ? { sourceIdentifier: snapshot.DBInstanceIdentifier } : {}),
    ...(snapshot.PercentProgress !== undefined ? { percent: snapshot.PercentProgress } : {}),
    ...(snapshot.Engine ? { engine: snapshot.Engine } : {}),
    ...(snapshot.EngineVersion ? { engineVersion: snapshot.EngineVersion } : {}),
  };
}

function clusterSnapshotRef(snapshot: DBClusterSnapshot, region: string): SnapshotRef & SnapshotFacts {
  return {
    identifier: snapshot.DBClusterSnapshotIdentifier ?? '',
    arn: snapshot.DBClusterSnapshotArn ?? '',
    region,
    ...(snapshot.Status ? { status: snapshot.Status } : {}),
    ...(snapshot.KmsKeyId ? { kmsKeyId: snapshot.KmsKeyId } : {}),
    ...(snapshot.StorageEncrypted !== undefined ? { encrypted: snapshot.StorageEncrypted } : {}),
    ...(snapshot.SnapshotCreateTime ? { createdAt: snapshot.SnapshotCreateTime.toISOString() } : {}),
    ...(snapshot.AllocatedStorage !== undefined ? { sizeGiB: snapshot.AllocatedStorage } : {}),
    tags: snapshot.TagList ?? [],
    ...(snapshot.DBClusterIdentifier ? { sourceIdentifier: snapshot.DBClusterIdentifier } : {}),
    ...(snapshot.PercentProgress !== undefined ? { percent: snapshot.PercentProgress } : {}),
    ...(snapshot.Engine ? { engine: snapshot.Engine } : {}),
    ...(snapshot.EngineVersion ? { engineVersion: snapshot.EngineVersion } : {}),
  };
}

export type ObservedSnapshot = ReturnType<typeof instanceSnapshotRef>;

/** Snapshot operations, the same for a DB instance and an Aurora cluster (their own APIs underneath). */
export interface SnapshotApi {
  create(
    region: string,
    sourceIdentifier: string,
    snapshotIdentifier: string,
    tags: Tag[],
  ): Promise<ObservedSnapshot>;
  describe(region: string, snapshotIdentifier: string): Promise<ObservedSnapshot | undefined>;
  /**
   * Copies into `targetRegion`: called there with the source ARN; the SDK's RDS middleware sees the
   * other region in the ARN and adds the presigned source-region request (PreSignedUrl) itself.
   * The copy is encrypted with `kmsKeyId`, except a cluster snapshot that is not encrypted (Aurora
   * cannot encrypt a copy): see `encryptsCopy`.
   */
  copy(targetRegion: string, source: SnapshotRef, kmsKeyId: string, tags: Tag[]): Promise<ObservedSnapshot>;
  share(region: string, snapshotIdentifier: string, account: string): Promise<void>;
  /** The accounts the snapshot's `restore` attribute lists (those it is shared with). */
  restoreAccounts(region: string, snapshotIdentifier: string): Promise<string[]>;
  /**
   * Deletes the snapshot: 'gone' when there is none by that name. RDS deletes only `available`
   * snapshots: its refusal becomes SnapshotNotDeletableYetError (retried), throttling RetryableError.
   */
  delete(region: string, snapshotIdentifier: string): Promise<'deleted' | 'gone'>;
  readonly alreadyExists: string;
  /** Whether a copy of an unencrypted snapshot is encrypted with the given key (instances) or stays unencrypted (clusters). */
  readonly encryptsCopy: boolean;
  /** `snapshot` or `cluster snapshot`, for messages. */
  readonly kind: string;
}

/** The error names RDS gives a missing snapshot and one it will not delete in its state (wire code and SDK class). */
const SNAPSHOT_NOT_FOUND = ['DBSnapshotNotFoundFault', 'DBSnapshotNotFound'];
const CLUSTER_SNAPSHOT_NOT_FOUND = ['DBClusterSnapshotNotFoundFault', 'DBClusterSnapshotNotFound'];
const SNAPSHOT_STATE = ['InvalidDBSnapshotStateFault', 'InvalidDBSnapshotState'];
const CLUSTER_SNAPSHOT_STATE = ['InvalidDBClusterSnapshotStateFault', 'InvalidDBClusterSnapshotState'];

async function deleteSnapshot(
  kind: string,
  region: string,
  snapshotIdentifier: string,
  run: () => Promise<unknown>,
  notFound: string[],
  invalidState: string[],
): Promise<'deleted' | 'gone'> {
  try {
    await run();
    return 'deleted';
  } catch (error) {
    if (isErrorNamed(error, ...notFound)) return 'gone';
    if (isErrorNamed(error, ...invalidState)) {
      throw new SnapshotNotDeletableYetError(
        `${kind} ${snapshotIdentifier} in ${region} cannot be deleted in its current state (${error instanceof Error ? error.message : String(error)}); the deletion is retried`,
      );
    }
    translateRdsError(error, `deleting ${kind} ${snapshotIdentifier} in ${region}`);
  }
}

function restoreAttribute(
  attributes: readonly { AttributeName?: string; AttributeValues?: string[] }[] | undefined,
): string[] {
  return attributes?.find((attribute) => attribute.AttributeName === 'restore')?.AttributeValues ?? [];
}

export const instanceSnapshots: SnapshotApi = {
  alreadyExists: 'DBSnapshotAlreadyExistsFault',
  encryptsCopy: true,
  kind: 'snapshot',
  async create(region, sourceIdentifier, snapshotIdentifier, tags) {
    const out = await (await rdsClient(region)).send(
      new (await rdsSdk()).CreateDBSnapshotCommand({
        DBInstanceIdentifier: sourceIdentifier,
        DBSnapshotIdentifier: snapshotIdentifier,
        Tags: tags,
      }),
    );
    return instanceSnapshotRef(out.DBSnapshot ?? { DBSnapshotIdentifier: snapshotIdentifier }, region);
  },
  async describe(region, snapshotIdentifier) {
    try {
      const out = await (await rdsClient(region)).send(
        new (await rdsSdk()).DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: snapshotIdentifier }),
      );
      const found = out?.DBSnapshots?.[0];
      return found ? instanceSnapshotRef(found, region) : undefined;
    } catch (error) {
      if (isErrorNamed(error, ...SNAPSHOT_NOT_FOUND)) return undefined;
      translateRdsError(error, `describing snapshot ${snapshotIdentifier} in ${region}`);
    }
  },
  async copy(targetRegion, source, kmsKeyId, tags) {
    const out = await (await rdsClient(targetRegion)).send(
      new (await rdsSdk()).CopyDBSnapshotCommand({
        SourceDBSnapshotIdentifier: source.arn,
        TargetDBSnapshotIdentifier: source.identifier,
        KmsKeyId: kmsKeyId,
        Tags: tags,
      }),
    );
    return instanceSnapshotRef(out.DBSnapshot ?? { DBSnapshotIdentifier: source.identifier }, targetRegion);
  },
  async share(region, snapshotIdentifier, account) {
    await call(`sharing snapshot ${snapshotIdentifier} with ${account}`, async () =>
      (await rdsClient(region)).send(
        new (await rdsSdk()).ModifyDBSnapshotAttributeCommand({
          DBSnapshotIdentifier: snapshotIdentifier,
          AttributeName: 'restore',
          ValuesToAdd: [account],
        }),
      ),
    );
  },
  async restoreAccounts(region, snapshotIdentifier) {
    const out = await call(
      `reading who snapshot ${snapshotIdentifier} in ${region} is shared with`,
      async () =>
        (await rdsClient(region)).send(
          new (await rdsSdk()).DescribeDBSnapshotAttributesCommand({
            DBSnapshotIdentifier: snapshotIdentifier,
          }),
        ),
    );
    return restoreAttribute(out.DBSnapshotAttributesResult?.DBSnapshotAttributes);
  },
  delete(region, snapshotIdentifier) {
    return deleteSnapshot(
      'snapshot',
      region,
      snapshotIdentifier,
      async () =>
        (await rdsClient(region)).send(
          new (await rdsSdk()).DeleteDBSnapshotCommand({ DBSnapshotIdentifier: snapshotIdentifier }),
        ),
      SNAPSHOT_NOT_FOUND,
      SNAPSHOT_STATE,
    );
  },
};

export const clusterSnapshots: SnapshotApi = {
  alreadyExists: 'DBClusterSnapshotAlreadyExistsFault',
  encryptsCopy: false,
  kind: 'cluster snapshot',
  async create(region, sourceIdentifier, snapshotIdentifier, tags) {
    const out = await (await rdsClient(region)).send(
      new (await rdsSdk()).CreateDBClusterSnapshotCommand({
        DBClusterIdentifier: sourceIdentifier,
        DBClusterSnapshotIdentifier: snapshotIdentifier,
        Tags: tags,
      }),
    );
    return clusterSnapshotRef(
      out.DBClusterSnapshot ?? { DBClusterSnapshotIdentifier: snapshotIdentifier },
      region,
    );
  },
  async describe(region, snapshotIdentifier) {
    try {
      const out = await (await rdsClient(region)).send(
        new (await rdsSdk()).DescribeDBClusterSnapshotsCommand({
          DBClusterSnapshotIdentifier: snapshotIdentifier,
        }),
      );
      const found = out?.DBClusterSnapshots?.[0];
      return found ? clusterSnapshotRef(found, region) : undefined;
    } catch (error) {
      if (isErrorNamed(error, ...CLUSTER_SNAPSHOT_NOT_FOUND)) return undefined;
      translateRdsError(error, `describing cluster snapshot ${snapshotIdentifier} in ${region}`);
    }
  },
  async copy(targetRegion, source, kmsKeyId, tags) {
    const out = await (await rdsClient(targetRegion)).send(
      new (await rdsSdk()).CopyDBClusterSnapshotCommand({
        SourceDBClusterSnapshotIdentifier: source.arn,
        TargetDBClusterSnapshotIdentifier: source.identifier,
        // Unlike CopyDBSnapshot, RDS refuses a KmsKeyId for an unencrypted cluster snapshot: its
        // copy stays unencrypted (RDS API reference, CopyDBClusterSnapshot).
        ...(source.encrypted === false ? {} : { KmsKeyId: kmsKeyId }),
        Tags: tags,
      }),
    );
    return clusterSnapshotRef(
      out.DBClusterSnapshot ?? { DBClusterSnapshotIdentifier: source.identifier },
      targetRegion,
    );
  },
  async share(region, snapshotIdentifier, account) {
    await call(`sharing cluster snapshot ${snapshotIdentifier} with ${account}`, async () =>
      (await rdsClient(region)).send(
        new (await rdsSdk()).ModifyDBClusterSnapshotAttributeCommand({
          DBClusterSnapshotIdentifier: snapshotIdentifier,
          AttributeName: 'restore',
          ValuesToAdd: [account],
        }),
      ),
    );
  },
  async restoreAccounts(region, snapshotIdentifier) {
    const out = await call(
      `reading who cluster snapshot ${snapshotIdentifier} in ${region} is shared with`,
      async () =>
        (await rdsClient(region)).send(
          new (await rdsSdk()).DescribeDBClusterSnapshotAttributesCommand({
            DBClusterSnapshotIdentifier: snapshotIdentifier,
          }),
        ),
    );
    return restoreAttribute(out.DBClusterSnapshotAttributesResult?.DBClusterSnapshotAttributes);
  },
  delete(region, snapshotIdentifier) {
    return deleteSnapshot(
      'cluster snapshot',
      region,
      snapshotIdentifier,
      async () =>
        (await rdsClient(region)).send(
          new (await rdsSdk()).DeleteDBClusterSnapshotCommand({
            DBClusterSnapshotIdentifier: snapshotIdentifier,
          }),
        ),
      CLUSTER_SNAPSHOT_NOT_FOUND,
      CLUSTER_SNAPSHOT_STATE,
    );
  },
};

export async function describeInstance(region: string, identifier: string): Promise<DBInstance | undefined> {
  try {
    const out = await (await rdsClient(region)).send(
      new (await rdsSdk()).DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }),
    );
    return out.DBInstances?.[0];
  } catch (error) {
    if (isErrorNamed(error, 'DBInstanceNotFoundFault')) return undefined;
    translateRdsError(error, `describing DB instance ${identifier} in ${region}`);
  }
}

export async function describeCluster(region: string, identifier: string): Promise<DBCluster | undefined> {
  try {
    const out = await (await rdsClient(region)).send(
      new (await rdsSdk()).DescribeDBClustersCommand({ DBClusterIdentifier: identifier }),
    );
    return out.DBClusters?.[0];
  } catch (error) {
    if (isErrorNamed(error, 'DBClusterNotFoundFault')) return undefined;
    translateRdsError(error, `describing DB cluster ${identifier} in ${region}`);
  }
}

/** The instances of a cluster (to record their classes, parameter groups and roles). */
export async function describeClusterInstances(
  region: string,
  clusterIdentifier: string,
): Promise<DBInstance[]> {
  const instances: DBInstance[] = [];
  let marker: string | undefined;
  do {
    const out = await call(`listing the instances of cluster ${clusterIdentifier}`, async () =>
      (await rdsClient(region)).send(
        new (await rdsSdk()).DescribeDBInstancesCommand({
          Filters: [{ Name: 'db-cluster-id', Values: [clusterIdentifier] }],
          ...(marker ? { Marker: marker } : {}),
        }),
      ),
    );
    instances.push(...(out.DBInstances ?? []));
    marker = out.Marker;
  } while (marker);
  return instances;
}

/**
 * The key's state (`Enabled`, `Disabled`, `PendingDeletion`, ...); undefined when KMS knows no such
 * key (deleted). Only an `Enabled` key lets RDS restore what it encrypts.
 */
export async function keyState(region: string, keyId: string): Promise<string | undefined> {
  try {
    const out = await (await kmsClient(region)).send(
      new (await kmsSdk()).DescribeKeyCommand({ KeyId: keyId }),
    );
    return out.KeyMetadata?.KeyState ?? 'unknown';
  } catch (error) {
    if (isErrorNamed(error, 'NotFoundException')) return undefined;
    translateRdsError(error, `describing KMS key ${keyId} in ${region}`);
  }
}

/**
 * 'AWS' for an AWS managed key (aws/rds), 'CUSTOMER' for a customer managed key. KMS throttling
 * becomes RetryableError like RDS throttling (the state machine retries it with backoff).
 */
export async function keyManager(region: string, keyId: string): Promise<string | undefined> {
  const out = await call(`describing KMS key ${keyId} in ${region}`, async () =>
    (await kmsClient(region)).send(new (await kmsSdk()).DescribeKeyCommand({ KeyId: keyId })),
  );
  return out.KeyMetadata?.KeyManager;
}

export async function restoreInstance(
  region: string,
  input: RestoreDBInstanceFromDBSnapshotCommandInput,
): Promise<DBInstance | undefined> {
  const out = await (await rdsClient(region)).send(
    new (await rdsSdk()).RestoreDBInstanceFromDBSnapshotCommand(input),
  );
  return out.DBInstance;
}

export async function restoreCluster(
  region: string,
  input: RestoreDBClusterFromSnapshotCommandInput,
): Promise<DBCluster | undefined> {
  const out = await (await rdsClient(region)).send(
    new (await rdsSdk()).RestoreDBClusterFromSnapshotCommand(input),
  );
  return out.DBCluster;
}

export async function createInstance(
  region: string,
  input: CreateDBInstanceCommandInput,
): Promise<DBInstance | undefined> {
  const out = await (await rdsClient(region)).send(new (await rdsSdk()).CreateDBInstanceCommand(input));
  return out.DBInstance;
}
