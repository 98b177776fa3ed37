import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { PassThrough, pipeline, type Readable, Transform, Writable } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { CorruptBackupError } from '#runtime/errors.ts';
import type { ContentStore } from '#store/content-store.ts';
import { type DatabaseConnection, describeConnection, redactSecrets } from './connection.ts';
import {
  type ClientAccess,
  clientAccess,
  findTool,
  query,
  sqlString,
  sqlStringPg,
  startTool,
  toolVersion,
} from './dump-adapter.ts';
import {
  DumpFailedError,
  DumpRestoreFailedError,
  RestoreTargetBusyError,
  RestoreTargetNotEmptyError,
} from './errors.ts';
import { dumpKey, SQL_DATABASE_NAME } from './naming.ts';
import type { DumpDetails } from './schemas.ts';

/**
 * Logical dumps of self-managed databases, streamed: the dump program's stdout goes through
 * gzip (SQL dumps; PostgreSQL's custom format compresses itself) and a hash into the store,
 * never whole in memory. A dump whose program fails never becomes an object in the store: the
 * stream errors before its end, so the store's put aborts (S3 multipart abort, local temp file
 * removed).
 */

export interface DumpOptions {
  readonly store: ContentStore;
  readonly backupId: string;
  readonly connection: DatabaseConnection;
  readonly scratchDir: string;
  readonly toolsDir?: string;
  readonly compressionLevel: number;
  /** Called about every 8 MiB the dump program writes. */
  readonly onProgress?: (dumpBytes: number) => void;
}

export interface DumpOutcome {
  readonly details: DumpDetails;
  readonly warnings: string[];
}

const PROGRESS_EVERY = 8 * 1024 * 1024;
/** mysqldump and mariadb-dump end a complete dump with this comment (unless --skip-comments). */
export const SQL_DUMP_TRAILER = '-- Dump completed';

/**
 * A PostgreSQL database's encoding and locale as pg_database holds them: LC_COLLATE, LC_CTYPE,
 * the locale provider (15+) with its locale (daticulocale on 15 and 16, datlocale on 17+) and ICU
 * rules (16+). Read through to_jsonb so that older servers, which lack those columns, answer too;
 * the rules as JSON text, as they may hold tabs and newlines (the client's separators).
 */
const PG_LOCALE_COLUMNS =
  "pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, coalesce(to_jsonb(d)->>'datlocprovider', 'c'), coalesce(to_jsonb(d)->>'daticulocale', to_jsonb(d)->>'datlocale', ''), coalesce((to_jsonb(d)->'daticurules')::text, '')";

/**
 * Server version, the database's size on disk in bytes (tables and indexes: MySQL's figures are
 * InnoDB's estimates), then its character set and collation (PostgreSQL: PG_LOCALE_COLUMNS).
 */
function sourceFacts(connection: DatabaseConnection, database: string) {
  return connection.engine === 'postgresql'
    ? `SELECT current_setting('server_version'), pg_database_size(d.oid), ${PG_LOCALE_COLUMNS} FROM pg_database d WHERE datname = ${sqlStringPg(database)}`
    : `SELECT VERSION(), (SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = s.SCHEMA_NAME), DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA s WHERE SCHEMA_NAME = ${sqlString(database)}`;
}

/**
 * The most bytes a dump of a database of `databaseBytes` on disk is taken to hold, for the store's
 * part size (S3 takes 10,000 parts: 156 GiB of 16 MiB parts). It errs high: mysqldump writes BLOBs
 * in hex (twice their size) and gzip cannot shrink random bytes, pg_dump's custom format
 * compresses; twice the size on disk, and 1 GiB for a database whose statistics lag its rows.
 */
export function dumpMaxLength(databaseBytes: number): number {
  return 2 * databaseBytes + 1024 ** 3;
}

const LOCALE_PROVIDERS: Record<string, NonNullable<DumpDetails['localeProvider']>> = {
  c: 'libc',
  i: 'icu',
  b: 'builtin',
};

/** The fields of PG_LOCALE_COLUMNS; a provider this version does not know keeps its letter. */
function postgresLocale(fields: readonly (string | undefined)[]): DatabaseLocale {
  const [characterSet = '', collation = '', ctype = '', provider = 'c', providerLocale, rulesJson] = fields;
  const rules: unknown = rulesJson ? JSON.parse(rulesJson) : null;
  return {
    characterSet,
    collation,
    ctype,
    provider: LOCALE_PROVIDERS[provider] ?? provider,
    ...(providerLocale ? { providerLocale } : {}),
    ...(typeof rules === 'string' && rules !== '' ? { icuRules: rules } : {}),
  };
}

/**
 * What the set records of a PostgreSQL source's locale, so that a restore that creates the
 * database recreates it exactly. A provider this version does not know is not recorded (the
 * restore then creates a libc database): said at backup time, when the SRE can still prepare the target.
 */
function recordedPostgresLocale(
  database: string,
  locale: DatabaseLocale,
): { recorded: Partial<DumpDetails>; warnings: string[] } {
  const known = Object.values(LOCALE_PROVIDERS).find((name) => name === locale.provider);
  const recorded: Partial<DumpDetails> = {
    ...(locale.ctype ? { ctype: locale.ctype } : {}),
    ...(known ? { localeProvider: known } : {}),
    ...(known && known !== 'libc' && locale.providerLocale ? { providerLocale: locale.providerLocale } : {}),
    ...(known === 'icu' && locale.icuRules ? { icuRules: locale.icuRules } : {}),
  };
  const warnings = known
    ? []
    : [
        `database ${database} uses the locale provider ${JSON.stringify(locale.provider)}, which this version does not know: the set records its LC_COLLATE ${locale.collation} and LC_CTYPE ${locale.ctype} only, so a restore that creates the database gives it the libc provider; to keep the source's, create the target database yourself with it and restore into it`,
      ];
  return { recorded, warnings };
}

