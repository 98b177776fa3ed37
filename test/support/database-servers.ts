import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  accessSync,
  chownSync,
  constants,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/**
 * Private, throwaway MariaDB and PostgreSQL servers for tests: each in its own temporary folder,
 * on a free loopback port, with a user that logs in with a password over TCP (the way the
 * component connects). A missing program FAILS the test with the Debian package to install:
 * the database tests never skip (.ci/run installs the packages).
 */

export interface DatabaseServer {
  readonly engine: 'mariadb' | 'postgresql';
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** URL of a database on this server, with the password. */
  url(database: string): string;
  /** Runs SQL as the administrator (socket login), returns stdout. */
  admin(sql: string, database?: string): string;
  /** Kills the server at once (SIGKILL): the "server died mid-dump" case. */
  kill(): void;
  stop(): Promise<void>;
}

/** A password with characters that break naive quoting in option files, pgpass and URLs. */
export const TEST_PASSWORD = 'S3cr3t:p@ss/w"rd#1\\x';

function requireProgram(candidates: string[], debianPackage: string): string {
  for (const candidate of candidates) {
    const found = candidate.includes('/')
      ? [candidate]
      : (process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, candidate));
    for (const file of found) {
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        // next
      }
    }
  }
  throw new Error(
    `${candidates.map((c) => path.basename(c)).join(' / ')} not found: install the Debian package ${debianPackage} (apt-get install -y ${debianPackage})`,
  );
}

export type PortPicker = () => Promise<number>;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** How many ports a server start tries before it gives up (see onFreePort). */
const PORT_TRIES = 5;

/**
 * Runs `start` on a port picked free, again on another one when the server found it taken: the
 * port is free when picked, but another test file's server can bind it before this one does.
 */
async function onFreePort<T>(
  pickPort: PortPicker,
  start: (port: number) => Promise<T>,
  portTaken: (error: unknown) => boolean,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await pickPort();
    try {
      return await start(port);
    } catch (error) {
      if (attempt >= PORT_TRIES || !portTaken(error)) throw error;
    }
  }
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not start within ${timeoutMs / 1000} s`);
}

function exitedPromise(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

export async function startMariaDb(pickPort: PortPicker = freePort): Promise<DatabaseServer> {
  const installDb = requireProgram(['mariadb-install-db', 'mysql_install_db'], 'mariadb-server');
  const mariadbd = requireProgram(
    ['mariadbd', '/usr/sbin/mariadbd', 'mysqld', '/usr/sbin/mysqld'],
    'mariadb-server',
  );
  const client = requireProgram(['mariadb', 'mysql'], 'mariadb-client');
  const dir = mkdtempSync(path.join(tmpdir(), 'test-mariadb-'));
  const data = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  execFileSync(
    installDb,
    [
      '--no-defaults',
      `--datadir=${data}`,
      '--user=root',
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      `--tmpdir=${dir}`,
    ],
    { stdio: 'pipe' },
  );
  const admin = (sql: string, database?: string) =>
    execFileSync(
      client,
      [
        '--no-defaults',
        `--socket=${socket}`,
        '-u',
        'root',
        '--default-character-set=utf8mb4',
        '-N',
        '-B',
        '-e',
        sql,
        ...(database ? [database] : []),
      ],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  const { port, child } = await onFreePort(
    pickPort,
    async (port) => {
      const child = spawn(
        mariadbd,
        [
          '--no-defaults',
          `--datadir=${data}`,
          '--user=root',
          '--bind-address=127.0.0.1',
          `--port=${port}`,
          `--socket=${socket}`,
          `--pid-file=${path.join(dir, 'mysqld.pid')}`,
          // Its own folder for temporary tables (the default is TMPDIR, which every test server shares):
          // the servers of two test runs at once lost each other's files in their bootstrap.
          `--tmpdir=${dir}`,
          '--skip-log-bin',
          '--innodb-buffer-pool-size=64M',
          '--innodb-log-file-size=48M',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let log = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        log = (log + chunk.toString()).slice(-8000);
      });
      try {
        await waitFor(() => {
          if (child.exitCode !== null) throw new Error(`mariadbd exited: ${log}`);
          try {
            admin('SELECT 1');
            return true;
          } catch {
            return false;
          }
        }, 'mariadbd');
      } catch (error) {
        child.kill('SIGKILL');
        await exitedPromise(child);
        throw error;
      }
      return { port, child };
    },
    (error) => /Address already in use|Bind on TCP\/IP port/i.test(String(error)),
  );
  const user = 'liferay';
  const escaped = TEST_PASSWORD.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  // Anonymous accounts (''@localhost) would shadow 'liferay'@'%' for loopback logins.
  const anonymous = admin(
    "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.user WHERE User = ''",
  ).trim();
  for (const account of anonymous.split('\n').filter(Boolean)) admin(`DROP USER ${account}`);
  admin(
    `CREATE USER '${user}'@'%' IDENTIFIED BY '${escaped}'; GRANT ALL PRIVILEGES ON *.* TO '${user}'@'%'; FLUSH PRIVILEGES;`,
  );
  return {
    engine: 'mariadb',
    port,
    user,
    password: TEST_PASSWORD,
    url: (database) => `mariadb://${user}:${encodeURIComponent(TEST_PASSWORD)}@127.0.0.1:${port}/${database}`,
    admin,
    kill: () => {
      child.kill('SIGKILL');
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exitedPromise(child);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const bin = path.join(root, version, 'bin');
    if (existsSync(path.join(bin, 'initdb'))) return bin;
  }
  throw new Error(
    'initdb not found under /usr/lib/postgresql: install the Debian package postgresql (apt-get install -y postgresql)',
  );
}

