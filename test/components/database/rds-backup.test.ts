import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CopyDBClusterSnapshotCommand,
  CopyDBSnapshotCommand,
  CreateDBClusterSnapshotCommand,
  CreateDBSnapshotCommand,
  DBSnapshotAlreadyExistsFault,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  InvalidDBClusterStateFault,
  InvalidDBInstanceStateFault,
  ModifyDBClusterSnapshotAttributeCommand,
  ModifyDBSnapshotAttributeCommand,
  RDSClient,
  RDSServiceException,
  SnapshotQuotaExceededFault,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkBackup, startBackup } from '#components/database/backup.ts';
import {
  DatabaseNameConflictError,
  DatabaseNotAvailableError,
  DatabaseOperationFailedError,
  DatabaseWaitTimeoutError,
  SnapshotQuotaExceededError,
} from '#components/database/errors.ts';
import type { BackupProgress } from '#components/database/progress.ts';
import { databaseDetailsSchema } from '#components/database/schemas.ts';
import { RetryableError } from '#runtime/errors.ts';
import { begin, databaseRuntime, failure } from './support.ts';

const rds = mockClient(RDSClient);
const kms = mockClient(KMSClient);

const INSTANCE = {
  DBInstanceIdentifier: 'liferay-db',
  DBInstanceArn: 'arn:aws:rds:eu-west-1:111111111111:db:liferay-db',
  DBInstanceStatus: 'available',
  Engine: 'mysql',
  EngineVersion: '8.0.39',
  DBInstanceClass: 'db.r6g.large',
  DBSubnetGroup: { DBSubnetGroupName: 'liferay-subnets' },
  VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0a1b2c3d4e5f60718', Status: 'active' }],
  DBParameterGroups: [{ DBParameterGroupName: 'liferay-mysql8' }],
  OptionGroupMemberships: [{ OptionGroupName: 'default:mysql-8-0' }],
  StorageType: 'gp3',
  AllocatedStorage: 100,
  Iops: 3000,
  StorageThroughput: 125,
  MultiAZ: true,
  Endpoint: { Address: 'liferay-db.abc.eu-west-1.rds.amazonaws.com', Port: 3306 },
  KmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/11111111-2222-3333-4444-555555555555',
  StorageEncrypted: true,
  PubliclyAccessible: false,
  AvailabilityZone: 'eu-west-1a',
  DeletionProtection: true,
  IAMDatabaseAuthenticationEnabled: false,
  DBName: 'lportal',
  MasterUsername: 'admin',
};

const settings = {
  mode: 'rds-instance',
  identifier: 'liferay-db',
  region: 'eu-west-1',
  waitIntervalSeconds: 30,
  maxWaitAttempts: 5,
};

function snapshot(id: string, status: string, extra: Record<string, unknown> = {}) {
  return {
    DBSnapshotIdentifier: id,
    DBSnapshotArn: `arn:aws:rds:${(extra.region as string) ?? 'eu-west-1'}:111111111111:snapshot:${id}`,
    DBInstanceIdentifier: 'liferay-db',
    Status: status,
    Encrypted: true,
    KmsKeyId: INSTANCE.KmsKeyId,
    AllocatedStorage: 100,
    ...extra,
  };
}

/** The inputs of every call of a command, in call order. */
function inputs<I>(
  client: { commandCalls: (command: never) => { args: [{ input: I }] }[] },
  command: unknown,
): I[] {
  return client.commandCalls(command as never).map((call) => call.args[0].input);
}

async function regionOf(call: { thisValue: unknown }): Promise<string> {
  return (call.thisValue as RDSClient).config.region();
}

beforeEach(() => {
  rds.reset();
  kms.reset();
});
afterEach(() => {
  rds.reset();
  kms.reset();
});

