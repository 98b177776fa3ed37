import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '#components/database/connection.ts';
import { type DumpOutcome, dumpToStore, restoreDumpFromStore } from '#components/database/dump.ts';
import { DumpRestoreFailedError } from '#components/database/errors.ts';
import type { DumpDetails } from '#components/database/schemas.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { type DatabaseServer, startMariaDb, startPostgres } from '../../support/database-servers.ts';
import { failure } from './support.ts';

/**
 * Review finding: a dump restore created its database with the target server's defaults, not the
 * source database's encoding and locale (PostgreSQL: LC_COLLATE / LC_CTYPE), so ORDER BY and
 * LOWER() (Liferay's case-insensitive lookups) changed after a restore onto a server set up with
 * another locale. The test servers are set up with the C locale (PostgreSQL) and latin1
 * (MariaDB's default); the Debian PostgreSQL also has C.UTF-8, whose LOWER() folds non-ASCII
 * letters where C's does not.
 */

const BACKUP_ID = 'b20261127t020000z-10c1';
const RESTORE_ID = 'r20261127t060000z-10c1';

function restoreRequest(
  server: DatabaseServer,
  scratch: string,
  store: LocalFolderStore,
  details: DumpDetails,
  targetDatabase: string,
  overwrite = false,
) {
  return {
    store,
    details,
    connection: parseDatabaseUrl(server.url('ignored')),
    targetDatabase,
    overwrite,
    restoreId: RESTORE_ID,
    backupId: BACKUP_ID,
    scratchDir: scratch,
    maintenanceDatabase: 'postgres',
  };
}