/**
 * A statement over the server's max_allowed_packet: the client prints ER_NET_PACKET_TOO_LARGE
 * (1153), or, when the server closed the connection first, "server has gone away" (2006) or "lost
 * connection" (2013), which other causes give too: the hint says what to check.
 */
const PACKET_TOO_LARGE = /\bERROR (1153|2006|2013)\b/;
const PACKET_TOO_LARGE_HINT =
  "if a statement of the dump is larger than the target server's max_allowed_packet (ERROR 1153, or the server's log says so; BLOBs are dumped as hex, twice their size), raise it on the target server (SET GLOBAL max_allowed_packet = 1073741824, or max_allowed_packet in its configuration or DB parameter group), then run the restore again";

/**
 * The major version of Oracle's MySQL dump program from its `--version` line, or undefined for
 * MariaDB's (`mysqldump  Ver 10.19 Distrib 10.11.6-MariaDB` / `mariadb-dump from 11.4.2-MariaDB`).
 * MySQL 5.7 says `Ver 10.13 Distrib 5.7.44`, MySQL 8 and later `Ver 8.0.36` / `Ver 8.4.0`.
 */
export function oracleMysqldumpMajor(versionLine: string): number | undefined {
  if (/mariadb/i.test(versionLine)) return undefined;
  const distrib = /Distrib (\d+)\./.exec(versionLine);
  if (distrib) return Number(distrib[1]);
  const version = /\bVer (\d+)\./.exec(versionLine);
  return version ? Number(version[1]) : undefined;
}

/**
 * Options only Oracle's MySQL dump program takes (MariaDB's refuses them), for a layer that ships
 * it: `--set-gtid-purged=OFF`, as the dump is loaded into another server as data (on a source
 * with GTIDs, AUTO writes `SET @@GLOBAL.GTID_PURGED` and `SQL_LOG_BIN=0`, which a restore into
 * RDS or any server with its own GTID history refuses, or which need SUPER); from 8.0 on
 * `--column-statistics=0`, as 8.0's program otherwise reads information_schema.COLUMN_STATISTICS,
 * which MariaDB and MySQL 5.7 servers lack ("Unknown table 'COLUMN_STATISTICS'").
 */
function oracleMysqldumpArgs(versionLine: string): string[] {
  const major = oracleMysqldumpMajor(versionLine);
  if (major === undefined) return [];
  return ['--set-gtid-purged=OFF', ...(major >= 8 ? ['--column-statistics=0'] : [])];
}

function dumpArgs(
  connection: DatabaseConnection,
  database: string,
  compressionLevel: number,
  toolVersionLine: string,
): string[] {
  if (connection.engine === 'postgresql') {
    return ['--format=custom', `--compress=${compressionLevel}`, '--dbname', database];
  }
  return [
    ...oracleMysqldumpArgs(toolVersionLine),
    '--single-transaction',
    '--routines',
    '--triggers',
    '--events',
    // BLOB columns as hex: the SQL stays ASCII whatever the client character set. Without it,
    // MariaDB's dump programs (Debian's mysqldump is MariaDB's) write binary as utf8mb4 string
    // literals with no `_binary` introducer, which MySQL 8 does not load back byte for byte. The
    // price: hex doubles a BLOB's INSERT, so a BLOB over half the target server's
    // max_allowed_packet (16 MiB by default on MariaDB) needs that setting raised: the restore's
    // error then says so (PACKET_TOO_LARGE_HINT).
    '--hex-blob',
    '--default-character-set=utf8mb4',
    // Tablespace statements need the PROCESS privilege (missing on RDS) and are not wanted on restore.
    '--no-tablespaces',
    // A restore's marker on MySQL (restoreMarker): a database restored there and backed up later
    // must not carry it into the next restore, where it would claim that database for the wrong restore.
    `--ignore-table=${database}.${RESTORE_MARKER_TABLE}`,
    // The database name alone (not --databases): no CREATE DATABASE / USE, so it can be restored under another name.
    database,
  ];
}

