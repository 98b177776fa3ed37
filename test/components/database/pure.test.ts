import { describe, expect, it } from 'vitest';
import { parseDatabaseUrl, redactSecrets, redactUrl } from '#components/database/connection.ts';
import {
  isRdsIdentifier,
  restoredDatabaseName,
  restoredIdentifier,
  snapshotIdentifier,
  snapshotPrefix,
  writerIdentifier,
} from '#components/database/naming.ts';
import { checkDatabaseRestore } from '#components/database/rds-plan.ts';
import { databaseSettingsSchema } from '#components/database/schemas.ts';
import { ConfigError } from '#runtime/errors.ts';

describe('RDS names', () => {
  it('derives snapshot identifiers from the environment and backup id, valid for RDS', () => {
    expect(snapshotIdentifier('liferay-prod', 'b20261127t020000z-7f3a')).toBe(
      'liferay-backup-liferay-prod-b20261127t020000z-7f3a',
    );
    // "--" is not allowed by RDS: collapsed
    expect(snapshotPrefix('a--b')).toBe('liferay-backup-a-b-');
    expect(isRdsIdentifier(snapshotIdentifier('x1', 'b20261127t020000z-7f3a'), 255)).toBe(true);
  });

  it('refuses what RDS refuses', () => {
    for (const bad of ['', '1abc', 'abc-', 'a--b', 'a_b', 'a'.repeat(64)])
      expect(isRdsIdentifier(bad), bad).toBe(false);
    for (const good of ['a', 'liferay-db', 'A1-b2']) expect(isRdsIdentifier(good), good).toBe(true);
  });

  it('names restored resources after the source and the restore id, never the source itself, within 63 characters', () => {
    expect(restoredIdentifier('liferay-db', 'r20261128t100000z-1a2b')).toBe(
      'liferay-db-r20261128t100000z-1a2b',
    );
    const long = restoredIdentifier(`a${'-b'.repeat(40)}`, 'r20261128t100000z-1a2b');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(isRdsIdentifier(long)).toBe(true);
    expect(writerIdentifier('c'.repeat(63)).length).toBe(63);
    expect(restoredDatabaseName('lportal', 'r20261128t100000z-1a2b')).toBe('lportal_r20261128t100000z_1a2b');
    expect(restoredDatabaseName('9db', 'r20261128t100000z-1a2b')).toMatch(/^db_9db_/);
  });
});

describe('database URLs', () => {
  const url = 'postgresql://liferay:S3cr%3At%40x@db.example.com:6432/lportal?sslmode=verify-full';

  it('parses engine, host, port, user, password, database and TLS settings', () => {
    expect(parseDatabaseUrl(url)).toEqual({
      engine: 'postgresql',
      host: 'db.example.com',
      port: 6432,
      user: 'liferay',
      password: 'S3cr:t@x',
      database: 'lportal',
      tls: { mode: 'verify-full' },
    });
    expect(parseDatabaseUrl('mysql://root@localhost/lportal')).toMatchObject({
      engine: 'mysql',
      port: 3306,
      password: undefined,
    });
  });

  it('never repeats the password: redacted URLs and errors', () => {
    expect(redactUrl(url)).toBe('postgresql://liferay:***@db.example.com:6432/lportal?sslmode=verify-full');
    expect(redactUrl('mysql://root@h/db')).toBe('mysql://root@h/db');
    expect(redactUrl('mysql://u:2024/S3cret@h/db')).toBe('mysql://u:***@h/db');
    expect(redactUrl('mysql://u:p@S3cret@h/db')).toBe('mysql://u:***@h/db');
    expect(redactSecrets('Access denied (pw S3cr:t@x)', ['S3cr:t@x'])).toBe('Access denied (pw ***)');
    for (const bad of [
      'ftp://u:S3cretPw@h/db',
      'mysql://u:S3cretPw@h/db?foo=1',
      'mysql://:S3cretPw@h/db',
      'not a url S3cretPw',
      // An unencoded / ? # or @ in the password: the URL parser reads "u:2024" as host and port.
      'mysql://u:2024/S3cretPw@h/db',
      'mysql://u:123?S3cretPw@h/db',
      'postgresql://u:99#S3cretPw@h/db',
      'mysql://u:p@S3cretPw@h/db?foo=1',
    ]) {
      const error = (() => {
        try {
          parseDatabaseUrl(bad);
        } catch (thrown) {
          return thrown as Error;
        }
        return undefined;
      })();
      expect(error, bad).toBeInstanceOf(ConfigError);
      expect(error?.message, bad).not.toContain('S3cretPw');
      expect(error?.cause, bad).toBeUndefined();
    }
  });
});