describe('RDS instance snapshot (prepare + Wait loop)', () => {
  it('starts a tagged snapshot named after the backup id and records the source settings', async () => {
    // Prepare
    const rt = databaseRuntime(settings);
    const { backupId } = await begin(rt);
    const id = `liferay-backup-liferay-prod-${backupId}`;
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [INSTANCE] });
    rds.on(CreateDBSnapshotCommand).resolves({ DBSnapshot: snapshot(id, 'creating') });
    // Act
    const progress = await startBackup({ backup: { backupId } }, rt);
    // Assess
    expect(inputs(rds, DescribeDBInstancesCommand)).toContainEqual({ DBInstanceIdentifier: 'liferay-db' });
    expect(rds.commandCalls(CreateDBSnapshotCommand)[0]?.args[0].input).toEqual({
      DBInstanceIdentifier: 'liferay-db',
      DBSnapshotIdentifier: id,
      Tags: [
        { Key: 'managed-by', Value: 'liferay-backup' },
        { Key: 'liferay-backup:environment', Value: 'liferay-prod' },
        { Key: 'liferay-backup:backup-id', Value: backupId },
        { Key: 'liferay-backup:schedule', Value: 'nightly-full' },
      ],
    });
    expect(progress).toMatchObject({
      mode: 'rds-instance',
      phase: 'snapshot',
      done: false,
      attempt: 0,
      waitSeconds: 30,
    });
    expect(progress.source).toMatchObject({
      engine: 'mysql',
      engineVersion: '8.0.39',
      instanceClass: 'db.r6g.large',
      subnetGroupName: 'liferay-subnets',
      securityGroupIds: ['sg-0a1b2c3d4e5f60718'],
      parameterGroupName: 'liferay-mysql8',
      optionGroupName: 'default:mysql-8-0',
      storageType: 'gp3',
      allocatedStorage: 100,
      multiAz: true,
      port: 3306,
      kmsKeyId: INSTANCE.KmsKeyId,
    });
  });

  it('a retried start finds its own snapshot instead of failing on DBSnapshotAlreadyExists', async () => {
    const rt = databaseRuntime(settings);
    const { backupId } = await begin(rt);
    const id = `liferay-backup-liferay-prod-${backupId}`;
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [INSTANCE] });
    rds
      .on(CreateDBSnapshotCommand)
      .rejects(
        new DBSnapshotAlreadyExistsFault({ message: `DBSnapshot ${id} already exists`, $metadata: {} }),
      );
    rds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: id }).resolves({
      DBSnapshots: [
        snapshot(id, 'creating', { TagList: [{ Key: 'liferay-backup:backup-id', Value: backupId }] }),
      ],
    });
    const progress = await startBackup({ backup: { backupId } }, rt);
    expect(progress.snapshot).toMatchObject({ identifier: id, status: 'creating' });

    // Someone else's snapshot with that name is not adopted.
    rds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: id }).resolves({
      DBSnapshots: [
        snapshot(id, 'available', {
          TagList: [{ Key: 'liferay-backup:backup-id', Value: 'b20200101t000000z-0000' }],
        }),
      ],
    });
    await expect(startBackup({ backup: { backupId } }, rt)).rejects.toBeInstanceOf(DatabaseNameConflictError);
  });

  it('an instance that is not available (backing-up, stopped, or InvalidDBInstanceState) raises DatabaseNotAvailableError', async () => {
    const rt = databaseRuntime(settings);
    const { backupId } = await begin(rt);
    rds
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ ...INSTANCE, DBInstanceStatus: 'backing-up' }] });
    await expect(startBackup({ backup: { backupId } }, rt)).rejects.toThrow(/liferay-db is backing-up/);
    rds
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ ...INSTANCE, DBInstanceStatus: 'stopped' }] });
    await expect(startBackup({ backup: { backupId } }, rt)).rejects.toBeInstanceOf(DatabaseNotAvailableError);
    expect(inputs(rds, CreateDBSnapshotCommand)).toEqual([]);
    // The state can change between describe and create: the documented fault maps the same way.
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [INSTANCE] });
    rds.on(CreateDBSnapshotCommand).rejects(
      new InvalidDBInstanceStateFault({
        message: 'The specified DB instance is not in the available state.',
        $metadata: {},
      }),
    );
    const error = await failure(startBackup({ backup: { backupId } }, rt));
    expect(error).toBeInstanceOf(DatabaseNotAvailableError);
    expect(error.name).toBe('DatabaseNotAvailableError');
  });

  it('a full snapshot quota fails with SnapshotQuotaExceededError, throttling with RetryableError', async () => {
    const rt = databaseRuntime(settings);
    const { backupId } = await begin(rt);
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [INSTANCE] });
    rds.on(CreateDBSnapshotCommand).rejects(
      new SnapshotQuotaExceededFault({
        message: 'Cannot create more than 100 manual snapshots',
        $metadata: {},
      }),
    );
    const quota = await failure(startBackup({ backup: { backupId } }, rt));
    expect(quota).toBeInstanceOf(SnapshotQuotaExceededError);
    expect(quota.message).toMatch(/quota/);
    rds.on(CreateDBSnapshotCommand).rejects(
      new RDSServiceException({
        name: 'Throttling',
        $fault: 'client',
        message: 'Rate exceeded',
        $metadata: {},
      }),
    );
    const throttled = await failure(startBackup({ backup: { backupId } }, rt));
    expect(throttled).toBeInstanceOf(RetryableError);
    expect(throttled.name).toBe('RetryableError');
  });

  it('waits while creating, copies to the DR region with its key, shares, and records what a restore needs', async () => {
    // Prepare
    const rt = databaseRuntime({
      ...settings,
      drRegion: 'eu-central-1',
      drKmsKeyArn: 'arn:aws:kms:eu-central-1:111111111111:key/99999999-8888-7777-6666-555555555555',
      shareWithAccount: '222222222222',
    });
    const { backupId } = await begin(rt);
    const id = `liferay-backup-liferay-prod-${backupId}`;
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [INSTANCE] });
    rds.on(CreateDBSnapshotCommand).resolves({ DBSnapshot: snapshot(id, 'creating') });
    let progress: BackupProgress = await startBackup({ backup: { backupId } }, rt);
    const check = async () => {
      progress = await checkBackup(
        JSON.parse(JSON.stringify({ backup: { backupId }, database: progress })),
        rt,
      );
      return progress;
    };
    // Act + Assess: snapshot still creating
    rds
      .on(DescribeDBSnapshotsCommand)
      .resolves({ DBSnapshots: [snapshot(id, 'creating', { PercentProgress: 40 })] });
    expect(await check()).toMatchObject({
      done: false,
      phase: 'snapshot',
      attempt: 1,
      snapshot: { percent: 40 },
    });
    // available: the copy starts in the DR region
    const drKey = 'arn:aws:kms:eu-central-1:111111111111:key/99999999-8888-7777-6666-555555555555';
    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [snapshot(id, 'available')] });
    rds
      .on(CopyDBSnapshotCommand)
      .resolves({ DBSnapshot: snapshot(id, 'pending', { region: 'eu-central-1', KmsKeyId: drKey }) });
    expect(await check()).toMatchObject({
      done: false,
      phase: 'copy',
      drCopy: { region: 'eu-central-1', status: 'pending' },
    });
    const copyCall = rds.commandCalls(CopyDBSnapshotCommand)[0];
    expect(copyCall?.args[0].input).toEqual({
      SourceDBSnapshotIdentifier: `arn:aws:rds:eu-west-1:111111111111:snapshot:${id}`,
      TargetDBSnapshotIdentifier: id,
      KmsKeyId: drKey,
      Tags: expect.arrayContaining([{ Key: 'liferay-backup:backup-id', Value: backupId }]),
    });
    expect(await regionOf(copyCall as never)).toBe('eu-central-1');
    // the copy becomes available; the source key is aws/rds (not shareable), the copy's is ours
    rds.on(DescribeDBSnapshotsCommand).resolves({
      DBSnapshots: [snapshot(id, 'available', { region: 'eu-central-1', KmsKeyId: drKey, Encrypted: true })],
    });
    kms
      .on(DescribeKeyCommand, { KeyId: INSTANCE.KmsKeyId })
      .resolves({ KeyMetadata: { KeyId: 'k1', KeyManager: 'AWS' } });
    kms
      .on(DescribeKeyCommand, { KeyId: drKey })
      .resolves({ KeyMetadata: { KeyId: 'k2', KeyManager: 'CUSTOMER' } });
    rds.on(ModifyDBSnapshotAttributeCommand).resolves({});
    const done = await check();
    expect(done.done).toBe(true);
    expect(rds.commandCalls(ModifyDBSnapshotAttributeCommand).map((call) => call.args[0].input)).toEqual([
      { DBSnapshotIdentifier: id, AttributeName: 'restore', ValuesToAdd: ['222222222222'] },
    ]);
    expect(await regionOf(rds.commandCalls(ModifyDBSnapshotAttributeCommand)[0] as never)).toBe(
      'eu-central-1',
    );
    const result = done.result;
    expect(result?.status).toBe('complete');
    expect(result?.warnings.join(' ')).toMatch(
      /aws\/rds, which cannot be shared: it was NOT shared with account 222222222222 \(its DR copy/,
    );
    const details = databaseDetailsSchema.parse(result?.details);
    expect(details).toMatchObject({
      mode: 'rds-instance',
      snapshot: { identifier: id, region: 'eu-west-1' },
      drCopy: { identifier: id, region: 'eu-central-1', kmsKeyId: drKey },
      sharedWith: [
        { account: '222222222222', snapshotArn: `arn:aws:rds:eu-central-1:111111111111:snapshot:${id}` },
      ],
    });
    expect(result?.summary).toMatchObject({
      snapshot: id,
      drCopy: `eu-central-1/${id}`,
      sharedWith: '222222222222',
    });
  });

  it('gives up after the configured number of checks with a clear reason, deleting nothing', async () => {
    const rt = databaseRuntime({ ...settings, maxWaitAttempts: 2 });
    const { backupId } = await begin(rt);
    const id = `liferay-backup-liferay-prod-${backupId}`;
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [INSTANCE] });
    rds.on(CreateDBSnapshotCommand).resolves({ DBSnapshot: snapshot(id, 'creating') });
    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [snapshot(id, 'creating')] });
    let progress = await startBackup({ backup: { backupId } }, rt);
    progress = await checkBackup({ backup: { backupId }, database: progress }, rt);
    progress = await checkBackup({ backup: { backupId }, database: progress }, rt);
    const error = await failure(checkBackup({ backup: { backupId }, database: progress }, rt));
    expect(error).toBeInstanceOf(DatabaseWaitTimeoutError);
    expect(error.message).toMatch(/still creating after 2 checks 30 s apart; nothing was deleted/);
  });
});