/** Streams a dump of `connection.database` into `dumps/<backupId>/database/...`. */
export async function dumpToStore(options: DumpOptions): Promise<DumpOutcome> {
  const { connection, store } = options;
  const database = connection.database;
  if (!database)
    throw new DumpFailedError(`the database URL ${describeConnection(connection)} names no database`);
  const format = connection.engine === 'postgresql' ? 'pg-custom' : 'sql-gzip';
  const key = dumpKey(options.backupId, database, format);
  const access = clientAccess(connection, options.scratchDir);
  try {
    const fail = (message: string) => new DumpFailedError(`${describeConnection(connection)}: ${message}`);
    const facts = await query(connection, access, sourceFacts(connection, database), {
      toolsDir: options.toolsDir,
      database: connection.engine === 'postgresql' ? database : undefined,
      makeError: fail,
    });
    const [serverVersion, databaseBytes, characterSet, collation] = facts[0] ?? [];
    if (!serverVersion) throw fail(`database ${database} does not exist`);
    const { recorded: recordedLocale, warnings } =
      connection.engine === 'postgresql' && collation
        ? recordedPostgresLocale(database, postgresLocale(facts[0]?.slice(2) ?? []))
        : { recorded: {}, warnings: [] };
    const tool = findTool(connection.engine, 'dump', options.toolsDir);
    const version = await toolVersion(tool, access);

    const running = startTool(
      tool,
      dumpArgs(connection, database, options.compressionLevel, version),
      access,
    );
    const stdout = running.child.stdout;
    if (!stdout) throw fail('the dump program has no stdout');
    let dumpBytes = 0;
    let nextProgress = PROGRESS_EVERY;
    let tail = '';
    const watch = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        dumpBytes += chunk.length;
        if (format === 'sql-gzip') tail = (tail + chunk.subarray(-256).toString('latin1')).slice(-256);
        if (dumpBytes >= nextProgress) {
          nextProgress += PROGRESS_EVERY;
          options.onProgress?.(dumpBytes);
        }
        callback(null, chunk);
      },
      // The stream ends only once the program has exited well: a failed dump errors the stream
      // before its end, so the store never completes the object.
      flush(callback) {
        running.exited.then(({ code, signal }) => {
          const stderr = running.stderr();
          if (signal || code !== 0) {
            callback(
              fail(
                `${path.basename(tool)} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}: ${stderr || '(no message)'}`,
              ),
            );
            return;
          }
          // Counted over every line it wrote, shown or not: a dump that printed an error is not complete.
          if (running.errorLines() > 0) {
            const shown = stderr.split('\n').filter((line) => /\berror\b/i.test(line));
            callback(
              fail(
                `${path.basename(tool)} reported errors: ${shown.length > 0 ? shown.join(' | ') : stderr}`,
              ),
            );
            return;
          }
          if (format === 'sql-gzip' && !tail.includes(SQL_DUMP_TRAILER)) {
            callback(
              fail(`${path.basename(tool)} exited 0 but the dump has no "${SQL_DUMP_TRAILER}" trailer`),
            );
            return;
          }
          if (stderr) warnings.push(`${path.basename(tool)}: ${stderr.slice(0, 2000)}`);
          callback();
        }, callback);
      },
    });
    const hash = createHash('sha256');
    let size = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    const stages: NodeJS.ReadWriteStream[] =
      format === 'sql-gzip'
        ? [watch, createGzip({ level: options.compressionLevel }), measure]
        : [watch, measure];
    // Every stage is destroyed on an error, the last one with the error, which fails the put.
    const body = pipeline([stdout, ...stages] as never, (error: Error | null) => {
      if (error) measure.destroy(error);
    }) as unknown as Readable;
    try {
      await store.put(key, body, {
        contentType: format === 'sql-gzip' ? 'application/gzip' : 'application/octet-stream',
        maxLength: dumpMaxLength(Number(databaseBytes) || 0),
      });
    } catch (error) {
      if (running.child.exitCode === null) running.child.kill('SIGKILL');
      await running.exited;
      // A store that kept a partial object despite the error must not keep it.
      await store.delete([key]).catch(() => undefined);
      if (error instanceof DumpFailedError) throw error;
      throw fail(
        `writing ${key} to ${store.location} failed: ${redactSecrets((error as Error).message, access.secrets)}`,
      );
    }
    const { code } = await running.exited;
    if (code !== 0) {
      await store.delete([key]);
      throw fail(`the dump program exited with status ${code} after the upload`);
    }
    const stored = await store.stat(key);
    if (!stored || stored.size !== size) {
      throw fail(`${key} in the store has ${stored?.size ?? 'no'} bytes, ${size} were written`);
    }
    return {
      details: {
        mode: 'dump',
        engine: connection.engine,
        source: describeConnection(connection),
        database,
        serverVersion,
        tool: path.basename(tool),
        toolVersion: version,
        format,
        key,
        size,
        sha256: hash.digest('hex'),
        dumpBytes,
        ...(characterSet ? { characterSet } : {}),
        ...(collation ? { collation } : {}),
        ...recordedLocale,
      },
      warnings,
    };
  } finally {
    access.cleanup();
  }
}

/** Reads the stored dump once and checks its size and sha256 before anything is loaded. */
export async function verifyStoredDump(store: ContentStore, details: DumpDetails): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  await pipelineAsync(
    await store.get(details.key),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback();
      },
    }),
  );
  const sha256 = hash.digest('hex');
  if (size !== details.size || sha256 !== details.sha256) {
    throw new CorruptBackupError(
      `${details.key}: ${size} bytes with sha256 ${sha256}, the manifest records ${details.size} bytes with sha256 ${details.sha256}`,
    );
  }
}

export interface RestoreDumpOptions {
  readonly store: ContentStore;
  readonly details: DumpDetails;
  /** The server to restore into (its database part is ignored). */
  readonly connection: DatabaseConnection;
  readonly targetDatabase: string;
  readonly overwrite: boolean;
  /** This restore (and the set it reads): recorded on a database it creates, looked for on a retry. */
  readonly restoreId: string;
  readonly backupId: string;
  readonly scratchDir: string;
  readonly toolsDir?: string;
  readonly maintenanceDatabase: string;
  readonly onProgress?: (bytes: number) => void;
}

export interface RestoreDumpOutcome {
  /** The database was created by this restore (by this run, or by an earlier run of a retried step). */
  readonly created: boolean;
  readonly tablesBefore: number;
  readonly bytes: number;
  readonly warnings: string[];
}

