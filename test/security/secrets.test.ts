import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { closeEngines } from '#components/search/connect.ts';
import { main } from '#local/cli.ts';
import '#local/retention-command.ts';
import '#local/verify-command.ts';
import { allHandlers } from '#local/handlers.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Handler } from '#runtime/runtime.ts';
import { FULL_CONFIG } from '../cdk/support.ts';
import { WorkRepo } from '../components/source/git-fixtures.ts';
import { makeHome } from '../reliability/support.ts';
import { type DatabaseServer, startMariaDb } from '../support/database-servers.ts';
import { type GitHttpServer, startGitHttpServer } from '../support/git-http-server.ts';
import { tempDir } from '../support/local-runtime.ts';
import { type LocalS3Server, startS3Server } from '../support/s3-server.ts';
import { SearchEngineStandIn } from '../support/search-engine-server.ts';
import { deniedStoreCalls, recordingHandlers, type StoreCall } from './support/store-calls.ts';

/**
 * Secrets never appear in anything the product writes. Three full runs — files, a real MariaDB
 * dump, the search stand-in with basic auth, Git over HTTP with basic auth — each back up and
 * restore with known, distinctive secrets handed over a different way:
 *   A. the CLI, passwords in the URLs (--database-url, --search-url, --git, --git-target), then
 *      verify and retention;
 *   B. the CLI, passwords in environment variables (URLs without user info);
 *   C. the Lambda handlers as deployed (lambdaHandler: runtime from the environment, the S3 store
 *      on s3rver, Powertools logger at DEBUG), secrets in SSM parameters (client mocked), two
 *      backups, a restore, a drill and a retention run that deletes a set;
 * and the failure paths, where errors quote what they were given: a CLI backup and restore with
 * wrong passwords in the URLs, and a Lambda backup with wrong passwords in SSM.
 * Then every byte written is searched for every secret (raw, URL-encoded, JSON-escaped, base64 at
 * each alignment): every object of both stores (gzip bodies unpacked), s3rver's files, the CLI's
 * stdout and stderr, everything the process wrote to stdout/stderr (the loggers, EMF metrics), the
 * scratch folders, the restored trees, the Git repositories, the bodies the search cluster got.
 */

const SECRETS = {
  dbUrl: 'dbUrl#Pw@7731:x',
  dbEnv: 'dbEnv%Pw&8842',
  dbSsm: 'dbSsm+Pw=9953?',
  searchUrl: 'esUrl#Pw@1164',
  searchEnv: 'esEnv&Pw/2275',
  searchSsm: 'esSsm:Pw!3386',
  gitUrl: 'gitUrl#Pw@4497',
  gitEnv: 'gitEnv&Pw%5508',
  gitSsm: 'gitSsm=Pw+6619',
  /** Wrong passwords are secrets too (often a typo of the right one): the failure paths carry them. */
  dbWrong: 'dbWrong^Pw~1207',
  searchWrong: 'esWrong^Pw~2318',
  gitWrong: 'gitWrong^Pw~3429',
} as const;

/** Every form a secret could take in text: as is, URL-encoded, JSON-escaped, base64 at each alignment. */
function secretForms(secret: string): Array<{ form: string; bytes: Buffer }> {
  const forms = new Map<string, string>([
    ['raw', secret],
    ['url-encoded', encodeURIComponent(secret)],
    ['json-escaped', JSON.stringify(secret).slice(1, -1)],
  ]);
  const raw = Buffer.from(secret, 'utf8');
  for (let offset = 0; offset < 3; offset += 1) {
    // Base64 of the secret where it starts `offset` bytes into a 3-byte group: keep only the
    // characters that depend on the secret's bytes alone.
    const encoded = Buffer.concat([Buffer.alloc(offset), raw])
      .toString('base64')
      .replace(/=+$/, '');
    const start = offset === 0 ? 0 : 4;
    const tail = (offset + raw.length) % 3 === 0 ? encoded.length : encoded.length - 4;
    const stable = encoded.slice(start, Math.floor(tail / 4) * 4);
    if (stable.length >= 8) forms.set(`base64+${offset}`, stable);
  }
  return [...forms].map(([form, text]) => ({ form, bytes: Buffer.from(text, 'utf8') }));
}

