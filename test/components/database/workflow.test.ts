import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CopyDBSnapshotCommand,
  CreateDBSnapshotCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBSnapshotAttributeCommand,
  RDSClient,
  RestoreDBInstanceFromDBSnapshotCommand,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { readManifest } from '#backup-set/manifest.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { type AslDefinition, definitionsFromTemplate } from '#local/template-definitions.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import type { LocalFolderStore } from '#store/local-folder-store.ts';
import { synthTemplate } from '../../../cdk/synth.ts';
import { type DatabaseServer, startMariaDb } from '../../support/database-servers.ts';
import { createLiferaySchema, tableChecksums } from './fixtures.ts';
import { causeOf, databaseRuntime, outputOf } from './support.ts';

/**
 * The synthesized Backup and Restore state machines (database component only), run locally with
 * aws-local-stepfunctions: the prepare step, the Wait + describe loops, the Catch that turns a
 * failure into a failed result.
 */
const definitions = definitionsFromTemplate(
  synthTemplate({
    environment: 'liferay-prod',
    account: '111111111111',
    region: 'eu-west-1',
    components: {
      database: {
        enabled: true,
        mode: 'rds-instance',
        identifier: 'liferay-db',
        drRegion: 'eu-central-1',
        drKmsKeyArn: 'arn:aws:kms:eu-central-1:111111111111:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9',
        shareWithAccount: '222222222222',
        notAvailableRetry: { intervalSeconds: 1, maxAttempts: 2 },
      },
    },
  }) as never,
) as { backup: AslDefinition; restore: AslDefinition };

const rds = mockClient(RDSClient);
const kms = mockClient(KMSClient);

function count(states: string[], name: string): number {
  return states.filter((state) => state === name).length;
}