export async function startPostgres(pickPort: PortPicker = freePort): Promise<DatabaseServer> {
  const bin = postgresBin();
  const psql = requireProgram(['psql'], 'postgresql-client');
  const runuser = requireProgram(['runuser', '/usr/sbin/runuser'], 'util-linux');
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  const dir = mkdtempSync(path.join(tmpdir(), 'test-postgres-'));
  chownSync(dir, uid, gid);
  const data = path.join(dir, 'data');
  const pwfile = path.join(dir, 'pw');
  writeFileSync(pwfile, 'postgres-admin\n', { mode: 0o600 });
  chownSync(pwfile, uid, gid);
  const asPostgres = (program: string, args: string[]) =>
    execFileSync(runuser, ['-u', 'postgres', '--', path.join(bin, program), ...args], {
      stdio: 'pipe',
      encoding: 'utf8',
    });
  asPostgres('initdb', [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    `--pwfile=${pwfile}`,
    '-E',
    'UTF8',
    '--locale=C',
  ]);
  const logFile = path.join(dir, 'log');
  const port = await onFreePort(
    pickPort,
    async (port) => {
      rmSync(logFile, { force: true }); // pg_ctl appends: the last attempt's reason only
      const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=32MB`;
      try {
        asPostgres('pg_ctl', ['-D', data, '-o', options, '-l', logFile, '-w', '-t', '30', 'start']);
      } catch (error) {
        // pg_ctl only says "could not start server": the reason is in the server's log.
        const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-4000) : '';
        throw new Error(`postgres did not start on port ${port}: ${(error as Error).message}\n${log}`);
      }
      return port;
    },
    (error) => /Address already in use|could not create any TCP\/IP sockets/i.test(String(error)),
  );
  const admin = (sql: string, database = 'postgres') =>
    execFileSync(
      runuser,
      [
        '-u',
        'postgres',
        '--',
        psql,
        '-X',
        '-A',
        '-t',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        dir,
        '-p',
        String(port),
        '-d',
        database,
        '-c',
        sql,
      ],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  const user = 'liferay';
  admin(`CREATE ROLE ${user} LOGIN CREATEDB PASSWORD '${TEST_PASSWORD.replace(/'/g, "''")}'`);
  const pidOf = () =>
    Number(execFileSync('head', ['-1', path.join(data, 'postmaster.pid')], { encoding: 'utf8' }).trim());
  return {
    engine: 'postgresql',
    port,
    user,
    password: TEST_PASSWORD,
    url: (database) =>
      `postgresql://${user}:${encodeURIComponent(TEST_PASSWORD)}@127.0.0.1:${port}/${database}`,
    admin,
    kill: () => {
      // Immediate shutdown: the postmaster kills every backend, the dump's included.
      process.kill(pidOf(), 'SIGQUIT');
    },
    stop: async () => {
      try {
        asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already dead (killed by a test)
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
