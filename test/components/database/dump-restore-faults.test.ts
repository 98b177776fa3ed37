import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { clientMessages } from '#components/database/client-messages.ts';
import { parseDatabaseUrl } from '#components/database/connection.ts';
import {
  createMarkedDatabase,
  dumpToStore,
  RESTORE_MARKER_TABLE,
  readRestoreMarker,
  restoreMarker,
} from '#components/database/dump.ts';
import { clientAccess, query } from '#components/database/dump-adapter.ts';
import {
  DumpFailedError,
  DumpRestoreFailedError,
  RestoreTargetBusyError,
  RestoreTargetNotEmptyError,
} from '#components/database/errors.ts';
import { restoredDatabaseName } from '#components/database/naming.ts';
import { startRestore } from '#components/database/restore.ts';
import type { DumpDetails } from '#components/database/schemas.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { type AslDefinition, definitionsFromTemplate } from '#local/template-definitions.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { synthTemplate } from '../../../cdk/synth.ts';
import { type DatabaseServer, startMariaDb, startPostgres } from '../../support/database-servers.ts';
import { createLiferaySchema, tableChecksums } from './fixtures.ts';
import { committedSet, databaseRuntime, failure } from './support.ts';

/**
 * What a dump restore does when it is retried, when its load fails, and what its errors may show,
 * on real MariaDB and PostgreSQL servers:
 * - Step Functions retries `Database start restore` on Lambda's transient errors even after the
 *   function ran to its end (its answer lost), with the same restore id: the retry must find the
 *   database its first run created (by the marker that run wrote on it) and load it again, and
 *   must never take anyone else's database for its own;
 * - the mysql client is not transactional: a failed load leaves a half-loaded database, which is
 *   dropped when this restore created it and named in the error otherwise;
 * - the clients print the failing statement and the server's details (rows: password hashes,
 *   e-mail addresses) on stderr, which must not reach the error, the report, the logs or the store.
 */

const RESTORE_ID = 'r20261128t090000z-0a1b';
/** Row values of the crafted dumps: none of them may appear in any message. */
const HASH = 'AAAAoAAB9ADJvEMn6qWJ4pOqu0SecretHashOfTheAdmin';
const EMAIL = 'test.admin@liferay.com';

function restoreEvent(backupId: string, restoreId = RESTORE_ID, database: Record<string, unknown> = {}) {
  return { restore: { restoreId, backupId, requests: { database } } };
}

function completeResult(details: DumpDetails) {
  return {
    component: 'database' as const,
    status: 'complete' as const,
    warnings: [],
    summary: {},
    details: details as unknown as Record<string, unknown>,
  };
}

/** A committed set whose dump is `sql` (a MySQL/MariaDB dump written by hand). */
async function craftedSqlSet(rt: Runtime, backupId: string, sql: string): Promise<void> {
  const gz = gzipSync(Buffer.from(sql));
  const key = `dumps/${backupId}/database/lportal.sql.gz`;
  await rt.store.put(key, Readable.from([gz]), { contentType: 'application/gzip' });
  await committedSet(
    rt,
    backupId,
    completeResult({
      mode: 'dump',
      engine: 'mariadb',
      source: 'mariadb://liferay@db.example.com:3306/lportal',
      database: 'lportal',
      serverVersion: '10.11.6-MariaDB',
      tool: 'mariadb-dump',
      toolVersion: 'mariadb-dump from 10.11.6-MariaDB',
      format: 'sql-gzip',
      key,
      size: gz.length,
      sha256: createHash('sha256').update(gz).digest('hex'),
      dumpBytes: Buffer.byteLength(sql),
    }),
  );
}

/** A committed set holding a real dump of `database`. */
async function dumpedSet(rt: Runtime, server: DatabaseServer, database: string, backupId: string) {
  const dumped = await dumpToStore({
    store: rt.store,
    backupId,
    connection: parseDatabaseUrl(server.url(database)),
    scratchDir: rt.scratchDir,
    compressionLevel: 1,
  });
  await committedSet(rt, backupId, completeResult(dumped.details));
}

/**
 * A MySQL 8 dump (its collation is unknown to MariaDB): Company loads, User_ fails. What a
 * half-loaded database looks like.
 */
