import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '#components/database/connection.ts';
import {
  createMarkedDatabase,
  type DumpOutcome,
  dumpToStore,
  restoreDumpFromStore,
} from '#components/database/dump.ts';
import { clientAccess, query } from '#components/database/dump-adapter.ts';
import { DumpRestoreFailedError } from '#components/database/errors.ts';
import type { DumpDetails } from '#components/database/schemas.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { type DatabaseServer, startPostgres } from '../../support/database-servers.ts';
import { failure } from './support.ts';

/**
 * Review finding: the set recorded a PostgreSQL database's encoding and LC_COLLATE only, so a
 * source whose LC_CTYPE differed, or that used the ICU (or, on 17, builtin) locale provider, was
 * restored as a libc database with LC_CTYPE = LC_COLLATE: LOWER() and ORDER BY (Liferay's
 * case-insensitive lookups and sorting) changed, with only a warning at backup time. The test
 * server is Debian's PostgreSQL 15, built with ICU, set up with the C locale.
 */

const RESTORE_ID = 'r20261127t060000z-10d1';

describe('review: a PostgreSQL dump restore recreates LC_CTYPE and the locale provider of the source', () => {
  let server: DatabaseServer;
  let scratch: string;
  let store: LocalFolderStore;
  let split: DumpOutcome;
  let icu: DumpOutcome;
  const localeOf = (database: string) =>
    server
      .admin(
        `SELECT pg_encoding_to_char(encoding), datcollate, datctype, datlocprovider, coalesce(daticulocale, '') FROM pg_database WHERE datname = '${database}'`,
      )
      .trim();
  const lowered = (database: string) =>
    server.admin('SELECT lower(name) FROM Organization_ ORDER BY id', database).trim();
  const sorted = (database: string) =>
    server.admin('SELECT name FROM Organization_ ORDER BY name', database).trim().split('\n');
  const restoreRequest = (
    backupId: string,
    details: DumpDetails,
    targetDatabase: string,
    overwrite = false,
  ) => ({
    store,
    details,
    connection: parseDatabaseUrl(server.url('ignored')),
    targetDatabase,
    overwrite,
    restoreId: RESTORE_ID,
    backupId,
    scratchDir: scratch,
    maintenanceDatabase: 'postgres',
  });
  const sourceWith = async (database: string, locale: string, backupId: string) => {
    server.admin(
      `CREATE DATABASE ${database} OWNER ${server.user} TEMPLATE template0 ENCODING 'UTF8' ${locale}`,
    );
    server.admin(
      `SET ROLE ${server.user}; CREATE TABLE Organization_ (id INT PRIMARY KEY, name VARCHAR(75)); INSERT INTO Organization_ VALUES (1, 'ÉCOLE Ångström'), (2, 'Zürich'), (3, 'apple'), (4, 'Berlin'), (5, 'zebra'), (6, 'Örebro')`,
      database,
    );
    return dumpToStore({
      store,
      backupId,
      connection: parseDatabaseUrl(server.url(database)),
      scratchDir: scratch,
      compressionLevel: 1,
    });
  };

  beforeAll(async () => {
    server = await startPostgres();
    scratch = mkdtempSync(path.join(tmpdir(), 'db-review-locprov-'));
    store = new LocalFolderStore(path.join(scratch, 'store'));
    split = await sourceWith('lportal_split', "LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'", 'b20261127t020000z-10d1');
    icu = await sourceWith(
      'lportal_icu',
      "LOCALE_PROVIDER icu ICU_LOCALE 'sv' LOCALE 'C.UTF-8'",
      'b20261127t020000z-10d2',
    );
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('the test server is PostgreSQL 15 built with ICU, set up with the C locale', () => {
    expect(server.admin('SHOW server_version_num').trim()).toMatch(/^15\d{4}$/);
    expect(server.admin("SELECT count(*) > 0 FROM pg_collation WHERE collprovider = 'i'").trim()).toBe('t');
    expect(localeOf('template0')).toBe('UTF8|C|C|c|');
  });

  it('a source whose LC_CTYPE differs from its LC_COLLATE: recorded, restored as it was, no warning', async () => {
    // Prepare
    expect(localeOf('lportal_split')).toBe('UTF8|C|C.UTF-8|c|');
    // Act
    const restored = await restoreDumpFromStore(
      restoreRequest('b20261127t020000z-10d1', split.details, 'split_restored'),
    );
    // Assess
    expect(restored.created).toBe(true);
    expect(localeOf('split_restored')).toBe('UTF8|C|C.UTF-8|c|');
    expect(lowered('split_restored')).toBe(lowered('lportal_split'));
    expect(lowered('split_restored')).toContain('école ångström');
    expect(split.details).toMatchObject({ collation: 'C', ctype: 'C.UTF-8', localeProvider: 'libc' });
    expect(split.warnings).toEqual([]);
    expect(restored.warnings).toEqual([]);
  });

  it('a source with the ICU locale provider: recorded, restored as an ICU database sorting as the source, no warning', async () => {
    // Prepare: Swedish sorts É as E and Ö after Z; the C.UTF-8 libc locale by code point
    // (upper case first, accented letters last).
    expect(localeOf('lportal_icu')).toBe('UTF8|C.UTF-8|C.UTF-8|i|sv');
    expect(sorted('lportal_icu')).toEqual(['apple', 'Berlin', 'ÉCOLE Ångström', 'zebra', 'Zürich', 'Örebro']);
    // Act
    const restored = await restoreDumpFromStore(
      restoreRequest('b20261127t020000z-10d2', icu.details, 'icu_restored'),
    );
    // Assess
    expect(restored.created).toBe(true);
    expect(sorted('icu_restored')).toEqual(sorted('lportal_icu'));
    expect(localeOf('icu_restored')).toBe('UTF8|C.UTF-8|C.UTF-8|i|sv');
    expect(icu.details).toMatchObject({
      collation: 'C.UTF-8',
      ctype: 'C.UTF-8',
      localeProvider: 'icu',
      providerLocale: 'sv',
    });
    expect(icu.details.icuRules).toBeUndefined();
    expect(icu.warnings).toEqual([]);
    expect(restored.warnings).toEqual([]);
  });

  it('a set recorded before LC_CTYPE and the provider were: restored as before (libc, LC_CTYPE = LC_COLLATE)', async () => {
    // Prepare
    const { ctype: _ctype, localeProvider: _provider, providerLocale: _locale, ...details } = icu.details;
    // Act
    const restored = await restoreDumpFromStore(
      restoreRequest('b20261127t020000z-10d2', details, 'old_set_restored'),
    );
    // Assess
    expect(restored.created).toBe(true);
    expect(localeOf('old_set_restored')).toBe('UTF8|C.UTF-8|C.UTF-8|c|');
  });

  it('a builtin locale onto PostgreSQL 15 fails before loading, naming what is missing and the two ways out', async () => {
    // Prepare: a set taken on PostgreSQL 17 with the builtin provider.
    const details: DumpDetails = {
      ...split.details,
      collation: 'C',
      ctype: 'C',
      localeProvider: 'builtin',
      providerLocale: 'C.UTF-8',
    };
    // Act
    const error = await failure(
      restoreDumpFromStore(restoreRequest('b20261127t020000z-10d1', details, 'builtin_restored')),
    );
    // Assess
    expect(error).toBeInstanceOf(DumpRestoreFailedError);
    expect(error.message).toMatch(/builtin locale provider \(locale C\.UTF-8\)/);
    expect(error.message).toMatch(/PostgreSQL 17 or later/);
    expect(error.message).toMatch(/this server is PostgreSQL 15/);
    expect(error.message).toMatch(/create builtin_restored yourself/);
    expect(error.message).toContain('"overwrite": true');
    expect(error.message).toMatch(/builtin_restored was not created$/);
    expect(error.message).not.toContain(server.password);
    expect(localeOf('builtin_restored')).toBe('');
  });

  it('ICU rules onto PostgreSQL 15 fail before loading, naming PostgreSQL 16', async () => {
    // Prepare
    const details: DumpDetails = { ...icu.details, icuRules: '&a < g' };
    // Act
    const error = await failure(
      restoreDumpFromStore(restoreRequest('b20261127t020000z-10d2', details, 'rules_restored')),
    );
    // Assess
    expect(error).toBeInstanceOf(DumpRestoreFailedError);
    expect(error.message).toMatch(/ICU rules/);
    expect(error.message).toMatch(/PostgreSQL 16 or later/);
    expect(error.message).toMatch(/rules_restored was not created$/);
    expect(localeOf('rules_restored')).toBe('');
  });

  describe('an ICU set onto a server that cannot create ICU databases', () => {
    /**
     * Only PostgreSQL 15 built with ICU runs here: the server's answers for an older server and
     * for one built without ICU are given in their place; every other statement reaches the server.
     */
    const create = async (database: string, answer: (sql: string) => string[][] | undefined) => {
      const connection = parseDatabaseUrl(server.url(database));
      const access = clientAccess(connection, scratch);
      const statements: string[] = [];
      const run = async (sql: string, on: string) => {
        statements.push(sql);
        return (
          answer(sql) ?? query(connection, access, sql, { database: on, makeError: (m) => new Error(m) })
        );
      };
      try {
        const error = await failure(
          createMarkedDatabase(
            connection,
            run,
            database,
            icu.details,
            { text: 'marker', kind: 'comment' },
            'postgres',
          ),
        );
        return { error, statements };
      } finally {
        access.cleanup();
      }
    };

    it('older than 15: fails before CREATE DATABASE, naming PostgreSQL 15 and the two ways out', async () => {
      // Act
      const { error, statements } = await create('icu_on_14', (sql) =>
        sql === 'SHOW server_version_num' ? [['140011']] : undefined,
      );
      // Assess
      expect(error).toBeInstanceOf(DumpRestoreFailedError);
      expect(error.message).toMatch(/icu locale provider \(locale sv\)/);
      expect(error.message).toMatch(/PostgreSQL 15 or later/);
      expect(error.message).toMatch(/this server is PostgreSQL 14/);
      expect(error.message).toMatch(/create icu_on_14 yourself/);
      expect(statements.some((sql) => sql.startsWith('CREATE DATABASE'))).toBe(false);
      expect(localeOf('icu_on_14')).toBe('');
    });

    it('built without ICU: the server refusal is explained, with the two ways out', async () => {
      // Act
      const { error } = await create('icu_unsupported', (sql) => {
        if (sql.startsWith('CREATE DATABASE') && sql.includes('LOCALE_PROVIDER icu')) {
          throw new Error('psql: ERROR:  ICU is not supported in this build');
        }
        return undefined;
      });
      // Assess
      expect(error).toBeInstanceOf(DumpRestoreFailedError);
      expect(error.message).toMatch(/built without ICU/);
      expect(error.message).toMatch(/ICU locale sv/);
      expect(error.message).toMatch(/built with ICU/);
      expect(error.message).toMatch(/create icu_unsupported yourself/);
      expect(localeOf('icu_unsupported')).toBe('');
    });
  });

  describe('restoring into an existing database compares LC_CTYPE and the locale provider too', () => {
    it('same LC_COLLATE, another LC_CTYPE: warns, naming both', async () => {
      // Prepare
      server.admin(`CREATE DATABASE split_existing OWNER ${server.user} TEMPLATE template0 LOCALE 'C'`);
      // Act
      const restored = await restoreDumpFromStore(
        restoreRequest('b20261127t020000z-10d1', split.details, 'split_existing'),
      );
      // Assess
      expect(restored.created).toBe(false);
      expect(restored.warnings).toHaveLength(1);
      expect(restored.warnings[0]).toMatch(/already existed with encoding UTF8, LC_COLLATE C, LC_CTYPE C\b/);
      expect(restored.warnings[0]).toMatch(/LC_CTYPE C\.UTF-8/);
    });

    it('a libc database for an ICU set: warns, naming the ICU locale', async () => {
      // Prepare
      server.admin(
        `CREATE DATABASE icu_existing_libc OWNER ${server.user} TEMPLATE template0 LOCALE 'C.UTF-8'`,
      );
      // Act
      const restored = await restoreDumpFromStore(
        restoreRequest('b20261127t020000z-10d2', icu.details, 'icu_existing_libc'),
      );
      // Assess
      expect(restored.warnings).toHaveLength(1);
      expect(restored.warnings[0]).toMatch(/libc locale provider/);
      expect(restored.warnings[0]).toMatch(/icu locale provider \(locale sv\)/);
      expect(restored.warnings[0]).toMatch(/LOCALE_PROVIDER icu ICU_LOCALE 'sv'/);
    });

    it('the same ICU locale: no warning', async () => {
      // Prepare
      server.admin(
        `CREATE DATABASE icu_existing_same OWNER ${server.user} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'sv' LOCALE 'C.UTF-8'`,
      );
      // Act
      const restored = await restoreDumpFromStore(
        restoreRequest('b20261127t020000z-10d2', icu.details, 'icu_existing_same'),
      );
      // Assess
      expect(restored.warnings).toEqual([]);
      expect(sorted('icu_existing_same')).toEqual(sorted('lportal_icu'));
    });
  });
});