describe('Aurora cluster snapshot', () => {
  const CLUSTER = {
    DBClusterIdentifier: 'liferay-aurora',
    DBClusterArn: 'arn:aws:rds:eu-west-1:111111111111:cluster:liferay-aurora',
    Status: 'available',
    Engine: 'aurora-postgresql',
    EngineVersion: '15.4',
    EngineMode: 'provisioned',
    DBSubnetGroup: 'liferay-subnets',
    VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0a1b2c3d4e5f60718' }],
    DBClusterParameterGroup: 'liferay-aurora-pg15',
    Port: 5432,
    KmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/aaaaaaaa-2222-3333-4444-555555555555',
    StorageEncrypted: true,
    DeletionProtection: true,
    IAMDatabaseAuthenticationEnabled: false,
    ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 8 },
    DBClusterMembers: [
      { DBInstanceIdentifier: 'liferay-aurora-1', IsClusterWriter: true },
      { DBInstanceIdentifier: 'liferay-aurora-2', IsClusterWriter: false },
    ],
  };

  it('uses the cluster APIs and records the cluster settings and its instances', async () => {
    const rt = databaseRuntime({
      ...settings,
      mode: 'aurora-cluster',
      identifier: 'liferay-aurora',
      shareWithAccount: '222222222222',
    });
    const { backupId } = await begin(rt);
    const id = `liferay-backup-liferay-prod-${backupId}`;
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [CLUSTER] });
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: 'liferay-aurora-1',
          DBInstanceClass: 'db.r6g.large',
          DBParameterGroups: [{ DBParameterGroupName: 'liferay-aurora-inst' }],
          PromotionTier: 1,
        },
        { DBInstanceIdentifier: 'liferay-aurora-2', DBInstanceClass: 'db.serverless', PromotionTier: 2 },
      ],
    });
    rds.on(CreateDBClusterSnapshotCommand).resolves({
      DBClusterSnapshot: {
        DBClusterSnapshotIdentifier: id,
        DBClusterSnapshotArn: `arn:aws:rds:eu-west-1:111111111111:cluster-snapshot:${id}`,
        Status: 'creating',
      },
    });
    let progress = await startBackup({ backup: { backupId } }, rt);
    expect(inputs(rds, DescribeDBInstancesCommand)).toContainEqual({
      Filters: [{ Name: 'db-cluster-id', Values: ['liferay-aurora'] }],
    });
    expect(rds.commandCalls(CreateDBClusterSnapshotCommand)[0]?.args[0].input).toMatchObject({
      DBClusterIdentifier: 'liferay-aurora',
      DBClusterSnapshotIdentifier: id,
    });
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [
        {
          DBClusterSnapshotIdentifier: id,
          DBClusterSnapshotArn: `arn:aws:rds:eu-west-1:111111111111:cluster-snapshot:${id}`,
          Status: 'available',
          StorageEncrypted: true,
          KmsKeyId: CLUSTER.KmsKeyId,
        },
      ],
    });
    kms.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: 'k', KeyManager: 'CUSTOMER' } });
    rds.on(ModifyDBClusterSnapshotAttributeCommand).resolves({});
    progress = await checkBackup({ backup: { backupId }, database: progress }, rt);
    expect(progress.done).toBe(true);
    expect(inputs(rds, ModifyDBClusterSnapshotAttributeCommand)).toContainEqual({
      DBClusterSnapshotIdentifier: id,
      AttributeName: 'restore',
      ValuesToAdd: ['222222222222'],
    });
    expect(inputs(rds, CopyDBClusterSnapshotCommand)).toEqual([]);
    const details = databaseDetailsSchema.parse(progress.result?.details);
    expect(details).toMatchObject({
      mode: 'aurora-cluster',
      source: {
        engine: 'aurora-postgresql',
        clusterParameterGroupName: 'liferay-aurora-pg15',
        serverlessV2Scaling: { minCapacity: 0.5, maxCapacity: 8 },
        instances: [
          {
            identifier: 'liferay-aurora-1',
            writer: true,
            instanceClass: 'db.r6g.large',
            parameterGroupName: 'liferay-aurora-inst',
          },
          { identifier: 'liferay-aurora-2', writer: false, instanceClass: 'db.serverless' },
        ],
      },
    });
  });
});