const HALF_LOADING_SQL = [
  '-- MySQL dump 10.13  Distrib 8.0.39, for Linux (x86_64)',
  'DROP TABLE IF EXISTS `Company`;',
  'CREATE TABLE `Company` (`companyId` bigint NOT NULL, `webId` varchar(75) DEFAULT NULL, PRIMARY KEY (`companyId`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;',
  "INSERT INTO `Company` VALUES (20097,'liferay.com');",
  'DROP TABLE IF EXISTS `User_`;',
  'CREATE TABLE `User_` (`userId` bigint NOT NULL, `screenName` varchar(75) DEFAULT NULL, PRIMARY KEY (`userId`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;',
  "INSERT INTO `User_` VALUES (1,'test');",
  '-- Dump completed on 2026-11-27  2:00:01',
  '',
].join('\n');

/**
 * A dump whose extended INSERT of User_ the server refuses on the unique e-mail index: the mariadb
 * client echoes the whole statement, and the server's own message quotes the duplicate address.
 */
const LEAKING_SQL = [
  '-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB',
  'DROP TABLE IF EXISTS `User_`;',
  'CREATE TABLE `User_` (`userId` bigint NOT NULL, `emailAddress` varchar(254) DEFAULT NULL, `password_` varchar(255) DEFAULT NULL, PRIMARY KEY (`userId`), UNIQUE KEY `IX_EMAIL` (`emailAddress`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;',
  `INSERT INTO \`User_\` VALUES (20123,'${EMAIL}','${HASH}'),(20124,'${EMAIL}','x');`,
  '-- Dump completed on 2026-11-27  2:00:01',
  '',
].join('\n');

/**
 * A PostgreSQL source whose dump cannot be loaded: User_'s CHECK calls a function that calls
 * another unqualified, and pg_restore runs with an empty search_path. The COPY fails on the first
 * row, and the server's CONTEXT quotes that row whole.
 */
function createFailingPostgresSource(server: DatabaseServer, database: string): void {
  server.admin(`CREATE DATABASE ${database} OWNER ${server.user}`);
  server.admin(
    [
      `SET ROLE ${server.user}`,
      'CREATE FUNCTION normal_email(e text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT lower(e) $$',
      'CREATE FUNCTION valid_email(e text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT normal_email(e) = e $$',
      'CREATE TABLE Company (companyId BIGINT PRIMARY KEY, webId VARCHAR(75))',
      "INSERT INTO Company VALUES (20097, 'liferay.com')",
      'CREATE TABLE User_ (userId BIGINT PRIMARY KEY, emailAddress TEXT CHECK (valid_email(emailAddress)), password_ TEXT)',
      `INSERT INTO User_ VALUES (20123, '${EMAIL}', '${HASH}')`,
    ].join(';\n'),
    database,
  );
}

function databaseExists(server: DatabaseServer, database: string): boolean {
  const sql =
    server.engine === 'mariadb'
      ? `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${database}'`
      : `SELECT count(*) FROM pg_database WHERE datname = '${database}'`;
  return server.admin(sql).trim() === '1';
}

function tablesOf(server: DatabaseServer, database: string): string[] {
  const sql =
    server.engine === 'mariadb'
      ? `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${database}' ORDER BY 1`
      : "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1";
  return server
    .admin(sql, server.engine === 'mariadb' ? undefined : database)
    .split('\n')
    .filter(Boolean);
}

/** Gives `database` the marker another restore would have written. */
function markForAnotherRestore(server: DatabaseServer, database: string): void {
  const other = restoreMarker('r20261128t080000z-ffff', 'b20261127t020000z-0000');
  server.admin(
    server.engine === 'mariadb'
      ? `ALTER DATABASE \`${database}\` COMMENT '${other}'`
      : `COMMENT ON DATABASE "${database}" IS '${other}'`,
  );
}

/** A client session whose default database is `database`, busy for a minute (killed by the test). */
function holdSession(server: DatabaseServer, database: string, scratchDir: string): ChildProcess {
  const access = clientAccess(parseDatabaseUrl(server.url(database)), scratchDir);
  const args =
    server.engine === 'mariadb'
      ? [...access.args, '--batch', '-e', 'SELECT SLEEP(60)', database]
      : ['-X', '-c', 'SELECT pg_sleep(60)', '-d', database];
  return spawn(server.engine === 'mariadb' ? 'mariadb' : 'psql', args, {
    env: access.env,
    stdio: 'ignore',
  });
}