/**
 * How a restore marks a database it created, so that a retried step (Step Functions retries the
 * task on Lambda's transient errors even when it ran to its end and only its answer was lost) can
 * tell its own database from anyone else's: PostgreSQL and MariaDB (10.5+) keep it as the
 * database's comment, which no dump carries (pg_dump writes it only with --create; mysqldump
 * without --databases writes no CREATE DATABASE). MySQL has no database comments: there it is a
 * one-row table, which dumps leave out (`--ignore-table`) so that a restored database backed up
 * later does not carry an old restore's marker.
 */
export type RestoreMarkerKind = 'comment' | 'table';
export const RESTORE_MARKER_TABLE = 'liferay_backup_restore';

export function restoreMarker(restoreId: string, backupId: string): string {
  return `liferay-backup restore ${restoreId} of ${backupId}`;
}

/** The engine's client, one statement (or a few) in `database`, failures as `makeError`. */
type RunSql = (sql: string, database: string) => Promise<string[][]>;

function sqlRunner(
  connection: DatabaseConnection,
  access: ClientAccess,
  toolsDir: string | undefined,
  makeError: (message: string) => Error,
): RunSql {
  return (sql, database) =>
    query(connection, access, sql, { ...(toolsDir ? { toolsDir } : {}), database, makeError });
}

interface TargetState {
  readonly exists: boolean;
  /** Tables, views, sequences and routines in it (0 when it does not exist). */
  readonly objects: number;
  /** How this server marks a database a restore created. */
  readonly markerKind: RestoreMarkerKind;
  /** The marker found on it, if any. */
  readonly marker: string | undefined;
  /** Its encoding and locale (MySQL: default character set and collation), when it exists. */
  readonly locale?: DatabaseLocale;
}

interface DatabaseLocale {
  readonly characterSet: string;
  readonly collation: string;
  /** PostgreSQL's LC_CTYPE. */
  readonly ctype?: string;
  /** PostgreSQL's locale provider (libc, icu, builtin), with its locale and ICU rules. */
  readonly provider?: string;
  readonly providerLocale?: string;
  readonly icuRules?: string;
}

/** Reads the marker of `database` (which exists); undefined when it has none. */
export async function readRestoreMarker(
  engine: DatabaseConnection['engine'],
  run: RunSql,
  database: string,
  kind: RestoreMarkerKind,
  maintenanceDatabase: string,
): Promise<string | undefined> {
  if (engine === 'postgresql') {
    // The leading 1 keeps the row when the comment is NULL (the client drops empty lines).
    const rows = await run(
      `SELECT 1, coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = ${sqlStringPg(database)}`,
      maintenanceDatabase,
    );
    return rows[0]?.[1] || undefined;
  }
  if (kind === 'comment') {
    const rows = await run(
      `SELECT 1, SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${sqlString(database)}`,
      '',
    );
    return rows[0]?.[1] || undefined;
  }
  const tables = await run(
    `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${sqlString(database)} AND TABLE_NAME = ${sqlString(RESTORE_MARKER_TABLE)}`,
    '',
  );
  if (Number(tables[0]?.[0] ?? 0) === 0) return undefined;
  const rows = await run(`SELECT marker FROM \`${database}\`.\`${RESTORE_MARKER_TABLE}\``, '');
  // More than one row is not what a restore writes: not a marker.
  return rows.length === 1 ? rows[0]?.[0] : undefined;
}

/**
 * Creates `database` with `marker` on it (the name was checked against SQL_DATABASE_NAME).
 * `onCreated` runs as soon as the database exists, before its marker is written where that takes a
 * second statement: a database this restore made is dropped again if anything after fails.
 */
export async function createMarkedDatabase(
  connection: DatabaseConnection,
  run: RunSql,
  database: string,
  details: DumpDetails,
  marker: { readonly text: string; readonly kind: RestoreMarkerKind },
  maintenanceDatabase: string,
  onCreated: () => void = () => undefined,
): Promise<void> {
  if (connection.engine === 'postgresql') {
    // A set without a collation gets the server's default locale: nothing to check.
    let serverVersion = 0;
    if (details.collation !== undefined) {
      serverVersion = Number((await run('SHOW server_version_num', maintenanceDatabase))[0]?.[0] ?? 0);
      const missing = missingProviderSupport(details, serverVersion);
      if (missing) {
        throw new DumpRestoreFailedError(
          `${describeConnection(connection)}: ${database} was to be created with the source database's ${missing}; restore onto such a server, or ${createItYourself(connection, database)}`,
        );
      }
    }
    await createDatabase(
      connection,
      run,
      database,
      details,
      postgresCreateDatabaseSql(database, details, serverVersion),
      maintenanceDatabase,
    );
    onCreated();
    await run(`COMMENT ON DATABASE "${database}" IS ${sqlStringPg(marker.text)}`, maintenanceDatabase);
    return;
  }
  if (marker.kind === 'comment') {
    // One statement: the database never exists without its marker.
    await createDatabase(
      connection,
      run,
      database,
      details,
      `${mysqlCreateDatabaseSql(database, details)} COMMENT ${sqlString(marker.text)}`,
      '',
    );
    onCreated();
    return;
  }
  await createDatabase(connection, run, database, details, mysqlCreateDatabaseSql(database, details), '');
  onCreated();
  await run(
    `CREATE TABLE \`${database}\`.\`${RESTORE_MARKER_TABLE}\` (marker VARCHAR(255) NOT NULL); INSERT INTO \`${database}\`.\`${RESTORE_MARKER_TABLE}\` VALUES (${sqlString(marker.text)})`,
    '',
  );
}