interface Leak {
  readonly where: string;
  readonly secret: string;
  readonly form: string;
}

class LeakScanner {
  readonly leaks: Leak[] = [];
  scanned = 0;
  private readonly needles = Object.entries(SECRETS).flatMap(([name, secret]) =>
    secretForms(secret).map((form) => ({ name, ...form })),
  );

  scan(where: string, bytes: Buffer): void {
    this.scanned += 1;
    const texts = [bytes];
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        texts.push(gunzipSync(bytes));
      } catch {
        // not gzip after all
      }
    }
    for (const text of texts) {
      for (const needle of this.needles) {
        if (text.includes(needle.bytes)) this.leaks.push({ where, secret: needle.name, form: needle.form });
      }
    }
  }

  scanTree(label: string, root: string): void {
    if (!fs.existsSync(root)) return;
    const visit = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) visit(full);
        else if (entry.isFile()) this.scan(`${label}: ${path.relative(root, full)}`, fs.readFileSync(full));
      }
    };
    visit(root);
  }
}

const work = tempDir('secrets');
const dirs = {
  storeCli: path.join(work.dir, 'store-cli'),
  tmpCli: path.join(work.dir, 'tmp-cli'),
  scratchLambda: path.join(work.dir, 'scratch-lambda'),
  restored: path.join(work.dir, 'restored'),
  home: path.join(work.dir, 'liferay-home'),
};
let database: DatabaseServer;
let git: GitHttpServer;
let s3: LocalS3Server;
const search: Record<'a' | 'b' | 'c', SearchEngineStandIn | undefined> = {
  a: undefined,
  b: undefined,
  c: undefined,
};
const ssm = mockClient(SSMClient);

/** What the process writes to stdout and stderr while the runs go (loggers, EMF metrics, anything else). */
const processOutput: string[] = [];
const cliOut: string[] = [];
const cliErr: string[] = [];
const cliErrStream = {
  isTTY: false,
  write: (chunk: unknown) => {
    cliErr.push(String(chunk));
    return true;
  },
} as unknown as NodeJS.WriteStream;

async function cli(...args: string[]): Promise<number> {
  return main(args, { out: (line) => cliOut.push(line), err: cliErrStream });
}

function userUrl(scheme: string, user: string, password: string, host: string, rest: string): string {
  return `${scheme}://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}${rest}`;
}

async function standIn(password: string): Promise<SearchEngineStandIn> {
  const server = await SearchEngineStandIn.start({
    flavour: 'elasticsearch',
    version: '8.15.0',
    auth: { type: 'basic', username: 'elastic', password },
    indices: {
      'liferay-0': { docs: 12 },
      'liferay-20097': { docs: 40 },
      'liferay-20097-search-tuning-rankings': { docs: 3 },
      'liferay-20097-workflow-metrics-sla-task-results': { docs: 5 },
    },
  });
  server.repositories.set('liferay-backup', {
    type: 's3',
    settings: { bucket: 'es', base_path: 'snapshots' },
  });
  server.snapshots.set('liferay-backup', new Map());
  return server;
}

async function gitPair(run: string): Promise<{ source: string; mirror: string; target: string }> {
  const sourcePath = await git.createBareRepo(`${run}-source.git`);
  await git.createBareRepo(`${run}-mirror.git`);
  await git.createBareRepo(`${run}-target.git`);
  const repo = await WorkRepo.create();
  await repo.commit('first');
  await repo.commit('second');
  await repo.pushMirror(sourcePath);
  return { source: `${run}-source.git`, mirror: `${run}-mirror.git`, target: `${run}-target.git` };
}

