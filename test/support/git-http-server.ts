import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** One request the server answered, for tests that count round trips (e.g. one receive-pack POST). */
export interface GitHttpRequestRecord {
  readonly method: string;
  /** The repository path and service, e.g. `/mirror.git/git-receive-pack`. */
  readonly path: string;
  readonly status: number;
  readonly user: string | undefined;
}

export interface GitHttpServer {
  /** `http://127.0.0.1:PORT` */
  readonly baseUrl: string;
  /** The folder that holds the bare repositories (GIT_PROJECT_ROOT). */
  readonly root: string;
  /** Every request answered so far, in order. */
  readonly requests: GitHttpRequestRecord[];
  /** The URL of a repository under the root, e.g. `repoUrl('source.git')`. */
  repoUrl(name: string): string;
  /** The same URL with user info (what a person types on the command line). */
  repoUrlWithAuth(name: string, user: string, password: string): string;
  /** Creates an empty bare repository that accepts pushes over HTTP; returns its path. */
  createBareRepo(name: string): Promise<string>;
  /** The repository's path on disk. */
  repoPath(name: string): string;
  close(): Promise<void>;
}

export interface GitHttpServerOptions {
  /** Users allowed in (basic auth). Every request must authenticate. @default { git: 'secret' } */
  readonly users?: Readonly<Record<string, string>>;
  /** Folder for the repositories. @default a new temporary folder, removed by close() */
  readonly root?: string;
}

/** Runs the git CLI (tests and benchmarks build repositories with it), failing with its stderr. */
export async function git(args: readonly string[], cwd: string, input?: string): Promise<string> {
  if (input !== undefined) {
    return new Promise((resolve, reject) => {
      const child = spawn('git', args, { cwd, env: gitEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
        else
          reject(new Error(`git ${args.join(' ')} failed (${code}): ${Buffer.concat(err).toString('utf8')}`));
      });
      child.stdin.end(input);
    });
  }
  try {
    const { stdout } = await execFileAsync('git', args, { cwd, env: gitEnv(), maxBuffer: 256 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const failure = error as { stderr?: string; message: string };
    throw new Error(`git ${args.join(' ')} failed: ${failure.stderr ?? failure.message}`);
  }
}

/** A fixed identity and no user/system configuration, so tests do not depend on the machine. */
export function gitEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: tmpdir(),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Test Author',
    GIT_AUTHOR_EMAIL: 'author@example.com',
    GIT_COMMITTER_NAME: 'Test Committer',
    GIT_COMMITTER_EMAIL: 'committer@example.com',
    GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z',
    GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z',
    LANG: 'C',
  };
}

/** `git for-each-ref` of a repository on disk as {ref: oid}: how the tests check either side. */
export async function forEachRef(repoPath: string): Promise<Record<string, string>> {
  const out = await git(['for-each-ref', '--format=%(refname) %(objectname)'], repoPath);
  const refs: Record<string, string> = {};
  for (const line of out.split('\n')) {
    if (!line) continue;
    const [name, oid] = line.split(' ');
    if (name && oid) refs[name] = oid;
  }
  return refs;
}

function parseBasicAuth(header: string | undefined): { user: string; password: string } | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * The git CLI's smart-HTTP server (`git http-backend`, a CGI program) behind a small node:http
 * server on loopback with basic auth: what GitHub/GitLab look like to a client, with real
 * upload-pack and receive-pack on the other end.
 */
export async function startGitHttpServer(options: GitHttpServerOptions = {}): Promise<GitHttpServer> {
  const users = options.users ?? { git: 'secret' };
  const ownRoot = options.root === undefined;
  const root = options.root ?? mkdtempSync(path.join(tmpdir(), 'git-http-'));
  mkdirSync(root, { recursive: true });
  const requests: GitHttpRequestRecord[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const credentials = parseBasicAuth(req.headers.authorization);
    const record = (status: number) =>
      requests.push({ method: req.method ?? 'GET', path: url.pathname, status, user: credentials?.user });
    if (!credentials || users[credentials.user] !== credentials.password) {
      record(401);
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"', 'Content-Type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
    const env: NodeJS.ProcessEnv = {
      ...gitEnv(),
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.replace(/^\?/, ''),
      REQUEST_METHOD: req.method ?? 'GET',
      REMOTE_USER: credentials.user,
      REMOTE_ADDR: '127.0.0.1',
      CONTENT_TYPE: req.headers['content-type'] ?? '',
    };
    if (req.headers['content-length'] !== undefined) env.CONTENT_LENGTH = req.headers['content-length'];
    if (req.headers['git-protocol'] !== undefined) env.GIT_PROTOCOL = String(req.headers['git-protocol']);
    if (req.headers['content-encoding'] !== undefined)
      env.HTTP_CONTENT_ENCODING = String(req.headers['content-encoding']);
    const cgi = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    req.pipe(cgi.stdin);
    cgi.stdin.on('error', () => undefined);
    const stderr: Buffer[] = [];
    cgi.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));

    // CGI output: header lines, a blank line, then the body (streamed as it comes).
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      let end = head.indexOf('\r\n\r\n');
      let separator = 4;
      if (end < 0) {
        end = head.indexOf('\n\n');
        separator = 2;
      }
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      record(status);
      res.writeHead(status, headers);
      res.write(head.subarray(end + separator));
    });
    cgi.on('close', (code) => {
      if (!headersDone) {
        record(500);
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(`git http-backend exited with ${code}: ${Buffer.concat(stderr).toString('utf8')}`);
        return;
      }
      res.end();
    });
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  const repoPath = (name: string) => path.join(root, name);
  return {
    baseUrl,
    root,
    requests,
    repoUrl: (name) => `${baseUrl}/${name}`,
    repoUrlWithAuth: (name, user, password) =>
      `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${name}`,
    repoPath,
    createBareRepo: async (name) => {
      const dir = repoPath(name);
      mkdirSync(dir, { recursive: true });
      await git(['init', '--bare', '--quiet', '--initial-branch=main', dir], root);
      // http-backend enables receive-pack for authenticated users; say so explicitly anyway.
      await git(['config', 'http.receivepack', 'true'], dir);
      return dir;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownRoot) rmSync(root, { recursive: true, force: true });
    },
  };
}