/** Whether the target exists, what it holds and what marks it. */
async function inspectTarget(
  connection: DatabaseConnection,
  run: RunSql,
  database: string,
  maintenanceDatabase: string,
): Promise<TargetState> {
  if (connection.engine === 'postgresql') {
    const found = await run(
      `SELECT ${PG_LOCALE_COLUMNS} FROM pg_database d WHERE datname = ${sqlStringPg(database)}`,
      maintenanceDatabase,
    );
    if (found.length === 0) return { exists: false, objects: 0, markerKind: 'comment', marker: undefined };
    const rows = await run(
      "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'v', 'm', 'S', 'p', 'f')",
      database,
    );
    const marker = await readRestoreMarker('postgresql', run, database, 'comment', maintenanceDatabase);
    return {
      exists: true,
      objects: Number(rows[0]?.[0] ?? 0),
      markerKind: 'comment',
      marker,
      locale: postgresLocale(found[0] ?? []),
    };
  }
  const schema = `FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${sqlString(database)}`;
  const rows = await run(
    `SELECT (SELECT COUNT(*) ${schema}), (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${sqlString(database)}) + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${sqlString(database)}), (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'SCHEMATA' AND COLUMN_NAME = 'SCHEMA_COMMENT'), (SELECT DEFAULT_CHARACTER_SET_NAME ${schema}), (SELECT DEFAULT_COLLATION_NAME ${schema})`,
    '',
  );
  const [schemas, objects, comments, characterSet, collation] = rows[0] ?? [];
  const markerKind: RestoreMarkerKind = Number(comments) > 0 ? 'comment' : 'table';
  if (Number(schemas) === 0) return { exists: false, objects: 0, markerKind, marker: undefined };
  const marker = await readRestoreMarker(connection.engine, run, database, markerKind, maintenanceDatabase);
  return {
    exists: true,
    objects: Number(objects),
    markerKind,
    marker,
    locale: { characterSet: characterSet ?? '', collation: collation ?? '' },
  };
}

/**
 * How an existing target's encoding and locale (or MySQL's default character set and collation)
 * differ from the source database's, for the result's warnings; undefined when they do not, or the
 * set recorded no collation (sets of older versions: nothing to compare with, as before).
 */
function localeDifference(
  engine: DatabaseConnection['engine'],
  where: string,
  database: string,
  details: DumpDetails,
  target: DatabaseLocale,
): string | undefined {
  const { characterSet, collation } = details;
  if (!collation) return undefined;
  const charsetDiffers = characterSet !== undefined && characterSet !== target.characterSet;
  if (engine === 'postgresql') {
    const source = recordedLocaleOf(details, collation);
    // Sets recorded before the provider was say nothing of it: not compared, as before.
    const providerDiffers =
      source.provider !== undefined &&
      (source.provider !== target.provider ||
        (source.providerLocale ?? '') !== (target.providerLocale ?? '') ||
        (source.icuRules ?? '') !== (target.icuRules ?? ''));
    if (
      !charsetDiffers &&
      collation === target.collation &&
      source.ctype === target.ctype &&
      !providerDiffers
    )
      return undefined;
    return `${where} already existed with encoding ${target.characterSet}, ${describePostgresLocale(target)}, and the dump was loaded into it as it is; the source database had encoding ${characterSet ?? '(not recorded)'}, ${describePostgresLocale(source)}: ORDER BY and LOWER()/UPPER() (Liferay's sorting and case-insensitive lookups) may not behave as on the source. To get the source's, drop ${database} and restore again: the restore then creates it with${postgresLocaleClause(details, false)}`;
  }
  if (!charsetDiffers && collation === target.collation) return undefined;
  return `${where} already existed with default character set ${target.characterSet} and collation ${target.collation}, and the dump was loaded into it as it is; the source database's were ${characterSet ?? '(not recorded)'} and ${collation}: the dump's tables keep their own, but tables Liferay creates later take the database's default. To get the source's: ALTER DATABASE \`${database}\`${characterSet ? ` CHARACTER SET ${characterSet}` : ''} COLLATE ${collation}`;
}

const SESSION_WAIT_MS = 5000;
const SESSION_POLL_MS = 250;

/**
 * Drops the database an earlier run of this restore created, unless a session still uses it: a
 * loader still running (that run's answer was lost while it ran) must not see its database
 * dropped and created again under it. A loader that just ended leaves its session for a moment,
 * hence the short wait; PostgreSQL's DROP DATABASE also refuses while anyone is connected.
 */
async function dropOwnDatabase(
  connection: DatabaseConnection,
  run: RunSql,
  database: string,
  maintenanceDatabase: string,
  busy: (sessions: number) => Error,
): Promise<void> {
  const postgres = connection.engine === 'postgresql';
  const sessionsSql = postgres
    ? // Client sessions only: autovacuum works in a freshly loaded database, and DROP DATABASE stops it.
      `SELECT count(*) FROM pg_stat_activity WHERE datname = ${sqlStringPg(database)} AND backend_type = 'client backend' AND pid <> pg_backend_pid()`
    : `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ${sqlString(database)} AND ID <> CONNECTION_ID()`;
  const deadline = Date.now() + SESSION_WAIT_MS;
  for (;;) {
    const sessions = Number((await run(sessionsSql, postgres ? maintenanceDatabase : ''))[0]?.[0] ?? 0);
    if (sessions === 0) break;
    if (Date.now() >= deadline) throw busy(sessions);
    await new Promise((resolve) => setTimeout(resolve, SESSION_POLL_MS));
  }
  await dropDatabase(connection, run, database, maintenanceDatabase);
}