async function waitForSession(server: DatabaseServer, database: string): Promise<void> {
  const sql =
    server.engine === 'mariadb'
      ? `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '${database}'`
      : `SELECT count(*) FROM pg_stat_activity WHERE datname = '${database}'`;
  for (let i = 0; i < 100; i += 1) {
    if (Number(server.admin(sql).trim()) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no session on ${database} after 10 s`);
}

describe.each([
  ['MariaDB', startMariaDb],
  ['PostgreSQL', startPostgres],
] as const)('a retried dump restore on a real %s server', (_name, start) => {
  let server: DatabaseServer;
  let rt: Runtime;
  const backupId = 'b20261127t020000z-7f3a';
  beforeAll(async () => {
    server = await start();
    createLiferaySchema(server, 'lportal', 200);
    rt = databaseRuntime({ mode: 'dump', url: server.url('lportal') });
    await dumpedSet(rt, server, 'lportal', backupId);
  });
  afterAll(async () => server?.stop());

  it('finds the database its first run created (same restore id) and loads it again from the start', async () => {
    // Prepare: the first run ran to its end; its answer was lost. Something changed the database
    // since (here: a row added), so a retry that only said "done" would report a wrong copy.
    const first = await startRestore(restoreEvent(backupId), rt);
    const target = String(first.result?.summary.database);
    expect(target).toBe(restoredDatabaseName('lportal', RESTORE_ID));
    server.admin("INSERT INTO Company VALUES (99999, 'stray', NULL, NULL)", target);
    // Act: Step Functions' Retry runs the task again with the same input
    const second = await startRestore(restoreEvent(backupId), rt);
    // Assess
    expect(second.done).toBe(true);
    expect(second.result?.summary).toMatchObject({ database: target, created: true, overwritten: false });
    expect(second.warnings.join('\n')).toMatch(
      new RegExp(`created by an earlier run of restore ${RESTORE_ID} \\(the step was retried\\)`),
    );
    expect(tableChecksums(server, target)).toEqual(tableChecksums(server, 'lportal'));
    // The marker is on the database again, for a further retry.
    const access = clientAccess(parseDatabaseUrl(server.url(target)), rt.scratchDir);
    try {
      const run = (sql: string, database: string) =>
        query(parseDatabaseUrl(server.url(target)), access, sql, {
          database,
          makeError: (message) => new Error(message),
        });
      expect(
        await readRestoreMarker(
          server.engine === 'mariadb' ? 'mariadb' : 'postgresql',
          run,
          target,
          'comment',
          'postgres',
        ),
      ).toBe(restoreMarker(RESTORE_ID, backupId));
    } finally {
      access.cleanup();
    }
  });

  it.each([
    ['without a marker', false],
    ["with another restore's marker", true],
  ])(
    'never takes a database of its default name %s for its own: refused, untouched',
    async (_case, marked) => {
      // Prepare: a database named as this restore's target would be, that it did not create
      const restoreId = marked ? 'r20261128t090000z-2b2b' : 'r20261128t090000z-1a1a';
      const target = restoredDatabaseName('lportal', restoreId);
      createLiferaySchema(server, target, 50);
      if (marked) markForAnotherRestore(server, target);
      const before = tableChecksums(server, target);
      // Act
      const refused = await failure(startRestore(restoreEvent(backupId, restoreId), rt));
      // Assess
      expect(refused).toBeInstanceOf(RestoreTargetNotEmptyError);
      expect(refused.message).toMatch(new RegExp(`was not created by restore ${restoreId}`));
      expect(tableChecksums(server, target)).toEqual(before);
    },
  );

  it('a retry whose first run may still be loading (a session uses its database) changes nothing', async () => {
    // Prepare: the first run's database, and a session still in it (that run's loader, say)
    const restoreId = 'r20261128t090000z-3c3c';
    const first = await startRestore(restoreEvent(backupId, restoreId), rt);
    const target = String(first.result?.summary.database);
    server.admin("INSERT INTO Company VALUES (99999, 'loading', NULL, NULL)", target);
    const before = tableChecksums(server, target);
    const session = holdSession(server, target, rt.scratchDir);
    try {
      await waitForSession(server, target);
      // Act
      const busy = await failure(startRestore(restoreEvent(backupId, restoreId), rt));
      // Assess
      expect(busy).toBeInstanceOf(RestoreTargetBusyError);
      expect(busy.message).toMatch(
        /1 other session still uses it: that run may still be loading it, so nothing was changed/,
      );
      expect(tableChecksums(server, target)).toEqual(before);
    } finally {
      session.kill('SIGKILL');
    }
  });
});

describe('a dump load that fails on a real MariaDB server', () => {
  let server: DatabaseServer;
  beforeAll(async () => {
    server = await startMariaDb();
  });
  afterAll(async () => server?.stop());

  it('drops the database it created, and says so', async () => {
    // Prepare
    const rt = databaseRuntime({ mode: 'dump', url: server.url('lportal') });
    const backupId = 'b20261127t020000z-8e4b';
    await craftedSqlSet(rt, backupId, HALF_LOADING_SQL);
    const target = restoredDatabaseName('lportal', RESTORE_ID);
    // Act
    const failed = await failure(startRestore(restoreEvent(backupId), rt));
    // Assess
    expect(failed).toBeInstanceOf(DumpRestoreFailedError);
    expect(failed.message).toMatch(/Unknown collation: 'utf8mb4_0900_ai_ci'/);
    expect(failed.message).toMatch(
      new RegExp(`${target} was created by this restore and has been dropped again`),
    );
    expect(databaseExists(server, target)).toBe(false);
  });

  it('never shows a duplicate value that holds a line break (the error line ends inside the quotes)', async () => {
    // A unique key over a text column (a title unique per group) whose values hold a line break; the
    // load fails on a duplicate under the case-insensitive collation.
    const secret = 'Secret Title Of A Confidential Document';
    const sql = [
      '-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB',
      'DROP TABLE IF EXISTS `Doc`;',
      'CREATE TABLE `Doc` (`id` bigint NOT NULL, `groupId` bigint, `title` varchar(200), PRIMARY KEY (`id`), UNIQUE KEY `IX_TITLE` (`groupId`,`title`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;',
      `INSERT INTO \`Doc\` VALUES (1,20,'${secret}\\nsecond line'),(2,20,'${secret.toUpperCase()}\\nSECOND LINE');`,
      '-- Dump completed on 2026-11-27  2:00:01',
      '',
    ].join('\n');
    const rt = databaseRuntime({ mode: 'dump', url: server.url('lportal') });
    const backupId = 'b20261127t020000z-aa01';
    await craftedSqlSet(rt, backupId, sql);
    const failed = await failure(startRestore(restoreEvent(backupId), rt));
    expect(failed).toBeInstanceOf(DumpRestoreFailedError);
    expect(failed.message).toMatch(/Duplicate entry '<value not shown>…/);
    expect(failed.message.toLowerCase()).not.toContain('confidential');
  });

  it('says that a database it did not create was left partially loaded, and what to do', async () => {
    // Prepare: an existing database the request allows to overwrite
    const rt = databaseRuntime({ mode: 'dump', url: server.url('lportal') });
    const backupId = 'b20261127t020000z-8e4c';
    await craftedSqlSet(rt, backupId, HALF_LOADING_SQL);
    server.admin('CREATE DATABASE existing_db');
    server.admin('CREATE TABLE Keep (id INT PRIMARY KEY); INSERT INTO Keep VALUES (1)', 'existing_db');
    // Act
    const failed = await failure(
      startRestore(
        restoreEvent(backupId, RESTORE_ID, { targetDatabase: 'existing_db', overwrite: true }),
        rt,
      ),
    );
    // Assess: the first table loaded, the second did not; the database is still there
    expect(failed).toBeInstanceOf(DumpRestoreFailedError);
    expect(failed.message).toMatch(
      /existing_db was left partially loaded \(mariadb loads statement by statement, not in one transaction\): drop it, or load it again with "overwrite": true/,
    );
    expect(tablesOf(server, 'existing_db')).toEqual(['Company', 'Keep']);
  });
});

