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
import { restoreNextSteps } from '#backup-set/restore-report.ts';
import type { ComponentResult } from '#components/component.ts';
import { DatabaseNameConflictError } from '#components/database/errors.ts';
import type { RestoreProgress } from '#components/database/progress.ts';
import { checkRestore, startRestore } from '#components/database/restore.ts';
import { RetryableError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { snapshotResult } from './rds-world.ts';
import { committedSet, databaseRuntime, failure } from './support.ts';

/**
 * A failed RDS restore leaves what it created (RestoreDBInstanceFromDBSnapshot /
 * RestoreDBClusterFromSnapshot went through, a later step failed): the failed result and the next
 * step name it, its state, how to delete it, and what a retry does with it, as the code does it.
 */

const rds = mockClient(RDSClient);
const BACKUP_ID = 'b20261127t020000z-7f3a';
const RESTORE_ID = 'r20261128t100000z-1a2b';
const RETRY_ID = 'r20261128t120000z-3c4d';
const INSTANCE = `liferay-db-${RESTORE_ID}`;
const CLUSTER = `liferay-aurora-${RESTORE_ID}`;

// The results a snapshot backup records (rds-world.ts): the snapshot in eu-west-1, no DR copy.
const instanceSet = snapshotResult('rds-instance', BACKUP_ID);
const clusterSet = snapshotResult('aurora-cluster', BACKUP_ID);

const settings = {
  mode: 'rds-instance',
  identifier: 'liferay-db',
  region: 'eu-west-1',
  waitIntervalSeconds: 60,
  maxWaitAttempts: 3,
};

function event(request: Record<string, unknown> = {}, restoreId = RESTORE_ID) {
  return { restore: { restoreId, backupId: BACKUP_ID, requests: { database: request } } };
}

async function started(rt: Runtime, request: Record<string, unknown> = {}): Promise<RestoreProgress> {
  rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({ DBInstance: { DBInstanceStatus: 'creating' } });
  rds.on(RestoreDBClusterFromSnapshotCommand).resolves({});
  return startRestore(event(request), rt);
}

function describedInstances(): unknown[] {
  return rds.commandCalls(DescribeDBInstancesCommand).map((call) => call.args[0].input);
}

beforeEach(() => rds.reset());

describe('a failed RDS instance restore names the instance it created', () => {
  it('a state it cannot leave: the failed result names the instance, its state, how to delete it, and that a retry makes another', async () => {
    // Prepare
    const rt = databaseRuntime(settings);
    await committedSet(rt, BACKUP_ID, instanceSet);
    const progress = await started(rt);
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [{ DBInstanceIdentifier: INSTANCE, DBInstanceStatus: 'incompatible-parameters' }],
    });
    // Act
    const after = await checkRestore({ ...event(), database: progress }, rt);
    // Assess
    expect(describedInstances()).toEqual([{ DBInstanceIdentifier: INSTANCE }]);
    expect(after.done).toBe(true);
    const result = after.result;
    expect(result).toMatchObject({
      component: 'database',
      status: 'failed',
      error: { name: 'DatabaseOperationFailedError' },
      summary: { instance: INSTANCE, region: 'eu-west-1', state: 'incompatible-parameters' },
      details: {
        mode: 'rds-instance',
        region: 'eu-west-1',
        created: [{ kind: 'DB instance', identifier: INSTANCE, state: 'incompatible-parameters' }],
      },
    });
    const left = `this restore created DB instance ${INSTANCE} (state: incompatible-parameters) in eu-west-1; it was not deleted and costs money while it exists: use it if it becomes available, or delete it (aws rds delete-db-instance --region eu-west-1 --db-instance-identifier ${INSTANCE} --skip-final-snapshot; turn off deletion protection first if it is on); a retry does not reuse it: it restores into a new one named after the retry's own restore id, beside this one`;
    expect(result?.error?.message).toBe(
      `the restored DB instance ${INSTANCE} is incompatible-parameters: look at its events in the RDS console (it was not deleted); ${left}`,
    );
    const steps = restoreNextSteps({
      backupId: BACKUP_ID,
      components: ['database'],
      requests: { database: {} },
      results: { database: result as ComponentResult },
    });
    expect(steps[0]).toBe(
      `database failed: the live database was not changed; ${left}; fix the cause, then restore it alone: {"backupId": "${BACKUP_ID}", "components": ["database"]} (CLI: --components database)`,
    );

    // What the message says of a retry is what the code does: a new restore id, a new instance.
    rds.reset();
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({});
    await startRestore(event({}, RETRY_ID), rt);
    expect(
      rds
        .commandCalls(RestoreDBInstanceFromDBSnapshotCommand)
        .map((call) => call.args[0].input.DBInstanceIdentifier),
    ).toEqual([`liferay-db-${RETRY_ID}`]);
  });

  it('out of checks under a targetIdentifier: the state is described once more, and a retry under that name is refused until it is deleted', async () => {
    // Prepare
    const rt = databaseRuntime(settings);
    await committedSet(rt, BACKUP_ID, instanceSet);
    const request = { targetIdentifier: 'liferay-restored' };
    const progress = await started(rt, request);
    rds.on(DescribeDBInstancesCommand).resolves({
      DBInstances: [{ DBInstanceIdentifier: 'liferay-restored', DBInstanceStatus: 'modifying' }],
    });
    // Act: the last check was the configured maximum
    const after = await checkRestore({ ...event(request), database: { ...progress, attempt: 3 } }, rt);
    // Assess
    expect(describedInstances()).toEqual([{ DBInstanceIdentifier: 'liferay-restored' }]);
    expect(after.result?.error?.name).toBe('DatabaseWaitTimeoutError');
    expect(after.result?.details).toMatchObject({
      created: [{ kind: 'DB instance', identifier: 'liferay-restored', state: 'modifying' }],
      retry: `a retry with the same "targetIdentifier" (liferay-restored) is refused while it exists (it is tagged with restore ${RESTORE_ID}): delete it first, or name another target`,
    });
    expect(after.result?.error?.message).toContain(
      'DB instance liferay-restored (state: modifying) in eu-west-1',
    );

    // The refusal the message announces: the name exists and carries this restore's id.
    rds.reset();
    rds
      .on(RestoreDBInstanceFromDBSnapshotCommand)
      .rejects(new DBInstanceAlreadyExistsFault({ message: 'DB instance already exists', $metadata: {} }));
    rds
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ TagList: [{ Key: 'liferay-backup:restore-id', Value: RESTORE_ID }] }] });
    const refused = await failure(startRestore(event(request, RETRY_ID), rt));
    expect(refused).toBeInstanceOf(DatabaseNameConflictError);
  });

  it('throttled describe: retried by the state machine, its message names the instance should the retries run out', async () => {
    const rt = databaseRuntime(settings);
    await committedSet(rt, BACKUP_ID, instanceSet);
    const progress = await started(rt);
    rds
      .on(DescribeDBInstancesCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} }));
    const error = await failure(checkRestore({ ...event(), database: progress }, rt));
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.message).toContain(
      `this restore created DB instance ${INSTANCE} (state unknown) in eu-west-1`,
    );
  });
});

