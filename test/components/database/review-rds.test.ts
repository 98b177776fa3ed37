import {
  CopyDBClusterSnapshotCommand,
  CreateDBSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  RDSClient,
  RestoreDBInstanceFromDBSnapshotCommand,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ComponentResult } from '#components/component.ts';
import { checkBackup, startBackup } from '#components/database/backup.ts';
import type { BackupProgress } from '#components/database/progress.ts';
import { startRestore } from '#components/database/restore.ts';
import { begin, committedSet, databaseRuntime } from './support.ts';

/**
 * Review findings on the RDS/Aurora paths, with the AWS behaviour each one depends on:
 *
 * - gp3 storage: RDS for MariaDB, MySQL, PostgreSQL (and Db2) below 400 GiB, and Oracle below
 *   200 GiB, has a fixed baseline (3,000 IOPS, 125 MiB/s) that DescribeDBInstances reports as
 *   `Iops`/`StorageThroughput`, but CreateDBInstance / RestoreDBInstanceFromDBSnapshot refuse those
 *   parameters there: "InvalidParameterCombination: You can't specify IOPS or storage throughput for
 *   engine mysql and a storage size less than 400" (RDS User Guide, CHAP_Storage "gp3 storage";
 *   cloudtools/troposphere#2141, pulumi/pulumi-aws-native#968, terraform-provider-aws#28361).
 * - CopyDBClusterSnapshot: "If you copy an unencrypted DB cluster snapshot and specify a value for
 *   the KmsKeyId parameter, an error is returned" (RDS API reference; CopyDBSnapshot, unlike it,
 *   encrypts the copy).
 * - A manual snapshot puts a DB instance in `backing-up` while it is taken: a start retried after
 *   its answer was lost (Lambda.ServiceException, ClientExecutionTimeout) finds the source busy
 *   with its OWN snapshot.
 */

const rds = mockClient(RDSClient);
beforeEach(() => rds.reset());

function inputs<I>(
  client: { commandCalls: (command: never) => { args: [{ input: I }] }[] },
  command: unknown,
): I[] {
  return client.commandCalls(command as never).map((call) => call.args[0].input);
}

const BACKUP_ID = 'b20261127t020000z-7f3a';
const RESTORE_ID = 'r20261128t100000z-1a2b';
const SNAPSHOT = `liferay-backup-liferay-prod-${BACKUP_ID}`;

function instanceSet(storage: Record<string, unknown>): ComponentResult {
  return {
    component: 'database',
    status: 'complete',
    warnings: [],
    summary: {},
    details: {
      mode: 'rds-instance',
      source: {
        identifier: 'liferay-db',
        arn: 'arn:aws:rds:eu-west-1:111111111111:db:liferay-db',
        region: 'eu-west-1',
        engine: 'mysql',
        engineVersion: '8.0.39',
        instanceClass: 'db.r6g.large',
        subnetGroupName: 'liferay-subnets',
        securityGroupIds: ['sg-0a1b2c3d4e5f60718'],
        multiAz: false,
        port: 3306,
        storageEncrypted: true,
        publiclyAccessible: false,
        deletionProtection: false,
        iamDatabaseAuthentication: false,
        cloudwatchLogsExports: [],
        ...storage,
      },
      snapshot: {
        identifier: SNAPSHOT,
        arn: `arn:aws:rds:eu-west-1:111111111111:snapshot:${SNAPSHOT}`,
        region: 'eu-west-1',
      },
      sharedWith: [],
    },
  };
}

const rdsSettings = {
  mode: 'rds-instance',
  identifier: 'liferay-db',
  region: 'eu-west-1',
  waitIntervalSeconds: 60,
  maxWaitAttempts: 10,
};

function restoreEvent(request: Record<string, unknown> = {}) {
  return { restore: { restoreId: RESTORE_ID, backupId: BACKUP_ID, requests: { database: request } } };
}