describe('a dump load that fails on a real PostgreSQL server', () => {
  let server: DatabaseServer;
  let rt: Runtime;
  const backupId = 'b20261127t020000z-8e4d';
  beforeAll(async () => {
    server = await startPostgres();
    createFailingPostgresSource(server, 'lportal');
    rt = databaseRuntime({ mode: 'dump', url: server.url('lportal') });
    await dumpedSet(rt, server, 'lportal', backupId);
  });
  afterAll(async () => server?.stop());

  it('drops the database it created, and says so', async () => {
    const target = restoredDatabaseName('lportal', RESTORE_ID);
    const failed = await failure(startRestore(restoreEvent(backupId), rt));
    expect(failed).toBeInstanceOf(DumpRestoreFailedError);
    expect(failed.message).toMatch(
      /COPY failed for table "user_": ERROR: {2}function normal_email\(text\) does not exist/,
    );
    expect(failed.message).toMatch(
      new RegExp(`${target} was created by this restore and has been dropped again`),
    );
    expect(databaseExists(server, target)).toBe(false);
  });

  it('leaves a database it did not create as it was (one transaction), and says so', async () => {
    // Prepare
    server.admin(`CREATE DATABASE existing_db OWNER ${server.user}`);
    server.admin(
      `SET ROLE ${server.user}; CREATE TABLE keep (id INT PRIMARY KEY); INSERT INTO keep VALUES (1)`,
      'existing_db',
    );
    // Act
    const failed = await failure(
      startRestore(
        restoreEvent(backupId, RESTORE_ID, { targetDatabase: 'existing_db', overwrite: true }),
        rt,
      ),
    );
    // Assess
    expect(failed).toBeInstanceOf(DumpRestoreFailedError);
    expect(failed.message).toMatch(/existing_db is as it was before \(pg_restore ran in one transaction\)/);
    expect(tablesOf(server, 'existing_db')).toEqual(['keep']);
  });
});

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => path.join(dir, name))
    .filter((file) => statSync(file).isFile());
}

