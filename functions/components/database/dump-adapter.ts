import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { clientMessages } from './client-messages.ts';
import { type DatabaseConnection, type DatabaseEngine, redactSecrets } from './connection.ts';
import { DatabaseToolMissingError } from './errors.ts';

/**
 * The one adapter to self-managed databases: their own client programs as child processes
 * (mysqldump / mariadb-dump, mariadb / mysql, pg_dump, pg_restore, psql). Credentials go into a
 * 0600 option file in a private temporary folder (never on a command line, where `ps` shows it)
 * and the folder is removed when the program ends.
 */

export type ToolRole = 'dump' | 'client' | 'restore';

const TOOLS: Record<DatabaseEngine, Record<ToolRole, readonly string[]>> = {
  mysql: { dump: ['mysqldump', 'mariadb-dump'], client: ['mysql', 'mariadb'], restore: ['mysql', 'mariadb'] },
  mariadb: {
    dump: ['mariadb-dump', 'mysqldump'],
    client: ['mariadb', 'mysql'],
    restore: ['mariadb', 'mysql'],
  },
  postgresql: { dump: ['pg_dump'], client: ['psql'], restore: ['pg_restore'] },
};
const DEBIAN_PACKAGE: Record<DatabaseEngine, string> = {
  mysql: 'mariadb-client',
  mariadb: 'mariadb-client',
  postgresql: 'postgresql-client',
};

/** Finds a client program: the configured folder, a Lambda layer's /opt/bin, then PATH. */
export function findTool(engine: DatabaseEngine, role: ToolRole, toolsDir?: string): string {
  const names = TOOLS[engine][role];
  const dirs = [
    ...(toolsDir ? [toolsDir] : []),
    '/opt/bin',
    ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean),
  ];
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  throw new DatabaseToolMissingError(
    `${names.join(' or ')} not found (looked in ${dirs.join(', ')}): install the Debian package ${DEBIAN_PACKAGE[engine]}, or on Lambda attach a layer with the ${engine} client programs in /opt/bin`,
  );
}

/** How a client program reaches the database: arguments before its own, environment, cleanup. */
export interface ClientAccess {
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly secrets: readonly string[];
  cleanup(): void;
}

function optionValue(value: string): string {
  // MariaDB/MySQL option files: quoted value, with these escape sequences recognised.
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}"`;
}