describe('Backup and Restore workflows with RDS (SDK mocked)', () => {
  const settings = {
    mode: 'rds-instance',
    identifier: 'liferay-db',
    region: 'eu-west-1',
    drRegion: 'eu-central-1',
    drKmsKeyArn: 'arn:aws:kms:eu-central-1:111111111111:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9',
    shareWithAccount: '222222222222',
    waitIntervalSeconds: 60,
    maxWaitAttempts: 20,
  };
  const instance = {
    DBInstanceIdentifier: 'liferay-db',
    DBInstanceArn: 'arn:aws:rds:eu-west-1:111111111111:db:liferay-db',
    DBInstanceStatus: 'available',
    Engine: 'mysql',
    EngineVersion: '8.0.39',
    DBInstanceClass: 'db.r6g.large',
    DBSubnetGroup: { DBSubnetGroupName: 'liferay-subnets' },
    VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0a1b2c3d4e5f60718' }],
    MultiAZ: false,
    Endpoint: { Address: 'liferay-db.x.rds.amazonaws.com', Port: 3306 },
    StorageEncrypted: true,
    KmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/11111111-2222-3333-4444-555555555555',
  };
  beforeEach(() => {
    rds.reset();
    kms.reset();
  });

  it('prepare starts the snapshot, the Wait loop follows it and its DR copy, Restore creates a new instance and reports its endpoint', async () => {
    // Prepare
    const rt = databaseRuntime(settings);
    const describes = { snapshot: 0, copy: 0, restored: 0 };
    rds
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'liferay-db' })
      .resolves({ DBInstances: [instance] });
    rds.on(CreateDBSnapshotCommand).callsFake((input: { DBSnapshotIdentifier: string }) => ({
      DBSnapshot: {
        DBSnapshotIdentifier: input.DBSnapshotIdentifier,
        DBSnapshotArn: `arn:aws:rds:eu-west-1:111111111111:snapshot:${input.DBSnapshotIdentifier}`,
        Status: 'creating',
        Encrypted: true,
        KmsKeyId: instance.KmsKeyId,
      },
    }));
    rds
      .on(DescribeDBSnapshotsCommand)
      .callsFake(async (input: { DBSnapshotIdentifier: string }, getClient: () => RDSClient) => {
        const region = await getClient().config.region();
        const dr = region === 'eu-central-1';
        const calls = dr ? ++describes.copy : ++describes.snapshot;
        return {
          DBSnapshots: [
            {
              DBSnapshotIdentifier: input.DBSnapshotIdentifier,
              DBSnapshotArn: `arn:aws:rds:${region}:111111111111:snapshot:${input.DBSnapshotIdentifier}`,
              Status: calls < 3 ? 'creating' : 'available',
              Encrypted: true,
              KmsKeyId: dr ? settings.drKmsKeyArn : instance.KmsKeyId,
            },
          ],
        };
      });
    rds.on(CopyDBSnapshotCommand).callsFake((input: { TargetDBSnapshotIdentifier: string }) => ({
      DBSnapshot: {
        DBSnapshotIdentifier: input.TargetDBSnapshotIdentifier,
        DBSnapshotArn: `arn:aws:rds:eu-central-1:111111111111:snapshot:${input.TargetDBSnapshotIdentifier}`,
        Status: 'pending',
      },
    }));
    kms.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: 'k', KeyManager: 'CUSTOMER' } });
    rds.on(ModifyDBSnapshotAttributeCommand).resolves({});

    // Act: backup
    const backup = await runWorkflow(
      definitions.backup,
      { requestedBy: 'cli', schedule: 'nightly-full' },
      rt,
    );

    // Assess
    expect(backup.status).toBe('SUCCEEDED');
    const states = backup.statesEntered;
    expect(states.indexOf('Database start backup')).toBeLessThan(states.indexOf('Capture'));
    // snapshot: creating, creating, available (the copy starts); copy: creating, creating, available (shared, done)
    expect(count(states, 'Database wait (capture)')).toBe(6);
    expect(count(states, 'Database check snapshot')).toBe(6);
    const backupId = (outputOf(backup) as { backup: { backupId: string } }).backup.backupId;
    const manifest = await readManifest(rt.store, backupId);
    expect(manifest.status).toBe('complete');
    expect(manifest.results.database).toMatchObject({
      status: 'complete',
      summary: {
        snapshot: `liferay-backup-liferay-prod-${backupId}`,
        drCopy: `eu-central-1/liferay-backup-liferay-prod-${backupId}`,
        sharedWith: '222222222222',
      },
    });
    expect(rds.commandCalls(ModifyDBSnapshotAttributeCommand)).toHaveLength(2);

    // Act: restore into a new instance
    rds.on(RestoreDBInstanceFromDBSnapshotCommand).resolves({});
    rds.on(DescribeDBInstancesCommand).callsFake((input: { DBInstanceIdentifier: string }) => {
      if (input.DBInstanceIdentifier === 'liferay-db') return { DBInstances: [instance] };
      describes.restored += 1;
      return {
        DBInstances: [
          {
            DBInstanceIdentifier: input.DBInstanceIdentifier,
            DBInstanceStatus: describes.restored < 2 ? 'creating' : 'available',
            Endpoint: { Address: 'restored.x.rds.amazonaws.com', Port: 3306 },
          },
        ],
      };
    });
    const restore = await runWorkflow(
      definitions.restore,
      { backupId: 'latest', database: { targetIdentifier: 'liferay-db-restored' } },
      rt,
    );
    expect(restore.status).toBe('SUCCEEDED');
    expect(count(restore.statesEntered, 'Database wait (restore)')).toBe(2);
    expect(rds.commandCalls(RestoreDBInstanceFromDBSnapshotCommand)[0]?.args[0].input).toMatchObject({
      DBInstanceIdentifier: 'liferay-db-restored',
      DBSnapshotIdentifier: `liferay-backup-liferay-prod-${backupId}`,
    });
    const report = (outputOf(restore) as { report: { restoreId: string } }).report;
    const written = await readRestoreReport(rt.store, backupId, report.restoreId);
    expect(written.results.database?.summary).toMatchObject({
      endpoint: 'restored.x.rds.amazonaws.com',
      port: 3306,
    });
  });

  it('a source that stays unavailable is retried in the window, then the database result fails with the reason and the run still commits', async () => {
    const rt = databaseRuntime(settings);
    rds
      .on(DescribeDBInstancesCommand)
      .resolves({ DBInstances: [{ ...instance, DBInstanceStatus: 'backing-up' }] });
    const outcome = await runWorkflow(definitions.backup, { requestedBy: 'cli' }, rt);
    expect(outcome.status).toBe('FAILED');
    // first try + 2 retries of the prepare step, then the capture branch turns the recorded error into a failed result
    expect(rds.commandCalls(DescribeDBInstancesCommand)).toHaveLength(3);
    expect(outcome.statesEntered).toContain('Database prepare failed');
    expect(outcome.statesEntered).toContain('Commit');
    const backupId = /backup set (b\d{8}t\d{6}z-[0-9a-f]{4})/.exec(causeOf(outcome))?.[1] ?? '';
    const manifest = await readManifest(rt.store, backupId);
    expect(manifest.results.database).toMatchObject({
      status: 'failed',
      error: {
        name: 'DatabaseNotAvailableError',
        message: expect.stringMatching(/liferay-db is backing-up/),
      },
    });
    expect(rds.commandCalls(CreateDBSnapshotCommand)).toHaveLength(0);
  });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => path.join(dir, name))
    .filter((file) => statSync(file).isFile());
}