const definitions = definitionsFromTemplate(
  synthTemplate({
    environment: 'liferay-prod',
    account: '111111111111',
    region: 'eu-west-1',
    components: { database: { enabled: true, mode: 'rds-instance', identifier: 'liferay-db' } },
  }) as never,
) as { restore: AslDefinition };

describe.each([
  ['MariaDB', startMariaDb],
  ['PostgreSQL', startPostgres],
] as const)('a failed dump load on a real %s server quotes no row', (_name, start) => {
  let server: DatabaseServer;
  beforeAll(async () => {
    server = await start();
  });
  afterAll(async () => server?.stop());

  it('in its error, the restore report, the logs or anything in the store', async () => {
    // Prepare: a set whose dump fails to load on a row holding a password hash and an address
    const base = databaseRuntime({ mode: 'dump', url: server.url('lportal') });
    const dir = (base.store as LocalFolderStore).location;
    const backupId = 'b20261127t020000z-9c5d';
    if (server.engine === 'mariadb') await craftedSqlSet(base, backupId, LEAKING_SQL);
    else {
      createFailingPostgresSource(server, 'lportal');
      await dumpedSet(base, server, 'lportal', backupId);
    }
    const rt = localRuntime({
      store: base.store,
      settings: parseSettings(
        {
          environment: 'liferay-prod',
          configuredComponents: ['database'],
          components: { database: { mode: 'dump', url: server.url('lportal') } },
        },
        'test',
      ),
      logLevel: 'DEBUG',
      scratchDir: base.scratchDir,
    });
    const logged: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logged.push(String(chunk));
      return true;
    });
    let outcome: Awaited<ReturnType<typeof runWorkflow>>;
    try {
      // Act: the Restore workflow, as on AWS (Report writes the report into the store)
      outcome = await runWorkflow(definitions.restore, { backupId, components: ['database'] }, rt);
    } finally {
      spy.mockRestore();
    }
    // Assess: the failure is there and names the server's error...
    expect(outcome.status).toBe('FAILED');
    const cause = outcome.status === 'FAILED' ? outcome.cause : '';
    expect(cause).toMatch(
      server.engine === 'mariadb'
        ? /Duplicate entry '<value not shown>' for key 'IX_EMAIL'/
        : /COPY failed for table "user_"/,
    );
    const reports = filesUnder(dir).filter((file) => file.includes(`${path.sep}restores${path.sep}`));
    expect(reports.length).toBeGreaterThan(0);
    expect(reports.map((file) => readFileSync(file, 'utf8')).join('\n')).toMatch(/DumpRestoreFailedError/);
    // ...and no row of the dump is anywhere: execution cause, logs, report and every stored file
    // but the dump itself
    const texts: [string, string][] = [
      ['cause', cause],
      ['logs', logged.join('')],
      ...filesUnder(dir)
        .filter((file) => !file.includes(`${path.sep}dumps${path.sep}`))
        .map((file): [string, string] => [file, readFileSync(file).toString('latin1')]),
    ];
    for (const [where, text] of texts) {
      expect(text, where).not.toContain(HASH);
      expect(text, where).not.toContain(EMAIL);
    }
  });
});