function dropDatabase(
  connection: DatabaseConnection,
  run: RunSql,
  database: string,
  maintenanceDatabase: string,
): Promise<string[][]> {
  return connection.engine === 'postgresql'
    ? run(`DROP DATABASE "${database}"`, maintenanceDatabase)
    : // A session holding a table lock would make DROP DATABASE wait for a year (the default).
      run(`SET SESSION lock_wait_timeout = 30; DROP DATABASE \`${database}\``, '');
}

/** A name the CREATE DATABASE statements write as they are (character sets, MySQL collations). */
const SQL_WORD = /^[A-Za-z0-9_]+$/;

/** The source's locale as the set records it; LC_CTYPE is LC_COLLATE in sets that did not record it. */
function recordedLocaleOf(details: DumpDetails, collation: string): DatabaseLocale {
  return {
    characterSet: details.characterSet ?? '',
    collation,
    ctype: details.ctype ?? collation,
    ...(details.localeProvider ? { provider: details.localeProvider } : {}),
    ...(details.providerLocale ? { providerLocale: details.providerLocale } : {}),
    ...(details.icuRules ? { icuRules: details.icuRules } : {}),
  };
}

/** "LC_COLLATE …, LC_CTYPE …, the icu locale provider (locale …, with ICU rules)", for messages. */
function describePostgresLocale(locale: DatabaseLocale): string {
  const provider = locale.provider
    ? `, the ${locale.provider} locale provider${locale.providerLocale ? ` (locale ${locale.providerLocale}${locale.icuRules ? ', with ICU rules' : ''})` : ''}`
    : '';
  return `LC_COLLATE ${locale.collation}, LC_CTYPE ${locale.ctype}${provider}`;
}

/**
 * What a server of `serverVersion` (server_version_num) lacks to create a database with the
 * recorded locale provider, if anything: ICU databases came with 15, ICU rules with 16, the builtin
 * provider with 17 (the CREATE DATABASE pages of each). A server built without ICU says so itself
 * when asked (createDatabase).
 */
function missingProviderSupport(details: DumpDetails, serverVersion: number): string | undefined {
  const { localeProvider, providerLocale, icuRules } = details;
  if (localeProvider !== 'icu' && localeProvider !== 'builtin') return undefined;
  const needed = localeProvider === 'builtin' ? 17 : icuRules ? 16 : 15;
  if (serverVersion >= needed * 10000) return undefined;
  return `${localeProvider} locale provider (locale ${providerLocale ?? '(not recorded)'}${icuRules ? ', with ICU rules' : ''}), which needs PostgreSQL ${needed} or later${localeProvider === 'icu' ? ' built with ICU' : ''}, and this server is PostgreSQL ${Math.floor(serverVersion / 10000)}`;
}

/**
 * The source's encoding and locale as CREATE DATABASE options: LC_COLLATE, LC_CTYPE and the
 * locale provider with its locale. `libcProvider`: name the libc provider (15+), so that a
 * server set up with ICU does not give the new database its template's ICU locale. A set
 * without a collation gets the encoding only (the server's default locale, as before).
 */
function postgresLocaleClause(details: DumpDetails, libcProvider: boolean): string {
  const encoding =
    details.characterSet && SQL_WORD.test(details.characterSet) ? ` ENCODING '${details.characterSet}'` : '';
  const { collation, providerLocale, icuRules } = details;
  if (!collation) return encoding;
  const locale = providerLocale === undefined ? '' : sqlStringPg(providerLocale);
  const provider =
    details.localeProvider === 'icu'
      ? ` LOCALE_PROVIDER icu ICU_LOCALE ${locale}${icuRules ? ` ICU_RULES ${sqlStringPg(icuRules)}` : ''}`
      : details.localeProvider === 'builtin'
        ? ` LOCALE_PROVIDER builtin BUILTIN_LOCALE ${locale}`
        : libcProvider
          ? ' LOCALE_PROVIDER libc'
          : '';
  return `${encoding}${provider} LC_COLLATE ${sqlStringPg(collation)} LC_CTYPE ${sqlStringPg(details.ctype ?? collation)}`;
}

/**
 * CREATE DATABASE with the source's encoding and locale (TEMPLATE template0: from any other
 * template PostgreSQL refuses an encoding or locale other than the template's).
 */
function postgresCreateDatabaseSql(database: string, details: DumpDetails, serverVersion: number): string {
  // The name was checked against SQL_DATABASE_NAME (letters, digits, underscores): quoting is safe.
  return `CREATE DATABASE "${database}" TEMPLATE template0${postgresLocaleClause(details, serverVersion >= 150000)}`;
}

function mysqlCreateDatabaseSql(database: string, details: DumpDetails): string {
  const charset =
    details.characterSet && SQL_WORD.test(details.characterSet)
      ? ` CHARACTER SET ${details.characterSet}`
      : '';
  const collation =
    details.collation && SQL_WORD.test(details.collation) ? ` COLLATE ${details.collation}` : '';
  return `CREATE DATABASE \`${database}\`${charset}${collation}`;
}

/**
 * The server refused the source's locale, encoding or collation: PostgreSQL's "invalid
 * LC_COLLATE locale name" (a locale the server's operating system lacks) or "encoding ... does
 * not match locale", MySQL's ER_UNKNOWN_COLLATION (1273) / ER_UNKNOWN_CHARACTER_SET (1115), e.g.
 * MySQL 8's utf8mb4_0900_ai_ci on MariaDB.
 */
