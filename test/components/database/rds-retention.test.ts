import {
  DBSnapshotNotFoundFault,
  DeleteDBSnapshotCommand,
  DescribeDBSnapshotsCommand,
  RDSServiceException,
} from '@aws-sdk/client-rds';
import { beforeEach, describe, expect, it } from 'vitest';
import { storeKeys } from '#backup-set/keys.ts';
import { readManifest, writeLatest } from '#backup-set/manifest.ts';
import { deleteSet } from '#backup-set/retention.ts';
import type { ComponentResult } from '#components/component.ts';
import { SnapshotNotDeletableYetError, SnapshotOwnershipError } from '#components/database/errors.ts';
import { databaseModule } from '#components/database/module.ts';
import { CorruptBackupError, ObjectNotFoundError, RetryableError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { DR_KEY, RdsWorld, SOURCE_KEY, snapshotResult, snapshotsFor } from './rds-world.ts';
import { committedSet, databaseRuntime, failure } from './support.ts';

const BACKUP_ID = 'b20261101t020000z-7f3a';
const SNAPSHOT = `liferay-backup-liferay-prod-${BACKUP_ID}`;
const world = new RdsWorld();

const rdsSettings = {
  mode: 'rds-instance',
  identifier: 'liferay-db',
  region: 'eu-west-1',
  drRegion: 'eu-central-1',
  drKmsKeyArn: DR_KEY,
};

function deleteArtifacts(result: ComponentResult, rt: Runtime, backupId = BACKUP_ID): Promise<string[]> {
  const hook = databaseModule.retention?.deleteArtifacts;
  if (!hook) throw new Error('the database module has no deleteArtifacts hook');
  return hook({ backupId, result }, rt);
}

function verify(result: ComponentResult, rt: Runtime, backupId = BACKUP_ID) {
  const hook = databaseModule.verify;
  if (!hook) throw new Error('the database module has no verify hook');
  return hook({ backupId, result }, rt);
}

beforeEach(() => world.reset());

describe('retention deletes the set snapshot and its DR copy', () => {
  it('RDS instance: describes, then deletes the snapshot with the source-region client and the copy with the DR-region client', async () => {
    // Prepare
    const rt = databaseRuntime(rdsSettings);
    snapshotsFor(world, 'rds-instance', BACKUP_ID, { drCopy: true, sharedWith: '222222222222' });
    const result = snapshotResult('rds-instance', BACKUP_ID, { drCopy: true, sharedWith: '222222222222' });
    // Act
    const lines = await deleteArtifacts(result, rt);
    // Assess
    expect(world.callsOf('DeleteDBSnapshot')).toEqual([
      { region: 'eu-west-1', command: 'DeleteDBSnapshot', input: { DBSnapshotIdentifier: SNAPSHOT } },
      { region: 'eu-central-1', command: 'DeleteDBSnapshot', input: { DBSnapshotIdentifier: SNAPSHOT } },
    ]);
    // Every check comes before the first delete; no attribute is modified (the owner may delete a shared snapshot).
    expect(world.calls.map((call) => `${call.command} ${call.region}`)).toEqual([
      'DescribeDBSnapshots eu-west-1',
      'DescribeDBSnapshots eu-central-1',
      'DeleteDBSnapshot eu-west-1',
      'DeleteDBSnapshot eu-central-1',
    ]);
    expect(lines).toEqual([
      `snapshot ${SNAPSHOT} in eu-west-1 deleted`,
      `DR copy ${SNAPSHOT} in eu-central-1 deleted`,
    ]);
    expect(world.snapshots.size).toBe(0);

    // Idempotent: a second run finds both gone and deletes nothing.
    world.calls.length = 0;
    expect(await deleteArtifacts(result, rt)).toEqual([
      `snapshot ${SNAPSHOT} in eu-west-1 was already gone`,
      `DR copy ${SNAPSHOT} in eu-central-1 was already gone`,
    ]);
    expect(world.callsOf('DeleteDBSnapshot')).toEqual([]);
  });

  it('Aurora: DeleteDBClusterSnapshot with the exact identifier', async () => {
    const rt = databaseRuntime({ mode: 'aurora-cluster', identifier: 'liferay-aurora', region: 'eu-west-1' });
    snapshotsFor(world, 'aurora-cluster', BACKUP_ID);
    const lines = await deleteArtifacts(snapshotResult('aurora-cluster', BACKUP_ID), rt);
    expect(world.callsOf('DeleteDBClusterSnapshot')).toEqual([
      {
        region: 'eu-west-1',
        command: 'DeleteDBClusterSnapshot',
        input: { DBClusterSnapshotIdentifier: SNAPSHOT },
      },
    ]);
    expect(world.callsOf('DeleteDBSnapshot')).toEqual([]);
    expect(lines).toEqual([`cluster snapshot ${SNAPSHOT} in eu-west-1 deleted`]);
  });

  it('a snapshot still creating or a copy still copying: nothing is deleted, the error is retryable', async () => {
    // Prepare
    const rt = databaseRuntime(rdsSettings);
    snapshotsFor(world, 'rds-instance', BACKUP_ID, { drCopy: true });
    const copy = world.snapshots.get(`eu-central-1/${SNAPSHOT}`);
    if (copy) copy.status = 'copying';
    const result = snapshotResult('rds-instance', BACKUP_ID, { drCopy: true });
    // Act
    const error = await failure(deleteArtifacts(result, rt));
    // Assess: named so the state machine's Retry matches it, and nothing was deleted, not even the available snapshot.
    expect(error).toBeInstanceOf(SnapshotNotDeletableYetError);
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.name).toBe('RetryableError');
    expect(error.message).toContain(`DR copy ${SNAPSHOT} in eu-central-1 is copying`);
    expect(world.callsOf('DeleteDBSnapshot')).toEqual([]);
    expect(world.has('eu-west-1', SNAPSHOT)).toBe(true);

    // Once the copy is available, the same call deletes both.
    if (copy) copy.status = 'available';
    expect(await deleteArtifacts(result, rt)).toHaveLength(2);
    expect(world.snapshots.size).toBe(0);
  });

  it('RDS refusing the delete (InvalidDBSnapshotState) is retryable; a snapshot already deleting is reported', async () => {
    const rt = databaseRuntime(rdsSettings);
    snapshotsFor(world, 'rds-instance', BACKUP_ID);
    const result = snapshotResult('rds-instance', BACKUP_ID);
    // The state changes between describe and delete (the fake refuses all but available).
    world.rds.on(DescribeDBSnapshotsCommand).callsFake(() => {
      const found = world.snapshots.get(`eu-west-1/${SNAPSHOT}`);
      const answer = {
        DBSnapshots: [
          {
            DBSnapshotIdentifier: SNAPSHOT,
            DBSnapshotArn: `arn:aws:rds:eu-west-1:111111111111:snapshot:${SNAPSHOT}`,
            Status: 'available',
            TagList: [{ Key: 'liferay-backup:backup-id', Value: BACKUP_ID }],
          },
        ],
      };
      if (found) found.status = 'upgrading';
      return answer;
    });
    const error = await failure(deleteArtifacts(result, rt));
    expect(error).toBeInstanceOf(SnapshotNotDeletableYetError);
    expect(error.message).toMatch(
      /cannot be deleted in its current state \(DBSnapshot .* is not in the available state\.\)/,
    );

    world.reset();
    snapshotsFor(world, 'rds-instance', BACKUP_ID);
    const found = world.snapshots.get(`eu-west-1/${SNAPSHOT}`);
    if (found) found.status = 'deleting';
    expect(await deleteArtifacts(result, rt)).toEqual([
      `snapshot ${SNAPSHOT} in eu-west-1 was already being deleted`,
    ]);
    expect(world.callsOf('DeleteDBSnapshot')).toEqual([]);
  });

  it('a snapshot deleted between describe and delete (DBSnapshotNotFound) is fine', async () => {
    const rt = databaseRuntime(rdsSettings);
    snapshotsFor(world, 'rds-instance', BACKUP_ID);
    world.rds.on(DeleteDBSnapshotCommand).callsFake(async (input: { DBSnapshotIdentifier: string }) => {
      world.snapshots.clear();
      throw new DBSnapshotNotFoundFault({
        message: `DBSnapshot ${input.DBSnapshotIdentifier} not found.`,
        $metadata: {},
      });
    });
    expect(await deleteArtifacts(snapshotResult('rds-instance', BACKUP_ID), rt)).toEqual([
      `snapshot ${SNAPSHOT} in eu-west-1 was already gone`,
    ]);
  });

  it('throttling becomes RetryableError', async () => {
    const rt = databaseRuntime(rdsSettings);
    snapshotsFor(world, 'rds-instance', BACKUP_ID);
    world.rds.on(DeleteDBSnapshotCommand).rejects(
      new RDSServiceException({
        name: 'Throttling',
        $fault: 'client',
        message: 'Rate exceeded',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const error = await failure(deleteArtifacts(snapshotResult('rds-instance', BACKUP_ID), rt));
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.message).toMatch(/deleting snapshot .* throttled by RDS \(Throttling\)/);
    world.rds.on(DescribeDBSnapshotsCommand).rejects(
      new RDSServiceException({
        name: 'Throttling',
        $fault: 'client',
        message: 'Rate exceeded',
        $metadata: {},
      }),
    );
    expect(await failure(deleteArtifacts(snapshotResult('rds-instance', BACKUP_ID), rt))).toBeInstanceOf(
      RetryableError,
    );
  });

  it('refuses a snapshot of another environment, another backup id, or another ARN, before deleting anything', async () => {
    const rt = databaseRuntime(rdsSettings);
    // A record naming another environment's snapshot: refused without a single RDS call.
    snapshotsFor(world, 'rds-instance', BACKUP_ID, { environment: 'liferay-staging' });
    const foreign = snapshotResult('rds-instance', BACKUP_ID, { environment: 'liferay-staging' });
    const refused = await failure(deleteArtifacts(foreign, rt));
    expect(refused).toBeInstanceOf(SnapshotOwnershipError);
    expect(refused.message).toContain(
      "this environment's snapshots are named liferay-backup-liferay-prod-<backup id>; nothing was deleted",
    );
    expect(world.calls).toEqual([]);

    // Another set's name in this set's record.
    const other = snapshotResult('rds-instance', 'b20261102t020000z-0000');
    expect((await failure(deleteArtifacts(other, rt))).message).toContain(`this set's is named ${SNAPSHOT}`);
    expect(world.calls).toEqual([]);

    // The right name, but the snapshot's tag says another backup.
    world.reset();
    snapshotsFor(world, 'rds-instance', BACKUP_ID, { drCopy: true });
    const copy = world.snapshots.get(`eu-central-1/${SNAPSHOT}`);
    if (copy) copy.tags['liferay-backup:backup-id'] = 'b20250101t000000z-dead';
    const result = snapshotResult('rds-instance', BACKUP_ID, { drCopy: true });
    const tagged = await failure(deleteArtifacts(result, rt));
    expect(tagged).toBeInstanceOf(SnapshotOwnershipError);
    expect(tagged.message).toContain(
      `DR copy ${SNAPSHOT} in eu-central-1: its liferay-backup:backup-id tag is "b20250101t000000z-dead", not ${BACKUP_ID}`,
    );
    // The source snapshot is checked first and is fine, yet nothing is deleted.
    expect(world.callsOf('DeleteDBSnapshot')).toEqual([]);

    // A recorded ARN of another account.
    world.reset();
    snapshotsFor(world, 'rds-instance', BACKUP_ID);
    const moved = snapshotResult('rds-instance', BACKUP_ID);
    (moved.details.snapshot as { arn: string }).arn =
      `arn:aws:rds:eu-west-1:999999999999:snapshot:${SNAPSHOT}`;
    expect((await failure(deleteArtifacts(moved, rt))).message).toContain(
      'its ARN is arn:aws:rds:eu-west-1:111111111111:snapshot:',
    );
    expect(world.callsOf('DeleteDBSnapshot')).toEqual([]);
  });

  it('a failed result recorded no snapshot: the set name is looked up, deleted when it carries this backup id, otherwise left', async () => {
    const rt = databaseRuntime(rdsSettings);
    const failed: ComponentResult = {
      component: 'database',
      status: 'failed',
      error: { name: 'DatabaseWaitTimeoutError', message: 'still creating' },
      warnings: [],
      summary: {},
      details: {},
    };
    // Nothing was made: nothing to say.
    expect(await deleteArtifacts(failed, rt)).toEqual([]);
    expect(world.calls.map((call) => `${call.command} ${call.region}`)).toEqual([
      'DescribeDBSnapshots eu-west-1',
      'DescribeDBSnapshots eu-central-1',
    ]);
    // The snapshot of the timed-out backup is found by its name and deleted; a copy made by
    // someone else under that name is left.
    snapshotsFor(world, 'rds-instance', BACKUP_ID, { drCopy: true });
    const copy = world.snapshots.get(`eu-central-1/${SNAPSHOT}`);
    if (copy) copy.tags = {};
    expect(await deleteArtifacts(failed, rt)).toEqual([
      `left in place: DR copy ${SNAPSHOT} in eu-central-1 is not this set's (its liferay-backup:backup-id tag is missing, not ${BACKUP_ID})`,
      `snapshot ${SNAPSHOT} in eu-west-1 deleted`,
    ]);
    expect(world.has('eu-central-1', SNAPSHOT)).toBe(true);
    // A skipped result, or a failed one in a dump deployment, has nothing outside the store.
    world.calls.length = 0;
    expect(await deleteArtifacts({ ...failed, status: 'skipped' }, rt)).toEqual([]);
    const dumpRt = databaseRuntime({ mode: 'dump', url: 'mysql://u:p@localhost/lportal' });
    expect(await deleteArtifacts(failed, dumpRt)).toEqual([]);
    expect(world.calls).toEqual([]);
  });

  it('a complete result whose record cannot be read is refused (the manifest is its only record)', async () => {
    const rt = databaseRuntime(rdsSettings);
    const { snapshot: _snapshot, ...withoutSnapshot } = snapshotResult('rds-instance', BACKUP_ID).details;
    const broken = { ...snapshotResult('rds-instance', BACKUP_ID), details: withoutSnapshot };
    const error = await failure(deleteArtifacts(broken, rt));
    expect(error).toBeInstanceOf(CorruptBackupError);
    expect(error.message).toMatch(
      /the database record cannot be read \(snapshot: .*\); its snapshots are left/,
    );
  });

  it('dump mode owns nothing outside the store', async () => {
    const rt = databaseRuntime({ mode: 'dump', url: 'mysql://u:p@localhost/lportal' });
    const dump: ComponentResult = {
      component: 'database',
      status: 'complete',
      warnings: [],
      summary: {},
      details: {
        mode: 'dump',
        engine: 'mariadb',
        source: 'mysql://u:***@localhost:3306/lportal',
        database: 'lportal',
        serverVersion: '10.11',
        tool: 'mariadb-dump',
        toolVersion: '10.11',
        format: 'sql-gzip',
        key: `dumps/${BACKUP_ID}/database/lportal.sql.gz`,
        size: 10,
        sha256: '0'.repeat(64),
        dumpBytes: 20,
      },
    };
    expect(await deleteArtifacts(dump, rt)).toEqual([]);
    expect(world.calls).toEqual([]);
    expect(databaseModule.retention?.references).toBeUndefined();
    expect(databaseModule.retention?.sweepPrefixes).toBeUndefined();
  });

  it("retention's DeleteSet: the snapshots go with the set; a copy still copying postpones the set, whole, to the next run", async () => {
    // Prepare
    const rt = databaseRuntime(rdsSettings);
    snapshotsFor(world, 'rds-instance', BACKUP_ID, { drCopy: true });
    const copy = world.snapshots.get(`eu-central-1/${SNAPSHOT}`);
    if (copy) copy.status = 'copying';
    await committedSet(rt, BACKUP_ID, snapshotResult('rds-instance', BACKUP_ID, { drCopy: true }));
    // A newer set is the latest (DeleteSet refuses the latest, pointer or not)
    const newer = 'b20261126t020000z-1b2c';
    await committedSet(rt, newer, snapshotResult('rds-instance', newer));
    await writeLatest(rt.store, newer, new Date('2026-11-26T02:30:00Z'));
    // Act: the first run cannot delete yet
    const first = await deleteSet({ runId: 'g20261127t050000z-0001', backupId: BACKUP_ID }, rt);
    // Assess: postponed before anything was deleted (the snapshot in eu-west-1 is still there too),
    // and the set is as restorable as before: no deletion marker
    expect(first.postponed).toMatch(
      new RegExp(
        `^kept until the next retention run: DR copy ${SNAPSHOT} in eu-central-1 is copying \\(RDS deletes only available snapshots`,
      ),
    );
    expect(first.deleted).toEqual([]);
    expect(world.snapshots.size).toBe(2);
    expect((await readManifest(rt.store, BACKUP_ID)).backupId).toBe(BACKUP_ID);
    expect(await rt.store.stat(storeKeys.deletionMarker(BACKUP_ID))).toBeUndefined();
    // Act: later, the copy is available
    if (copy) copy.status = 'available';
    const outcome = await deleteSet({ runId: 'g20261128t050000z-0002', backupId: BACKUP_ID }, rt);
    // Assess
    expect(outcome.deleted).toEqual([
      `snapshot ${SNAPSHOT} in eu-west-1 deleted`,
      `DR copy ${SNAPSHOT} in eu-central-1 deleted`,
    ]);
    expect(world.snapshots.size).toBe(0);
    await expect(readManifest(rt.store, BACKUP_ID)).rejects.toBeInstanceOf(ObjectNotFoundError);
  });
});

describe('restore drill: the recorded snapshots', () => {
  it('verifies an available, encrypted, shared snapshot and DR copy of the recorded engine with enabled keys', async () => {
    const rt = databaseRuntime(rdsSettings);
    snapshotsFor(world, 'rds-instance', BACKUP_ID, { drCopy: true, sharedWith: '222222222222' });
    const outcome = await verify(
      snapshotResult('rds-instance', BACKUP_ID, { drCopy: true, sharedWith: '222222222222' }),
      rt,
    );
    expect(outcome.problems).toEqual([]);
    expect(outcome.status).toBe('verified');
    expect(outcome.checks).toEqual(
      expect.arrayContaining([
        `snapshot ${SNAPSHOT} in eu-west-1 is available`,
        `DR copy ${SNAPSHOT} in eu-central-1 is available`,
        `snapshot ${SNAPSHOT} in eu-west-1 is mysql 8.0.39 as recorded`,
        `DR copy ${SNAPSHOT} in eu-central-1 is encrypted with ${DR_KEY} as recorded`,
        `KMS key ${SOURCE_KEY} of the snapshot is enabled`,
        `DR copy ${SNAPSHOT} in eu-central-1 is shared with account 222222222222 as recorded`,
      ]),
    );
    // Read-only: nothing but describe calls.
    expect(new Set(world.calls.map((call) => call.command))).toEqual(
      new Set(['DescribeDBSnapshots', 'DescribeDBSnapshotAttributes']),
    );
  });

  it('names each problem: a missing copy, a state, another engine version, other encryption, a key pending deletion, a lost share', async () => {
    const rt = databaseRuntime(rdsSettings);
    snapshotsFor(world, 'rds-instance', BACKUP_ID, { sharedWith: '222222222222' });
    const snapshot = world.snapshots.get(`eu-west-1/${SNAPSHOT}`);
    if (!snapshot) throw new Error('no snapshot');
    snapshot.engineVersion = '8.0.40';
    snapshot.status = 'incompatible-restore';
    snapshot.kmsKeyId = DR_KEY;
    snapshot.restoreAccounts = [];
    world.keys.set(DR_KEY, 'PendingDeletion');
    const outcome = await verify(
      snapshotResult('rds-instance', BACKUP_ID, { drCopy: true, sharedWith: '222222222222' }),
      rt,
    );
    expect(outcome.status).toBe('failed');
    expect(outcome.problems).toEqual([
      `snapshot ${SNAPSHOT} in eu-west-1 is incompatible-restore, not available`,
      `snapshot ${SNAPSHOT} in eu-west-1 is mysql 8.0.40, the set recorded mysql 8.0.39`,
      `snapshot ${SNAPSHOT} in eu-west-1 is encrypted with ${DR_KEY}, the set recorded encrypted with ${SOURCE_KEY}`,
      `KMS key ${DR_KEY} of the snapshot ${SNAPSHOT} in eu-west-1 is PendingDeletion: RDS cannot restore the snapshot until it is enabled`,
      `snapshot ${SNAPSHOT} in eu-west-1 is no longer shared with account 222222222222`,
      `DR copy ${SNAPSHOT} in eu-central-1 does not exist`,
    ]);
  });

  it('Aurora: cluster snapshot describe calls; a snapshot of another set under the name is named as such', async () => {
    const rt = databaseRuntime({ mode: 'aurora-cluster', identifier: 'liferay-aurora', region: 'eu-west-1' });
    snapshotsFor(world, 'aurora-cluster', BACKUP_ID);
    const snapshot = world.snapshots.get(`eu-west-1/${SNAPSHOT}`);
    if (snapshot) snapshot.tags['liferay-backup:backup-id'] = 'b20200101t000000z-0000';
    world.keys.delete(SOURCE_KEY);
    const outcome = await verify(snapshotResult('aurora-cluster', BACKUP_ID), rt);
    expect(outcome.problems).toEqual([
      `cluster snapshot ${SNAPSHOT} in eu-west-1 is another snapshot than the set's: its liferay-backup:backup-id tag is "b20200101t000000z-0000"`,
      `KMS key ${SOURCE_KEY} of the cluster snapshot ${SNAPSHOT} in eu-west-1 is gone (not found): RDS cannot restore the snapshot until it is enabled`,
    ]);
    expect(world.callsOf('DescribeDBClusterSnapshots')).toHaveLength(1);
    expect(world.callsOf('DescribeDBSnapshots')).toEqual([]);
  });

  it('a failed or unreadable result is a failed check, not an error', async () => {
    const rt = databaseRuntime(rdsSettings);
    const failedResult: ComponentResult = {
      component: 'database',
      status: 'failed',
      warnings: [],
      summary: {},
      details: {},
    };
    expect(await verify(failedResult, rt)).toEqual({
      status: 'failed',
      checks: [],
      problems: ["the set's database result is failed: it recorded nothing to restore"],
    });
    const broken = snapshotResult('rds-instance', BACKUP_ID);
    (broken.details as Record<string, unknown>).mode = 'tape';
    expect((await verify(broken, rt)).problems[0]).toMatch(/^the database record cannot be read: mode: /);
  });
});