describe('the restore marker on MySQL servers (no database comments): a one-row table', () => {
  let server: DatabaseServer;
  let scratch: string;
  beforeAll(async () => {
    server = await startMariaDb();
    scratch = mkdtempSync(path.join(tmpdir(), 'db-marker-'));
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('is written and read back, and a dump of that database leaves it out', async () => {
    // Prepare
    const connection = parseDatabaseUrl(server.url('marked'));
    const access = clientAccess(connection, scratch);
    const run = (sql: string, database: string) =>
      query(connection, access, sql, { database, makeError: (message) => new Error(message) });
    const marker = restoreMarker(RESTORE_ID, 'b20261127t020000z-7f3a');
    try {
      // Act
      await createMarkedDatabase(
        connection,
        run,
        'marked',
        { characterSet: 'utf8mb4', collation: 'utf8mb4_unicode_ci' } as DumpDetails,
        { text: marker, kind: 'table' },
        'postgres',
      );
      server.admin(
        'CREATE TABLE Company (companyId BIGINT PRIMARY KEY); INSERT INTO Company VALUES (1)',
        'marked',
      );
      // Assess
      expect(await readRestoreMarker('mysql', run, 'marked', 'table', 'postgres')).toBe(marker);
      expect(tablesOf(server, 'marked')).toEqual(['Company', RESTORE_MARKER_TABLE]);
    } finally {
      access.cleanup();
    }
    const store = new LocalFolderStore(path.join(scratch, 'store'));
    const dumped = await dumpToStore({
      store,
      backupId: 'b20261127t030000z-abcd',
      connection,
      scratchDir: scratch,
      compressionLevel: 1,
    });
    const sql = gunzipSync(readFileSync(path.join(scratch, 'store', dumped.details.key))).toString();
    expect(sql).toContain('CREATE TABLE `Company`');
    expect(sql).not.toContain(RESTORE_MARKER_TABLE);
  });
});

describe('client messages: what of a client program stderr may be shown', () => {
  it('mysql client: the echoed statement goes, the error line stays with its value withheld', () => {
    const messages = clientMessages('/usr/bin/mariadb');
    messages.write(
      `--------------\nINSERT INTO \`User_\` VALUES (1,'${EMAIL}','${HASH}'),(2,'${EMAIL}','x')\n`,
    );
    messages.write(
      `--------------\n\nERROR 1062 (23000) at line 4: Duplicate entry '${EMAIL}' for key 'IX_EMAIL'\n`,
    );
    expect(messages.text()).toBe(
      "ERROR 1062 (23000) at line 4: Duplicate entry '<value not shown>' for key 'IX_EMAIL' (1 more line of mariadb's output not shown: statements and details may quote table rows)",
    );
  });

  it.each([
    [
      `ERROR 1366 (22007) at line 2: Incorrect integer value: '${EMAIL}' for column \`db\`.\`t\`.\`id\` at row 1`,
      "Incorrect integer value: '<value not shown>' for column",
    ],
    [
      `ERROR 1064 (42000) at line 1: You have an error in your SQL syntax; check the manual near '${HASH}')' at line 1`,
      "near '<value not shown>' at line 1",
    ],
    [`ERROR 1292 (22007): Truncated incorrect DOUBLE value: '${EMAIL}'`, "DOUBLE value: '<value not shown>'"],
  ])('mysql error lines keep their shape, not the value: %s', (line, shape) => {
    const messages = clientMessages('mysql');
    messages.write(`${line}\n`);
    expect(messages.text()).toContain(shape);
    expect(messages.text()).not.toContain(EMAIL);
    expect(messages.text()).not.toContain(HASH);
  });

  it('pg_restore: the error stays; Command was, DETAIL, CONTEXT and the COPY line go', () => {
    const messages = clientMessages('/opt/bin/pg_restore');
    messages.write(
      [
        'pg_restore: error: could not execute query: ERROR:  duplicate key value violates unique constraint "ix_email"',
        `DETAIL:  Key (emailaddress)=(${EMAIL}) already exists.`,
        `Command was: INSERT INTO public.user_ VALUES (20123, '${EMAIL}',`,
        `ERROR '${HASH}');`,
        'pg_restore: error: COPY failed for table "user_": ERROR:  function normal_email(text) does not exist',
        'HINT:  No function matches the given name and argument types.',
        `CONTEXT:  SQL function "valid_email" during inlining`,
        `COPY user_, line 1: "20123\t${EMAIL}\t${HASH}"`,
        '',
      ].join('\n'),
    );
    expect(messages.text()).toBe(
      'pg_restore: error: could not execute query: ERROR:  duplicate key value violates unique constraint "ix_email"\n' +
        'pg_restore: error: COPY failed for table "user_": ERROR:  function normal_email(text) does not exist ' +
        "(6 more lines of pg_restore's output not shown: statements and details may quote table rows)",
    );
  });

  it("pg_dump's own Command was line and a value in a prefixed detail go too; psql's ERROR stays", () => {
    const dump = clientMessages('pg_dump');
    dump.write(
      `pg_dump: error: Dumping the contents of table "user_" failed: PQgetResult() failed.\npg_dump: detail: Error message from server: ERROR:  invalid input syntax for type integer: "${EMAIL}"\npg_dump: detail: Command was: COPY public.user_ (userid) TO stdout;\n`,
    );
    expect(dump.text()).toContain('invalid input syntax for type integer: "<value not shown>"');
    expect(dump.text()).not.toContain('Command was');
    expect(dump.text()).not.toContain(EMAIL);
    const psql = clientMessages('psql');
    psql.write(`ERROR:  relation "x" does not exist\nLINE 1: SELECT '${EMAIL}' FROM x\n`);
    expect(psql.text()).toBe(
      `ERROR:  relation "x" does not exist (1 more line of psql's output not shown: statements and details may quote table rows)`,
    );
  });

  it('a statement echo of many megabytes arriving in pieces is skipped, the error after it kept', () => {
    const messages = clientMessages('mariadb');
    messages.write("--------------\nINSERT INTO `DLContent` VALUES (1,'");
    const piece = `${HASH},`.repeat(2000);
    for (let i = 0; i < 200; i += 1) messages.write(piece);
    messages.write("')\n--------------\n\nERROR 2006 (HY000) at line 9: Server has gone away\n");
    expect(messages.text()).toBe(
      "ERROR 2006 (HY000) at line 9: Server has gone away (1 more line of mariadb's output not shown: statements and details may quote table rows)",
    );
  });

  it.each([
    // Server messages that quote the value in forms no specific pattern knows (found in review).
    [
      'pg_restore',
      `pg_restore: error: COPY failed for table "user_": ERROR:  value "${EMAIL}" is out of range for type integer`,
    ],
    [
      'pg_restore',
      `pg_restore: error: COPY failed for table "user_": ERROR:  date/time field value out of range: "${EMAIL}"`,
    ],
    [
      'pg_restore',
      `pg_restore: error: COPY failed for table "user_": ERROR:  malformed array literal: "{${EMAIL}}"`,
    ],
    // A value with a line break: its closing quote is on the next line, which is not kept.
    [
      'pg_restore',
      `pg_restore: error: COPY failed for table "user_": ERROR:  invalid input syntax for type integer: "${EMAIL}\nsecond line"`,
    ],
    ['mariadb', `ERROR 1062 (23000) at line 4: Duplicate entry '20-${EMAIL}\nsecond line' for key 'IX_X'`],
    [
      'mariadb',
      `ERROR 1411 (HY000) at line 9: Incorrect datetime value: '${EMAIL}' for function str_to_date`,
    ],
  ])('any quoted value goes, whatever the message: %s %s', (tool, stderr) => {
    const messages = clientMessages(tool);
    messages.write(`${stderr}\n`);
    expect(messages.text()).not.toContain(EMAIL);
    expect(messages.text()).toContain('<value not shown>');
  });

  it.each([
    ['mariadb', "ERROR 1146 (42S02) at line 3: Table 'lportal.User_' doesn't exist"],
    ['mariadb', "ERROR 1049 (42000): Unknown database 'lportal_r'"],
    ['mariadb', "ERROR 1273 (HY000) at line 25: Unknown collation: 'utf8mb4_0900_ai_ci'"],
    [
      'mysqldump',
      "mysqldump: Got error: 1045: \"Access denied for user 'liferay'@'<value not shown>' (using password: YES)\" when trying to connect",
    ],
    ['psql', 'ERROR:  relation "user_" does not exist'],
    [
      'pg_restore',
      'pg_restore: error: could not execute query: ERROR:  duplicate key value violates unique constraint "ix_email"',
    ],
  ])('names of tables, keys, users and collations stay: %s %s', (tool, line) => {
    const messages = clientMessages(tool);
    messages.write(`${line}\n`);
    expect(messages.text()).toBe(line);
  });

  it('counts the error lines it does not show: a dump that printed one is not complete', () => {
    const messages = clientMessages('mysqldump');
    messages.write('Got error 2013 while reading a row\nWarning: something\n');
    expect(messages.errorLines()).toBe(1);
    expect(messages.text()).toBe(
      "Warning: something (1 more line of mysqldump's output not shown: statements and details may quote table rows)",
    );
  });
});

describe('the backup side: a dump program whose stderr quotes rows', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(path.join(tmpdir(), 'db-fake-dump-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  const quotedRow = `echo "row 20123 ('${EMAIL}','${HASH}'): read error" >&2`;
  it.each([
    [
      'its own error line quotes a value',
      'b20261127t060000z-abab',
      `${quotedRow}\necho "mariadb-dump: Error 1366: Incorrect string value: '${HASH}' for column \\\`t\\\`" >&2`,
      /reported errors: mariadb-dump: Error 1366: Incorrect string value: '<value not shown>' for column/,
    ],
    [
      'its only error is on a line that is not shown',
      'b20261127t060000z-acac',
      quotedRow,
      /reported errors: \(1 more line of mariadb-dump's output not shown/,
    ],
  ])('fails the dump, stores nothing, and shows no row: %s', async (_case, backupId, stderr, shown) => {
    // Prepare: stand-in programs found first through toolsDir
    const tools = path.join(scratch, backupId);
    mkdirSync(tools);
    const write = (tool: string, body: string) =>
      writeFileSync(path.join(tools, tool), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    write('mariadb', "printf '10.11.6-MariaDB\\tutf8mb4\\tutf8mb4_unicode_ci\\n'");
    write(
      'mariadb-dump',
      `case "$*" in *--version*) echo 'mariadb-dump from 10.11.6-MariaDB'; exit 0;; esac\necho 'CREATE TABLE t (i INT);'\n${stderr}\necho '-- Dump completed on 2026-11-27'\nexit 0`,
    );
    const store = new LocalFolderStore(path.join(scratch, 'store'));
    // Act
    const failed = await failure(
      dumpToStore({
        store,
        backupId,
        connection: parseDatabaseUrl('mariadb://liferay:S3cretPw@127.0.0.1:1/lportal'),
        scratchDir: scratch,
        toolsDir: tools,
        compressionLevel: 1,
      }),
    );
    // Assess
    expect(failed).toBeInstanceOf(DumpFailedError);
    expect(failed.message).toMatch(shown);
    expect(failed.message).not.toContain(EMAIL);
    expect(failed.message).not.toContain(HASH);
    expect(filesUnder(path.join(scratch, 'store')).filter((file) => file.includes(backupId))).toEqual([]);
  });
});