function passfileField(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

/** The environment of a child: ours, without variables that would redirect the client elsewhere. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(PG|MYSQL|MARIADB)/.test(key)) env[key] = value;
  }
  return env;
}

export function clientAccess(connection: DatabaseConnection, scratchDir: string): ClientAccess {
  const dir = mkdtempSync(path.join(scratchDir, 'liferay-backup-db-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const secrets = connection.password ? [connection.password] : [];
  try {
    if (connection.engine === 'postgresql') {
      const env = baseEnv();
      env.PGHOST = connection.host;
      env.PGPORT = String(connection.port);
      env.PGUSER = connection.user;
      env.PGCONNECT_TIMEOUT = '20';
      env.PGAPPNAME = 'liferay-backup';
      if (connection.tls.mode) env.PGSSLMODE = connection.tls.mode;
      if (connection.tls.ca) env.PGSSLROOTCERT = connection.tls.ca;
      if (connection.password !== undefined) {
        const passfile = path.join(dir, 'pgpass');
        writeFileSync(
          passfile,
          `*:*:*:${passfileField(connection.user)}:${passfileField(connection.password)}\n`,
          {
            mode: 0o600,
          },
        );
        env.PGPASSFILE = passfile;
      } else {
        env.PGPASSFILE = path.join(dir, 'none');
      }
      return { args: [], env, secrets, cleanup };
    }
    const lines = [
      '[client]',
      `user=${optionValue(connection.user)}`,
      `host=${optionValue(connection.host)}`,
      `port=${connection.port}`,
      'protocol=TCP',
    ];
    if (connection.password !== undefined) lines.push(`password=${optionValue(connection.password)}`);
    if (connection.tls.ca) lines.push(`ssl-ca=${optionValue(connection.tls.ca)}`);
    // Whichever URL scheme, the programs found may be MySQL's (ssl-mode) or MariaDB's (ssl,
    // ssl-verify-server-cert; Debian's mysql and mysqldump are MariaDB's), and each stops at an
    // option it does not know: `loose-` makes each skip the other's (MariaDB's print a warning).
    // MariaDB's programs with `ssl` alone fall back to a plain connection when the server offers
    // no TLS, password included: for anything above `preferred` they verify the server's
    // certificate (give ssl-ca when its CA is not in the system's store), never fall back.
    const mode = connection.tls.mode?.toLowerCase();
    if (mode && mode !== 'disabled') {
      lines.push(`loose-ssl-mode=${mode.toUpperCase()}`);
      if (mode !== 'preferred') lines.push('loose-ssl', 'loose-ssl-verify-server-cert');
    }
    const file = path.join(dir, 'client.cnf');
    writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
    // --defaults-extra-file must come first; --no-defaults is not used so system TLS settings still apply.
    return { args: [`--defaults-extra-file=${file}`], env: baseEnv(), secrets, cleanup };
  } catch (error) {
    cleanup();
    throw error;
  }
}

/**
 * A running client program. Its stderr is filtered as it arrives (client-messages.ts: the
 * program's own and the server's error lines, never the statements or rows it may echo), bounded
 * and redacted, for the error message.
 */
export interface RunningTool {
  readonly child: ChildProcess;
  /** Resolves when the program has exited and its streams are closed. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What may be shown of its stderr. */
  stderr(): string;
  /** How many lines of its stderr, shown or not, contain the word "error". */
  errorLines(): number;
}

export function startTool(
  tool: string,
  args: readonly string[],
  access: ClientAccess,
  stdin: 'ignore' | 'pipe' = 'ignore',
): RunningTool {
  const child = spawn(tool, [...access.args, ...args], {
    env: access.env,
    stdio: [stdin, 'pipe', 'pipe'],
  });
  const messages = clientMessages(tool);
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => messages.write(chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (error) => {
      messages.add(error.message);
      resolve({ code: -1, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  return {
    child,
    exited,
    stderr: () => redactSecrets(messages.text(), access.secrets),
    errorLines: () => messages.errorLines(),
  };
}

/** Runs a client program to its end and returns its stdout; a failure throws with its stderr. */
export async function runTool(
  tool: string,
  args: readonly string[],
  access: ClientAccess,
  makeError: (message: string) => Error,
): Promise<string> {
  const running = startTool(tool, args, access);
  let out = '';
  running.child.stdout?.setEncoding('utf8');
  running.child.stdout?.on('data', (chunk: string) => {
    out += chunk;
  });
  const { code, signal } = await running.exited;
  if (code !== 0) {
    throw makeError(
      `${path.basename(tool)} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}: ${running.stderr() || '(no message)'}`,
    );
  }
  return out;
}

/** Runs one SQL statement with the engine's command-line client; rows as arrays of fields. */
export async function query(
  connection: DatabaseConnection,
  access: ClientAccess,
  sql: string,
  options: { toolsDir?: string; database?: string; makeError: (message: string) => Error },
): Promise<string[][]> {
  const tool = findTool(connection.engine, 'client', options.toolsDir);
  const database = options.database ?? connection.database;
  const args =
    connection.engine === 'postgresql'
      ? [
          '-X',
          '-A',
          '-t',
          '-F',
          '\t',
          '-v',
          'ON_ERROR_STOP=1',
          '-c',
          sql,
          ...(database ? ['-d', database] : []),
        ]
      : ['--batch', '--skip-column-names', '--raw', '-e', sql, ...(database ? [database] : [])];
  const out = await runTool(tool, args, access, options.makeError);
  return out
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
}

/** `tool --version`, first line. */
export async function toolVersion(tool: string, access: ClientAccess): Promise<string> {
  const out = await runTool(tool, ['--version'], { ...access, args: [] }, (message) => new Error(message));
  return out.split('\n')[0]?.trim() ?? '';
}

/** SQL string literal (standard quoting; both engines run with backslash escapes as data here). */
export function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

export function sqlStringPg(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