describe('review: RDS instance restore of gp3 storage', () => {
  it('a gp3 instance below 400 GiB is restored without the baseline IOPS and throughput RDS refuses there', async () => {
    // Prepare: what DescribeDBInstances reports for a 100 GiB gp3 MySQL instance (baseline values).
    const rt = databaseRuntime(rdsSettings);
    await committedSet(
      rt,
      BACKUP_ID,
      instanceSet({ storageType: 'gp3', allocatedStorage: 100, iops: 3000, storageThroughput: 125 }),
    );
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({});
    // Act
    await startRestore(restoreEvent(), rt);
    // Assess
    const input = inputs(rds, RestoreDBInstanceFromDBSnapshotCommand)[0];
    expect(input).toMatchObject({ StorageType: 'gp3', AllocatedStorage: 100 });
    expect(input).not.toHaveProperty('Iops');
    expect(input).not.toHaveProperty('StorageThroughput');
  });

  it('a gp3 instance of 400 GiB or more keeps its provisioned IOPS and throughput', async () => {
    const rt = databaseRuntime(rdsSettings);
    await committedSet(
      rt,
      BACKUP_ID,
      instanceSet({ storageType: 'gp3', allocatedStorage: 500, iops: 15000, storageThroughput: 600 }),
    );
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({});
    await startRestore(restoreEvent(), rt);
    expect(inputs(rds, RestoreDBInstanceFromDBSnapshotCommand)[0]).toMatchObject({
      StorageType: 'gp3',
      AllocatedStorage: 500,
      Iops: 15000,
      StorageThroughput: 600,
    });
  });

  it('a gp3 source restored as gp2 on request does not carry the gp3 IOPS along', async () => {
    const rt = databaseRuntime(rdsSettings);
    await committedSet(
      rt,
      BACKUP_ID,
      instanceSet({ storageType: 'gp3', allocatedStorage: 500, iops: 12000, storageThroughput: 500 }),
    );
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({});
    await startRestore(restoreEvent({ storageType: 'gp2' }), rt);
    const input = inputs(rds, RestoreDBInstanceFromDBSnapshotCommand)[0];
    expect(input).toMatchObject({ StorageType: 'gp2', AllocatedStorage: 500 });
    expect(input).not.toHaveProperty('Iops');
    expect(input).not.toHaveProperty('StorageThroughput');
  });

  it('an io1 source keeps its IOPS, and IOPS asked for in the request are sent', async () => {
    const rt = databaseRuntime(rdsSettings);
    await committedSet(rt, BACKUP_ID, instanceSet({ storageType: 'io1', allocatedStorage: 100, iops: 3000 }));
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({});
    await startRestore(restoreEvent(), rt);
    expect(inputs(rds, RestoreDBInstanceFromDBSnapshotCommand)[0]).toMatchObject({
      StorageType: 'io1',
      Iops: 3000,
    });
    rds.reset();
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({});
    await startRestore(restoreEvent({ iops: 5000, storageType: 'io1', allocatedStorage: 200 }), rt);
    expect(inputs(rds, RestoreDBInstanceFromDBSnapshotCommand)[0]).toMatchObject({
      StorageType: 'io1',
      AllocatedStorage: 200,
      Iops: 5000,
    });
  });
});

describe('review: Aurora DR copy of an unencrypted cluster', () => {
  it('copies an unencrypted cluster snapshot without KmsKeyId (RDS refuses one) and says the copy is unencrypted', async () => {
    // Prepare
    const drKey = 'arn:aws:kms:eu-central-1:111111111111:key/99999999-8888-7777-6666-555555555555';
    const rt = databaseRuntime({
      ...rdsSettings,
      mode: 'aurora-cluster',
      identifier: 'liferay-aurora',
      drRegion: 'eu-central-1',
      drKmsKeyArn: drKey,
    });
    const { backupId } = await begin(rt);
    const id = `liferay-backup-liferay-prod-${backupId}`;
    const arn = `arn:aws:rds:eu-west-1:111111111111:cluster-snapshot:${id}`;
    const progress: BackupProgress = {
      mode: 'aurora-cluster',
      phase: 'snapshot',
      done: false,
      attempt: 0,
      waitSeconds: 60,
      startedAt: '2026-11-27T02:00:00.000Z',
      warnings: [],
      sharedWith: [],
      source: {
        identifier: 'liferay-aurora',
        arn: 'arn:aws:rds:eu-west-1:111111111111:cluster:liferay-aurora',
        region: 'eu-west-1',
        engine: 'aurora-mysql',
        engineVersion: '8.0.mysql_aurora.3.05.2',
        securityGroupIds: [],
        port: 3306,
        storageEncrypted: false,
        deletionProtection: false,
        iamDatabaseAuthentication: false,
        cloudwatchLogsExports: [],
        availabilityZones: [],
        instances: [],
      },
      snapshot: { identifier: id, arn, region: 'eu-west-1', status: 'creating' },
    };
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [
        {
          DBClusterSnapshotIdentifier: id,
          DBClusterSnapshotArn: arn,
          Status: 'available',
          StorageEncrypted: false,
        },
      ],
    });
    rds.on(CopyDBClusterSnapshotCommand).resolves({
      DBClusterSnapshot: {
        DBClusterSnapshotIdentifier: id,
        DBClusterSnapshotArn: `arn:aws:rds:eu-central-1:111111111111:cluster-snapshot:${id}`,
        Status: 'copying',
        StorageEncrypted: false,
      },
    });
    // Act
    const next = await checkBackup({ backup: { backupId }, database: progress }, rt);
    // Assess
    expect(inputs(rds, CopyDBClusterSnapshotCommand)).toEqual([
      {
        SourceDBClusterSnapshotIdentifier: arn,
        TargetDBClusterSnapshotIdentifier: id,
        Tags: expect.arrayContaining([{ Key: 'liferay-backup:backup-id', Value: backupId }]),
      },
    ]);
    expect(next).toMatchObject({ phase: 'copy', drCopy: { region: 'eu-central-1' } });
    expect(next.warnings.join(' ')).toMatch(/not encrypted/);
  });
});