describe('a transient fault the adapter passes on unchanged is retried, not a failed restore', () => {
  it('a cut connection while describing: RetryableError naming the instance, no failed result', async () => {
    const rt = databaseRuntime(settings);
    await committedSet(rt, BACKUP_ID, instanceSet);
    const progress = await started(rt);
    rds
      .on(DescribeDBInstancesCommand)
      .rejects(Object.assign(new Error('socket hang up'), { name: 'Error', code: 'ECONNRESET' }));
    const error = await failure(checkRestore({ ...event(), database: progress }, rt));
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.message).toContain('socket hang up');
    expect(error.message).toContain(`this restore created DB instance ${INSTANCE}`);
  });
});

describe('a failed Aurora restore names the cluster and the writer it created', () => {
  it('writer failed: both named, the writer deleted first, and a retry restores a new cluster', async () => {
    // Prepare
    const rt = databaseRuntime({ ...settings, mode: 'aurora-cluster', identifier: 'liferay-aurora' });
    await committedSet(rt, BACKUP_ID, clusterSet);
    let progress = await started(rt);
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ Status: 'available' }] });
    rds.on(CreateDBInstanceCommand).resolves({});
    progress = await checkRestore({ ...event(), database: progress }, rt);
    expect(progress.writer?.created).toBe(true);
    rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceStatus: 'failed' }] });
    // Act
    const after = await checkRestore({ ...event(), database: progress }, rt);
    // Assess
    expect(rds.commandCalls(DescribeDBClustersCommand).map((call) => call.args[0].input)).toEqual([
      { DBClusterIdentifier: CLUSTER },
      { DBClusterIdentifier: CLUSTER },
    ]);
    expect(describedInstances()).toEqual([{ DBInstanceIdentifier: `${CLUSTER}-writer` }]);
    expect(after.result).toMatchObject({
      status: 'failed',
      summary: { cluster: CLUSTER, state: 'available' },
      details: {
        created: [
          { kind: 'DB cluster', identifier: CLUSTER, state: 'available' },
          { kind: 'DB instance', identifier: `${CLUSTER}-writer`, state: 'failed' },
        ],
      },
    });
    expect(after.result?.details.leftBehind).toContain(
      `(aws rds delete-db-instance --region eu-west-1 --db-instance-identifier ${CLUSTER}-writer --skip-final-snapshot, then aws rds delete-db-cluster --region eu-west-1 --db-cluster-identifier ${CLUSTER} --skip-final-snapshot;`,
    );
    rds.reset();
    rds.on(RestoreDBClusterFromSnapshotCommand).resolves({});
    await startRestore(event({}, RETRY_ID), rt);
    expect(
      rds
        .commandCalls(RestoreDBClusterFromSnapshotCommand)
        .map((call) => call.args[0].input.DBClusterIdentifier),
    ).toEqual([`liferay-aurora-${RETRY_ID}`]);
  });

  it('writer refused by RDS: the cluster is named, no writer', async () => {
    const rt = databaseRuntime({ ...settings, mode: 'aurora-cluster', identifier: 'liferay-aurora' });
    await committedSet(rt, BACKUP_ID, clusterSet);
    const progress = await started(rt);
    rds.on(DescribeDBClustersCommand).resolves({ DBClusters: [{ Status: 'available' }] });
    rds.on(CreateDBInstanceCommand).rejects(
      Object.assign(new Error('Cannot create a db.r6g.large instance in eu-west-1b'), {
        name: 'InsufficientDBInstanceCapacityFault',
        $metadata: {},
      }),
    );
    const after = await checkRestore({ ...event(), database: progress }, rt);
    expect(rds.commandCalls(CreateDBInstanceCommand)).toHaveLength(1);
    expect(after.result?.error?.name).toBe('InsufficientDBInstanceCapacityFault');
    expect(after.result?.details.created).toEqual([
      { kind: 'DB cluster', identifier: CLUSTER, state: 'available' },
    ]);
    expect(after.result?.error?.message).toMatch(
      new RegExp(
        `^Cannot create a db\\.r6g\\.large instance in eu-west-1b; this restore created DB cluster ${CLUSTER} \\(state: available\\) in eu-west-1`,
      ),
    );
  });
});