const LOCALE_REFUSED =
  /invalid (?:LC_COLLATE |LC_CTYPE )?locale name|does not match locale|\bERROR (?:1273|1115)\b|ICU is not supported in this build/;

/**
 * Runs `sql`, which creates `database` with the source's encoding and locale. The server's
 * message withholds the quoted locale name (client-messages.ts): the error names it from the set.
 */
async function createDatabase(
  connection: DatabaseConnection,
  run: RunSql,
  database: string,
  details: DumpDetails,
  sql: string,
  maintenanceDatabase: string,
): Promise<void> {
  try {
    await run(sql, maintenanceDatabase);
  } catch (error) {
    if (!(error instanceof Error) || !LOCALE_REFUSED.test(error.message)) throw error;
    const createIt = createItYourself(connection, database);
    const what =
      connection.engine === 'postgresql'
        ? postgresLocaleRefused(details, error.message, createIt)
        : `the source database's character set ${details.characterSet ?? '(not recorded)'} and collation ${details.collation ?? '(not recorded)'}, which this server does not know (a set taken on MySQL 8 restored into MariaDB, or an older server); ${createIt}`;
    throw new DumpRestoreFailedError(`${error.message}: ${database} was to be created with ${what}`);
  }
}

/** The second way out of a locale the target server cannot give the database it creates. */
function createItYourself(connection: DatabaseConnection, database: string): string {
  return `create ${database} yourself with ${connection.engine === 'postgresql' ? 'an encoding and locale' : 'a character set and collation'} this server has and restore into it (an empty database needs no "overwrite": true, CLI --database-overwrite; the restore then warns that it differs from the source)`;
}

/** Why a PostgreSQL server refused the source's locale, and the ways out. */
function postgresLocaleRefused(details: DumpDetails, refusal: string, createIt: string): string {
  if (/ICU is not supported in this build/.test(refusal)) {
    return `the source database's ICU locale ${details.providerLocale ?? '(not recorded)'} (icu locale provider), and this server was built without ICU; restore onto a PostgreSQL 15 or later server built with ICU, or ${createIt}`;
  }
  const collation = details.collation ?? '(not recorded)';
  const libcLocales = [...new Set([collation, details.ctype ?? collation])];
  return `the source database's encoding ${details.characterSet ?? '(not recorded)'} with ${describePostgresLocale(recordedLocaleOf(details, collation))}, which this server does not have; install the locale${libcLocales.length > 1 ? 's' : ''} ${libcLocales.join(' and ')} on the database server (Debian/Ubuntu: enable ${libcLocales.length > 1 ? 'them' : 'it'} in /etc/locale.gen and run locale-gen) and restore again, or ${createIt}`;
}

/**
 * Streams a stored dump into `targetDatabase`. The dump's sha256 is checked first, so a corrupt
 * object loads nothing.
 *
 * - Absent: created, marked as this restore's (restoreMarker), loaded; if the load fails it is
 *   dropped again (a half-loaded database is worse than none) and the error says so.
 * - Marked as this restore's (a retried step after its first run created it): dropped, created
 *   and loaded again from the start, unless a session still uses it (RestoreTargetBusyError).
 * - Anyone else's: refused when it holds tables unless `overwrite`. A load that fails there
 *   leaves it partially loaded on MySQL/MariaDB (the client runs statement by statement), and the
 *   error says so; pg_restore runs in one transaction, which leaves it as it was.
 */
export async function restoreDumpFromStore(options: RestoreDumpOptions): Promise<RestoreDumpOutcome> {
  const { details, targetDatabase } = options;
  const connection: DatabaseConnection = { ...options.connection, database: targetDatabase };
  const where = describeConnection(connection);
  const fail = (message: string) => new DumpRestoreFailedError(`${where}: ${message}`);
  if ((connection.engine === 'postgresql') !== (details.engine === 'postgresql')) {
    throw fail(`the dump is a ${details.engine} dump; it cannot be restored into ${connection.engine}`);
  }
  // This function creates and drops databases by this name: it is quoted, never escaped.
  if (!SQL_DATABASE_NAME.test(targetDatabase)) {
    throw fail(
      `${JSON.stringify(targetDatabase)} is not a database name this tool loads (letters, digits, _)`,
    );
  }
  await verifyStoredDump(options.store, details);
  const access = clientAccess(connection, options.scratchDir);
  const run = sqlRunner(connection, access, options.toolsDir, fail);
  const maintenance = options.maintenanceDatabase;
  try {
    const target = await inspectTarget(connection, run, targetDatabase, maintenance);
    const marker = restoreMarker(options.restoreId, options.backupId);
    const ours = target.exists && target.marker === marker;
    if (target.objects > 0 && !ours && !options.overwrite) {
      throw new RestoreTargetNotEmptyError(
        `${where} holds ${target.objects} tables, views or routines and was not created by restore ${options.restoreId}; restore into another database, or allow overwriting it (request "overwrite": true, CLI --database-overwrite)`,
      );
    }
    const tool = findTool(connection.engine, 'restore', options.toolsDir);
    const warnings: string[] = [];
    if (ours) {
      await dropOwnDatabase(
        connection,
        run,
        targetDatabase,
        maintenance,
        (sessions) =>
          new RestoreTargetBusyError(
            `${where} was created by an earlier run of restore ${options.restoreId} (the step was retried) and ${sessions} other session${sessions === 1 ? '' : 's'} still use${sessions === 1 ? 's' : ''} it: that run may still be loading it, so nothing was changed; once it has ended, check the database or run a new restore`,
          ),
      );
      warnings.push(
        `${where} was created by an earlier run of restore ${options.restoreId} (the step was retried): it was dropped, created and loaded again`,
      );
    }
    const create = !target.exists || ours;
    const tablesBefore = ours ? 0 : target.objects;
    const difference =
      !create && target.locale
        ? localeDifference(connection.engine, where, targetDatabase, details, target.locale)
        : undefined;
    if (difference) warnings.push(difference);
    let created = false;
    let loadStarted = false;
    try {
      if (create) {
        await createMarkedDatabase(
          connection,
          run,
          targetDatabase,
          details,
          { text: marker, kind: target.markerKind },
          maintenance,
          () => {
            created = true;
          },
        );
      }
      loadStarted = true;
      const loaded = await loadDump(options, connection, access, tool, tablesBefore > 0, fail);
      return {
        created: create,
        tablesBefore,
        bytes: loaded.bytes,
        warnings: [...warnings, ...loaded.warnings],
      };
    } catch (error) {
      const note = await whatWasLeft(connection, run, {
        database: targetDatabase,
        maintenance,
        created,
        droppedOwn: ours,
        existed: target.exists,
        loadStarted,
        tool,
      });
      if (error instanceof DumpRestoreFailedError)
        throw new DumpRestoreFailedError(`${error.message}; ${note}`);
      const message = redactSecrets(error instanceof Error ? error.message : String(error), access.secrets);
      // No `cause`: its message is the unredacted one, and the Lambda wrapper logs an error with
      // its causes (Powertools), so the password would reach the logs.
      throw new DumpRestoreFailedError(`${where}: ${message}; ${note}`);
    }
  } finally {
    access.cleanup();
  }
}