describe('settings', () => {
  it('dump mode needs exactly one of url and urlParameterName; DR region and key go together', () => {
    expect(databaseSettingsSchema.safeParse({ mode: 'dump' }).success).toBe(false);
    expect(
      databaseSettingsSchema.safeParse({ mode: 'dump', url: 'mysql://u@h/d', urlParameterName: '/x' })
        .success,
    ).toBe(false);
    expect(databaseSettingsSchema.parse({ mode: 'dump', urlParameterName: '/liferay/db-url' })).toMatchObject(
      { waitIntervalSeconds: 60 },
    );
    expect(
      databaseSettingsSchema.safeParse({ mode: 'rds-instance', identifier: 'db', drRegion: 'eu-central-1' })
        .success,
    ).toBe(false);
  });
});

describe('checkRestore (runs in Validate, before anything is created)', () => {
  const instance = {
    mode: 'rds-instance',
    source: {
      identifier: 'liferay-db',
      arn: 'arn',
      region: 'eu-west-1',
      engine: 'mysql',
      engineVersion: '8.0',
      instanceClass: 'db.t4g.large',
      securityGroupIds: [],
      multiAz: false,
      port: 3306,
      storageEncrypted: true,
      publiclyAccessible: false,
      deletionProtection: false,
      iamDatabaseAuthentication: false,
    },
    snapshot: { identifier: 's', arn: 'arn:s', region: 'eu-west-1' },
  };
  const dump = {
    mode: 'dump',
    engine: 'mariadb',
    source: 'mariadb://u@h:3306/lportal',
    database: 'lportal',
    serverVersion: '10.11',
    tool: 'mariadb-dump',
    toolVersion: 'x',
    format: 'sql-gzip',
    key: 'dumps/b/database/lportal.sql.gz',
    size: 1,
    sha256: 'a'.repeat(64),
    dumpBytes: 1,
  };

  it('accepts a plain request', () => {
    expect(checkDatabaseRestore(instance, {})).toEqual([]);
    expect(checkDatabaseRestore(dump, { targetDatabase: 'lportal_copy' })).toEqual([]);
  });

  it('names every problem', () => {
    expect(checkDatabaseRestore(instance, { targetIdentifier: 'liferay-db' }).join()).toMatch(
      /is the source itself/,
    );
    expect(checkDatabaseRestore(instance, { region: 'eu-central-1' }).join()).toMatch(
      /no copy there.*give subnetGroupName and securityGroupIds/,
    );
    expect(checkDatabaseRestore(instance, { targetDatabase: 'x' }).join()).toMatch(/apply to dumps/);
    expect(checkDatabaseRestore(dump, { instanceClass: 'db.t4g.large' }).join()).toMatch(
      /apply to RDS snapshots/,
    );
    expect(checkDatabaseRestore(dump, { targetDatabase: 'lportal' }).join()).toMatch(
      /is the database that was backed up/,
    );
    expect(checkDatabaseRestore(dump, { targetDatabase: 'lportal', overwrite: true })).toEqual([]);
    expect(checkDatabaseRestore({ mode: 'dump' }, {}).join()).toMatch(/not readable/);
  });
});
