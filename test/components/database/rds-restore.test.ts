import {
  CreateDBInstanceCommand,
  DBInstanceAlreadyExistsFault,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  RDSClient,
  RestoreDBClusterFromSnapshotCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ComponentResult } from '#components/component.ts';
import { DatabaseNameConflictError, DatabaseOperationFailedError } from '#components/database/errors.ts';
import type { RestoreProgress } from '#components/database/progress.ts';
import { checkRestore, startRestore } from '#components/database/restore.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { committedSet, databaseRuntime } from './support.ts';

const rds = mockClient(RDSClient);
const BACKUP_ID = 'b20261127t020000z-7f3a';
const RESTORE_ID = 'r20261128t100000z-1a2b';
const SNAPSHOT = `liferay-backup-liferay-prod-${BACKUP_ID}`;

function inputs<I>(
  client: { commandCalls: (command: never) => { args: [{ input: I }] }[] },
  command: unknown,
): I[] {
  return client.commandCalls(command as never).map((call) => call.args[0].input);
}

const instanceResult: ComponentResult = {
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
      parameterGroupName: 'liferay-mysql8',
      optionGroupName: 'default:mysql-8-0',
      storageType: 'gp3',
      allocatedStorage: 100,
      iops: 3000,
      storageThroughput: 125,
      multiAz: true,
      port: 3306,
      storageEncrypted: true,
      publiclyAccessible: false,
      deletionProtection: true,
      iamDatabaseAuthentication: false,
      cloudwatchLogsExports: ['error'],
    },
    snapshot: {
      identifier: SNAPSHOT,
      arn: `arn:aws:rds:eu-west-1:111111111111:snapshot:${SNAPSHOT}`,
      region: 'eu-west-1',
    },
    drCopy: {
      identifier: SNAPSHOT,
      arn: `arn:aws:rds:eu-central-1:111111111111:snapshot:${SNAPSHOT}`,
      region: 'eu-central-1',
    },
    sharedWith: [],
  },
};

const clusterResult: ComponentResult = {
  component: 'database',
  status: 'complete',
  warnings: [],
  summary: {},
  details: {
    mode: 'aurora-cluster',
    source: {
      identifier: 'liferay-aurora',
      arn: 'arn:aws:rds:eu-west-1:111111111111:cluster:liferay-aurora',
      region: 'eu-west-1',
      engine: 'aurora-postgresql',
      engineVersion: '15.4',
      engineMode: 'provisioned',
      subnetGroupName: 'liferay-subnets',
      securityGroupIds: ['sg-0a1b2c3d4e5f60718'],
      clusterParameterGroupName: 'liferay-aurora-pg15',
      port: 5432,
      storageEncrypted: true,
      deletionProtection: false,
      iamDatabaseAuthentication: false,
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
    snapshot: {
      identifier: SNAPSHOT,
      arn: `arn:aws:rds:eu-west-1:111111111111:cluster-snapshot:${SNAPSHOT}`,
      region: 'eu-west-1',
    },
    sharedWith: [],
  },
};

const rdsSettings = {
  mode: 'rds-instance',
  identifier: 'liferay-db',
  region: 'eu-west-1',
  waitIntervalSeconds: 60,
  maxWaitAttempts: 10,
};

function event(rt: Runtime, request: Record<string, unknown> = {}) {
  void rt;
  return { restore: { restoreId: RESTORE_ID, backupId: BACKUP_ID, requests: { database: request } } };
}

beforeEach(() => rds.reset());

describe('RDS instance restore', () => {
  it('creates a NEW instance from the snapshot with the recorded settings and overrides, then reports its endpoint', async () => {
    // Prepare
    const rt = databaseRuntime(rdsSettings);
    await committedSet(rt, BACKUP_ID, instanceResult);
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({ DBInstance: { DBInstanceStatus: 'creating' } });
    // Act
    let progress: RestoreProgress = await startRestore(
      event(rt, { instanceClass: 'db.t4g.large', deletionProtection: false }),
      rt,
    );
    // Assess
    expect(inputs(rds, RestoreDBInstanceFromDBSnapshotCommand)).toEqual([
      {
        DBInstanceIdentifier: `liferay-db-${RESTORE_ID}`,
        DBSnapshotIdentifier: SNAPSHOT,
        DBInstanceClass: 'db.t4g.large',
        Port: 3306,
        MultiAZ: true,
        DBSubnetGroupName: 'liferay-subnets',
        VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f60718'],
        DBParameterGroupName: 'liferay-mysql8',
        OptionGroupName: 'default:mysql-8-0',
        StorageType: 'gp3',
        AllocatedStorage: 100,
        // gp3 below 400 GiB: its baseline IOPS and throughput are not sent (RDS refuses them)
        PubliclyAccessible: false,
        DeletionProtection: false,
        EnableIAMDatabaseAuthentication: false,
        EnableCloudwatchLogsExports: ['error'],
        Tags: [
          { Key: 'managed-by', Value: 'liferay-backup' },
          { Key: 'liferay-backup:environment', Value: 'liferay-prod' },
          { Key: 'liferay-backup:backup-id', Value: BACKUP_ID },
          { Key: 'liferay-backup:restore-id', Value: RESTORE_ID },
        ],
      },
    ]);
    expect(progress).toMatchObject({
      done: false,
      region: 'eu-west-1',
      target: `liferay-db-${RESTORE_ID}`,
      waitSeconds: 60,
    });
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceStatus: 'creating' }] });
    progress = await checkRestore({ ...event(rt), database: progress }, rt);
    expect(progress).toMatchObject({ done: false, attempt: 1 });
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [
        {
          DBInstanceStatus: 'available',
          Endpoint: { Address: 'new.abc.eu-west-1.rds.amazonaws.com', Port: 3306 },
        },
      ],
    });
    progress = await checkRestore({ ...event(rt), database: progress }, rt);
    expect(progress.done).toBe(true);
    expect(progress.result).toMatchObject({
      component: 'database',
      status: 'complete',
      summary: {
        endpoint: 'new.abc.eu-west-1.rds.amazonaws.com',
        port: 3306,
        instance: `liferay-db-${RESTORE_ID}`,
      },
    });
  });

  it('restores from the DR copy in its region with that region’s network', async () => {
    const rt = databaseRuntime(rdsSettings);
    await committedSet(rt, BACKUP_ID, instanceResult);
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({});
    const progress = await startRestore(
      event(rt, {
        region: 'eu-central-1',
        subnetGroupName: 'dr-subnets',
        securityGroupIds: ['sg-0f1e2d3c4b5a69788'],
        targetIdentifier: 'liferay-dr',
      }),
      rt,
    );
    const input = inputs(rds, RestoreDBInstanceFromDBSnapshotCommand)[0];
    expect(input).toMatchObject({
      DBInstanceIdentifier: 'liferay-dr',
      DBSubnetGroupName: 'dr-subnets',
      VpcSecurityGroupIds: ['sg-0f1e2d3c4b5a69788'],
    });
    expect(input?.DBParameterGroupName).toBeUndefined();
    const client = rds.commandCalls(RestoreDBInstanceFromDBSnapshotCommand)[0]?.thisValue as RDSClient;
    expect(await client.config.region()).toBe('eu-central-1');
    expect(progress.warnings.join(' ')).toMatch(/default parameter group/);
  });

  it('a retried start adopts the instance it created; an instance of the same name that is not ours is refused', async () => {
    const rt = databaseRuntime(rdsSettings);
    await committedSet(rt, BACKUP_ID, instanceResult);
    rds
      .on(RestoreDBInstanceFromDBSnapshotCommand)
      .rejects(new DBInstanceAlreadyExistsFault({ message: 'DB instance already exists', $metadata: {} }));
    rds
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ TagList: [{ Key: 'liferay-backup:restore-id', Value: RESTORE_ID }] }] });
    await expect(startRestore(event(rt), rt)).resolves.toMatchObject({ done: false });
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ TagList: [] }] });
    await expect(startRestore(event(rt), rt)).rejects.toBeInstanceOf(DatabaseNameConflictError);
  });

  it('a restored instance in a state it cannot leave fails with the state named', async () => {
    const rt = databaseRuntime(rdsSettings);
    await committedSet(rt, BACKUP_ID, instanceResult);
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({});
    const progress = await startRestore(event(rt), rt);
    rds
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ DBInstanceStatus: 'incompatible-parameters' }] });
    // A failed result, not a throw: it keeps what the restore created (review-failed-restore.test.ts).
    const after = await checkRestore({ ...event(rt), database: progress }, rt);
    expect(after.result?.error?.name).toBe(new DatabaseOperationFailedError('').name);
    expect(after.result?.error?.message).toMatch(/incompatible-parameters/);
  });
});