describe('review: a retried start while the instance is busy with its own snapshot', () => {
  it('adopts the snapshot the first run made instead of waiting for the instance to be available', async () => {
    // Prepare: the first run's CreateDBSnapshot went through; its answer was lost. The instance is
    // now backing-up because of that very snapshot.
    const rt = databaseRuntime(rdsSettings);
    const { backupId } = await begin(rt);
    const id = `liferay-backup-liferay-prod-${backupId}`;
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: 'liferay-db',
          DBInstanceArn: 'arn:aws:rds:eu-west-1:111111111111:db:liferay-db',
          DBInstanceStatus: 'backing-up',
          Engine: 'mysql',
          EngineVersion: '8.0.39',
          DBInstanceClass: 'db.r6g.large',
          Endpoint: { Address: 'liferay-db.abc.eu-west-1.rds.amazonaws.com', Port: 3306 },
        },
      ],
    });
    rds.on(DescribeDBSnapshotsCommand, { DBSnapshotIdentifier: id }).resolves({
      DBSnapshots: [
        {
          DBSnapshotIdentifier: id,
          DBSnapshotArn: `arn:aws:rds:eu-west-1:111111111111:snapshot:${id}`,
          DBInstanceIdentifier: 'liferay-db',
          Status: 'creating',
          TagList: [{ Key: 'liferay-backup:backup-id', Value: backupId }],
        },
      ],
    });
    // Act
    const progress = await startBackup({ backup: { backupId } }, rt);
    // Assess
    expect(inputs(rds, CreateDBSnapshotCommand)).toEqual([]);
    expect(progress).toMatchObject({
      phase: 'snapshot',
      done: false,
      snapshot: { identifier: id, status: 'creating' },
      source: { identifier: 'liferay-db', engine: 'mysql' },
    });
  });

  it('still refuses a busy instance when no snapshot of this backup exists', async () => {
    const rt = databaseRuntime(rdsSettings);
    const { backupId } = await begin(rt);
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        {
          DBInstanceIdentifier: 'liferay-db',
          DBInstanceStatus: 'backing-up',
          Engine: 'mysql',
          EngineVersion: '8.0.39',
        },
      ],
    });
    rds.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [] });
    await expect(startBackup({ backup: { backupId } }, rt)).rejects.toMatchObject({
      name: 'DatabaseNotAvailableError',
      message: expect.stringMatching(/liferay-db is backing-up/),
    });
    // A snapshot of that name made by another set is not adopted either.
    rds.on(DescribeDBSnapshotsCommand).resolves({
      DBSnapshots: [
        {
          DBSnapshotIdentifier: `liferay-backup-liferay-prod-${backupId}`,
          DBInstanceIdentifier: 'liferay-db',
          Status: 'creating',
          TagList: [{ Key: 'liferay-backup:backup-id', Value: 'b20200101t000000z-0000' }],
        },
      ],
    });
    await expect(startBackup({ backup: { backupId } }, rt)).rejects.toMatchObject({
      name: 'DatabaseNotAvailableError',
    });
    expect(inputs(rds, CreateDBSnapshotCommand)).toEqual([]);
  });
});