describe('Backup and Restore workflows with a dump of a real MariaDB server', () => {
  let server: DatabaseServer;
  beforeAll(async () => {
    server = await startMariaDb();
    createLiferaySchema(server, 'lportal', 5000);
  });
  afterAll(async () => server?.stop());

  function runtimeFor(
    url: string,
    logLevel: 'DEBUG' | 'SILENT' = 'SILENT',
  ): { rt: Runtime; dir: string; progress: string[] } {
    const base = databaseRuntime({ mode: 'dump', url });
    const dir = (base.store as LocalFolderStore).location;
    const progress: string[] = [];
    const rt = localRuntime({
      store: base.store,
      settings: parseSettings(
        {
          environment: 'liferay-prod',
          configuredComponents: ['database'],
          components: { database: { mode: 'dump', url } },
        },
        'test',
      ),
      logLevel,
      scratchDir: base.scratchDir,
      progress: (message) => progress.push(message),
    });
    return { rt, dir, progress };
  }

  it('dumps in the prepare step, restores into a new database with equal data, and writes or logs no password', async () => {
    // Prepare: capture everything the handlers log
    const { rt, dir } = runtimeFor(server.url('lportal'), 'DEBUG');
    const logged: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logged.push(String(chunk));
      return true;
    });
    try {
      // Act
      const backup = await runWorkflow(definitions.backup, { requestedBy: 'cli' }, rt);
      const restore = await runWorkflow(
        definitions.restore,
        { backupId: 'latest', database: { targetDatabase: 'lportal_restored' } },
        rt,
      );
      // Assess
      expect(backup.status).toBe('SUCCEEDED');
      expect(backup.statesEntered).toContain('Database capture result');
      expect(backup.statesEntered).not.toContain('Database wait (capture)');
      expect(restore.status).toBe('SUCCEEDED');
    } finally {
      spy.mockRestore();
    }
    expect(tableChecksums(server, 'lportal_restored')).toEqual(tableChecksums(server, 'lportal'));
    expect(logged.join('')).toContain('database dumped');
    for (const text of [logged.join('')]) expect(text).not.toContain(server.password);
    for (const file of filesUnder(dir)) {
      expect(readFileSync(file).includes(Buffer.from(server.password)), file).toBe(false);
    }
  });

  it('a restore into a database that holds tables is refused unless overwrite, and creates nothing', async () => {
    const { rt } = runtimeFor(server.url('lportal'));
    const backup = await runWorkflow(definitions.backup, { requestedBy: 'cli' }, rt);
    expect(backup.status).toBe('SUCCEEDED');
    const refused = await runWorkflow(
      definitions.restore,
      { backupId: 'latest', database: { targetDatabase: 'lportal' } },
      rt,
    );
    expect(refused.status).toBe('FAILED');
    expect(causeOf(refused)).toMatch(/is the database that was backed up/);
    const notEmpty = await runWorkflow(
      definitions.restore,
      { backupId: 'latest', database: { targetDatabase: 'lportal_restored' } },
      rt,
    );
    expect(notEmpty.status).toBe('FAILED');
    expect(causeOf(notEmpty)).toMatch(/RestoreTargetNotEmptyError|holds \d+ tables/);
  });

  it('a dump whose server dies half-way leaves the database result failed and no dump object', async () => {
    // Prepare: big enough to still be dumping at the first progress report
    createLiferaySchema(server, 'bigportal', 40_000, { randomBlobs: true });
    const { rt, dir, progress } = runtimeFor(server.url('bigportal'));
    const killing = localRuntime({
      store: rt.store,
      settings: rt.settings,
      scratchDir: rt.scratchDir,
      progress: (message) => {
        progress.push(message);
        if (progress.length === 1) server.kill();
      },
    });
    // Act
    const outcome = await runWorkflow(definitions.backup, { requestedBy: 'cli' }, killing);
    // Assess
    expect(progress.length).toBeGreaterThan(0);
    expect(outcome.status).toBe('FAILED');
    const backupId = /backup set (b\d{8}t\d{6}z-[0-9a-f]{4})/.exec(causeOf(outcome))?.[1] ?? '';
    const manifest = await readManifest(rt.store, backupId);
    expect(manifest.results.database).toMatchObject({ status: 'failed', error: { name: 'DumpFailedError' } });
    expect(filesUnder(dir).filter((file) => file.includes(`dumps${path.sep}${backupId}`))).toEqual([]);
  });
});