describe('Aurora cluster restore', () => {
  it('restores the cluster, creates its writer once the cluster is available, and reports the endpoints', async () => {
    const rt = databaseRuntime({ ...rdsSettings, mode: 'aurora-cluster', identifier: 'liferay-aurora' });
    await committedSet(rt, BACKUP_ID, clusterResult);
    rds.on(RestoreDBClusterFromSnapshotCommand).resolves({});
    let progress = await startRestore(event(rt), rt);
    const cluster = `liferay-aurora-${RESTORE_ID}`;
    expect(inputs(rds, RestoreDBClusterFromSnapshotCommand)[0]).toMatchObject({
      DBClusterIdentifier: cluster,
      SnapshotIdentifier: SNAPSHOT,
      Engine: 'aurora-postgresql',
      EngineVersion: '15.4',
      Port: 5432,
      DBSubnetGroupName: 'liferay-subnets',
      VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f60718'],
      DBClusterParameterGroupName: 'liferay-aurora-pg15',
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 8 },
    });
    expect(progress.warnings.join(' ')).toMatch(
      /only the writer instance was created; the source also had 1 reader/,
    );
    // cluster still creating: no writer yet
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ Status: 'creating' }] });
    progress = await checkRestore({ ...event(rt), database: progress }, rt);
    expect(inputs(rds, CreateDBInstanceCommand)).toEqual([]);
    // cluster available: the writer is created with the recorded class and parameter group
    rds.on(DescribeDBClustersCommand).resolves({
      DBClusters: [
        {
          Status: 'available',
          Endpoint: 'c.cluster-abc.eu-west-1.rds.amazonaws.com',
          ReaderEndpoint: 'c.cluster-ro-abc',
          Port: 5432,
        },
      ],
    });
    rds.on(CreateDBInstanceCommand).resolves({});
    progress = await checkRestore({ ...event(rt), database: progress }, rt);
    expect(inputs(rds, CreateDBInstanceCommand)).toEqual([
      {
        DBInstanceIdentifier: `${cluster}-writer`,
        DBClusterIdentifier: cluster,
        Engine: 'aurora-postgresql',
        DBInstanceClass: 'db.r6g.large',
        DBParameterGroupName: 'liferay-aurora-inst',
        Tags: expect.arrayContaining([{ Key: 'liferay-backup:restore-id', Value: RESTORE_ID }]),
      },
    ]);
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceStatus: 'available' }] });
    progress = await checkRestore({ ...event(rt), database: progress }, rt);
    expect(progress.done).toBe(true);
    expect(progress.result?.summary).toMatchObject({
      endpoint: 'c.cluster-abc.eu-west-1.rds.amazonaws.com',
      port: 5432,
      writer: `${cluster}-writer`,
    });
  });
});