/**
 * After a failed load, what became of the target, for the error: a database this restore created
 * is dropped (a half-loaded database is worse than none); anyone else's is left, and on
 * MySQL/MariaDB, whose client is not transactional, it may be half-loaded.
 */
async function whatWasLeft(
  connection: DatabaseConnection,
  run: RunSql,
  state: {
    readonly database: string;
    readonly maintenance: string;
    readonly created: boolean;
    /** The database of an earlier run of this restore was dropped, to be created and loaded again. */
    readonly droppedOwn: boolean;
    /** The database existed before this restore (anyone else's). */
    readonly existed: boolean;
    readonly loadStarted: boolean;
    readonly tool: string;
  },
): Promise<string> {
  const { database } = state;
  if (state.created) {
    try {
      await dropDatabase(connection, run, database, state.maintenance);
      return `${database} was created by this restore and has been dropped again`;
    } catch (error) {
      return `${database} was created by this restore and may be partially loaded; dropping it failed too (${(error as Error).message}): drop it by hand`;
    }
  }
  if (state.droppedOwn) {
    return `${database}, created by an earlier run of this restore, was dropped to be loaded again and is gone`;
  }
  if (!state.loadStarted)
    return state.existed ? `${database} was not changed` : `${database} was not created`;
  if (connection.engine === 'postgresql') {
    return `${database} is as it was before (${path.basename(state.tool)} ran in one transaction)`;
  }
  return `${database} was left partially loaded (${path.basename(state.tool)} loads statement by statement, not in one transaction): drop it, or load it again with "overwrite": true (CLI --database-overwrite)`;
}

/** Streams the stored dump through the engine's loader into the target database. */
async function loadDump(
  options: RestoreDumpOptions,
  connection: DatabaseConnection,
  access: ClientAccess,
  tool: string,
  overwriting: boolean,
  fail: (message: string) => Error,
): Promise<{ bytes: number; warnings: string[] }> {
  const { details, targetDatabase } = options;
  const args =
    connection.engine === 'postgresql'
      ? [
          '--no-owner',
          '--no-privileges',
          '--exit-on-error',
          '--single-transaction',
          ...(overwriting ? ['--clean', '--if-exists'] : []),
          '--dbname',
          targetDatabase,
        ]
      : ['--batch', '--default-character-set=utf8mb4', targetDatabase];
  const running = startTool(tool, args, access, 'pipe');
  const stdin = running.child.stdin;
  if (!stdin) throw fail('the restore program has no stdin');
  running.child.stdout?.resume();
  let bytes = 0;
  let nextProgress = PROGRESS_EVERY;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes >= nextProgress) {
        nextProgress += PROGRESS_EVERY;
        options.onProgress?.(bytes);
      }
      callback(null, chunk);
    },
  });
  const stages: NodeJS.ReadWriteStream[] =
    details.format === 'sql-gzip' ? [createGunzip(), count] : [new PassThrough(), count];
  let streamError: Error | undefined;
  try {
    await pipelineAsync([await options.store.get(details.key), ...stages, stdin] as never);
  } catch (error) {
    // The program may have stopped reading because it failed: its exit status says more.
    streamError = error as Error;
  }
  const { code, signal } = await running.exited;
  if (signal || code !== 0) {
    const said = running.stderr();
    throw fail(
      `${path.basename(tool)} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}: ${said || '(no message)'}${PACKET_TOO_LARGE.test(said) ? `; ${PACKET_TOO_LARGE_HINT}` : ''}`,
    );
  }
  if (streamError)
    throw fail(`streaming ${details.key} failed: ${redactSecrets(streamError.message, access.secrets)}`);
  const stderr = running.stderr();
  return { bytes, warnings: stderr ? [`${path.basename(tool)}: ${stderr.slice(0, 2000)}`] : [] };
}
