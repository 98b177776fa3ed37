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
import { DumpFailedError, DumpRestoreFailedError, RestoreTargetNotEmptyError } from './errors.ts';
import { dumpKey } from './naming.ts';
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

function sourceFacts(connection: DatabaseConnection, database: string) {
  return connection.engine === 'postgresql'
    ? `SELECT current_setting('server_version'), pg_encoding_to_char(encoding), datcollate FROM pg_database WHERE datname = ${sqlStringPg(database)}`
    : `SELECT VERSION(), DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${sqlString(database)}`;
}

function dumpArgs(connection: DatabaseConnection, database: string, compressionLevel: number): string[] {
  if (connection.engine === 'postgresql') {
    return ['--format=custom', `--compress=${compressionLevel}`, '--dbname', database];
  }
  return [
    '--single-transaction',
    '--routines',
    '--triggers',
    '--events',
    // BLOB columns as hex: the SQL stays ASCII whatever the client character set.
    '--hex-blob',
    '--default-character-set=utf8mb4',
    // Tablespace statements need the PROCESS privilege (missing on RDS) and are not wanted on restore.
    '--no-tablespaces',
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
    const [serverVersion, characterSet, collation] = facts[0] ?? [];
    if (!serverVersion) throw fail(`database ${database} does not exist`);
    const tool = findTool(connection.engine, 'dump', options.toolsDir);
    const version = await toolVersion(tool, access);

    const running = startTool(tool, dumpArgs(connection, database, options.compressionLevel), access);
    const stdout = running.child.stdout;
    if (!stdout) throw fail('the dump program has no stdout');
    let dumpBytes = 0;
    let nextProgress = PROGRESS_EVERY;
    let tail = '';
    const warnings: string[] = [];
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
          const errorLines = stderr.split('\n').filter((line) => /\berror\b/i.test(line));
          if (errorLines.length > 0) {
            callback(fail(`${path.basename(tool)} reported errors: ${errorLines.join(' | ')}`));
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
  readonly scratchDir: string;
  readonly toolsDir?: string;
  readonly maintenanceDatabase: string;
  readonly onProgress?: (bytes: number) => void;
}

export interface RestoreDumpOutcome {
  readonly created: boolean;
  readonly tablesBefore: number;
  readonly bytes: number;
  readonly warnings: string[];
}

/** Tables (and views, sequences) in the target; -1 when the database does not exist. */
async function countObjects(
  connection: DatabaseConnection,
  access: ClientAccess,
  database: string,
  options: RestoreDumpOptions,
  fail: (message: string) => Error,
): Promise<number> {
  if (connection.engine === 'postgresql') {
    const exists = await query(
      connection,
      access,
      `SELECT 1 FROM pg_database WHERE datname = ${sqlStringPg(database)}`,
      {
        toolsDir: options.toolsDir,
        database: options.maintenanceDatabase,
        makeError: fail,
      },
    );
    if (exists.length === 0) return -1;
    const rows = await query(
      connection,
      access,
      "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'v', 'm', 'S', 'p', 'f')",
      { toolsDir: options.toolsDir, database, makeError: fail },
    );
    return Number(rows[0]?.[0] ?? 0);
  }
  const rows = await query(
    connection,
    access,
    `SELECT (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${sqlString(database)}), (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${sqlString(database)}) + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${sqlString(database)})`,
    { toolsDir: options.toolsDir, database: '', makeError: fail },
  );
  const [schemas, objects] = rows[0] ?? [];
  return Number(schemas) === 0 ? -1 : Number(objects);
}

function createDatabaseSql(connection: DatabaseConnection, database: string, details: DumpDetails): string {
  // The name was checked against SQL_DATABASE_NAME (letters, digits, underscores): quoting is safe.
  if (connection.engine === 'postgresql') {
    const encoding =
      details.characterSet && /^[A-Za-z0-9_]+$/.test(details.characterSet)
        ? ` ENCODING '${details.characterSet}'`
        : '';
    return `CREATE DATABASE "${database}" TEMPLATE template0${encoding}`;
  }
  const charset =
    details.characterSet && /^[A-Za-z0-9_]+$/.test(details.characterSet)
      ? ` CHARACTER SET ${details.characterSet}`
      : '';
  const collation =
    details.collation && /^[A-Za-z0-9_]+$/.test(details.collation) ? ` COLLATE ${details.collation}` : '';
  return `CREATE DATABASE \`${database}\`${charset}${collation}`;
}

/**
 * Streams a stored dump into `targetDatabase` (created when absent). A target that holds tables
 * is refused unless `overwrite`. The dump's sha256 is checked first, so a corrupt object loads nothing.
 */
export async function restoreDumpFromStore(options: RestoreDumpOptions): Promise<RestoreDumpOutcome> {
  const { details, targetDatabase } = options;
  const connection: DatabaseConnection = { ...options.connection, database: targetDatabase };
  const where = describeConnection(connection);
  const fail = (message: string) => new DumpRestoreFailedError(`${where}: ${message}`);
  if ((connection.engine === 'postgresql') !== (details.engine === 'postgresql')) {
    throw fail(`the dump is a ${details.engine} dump; it cannot be restored into ${connection.engine}`);
  }
  await verifyStoredDump(options.store, details);
  const access = clientAccess(connection, options.scratchDir);
  try {
    const before = await countObjects(connection, access, targetDatabase, options, fail);
    if (before > 0 && !options.overwrite) {
      throw new RestoreTargetNotEmptyError(
        `${where} holds ${before} tables, views or routines; restore into another database, or allow overwriting it (request "overwrite": true, CLI --database-overwrite)`,
      );
    }
    if (before < 0) {
      await query(connection, access, createDatabaseSql(connection, targetDatabase, details), {
        toolsDir: options.toolsDir,
        database: connection.engine === 'postgresql' ? options.maintenanceDatabase : '',
        makeError: fail,
      });
    }
    const tool = findTool(connection.engine, 'restore', options.toolsDir);
    const args =
      connection.engine === 'postgresql'
        ? [
            '--no-owner',
            '--no-privileges',
            '--exit-on-error',
            '--single-transaction',
            ...(options.overwrite && before > 0 ? ['--clean', '--if-exists'] : []),
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
      throw fail(
        `${path.basename(tool)} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}: ${running.stderr() || '(no message)'}`,
      );
    }
    if (streamError)
      throw fail(`streaming ${details.key} failed: ${redactSecrets(streamError.message, access.secrets)}`);
    const stderr = running.stderr();
    return {
      created: before < 0,
      tablesBefore: Math.max(before, 0),
      bytes,
      warnings: stderr ? [`${path.basename(tool)}: ${stderr.slice(0, 2000)}`] : [],
    };
  } finally {
    access.cleanup();
  }
}