describe('error paths of the Wait loop, the copy and the share', () => {
  const drKey = 'arn:aws:kms:eu-central-1:111111111111:key/99999999-8888-7777-6666-555555555555';

  async function started(extra: Record<string, unknown> = {}) {
    const rt = databaseRuntime({ ...settings, ...extra });
    const { backupId } = await begin(rt);
    const id = `liferay-backup-liferay-prod-${backupId}`;
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [INSTANCE] });
    rds.on(CreateDBSnapshotCommand).resolves({ DBSnapshot: snapshot(id, 'creating') });
    const progress = await startBackup({ backup: { backupId } }, rt);
    const check = (database: BackupProgress) =>
      checkBackup(JSON.parse(JSON.stringify({ backup: { backupId }, database })), rt);
    return { rt, backupId, id, progress, check };
  }

  it('a snapshot that fails is a failed component naming its state, not a longer wait', async () => {
    const { id, progress, check } = await started();
    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [snapshot(id, 'failed')] });
    const error = await failure(check(progress));
    expect(error).toBeInstanceOf(DatabaseOperationFailedError);
    expect(error.message).toBe(`snapshot ${id} is failed`);
  });

  it('throttled describe calls become RetryableError', async () => {
    const { progress, check } = await started();
    rds.on(DescribeDBSnapshotsCommand).rejects(
      new RDSServiceException({
        name: 'Throttling',
        $fault: 'client',
        message: 'Rate exceeded',
        $metadata: {},
      }),
    );
    expect((await failure(check(progress))).name).toBe('RetryableError');
  });

  it('a retried copy adopts the copy this backup made; a foreign one of that name is refused', async () => {
    const { backupId, id, progress, check } = await started({
      drRegion: 'eu-central-1',
      drKmsKeyArn: drKey,
    });
    const copyFault = new DBSnapshotAlreadyExistsFault({ message: 'exists', $metadata: {} });
    rds.on(CopyDBSnapshotCommand).rejects(copyFault);
    rds.on(DescribeDBSnapshotsCommand).callsFake(async (_input, getClient: () => RDSClient) => {
      const region = await getClient().config.region();
      return {
        DBSnapshots: [
          snapshot(id, region === 'eu-central-1' ? 'copying' : 'available', {
            region,
            TagList: [{ Key: 'liferay-backup:backup-id', Value: backupId }],
          }),
        ],
      };
    });
    expect(await check(progress)).toMatchObject({
      phase: 'copy',
      drCopy: { region: 'eu-central-1', status: 'copying' },
    });
    rds.on(DescribeDBSnapshotsCommand).callsFake(async (_input, getClient: () => RDSClient) => {
      const region = await getClient().config.region();
      return {
        DBSnapshots: [
          snapshot(id, 'available', {
            region,
            TagList: [{ Key: 'liferay-backup:backup-id', Value: 'b20200101t000000z-0000' }],
          }),
        ],
      };
    });
    expect(await failure(check(progress))).toBeInstanceOf(DatabaseNameConflictError);
  });

  it('a DR copy that fails names the copy and its region', async () => {
    const { backupId, id, progress, check } = await started({ drRegion: 'eu-central-1', drKmsKeyArn: drKey });
    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [snapshot(id, 'available')] });
    rds
      .on(CopyDBSnapshotCommand)
      .resolves({ DBSnapshot: snapshot(id, 'pending', { region: 'eu-central-1', KmsKeyId: drKey }) });
    const copying = await check(progress);
    rds.on(DescribeDBSnapshotsCommand).resolves({
      DBSnapshots: [
        snapshot(id, 'failed', {
          region: 'eu-central-1',
          TagList: [{ Key: 'liferay-backup:backup-id', Value: backupId }],
        }),
      ],
    });
    const error = await failure(check(copying));
    expect(error).toBeInstanceOf(DatabaseOperationFailedError);
    expect(error.message).toBe(`the copy ${id} in eu-central-1 is failed`);
  });

  it('KMS throttling while checking a key before sharing becomes RetryableError; nothing is shared', async () => {
    const { id, progress, check } = await started({ shareWithAccount: '222222222222' });
    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [snapshot(id, 'available')] });
    kms
      .on(DescribeKeyCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} }));
    const error = await failure(check(progress));
    expect(error).toBeInstanceOf(RetryableError);
    expect(inputs(rds, ModifyDBSnapshotAttributeCommand)).toEqual([]);
  });

  it('Aurora: a cluster that is not available, or InvalidDBClusterStateFault, raises DatabaseNotAvailableError', async () => {
    const rt = databaseRuntime({ ...settings, mode: 'aurora-cluster', identifier: 'liferay-aurora' });
    const { backupId } = await begin(rt);
    const cluster = {
      DBClusterIdentifier: 'liferay-aurora',
      DBClusterArn: 'arn:aws:rds:eu-west-1:111111111111:cluster:liferay-aurora',
      Status: 'backing-up',
      Engine: 'aurora-mysql',
      EngineVersion: '8.0.mysql_aurora.3.05.2',
      Port: 3306,
      DBClusterMembers: [],
    };
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [cluster] });
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [] });
    const busy = await failure(startBackup({ backup: { backupId } }, rt));
    expect(busy).toBeInstanceOf(DatabaseNotAvailableError);
    expect(busy.message).toMatch(/liferay-aurora is backing-up/);
    expect(inputs(rds, CreateDBClusterSnapshotCommand)).toEqual([]);
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ ...cluster, Status: 'available' }] });
    rds
      .on(CreateDBClusterSnapshotCommand)
      .rejects(new InvalidDBClusterStateFault({ message: 'not available', $metadata: {} }));
    expect(await failure(startBackup({ backup: { backupId } }, rt))).toBeInstanceOf(
      DatabaseNotAvailableError,
    );
    rds
      .on(CreateDBClusterSnapshotCommand)
      .rejects(new SnapshotQuotaExceededFault({ message: 'quota', $metadata: {} }));
    expect(await failure(startBackup({ backup: { backupId } }, rt))).toBeInstanceOf(
      SnapshotQuotaExceededError,
    );
  });
});