function succeeded(outcome: WorkflowOutcome): unknown {
  if (outcome.status !== 'SUCCEEDED')
    throw new Error(`the workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output;
}

beforeAll(async () => {
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { recursive: true });
  makeHome(dirs.home, 12);
  [database, git, s3, search.a, search.b, search.c] = await Promise.all([
    startMariaDb(),
    startGitHttpServer({
      users: { urluser: SECRETS.gitUrl, envuser: SECRETS.gitEnv, ssmuser: SECRETS.gitSsm },
    }),
    startS3Server(),
    standIn(SECRETS.searchUrl),
    standIn(SECRETS.searchEnv),
    standIn(SECRETS.searchSsm),
  ]);
  database.admin(
    [
      'CREATE DATABASE lportal',
      'CREATE TABLE lportal.User_ (userId BIGINT PRIMARY KEY, screenName VARCHAR(75))',
      "INSERT INTO lportal.User_ VALUES (20123, 'test'), (20124, 'joe')",
      ...(
        [
          ['url_user', SECRETS.dbUrl],
          ['env_user', SECRETS.dbEnv],
          ['ssm_user', SECRETS.dbSsm],
        ] as const
      ).flatMap(([user, password]) => [
        `CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`,
        `GRANT ALL PRIVILEGES ON *.* TO '${user}'@'%'`,
      ]),
    ].join('; '),
  );
}, 120_000);

afterAll(async () => {
  vi.unstubAllEnvs();
  ssm.restore();
  await closeEngines();
  await Promise.all([
    database?.stop(),
    git?.close(),
    s3?.stop(),
    ...Object.values(search).map((server) => server?.stop()),
  ]);
  work.cleanup();
});

describe('secrets never appear in anything written', () => {
  it('the scanner finds a secret in each form it looks for (a check of the check)', () => {
    const scanner = new LeakScanner();
    const secret = SECRETS.gitEnv;
    scanner.scan('raw', Buffer.from(`x ${secret} y`));
    scanner.scan('url', Buffer.from(`https://u:${encodeURIComponent(secret)}@h/`));
    scanner.scan(
      'basic',
      Buffer.from(`Authorization: Basic ${Buffer.from(`envuser:${secret}`).toString('base64')}`),
    );
    scanner.scan('basic2', Buffer.from(`Basic ${Buffer.from(`ab:${secret}`).toString('base64')}`));
    scanner.scan('basic3', Buffer.from(`Basic ${Buffer.from(`abc:${secret}`).toString('base64')}`));
    scanner.scan('clean', Buffer.from('nothing here'));
    expect([...new Set(scanner.leaks.map((leak) => leak.where))].sort()).toEqual(
      ['basic', 'basic2', 'basic3', 'raw', 'url'].sort(),
    );
  });

  it('a full backup, restore, drill and retention by CLI (URLs, environment) and by the Lambda handlers (SSM) leak none of them', async () => {
    const dbHost = `127.0.0.1:${database.port}`;
    const gitHost = git.baseUrl.replace(/^http:\/\//, '');
    const searchHost = (server: SearchEngineStandIn | undefined) =>
      (server?.url ?? '').replace(/^http:\/\//, '');
    const [repoA, repoB, repoC] = [await gitPair('a'), await gitPair('b'), await gitPair('c')];

    // Everything the process prints from here on is captured (and kept off the test output).
    vi.stubEnv('AWS_LAMBDA_LOG_LEVEL', 'DEBUG');
    vi.stubEnv('TMPDIR', dirs.tmpCli);
    const capture = (stream: NodeJS.WriteStream) =>
      vi.spyOn(stream, 'write').mockImplementation((chunk: unknown) => {
        processOutput.push(
          typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'),
        );
        return true;
      });
    const spies = [capture(process.stdout), capture(process.stderr)];
    try {
      // A: the CLI, secrets in URLs.
      const dbA = userUrl('mariadb', 'url_user', SECRETS.dbUrl, dbHost, '/lportal');
      const searchA = userUrl('http', 'elastic', SECRETS.searchUrl, searchHost(search.a), '');
      const gitA = (name: string) => userUrl('http', 'urluser', SECRETS.gitUrl, gitHost, `/${name}`);
      const storeA = ['--store', dirs.storeCli];
      expect(
        await cli(
          'backup',
          '--home',
          dirs.home,
          '--database-url',
          dbA,
          '--search-url',
          searchA,
          '--search-dxp-version',
          '7.3',
          '--git',
          `${gitA(repoA.source)}=${gitA(repoA.mirror)}`,
          '--git-store-copy',
          ...storeA,
        ),
        cliOut.join('\n'),
      ).toBe(0);
      expect(
        await cli(
          'restore',
          'latest',
          '--to',
          path.join(dirs.restored, 'a'),
          '--database-url',
          userUrl('mariadb', 'url_user', SECRETS.dbUrl, dbHost, '/lportal_a'),
          '--search-url',
          searchA,
          '--search-on-conflict',
          'rename',
          '--git-target',
          gitA(repoA.target),
          ...storeA,
        ),
        cliOut.join('\n'),
      ).toBe(0);
      expect(await cli('verify', 'latest', '--search-url', searchA, ...storeA), cliOut.join('\n')).toBe(0);

      // B: the CLI, secrets in environment variables.
      vi.stubEnv('LIFERAY_BACKUP_DATABASE_PASSWORD', SECRETS.dbEnv);
      vi.stubEnv('LIFERAY_BACKUP_SEARCH_USERNAME', 'elastic');
      vi.stubEnv('LIFERAY_BACKUP_SEARCH_PASSWORD', SECRETS.searchEnv);
      vi.stubEnv('LIFERAY_BACKUP_GIT_USERNAME', 'envuser');
      vi.stubEnv('LIFERAY_BACKUP_GIT_PASSWORD', SECRETS.gitEnv);
      vi.stubEnv('LIFERAY_BACKUP_GIT_TARGET_USERNAME', 'envuser');
      vi.stubEnv('LIFERAY_BACKUP_GIT_TARGET_PASSWORD', SECRETS.gitEnv);
      const searchB = search.b?.url ?? '';
      expect(
        await cli(
          'backup',
          '--home',
          dirs.home,
          '--database-url',
          `mariadb://env_user@${dbHost}/lportal`,
          '--search-url',
          searchB,
          '--search-dxp-version',
          '7.3',
          '--git',
          `${git.repoUrl(repoB.source)}=${git.repoUrl(repoB.mirror)}`,
          ...storeA,
        ),
        cliOut.join('\n'),
      ).toBe(0);
      expect(
        await cli(
          'restore',
          'latest',
          '--to',
          path.join(dirs.restored, 'b'),
          '--database-url',
          `mariadb://env_user@${dbHost}/lportal_b`,
          '--search-url',
          searchB,
          '--search-on-conflict',
          'rename',
          '--git-target',
          git.repoUrl(repoB.target),
          ...storeA,
        ),
        cliOut.join('\n'),
      ).toBe(0);
      expect(
        await cli('retention', '--daily', '1', '--min-complete', '1', ...storeA),
        cliOut.join('\n'),
      ).toBe(0);
      vi.unstubAllEnvs();
      vi.stubEnv('AWS_LAMBDA_LOG_LEVEL', 'DEBUG');
      vi.stubEnv('TMPDIR', dirs.tmpCli);

      // D: the CLI with wrong passwords in the URLs: every component fails, and says why.
      const wrongGit = (name: string) => userUrl('http', 'urluser', SECRETS.gitWrong, gitHost, `/${name}`);
      const wrongSearch = userUrl('http', 'elastic', SECRETS.searchWrong, searchHost(search.a), '');
      expect(
        await cli(
          'backup',
          '--home',
          dirs.home,
          '--database-url',
          userUrl('mariadb', 'url_user', SECRETS.dbWrong, dbHost, '/lportal'),
          '--search-url',
          wrongSearch,
          '--git',
          `${wrongGit(repoA.source)}=${wrongGit(repoA.mirror)}`,
          ...storeA,
        ),
      ).toBe(1);
      expect(cliOut.join('\n')).toMatch(/database: failed/);
      expect(
        await cli(
          'restore',
          'latest',
          '--to',
          path.join(dirs.restored, 'd'),
          '--database-url',
          userUrl('mariadb', 'url_user', SECRETS.dbWrong, dbHost, '/lportal_d'),
          '--search-url',
          wrongSearch,
          '--search-on-conflict',
          'rename',
          '--git-target',
          wrongGit(repoA.target),
          ...storeA,
        ),
      ).toBe(1);
      vi.stubEnv('AWS_LAMBDA_LOG_LEVEL', 'DEBUG');

      // C: the Lambda handlers as deployed, secrets in SSM parameters.
      const parameters: Record<string, string> = {
        '/liferay/db-url': userUrl('mariadb', 'ssm_user', SECRETS.dbSsm, dbHost, '/lportal'),
        '/liferay/search': JSON.stringify({ username: 'elastic', password: SECRETS.searchSsm }),
        '/liferay/git-password': SECRETS.gitSsm,
        '/liferay-backup/git-restore/password': SECRETS.gitSsm,
      };
      ssm.reset();
      ssm.on(GetParameterCommand).callsFake((input: { Name: string }) => {
        const value = parameters[input.Name];
        if (value === undefined)
          throw Object.assign(new Error(`ParameterNotFound: ${input.Name}`), { name: 'ParameterNotFound' });
        return { Parameter: { Name: input.Name, Type: 'SecureString', Value: value } };
      });
      const gitCredentials = { passwordParameter: '/liferay/git-password', username: 'ssmuser' };
      const settings = {
        environment: 'secrets-lambda',
        configuredComponents: ['database', 'liferayHome', 'search', 'source'],
        retention: { policy: { daily: 1, weekly: 0, monthly: 0, minComplete: 1 }, graceHours: 1 },
        components: {
          database: { mode: 'dump', urlParameterName: '/liferay/db-url' },
          liferayHome: { root: dirs.home },
          search: {
            engine: 'elasticsearch',
            endpoint: search.c?.url,
            credentials: { type: 'ssm', parameterName: '/liferay/search' },
            repository: { name: 'liferay-backup' },
            dxpVersion: '7.3',
            waitSeconds: 0,
            maxChecks: 5,
          },
          source: {
            repositories: [
              {
                name: 'workspace',
                sourceUrl: git.repoUrl(repoC.source),
                mirrorUrl: git.repoUrl(repoC.mirror),
                sourceCredentials: gitCredentials,
                mirrorCredentials: gitCredentials,
                storeCopy: true,
              },
            ],
            restoreCredentialsPath: '/liferay-backup/git-restore/',
          },
        },
      };
      vi.stubEnv('LIFERAY_BACKUP_SETTINGS', JSON.stringify(settings));
      vi.stubEnv('STORE_BUCKET', s3.bucket);
      vi.stubEnv('AWS_ENDPOINT_URL_S3', s3.endpoint);
      vi.stubEnv('AWS_ACCESS_KEY_ID', 'S3RVER');
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'S3RVER');
      vi.stubEnv('SCRATCH_DIR', dirs.scratchLambda);
      // Each task runs in the Lambda wrapper its entry point exports (lambdaHandler): runtime from
      // the environment, logger at the Lambda's level, errors logged before they propagate.
      // Their store calls are recorded: each must be allowed by the stack's roles (checked below).
      const storeCalls: StoreCall[] = [];
      const lambdas = new Map<string, Handler>(
        [...recordingHandlers(allHandlers(), storeCalls)].map(([id, handler]) => [
          id,
          lambdaHandler(handler),
        ]),
      );
      const run = (definition: keyof typeof WORKFLOWS, input: unknown) =>
        runWorkflow(WORKFLOWS[definition], input, undefined as never, { handlers: lambdas, validate: false });
      succeeded(await run('backup', { requestedBy: 'schedule', schedule: 'nightly' }));
      const second = succeeded(await run('backup', { requestedBy: 'schedule', schedule: 'nightly' })) as {
        backup: { backupId: string };
      };
      succeeded(
        await run('restore', {
          backupId: second.backup.backupId,
          requestedBy: 'console',
          database: { targetDatabase: 'lportal_c' },
          liferayHome: { target: path.join(dirs.restored, 'c') },
          search: { onConflict: 'rename' },
          source: {
            targets: [
              {
                url: git.repoUrl(repoC.target),
                credentials: {
                  passwordParameter: '/liferay-backup/git-restore/password',
                  username: 'ssmuser',
                },
              },
            ],
          },
        }),
      );
      succeeded(await run('verify', { backupId: 'latest', requestedBy: 'schedule' }));
      const retention = succeeded(await run('retention', { dryRun: false })) as {
        outcome: { deletedSets: string[] };
      };
      expect(retention.outcome.deletedSets).toHaveLength(1);
      // Every store request of that run (every component, the S3 store) is one its function's role allows.
      expect(new Set(storeCalls.map((call) => call.handlerId.split('-')[0]))).toEqual(
        new Set([
          'begin',
          'database',
          'files',
          'search',
          'source',
          'commit',
          'validate',
          'report',
          'verify',
          'plan',
          'delete',
          'mark',
          'sweep',
          'finish',
          'local',
        ]),
      );
      // The stack of this run: every component on, the database in dump mode.
      const dumpStack = {
        ...FULL_CONFIG,
        components: {
          ...(FULL_CONFIG.components as Record<string, unknown>),
          database: {
            enabled: true,
            mode: 'dump',
            urlParameterName: '/liferay/db-url',
            toolsLayerArn: 'arn:aws:lambda:eu-west-1:111111111111:layer:db-clients:1',
          },
        },
      };
      expect(deniedStoreCalls(storeCalls, dumpStack)).toEqual([]);

      // E: the Lambda handlers with wrong passwords in SSM: the set fails, the errors are logged.
      // (Other parameter names: Powertools caches a parameter's value for five minutes.)
      parameters['/liferay/wrong/db-url'] = userUrl(
        'mariadb',
        'ssm_user',
        SECRETS.dbWrong,
        dbHost,
        '/lportal',
      );
      parameters['/liferay/wrong/search'] = JSON.stringify({
        username: 'elastic',
        password: SECRETS.searchWrong,
      });
      parameters['/liferay/wrong/git-password'] = SECRETS.gitWrong;
      const wrongCredentials = { passwordParameter: '/liferay/wrong/git-password', username: 'ssmuser' };
      const wrong = structuredClone(settings);
      wrong.components.database.urlParameterName = '/liferay/wrong/db-url';
      wrong.components.search.credentials.parameterName = '/liferay/wrong/search';
      for (const repository of wrong.components.source.repositories) {
        repository.sourceCredentials = wrongCredentials;
        repository.mirrorCredentials = wrongCredentials;
      }
      vi.stubEnv('LIFERAY_BACKUP_SETTINGS', JSON.stringify(wrong));
      const cold = new Map<string, Handler>(
        [...allHandlers()].map(([id, handler]) => [id, lambdaHandler(handler)]),
      );
      const failed = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'schedule' }, undefined as never, {
        handlers: cold,
        validate: false,
      });
      expect(failed.status === 'FAILED' ? failed.cause : '').toMatch(
        /backup set \S+ is partial: database: .*; search: .*; source: /,
      );
    } finally {
      for (const spy of spies) spy.mockRestore();
    }

    // The runs did log (at DEBUG), so an empty capture cannot pass for a clean one.
    const logged = processOutput.join('');
    expect(logged).toContain('"message":"backup started"');
    expect(logged).toContain('"message":"restore validated"');
    expect(logged).toContain('"message":"handler failed"');
    expect(cliErr.join('')).toContain('→ Commit');

    const scanner = new LeakScanner();
    scanner.scanTree('store (CLI)', dirs.storeCli);
    for await (const object of s3.store().list('')) {
      scanner.scan(`store (S3): ${object.key}`, await s3.store().read(object.key));
    }
    scanner.scanTree('s3rver files', s3.directory);
    scanner.scan('CLI stdout', Buffer.from(cliOut.join('\n')));
    scanner.scan('CLI stderr', Buffer.from(cliErr.join('')));
    scanner.scan('process stdout/stderr (loggers, metrics)', Buffer.from(logged));
    scanner.scanTree('CLI scratch (TMPDIR)', dirs.tmpCli);
    scanner.scanTree('Lambda scratch (SCRATCH_DIR)', dirs.scratchLambda);
    scanner.scanTree('restored trees', dirs.restored);
    scanner.scanTree('Git repositories', git.root);
    for (const [run, server] of Object.entries(search)) {
      for (const request of server?.requests ?? []) {
        scanner.scan(
          `search cluster ${run}: ${request.method} ${request.rawPath} body`,
          Buffer.from(request.body),
        );
      }
    }
    expect(scanner.scanned).toBeGreaterThan(100);
    expect(scanner.leaks).toEqual([]);
  });
});
