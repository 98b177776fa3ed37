import { describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { validateRestore } from '#backup-set/validate-restore.ts';
import { InvalidInputError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { allKeys, testRuntime } from '../../support/local-runtime.ts';

/**
 * A set the deployment's database configuration cannot restore is refused at Validate, before any
 * component restores: the database branch used to refuse it only after the Liferay Home (and the
 * others) had been restored, leaving a half-restored environment and a red execution.
 */

const T0 = new Date('2026-11-28T02:00:00Z');
const clock = () => {
  let t = T0.getTime();
  return () => {
    t += 1000;
    return new Date(t);
  };
};

const dumpResult = (engine: 'mariadb' | 'postgresql') => ({
  component: 'database',
  status: 'complete',
  warnings: [],
  summary: {},
  details: {
    mode: 'dump',
    engine,
    source: `${engine}://liferay@db.example/lportal`,
    database: 'lportal',
    serverVersion: '10.11.6',
    tool: 'mariadb-dump',
    toolVersion: '10.11.6',
    format: engine === 'postgresql' ? 'pg-custom' : 'sql-gzip',
    key: 'dumps/x/database.sql.gz',
    size: 10,
    sha256: 'a'.repeat(64),
    dumpBytes: 100,
  },
});

const snapshotRef = {
  identifier: 'liferay-backup-b1',
  arn: 'arn:aws:rds:eu-west-1:123456789012:snapshot:x',
  region: 'eu-west-1',
};
const instanceResult = {
  component: 'database',
  status: 'complete',
  warnings: [],
  summary: {},
  details: {
    mode: 'rds-instance',
    source: {
      identifier: 'liferay-db',
      arn: 'arn:aws:rds:eu-west-1:123456789012:db:liferay-db',
      region: 'eu-west-1',
      engine: 'mysql',
      engineVersion: '8.0.36',
      instanceClass: 'db.r6g.large',
      securityGroupIds: [],
      port: 3306,
      multiAz: false,
      storageType: 'gp3',
      allocatedStorage: 100,
      storageEncrypted: true,
      publiclyAccessible: false,
      deletionProtection: true,
      iamDatabaseAuthentication: false,
      autoMinorVersionUpgrade: true,
    },
    snapshot: snapshotRef,
  },
};

async function setHolding(rt: Runtime, database: unknown): Promise<string> {
  const context = await beginBackup({}, rt);
  await commitBackup({ backup: context, results: [database] }, rt);
  return context.backupId;
}

async function refusal(rt: Runtime, request: unknown): Promise<string> {
  const before = await allKeys(rt.store);
  const error = await validateRestore(request, rt).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(InvalidInputError);
  // Nothing written: no restore report, no lock, no work prefix.
  expect(await allKeys(rt.store)).toEqual(before);
  return (error as Error).message;
}

describe('Validate refuses a database set this deployment cannot restore', () => {
  it('a dump set in an RDS deployment, and an RDS set in a dump deployment', async () => {
    const dumpSettings = { mode: 'dump', url: 'mariadb://liferay@db.example:3306/lportal' };
    const rdsSettings = { mode: 'rds-instance', identifier: 'liferay-db' };

    const inDump = testRuntime({ components: { database: dumpSettings }, now: clock() });
    const dumpSet = await setHolding(inDump, dumpResult('mariadb'));
    // The same store seen by a deployment that moved to RDS snapshots.
    const inRds = { ...inDump, settings: { ...inDump.settings, components: { database: rdsSettings } } };
    expect(await refusal(inRds, { backupId: dumpSet })).toMatch(
      /database: the set holds a mariadb dump, and the database is configured in rds-instance mode: restore it with a dump-mode configuration/,
    );

    const rdsSet = await setHolding(inRds, instanceResult);
    expect(await refusal(inDump, { backupId: rdsSet })).toMatch(
      /database: the set holds a DB instance snapshot, and the database is configured in dump mode: .*snapshot liferay-backup-b1/,
    );
    const inAurora = {
      ...inDump,
      settings: {
        ...inDump.settings,
        components: { database: { mode: 'aurora-cluster', identifier: 'liferay' } },
      },
    };
    expect(await refusal(inAurora, { backupId: rdsSet })).toMatch(
      /configured in aurora-cluster mode: restore it with a deployment configured for rds-instance/,
    );

    // What each deployment can restore still validates.
    expect((await validateRestore({ backupId: dumpSet }, inDump)).components).toEqual(['database']);
    expect((await validateRestore({ backupId: rdsSet }, inRds)).components).toEqual(['database']);
  });

  it('a MariaDB dump in a deployment whose database URL is PostgreSQL', async () => {
    const rt = testRuntime({
      components: { database: { mode: 'dump', url: 'mariadb://liferay@db.example/lportal' } },
      now: clock(),
    });
    const id = await setHolding(rt, dumpResult('mariadb'));
    const pg = {
      ...rt,
      settings: {
        ...rt.settings,
        components: { database: { mode: 'dump', url: 'postgresql://liferay@db.example:5432/lportal' } },
      },
    };
    expect(await refusal(pg, { backupId: id })).toMatch(
      /a mariadb dump cannot be restored into the configured postgresql database/,
    );
    // The URL in an SSM parameter is not read at Validate: the branch checks the engine there.
    const ssm = {
      ...rt,
      settings: {
        ...rt.settings,
        components: { database: { mode: 'dump', urlParameterName: '/liferay/db-url' } },
      },
    };
    expect((await validateRestore({ backupId: id }, ssm)).components).toEqual(['database']);
  });
});