describe('review: a PostgreSQL dump restore recreates the source database encoding and locale', () => {
  let server: DatabaseServer;
  let scratch: string;
  let store: LocalFolderStore;
  let dumped: DumpOutcome;
  const localeOf = (database: string) =>
    server
      .admin(
        `SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = '${database}'`,
      )
      .trim();
  const lowered = (database: string) =>
    server.admin('SELECT lower(name) FROM Organization_ ORDER BY id', database).trim();

  beforeAll(async () => {
    server = await startPostgres();
    scratch = mkdtempSync(path.join(tmpdir(), 'db-review-locale-pg-'));
    store = new LocalFolderStore(path.join(scratch, 'store'));
    // The server's default (its template0) is C; the source database is C.UTF-8.
    server.admin(
      `CREATE DATABASE lportal OWNER ${server.user} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'`,
    );
    server.admin(
      `SET ROLE ${server.user}; CREATE TABLE Organization_ (id INT PRIMARY KEY, name VARCHAR(75)); INSERT INTO Organization_ VALUES (1, 'ÉCOLE Ångström'), (2, 'Zürich')`,
      'lportal',
    );
    dumped = await dumpToStore({
      store,
      backupId: BACKUP_ID,
      connection: parseDatabaseUrl(server.url('lportal')),
      scratchDir: scratch,
      compressionLevel: 1,
    });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('the restored database has the source encoding, LC_COLLATE and LC_CTYPE, and LOWER() folds as on the source', async () => {
    // Prepare
    expect(localeOf('postgres')).toBe('UTF8|C|C');
    expect(localeOf('lportal')).toBe('UTF8|C.UTF-8|C.UTF-8');
    expect(lowered('lportal')).toBe('école ångström\nzürich');
    // Act
    const restored = await restoreDumpFromStore(
      restoreRequest(server, scratch, store, dumped.details, 'lportal_restored'),
    );
    // Assess
    expect(restored.created).toBe(true);
    expect(localeOf('lportal_restored')).toBe('UTF8|C.UTF-8|C.UTF-8');
    expect(lowered('lportal_restored')).toBe(lowered('lportal'));
    expect(restored.warnings).toEqual([]);
  });

  it('a locale the target server does not have fails before loading, naming it and what to do', async () => {
    // Prepare: the set was taken on a server with en_US.UTF-8, which this one does not have.
    const details: DumpDetails = { ...dumped.details, collation: 'en_US.UTF-8', ctype: 'en_US.UTF-8' };
    // Act
    const error = await failure(
      restoreDumpFromStore(restoreRequest(server, scratch, store, details, 'lportal_nolocale')),
    );
    // Assess
    expect(error).toBeInstanceOf(DumpRestoreFailedError);
    expect(error.message).toContain('en_US.UTF-8');
    expect(error.message).toMatch(/install the locale en_US\.UTF-8 on the database server/);
    expect(error.message).toMatch(/create lportal_nolocale yourself/);
    expect(error.message).toContain('"overwrite": true');
    expect(error.message).toMatch(/lportal_nolocale was not created$/);
    expect(localeOf('lportal_nolocale')).toBe('');
  });

  it('restoring over an existing database of another locale warns, naming both', async () => {
    // Prepare: a target made with the server's default (C), holding a table.
    server.admin(`CREATE DATABASE lportal_existing OWNER ${server.user}`);
    server.admin(`SET ROLE ${server.user}; CREATE TABLE Old_ (id INT)`, 'lportal_existing');
    // Act
    const restored = await restoreDumpFromStore(
      restoreRequest(server, scratch, store, dumped.details, 'lportal_existing', true),
    );
    // Assess
    expect(restored.created).toBe(false);
    expect(localeOf('lportal_existing')).toBe('UTF8|C|C');
    expect(restored.warnings).toHaveLength(1);
    expect(restored.warnings[0]).toContain('lportal_existing');
    expect(restored.warnings[0]).toMatch(/LC_COLLATE C\b/);
    expect(restored.warnings[0]).toMatch(/LC_COLLATE C\.UTF-8/);
    expect(restored.warnings[0]).toMatch(/ORDER BY/);
  });

  it('restoring over an existing database of the same locale does not warn', async () => {
    // Prepare
    server.admin(
      `CREATE DATABASE lportal_same OWNER ${server.user} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'`,
    );
    server.admin(`SET ROLE ${server.user}; CREATE TABLE Old_ (id INT)`, 'lportal_same');
    // Act
    const restored = await restoreDumpFromStore(
      restoreRequest(server, scratch, store, dumped.details, 'lportal_same', true),
    );
    // Assess
    expect(restored.warnings).toEqual([]);
    expect(lowered('lportal_same')).toBe(lowered('lportal'));
  });

  it('a set recorded without a collation is restored as before: the server default locale', async () => {
    // Prepare
    const { collation: _dropped, ...details } = dumped.details;
    // Act
    const restored = await restoreDumpFromStore(
      restoreRequest(server, scratch, store, details, 'lportal_unrecorded'),
    );
    // Assess
    expect(restored.created).toBe(true);
    expect(localeOf('lportal_unrecorded')).toBe('UTF8|C|C');
  });

  // A source whose LC_CTYPE differs from its LC_COLLATE, or with the ICU or builtin locale
  // provider, is recorded and recreated: review-dump-locale-provider.test.ts.

  it('on a server whose template0 uses ICU, the restored database still gets the recorded libc locale', async () => {
    // Prepare: what initdb --locale-provider=icu sets up, made on this server's catalog.
    server.admin(
      "UPDATE pg_database SET datlocprovider = 'i', daticulocale = 'und' WHERE datname = 'template0'",
    );
    try {
      // Act
      await restoreDumpFromStore(restoreRequest(server, scratch, store, dumped.details, 'lportal_on_icu'));
    } finally {
      server.admin(
        "UPDATE pg_database SET datlocprovider = 'c', daticulocale = NULL WHERE datname = 'template0'",
      );
    }
    // Assess
    expect(
      server
        .admin(
          "SELECT datlocprovider, datcollate, datctype FROM pg_database WHERE datname = 'lportal_on_icu'",
        )
        .trim(),
    ).toBe('c|C.UTF-8|C.UTF-8');
    expect(lowered('lportal_on_icu')).toBe(lowered('lportal'));
  });
});

describe('review: a MariaDB dump restore recreates the source database character set and collation', () => {
  let server: DatabaseServer;
  let scratch: string;
  let store: LocalFolderStore;
  let dumped: DumpOutcome;
  const defaultsOf = (database: string) =>
    server
      .admin(
        `SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${database}'`,
      )
      .trim();

  beforeAll(async () => {
    server = await startMariaDb();
    scratch = mkdtempSync(path.join(tmpdir(), 'db-review-locale-maria-'));
    store = new LocalFolderStore(path.join(scratch, 'store'));
    server.admin('CREATE DATABASE lportal CHARACTER SET utf8mb4 COLLATE utf8mb4_bin');
    server.admin(
      "CREATE TABLE Organization_ (id INT PRIMARY KEY, name VARCHAR(75)); INSERT INTO Organization_ VALUES (1, 'École')",
      'lportal',
    );
    dumped = await dumpToStore({
      store,
      backupId: BACKUP_ID,
      connection: parseDatabaseUrl(server.url('lportal')),
      scratchDir: scratch,
      compressionLevel: 1,
    });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('the restored database has the source default character set and collation, not the server default', async () => {
    // Prepare
    server.admin('CREATE DATABASE probe');
    const serverDefault = defaultsOf('probe');
    expect(serverDefault).not.toBe('utf8mb4\tutf8mb4_bin');
    // Act
    const restored = await restoreDumpFromStore(
      restoreRequest(server, scratch, store, dumped.details, 'lportal_restored'),
    );
    // Assess
    expect(restored.created).toBe(true);
    expect(defaultsOf('lportal_restored')).toBe('utf8mb4\tutf8mb4_bin');
    expect(restored.warnings).toEqual([]);
  });

  it('restoring over an existing database of another character set and collation warns, naming both', async () => {
    // Prepare
    server.admin('CREATE DATABASE lportal_existing CHARACTER SET latin1 COLLATE latin1_swedish_ci');
    server.admin('CREATE TABLE Old_ (id INT)', 'lportal_existing');
    // Act
    const restored = await restoreDumpFromStore(
      restoreRequest(server, scratch, store, dumped.details, 'lportal_existing', true),
    );
    // Assess
    expect(restored.created).toBe(false);
    expect(restored.warnings).toHaveLength(1);
    expect(restored.warnings[0]).toContain('lportal_existing');
    expect(restored.warnings[0]).toMatch(/latin1_swedish_ci/);
    expect(restored.warnings[0]).toMatch(/utf8mb4_bin/);
  });

  it("a collation the target server does not have (MySQL 8's default, on MariaDB) fails before loading, naming it and what to do", async () => {
    // Prepare: a set taken on MySQL 8, restored into MariaDB (which has no utf8mb4_0900_ai_ci).
    const details: DumpDetails = { ...dumped.details, collation: 'utf8mb4_0900_ai_ci' };
    // Act
    const error = await failure(
      restoreDumpFromStore(restoreRequest(server, scratch, store, details, 'lportal_nocollation')),
    );
    // Assess
    expect(error).toBeInstanceOf(DumpRestoreFailedError);
    expect(error.message).toContain('utf8mb4_0900_ai_ci');
    expect(error.message).toMatch(/create lportal_nocollation yourself/);
    expect(defaultsOf('lportal_nocollation')).toBe('');
  });
});
