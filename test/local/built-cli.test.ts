import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSampleHome } from '#local/sample-home.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import { createLiferaySchema, tableChecksums } from '../components/database/fixtures.ts';
import { type DatabaseServer, startMariaDb } from '../support/database-servers.ts';
import { startS3Server } from '../support/s3-server.ts';
import { makeSelfSignedCertificate } from '../support/self-signed.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

interface Metafile {
  outputs: Record<
    string,
    {
      entryPoint?: string;
      imports: Array<{ path: string; kind: string; external?: boolean }>;
      inputs: Record<string, unknown>;
    }
  >;
}

/** Every input (source file) bundled into the outputs the entry loads statically, i.e. on every start. */
function startPathInputs(meta: Metafile): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const imported of meta.outputs[file]?.imports ?? [])
      if (imported.kind === 'import-statement' && !imported.external) visit(imported.path);
  };
  const source = 'functions/local/main.ts';
  const entry = Object.keys(meta.outputs).find((file) => meta.outputs[file]?.entryPoint?.endsWith(source));
  if (!entry) throw new Error(`no output for ${source} in the metafile`);
  visit(entry);
  return [...seen].flatMap((file) => Object.keys(meta.outputs[file]?.inputs ?? {}));
}

/**
 * The CLI as `npm run build` makes it (scripts/build-cli.mjs: ESM chunks, the heavy clients of
 * other components imported on demand, the interpreter's unused imports left out), run as a
 * separate process the way a person runs it.
 */
describe('the built CLI', () => {
  let dir: string;
  let out: string;
  let server: DatabaseServer;
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(out, 'cli.mjs'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, AWS_REGION: 'us-east-1' },
      timeout: 120_000,
    });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'built-cli-'));
    out = path.join(dir, 'dist');
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-cli.mjs'), '--outdir', out], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    server = await startMariaDb();
    createLiferaySchema(server, 'lportal', 200);
    await generateSampleHome(path.join(dir, 'home'));
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loads neither the search, Git, RDS, SSM, Lambda and Step Functions clients nor the ASL validator on start', () => {
    const meta = JSON.parse(readFileSync(path.join(out, 'meta.json'), 'utf8')) as Metafile;
    const inputs = startPathInputs(meta);
    expect(inputs.some((input) => input.includes('functions/components/files/'))).toBe(true);
    for (const heavy of [
      '@elastic/',
      '@opensearch-project/',
      'isomorphic-git',
      '@aws-sdk/client-rds',
      '@aws-sdk/client-ssm',
      '@aws-sdk/client-lambda',
      '@aws-sdk/client-kms',
      '@aws-sdk/client-sfn',
      'asl-validator',
      'ajv',
    ]) {
      expect(
        inputs.filter((input) => input.includes(`node_modules/${heavy}`)),
        heavy,
      ).toEqual([]);
    }
    // zod's error messages in other languages (360 KB): `import * as z` lets esbuild drop them.
    expect(inputs.filter((input) => /node_modules\/zod\/.*\/locales\/(?!en\.js)/.test(input))).toEqual([]);
    // They are still in the build, loaded on demand by the components that need them.
    const all = Object.values(meta.outputs).flatMap((output) => Object.keys(output.inputs));
    for (const lazy of ['@elastic/elasticsearch', 'isomorphic-git', '@aws-sdk/client-rds'])
      expect(
        all.some((input) => input.includes(`node_modules/${lazy}`)),
        lazy,
      ).toBe(true);
  });

  it('bundles one build of each package (the ES modules of the AWS SDK), and every chunk loads', async () => {
    // Prepare: the SDK's packages ship dist-cjs and dist-es; both in one bundle would be two copies
    // of every class (an S3ServiceException of one is not an instance of the other).
    const meta = JSON.parse(readFileSync(path.join(out, 'meta.json'), 'utf8')) as Metafile;
    const builds = new Map<string, Set<string>>();
    for (const output of Object.values(meta.outputs)) {
      for (const input of Object.keys(output.inputs)) {
        const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(dist-cjs|dist-es)\//.exec(input);
        if (match?.[1] && match[2]) builds.set(match[1], (builds.get(match[1]) ?? new Set()).add(match[2]));
      }
    }

    // Assess
    expect([...builds].filter(([, kinds]) => kinds.size > 1).map(([name]) => name)).toEqual([]);
    expect(builds.get('@aws-sdk/client-s3')).toEqual(new Set(['dist-es']));
    // The chunks a run imports on demand (search engines, Git, RDS...) evaluate in Node.js.
    for (const file of Object.keys(meta.outputs).filter(
      (name) => name.includes('/chunks/') && name.endsWith('.mjs'),
    ))
      await import(path.join(out, 'chunks', path.basename(file)));
  });

  it('backs up a Liferay Home and a database, and restores both', () => {
    const store = path.join(dir, 'store');
    const url = server.url('lportal');
    const backup = cli(
      'backup',
      '--home',
      path.join(dir, 'home'),
      '--database-url',
      url,
      '--store',
      store,
      '--json',
    );
    expect(backup.status, backup.stdout + backup.stderr).toBe(0);
    const manifest = JSON.parse(backup.stdout) as {
      status: string;
      results: Record<string, { status: string; summary: Record<string, unknown> }>;
    };
    expect(manifest.status).toBe('complete');
    expect(manifest.results.liferayHome?.status).toBe('complete');
    expect(manifest.results.database?.status).toBe('complete');

    server.admin('CREATE DATABASE restored CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci');
    const restore = cli(
      'restore',
      'latest',
      '--to',
      path.join(dir, 'restored'),
      '--database-url',
      server.url('restored'),
      '--store',
      store,
    );
    expect(restore.status, restore.stdout + restore.stderr).toBe(0);
    const refused = cli('restore', 'not-an-id', '--to', path.join(dir, 'refused'), '--store', store);
    expect(refused.status).toBe(1);
    expect(refused.stdout + refused.stderr).toMatch(/restore failed: .*not a backup id/);
    expect(restore.stdout).toMatch(/liferayHome: complete/);
    expect(restore.stdout).toMatch(/database: complete/);
    expect(tableChecksums(server, 'restored')).toEqual(tableChecksums(server, 'lportal'));
    const diff = spawnSync('diff', ['-r', path.join(dir, 'home'), path.join(dir, 'restored')], {
      encoding: 'utf8',
    });
    // Identical, except the folders the Liferay rules leave out (regenerated by Liferay, or the app server).
    const home = path.join(dir, 'home');
    expect(diff.stderr).toBe('');
    expect(diff.stdout.trim().split('\n').sort()).toEqual(
      [
        [path.join(home, 'data'), 'elasticsearch7'],
        [home, 'deploy'],
        [home, 'elasticsearch-sidecar'],
        [path.join(home, 'osgi'), 'state'],
        [path.join(home, 'osgi'), 'wabs'],
        [home, 'tomcat'],
        [home, 'work'],
      ]
        .map(([where, name]) => `Only in ${where}: ${name}`)
        .sort(),
    );
  }, 180_000);

  it('gives the lock back and records the set failed when a backup is interrupted, so the next one runs at once', async () => {
    // A tree large enough that the run is still going when the signal comes (a second or two).
    const home = path.join(dir, 'interrupted-home');
    for (let folder = 0; folder < 40; folder += 1) {
      const at = path.join(home, `data/document_library/20101/${folder}`);
      mkdirSync(at, { recursive: true });
      for (let file = 0; file < 100; file += 1)
        writeFileSync(path.join(at, `${file}.bin`), `${folder}/${file}`.repeat(200));
    }
    writeFileSync(path.join(home, 'portal-ext.properties'), 'company.default.web.id=liferay.com\n');
    const store = path.join(dir, 'interrupted-store');
    const lock = path.join(store, 'locks/backup.json');
    const child = spawn(
      process.execPath,
      [path.join(out, 'cli.mjs'), 'backup', '--home', home, '--store', store],
      {
        env: { ...process.env, AWS_REGION: 'us-east-1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // The moment Begin holds the lock: the rest of the run is still ahead.
    const deadline = Date.now() + 30_000;
    while (!existsSync(lock) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(existsSync(lock), stderr).toBe(true);
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(130);
    expect(stderr).toContain(
      'SIGINT: stopping the backup, giving its lock back and recording the set as failed',
    );
    expect(existsSync(lock)).toBe(false);
    const [backupId] = readdirSync(path.join(store, 'backups'));
    const manifest = JSON.parse(
      readFileSync(path.join(store, 'backups', backupId ?? '-', 'manifest.json'), 'utf8'),
    ) as {
      status: string;
      warnings: string[];
    };
    expect(manifest.status).toBe('failed');
    expect(manifest.warnings).toContain('the run ended without committing: it was interrupted (SIGINT)');
    expect(stderr).toContain(`set ${backupId} recorded as failed; the lock is free`);

    const next = cli('backup', '--home', home, '--store', store, '--json');
    expect(next.status, next.stdout + next.stderr).toBe(0);
    expect((JSON.parse(next.stdout) as { status: string }).status).toBe('complete');
  }, 120_000);

  it('backs up to and restores from an S3 endpoint over HTTPS, its private CA named by NODE_EXTRA_CA_CERTS', async () => {
    // Real S3 is always HTTPS: the SDK's requests and the restore's presigned GETs (the fetch
    // workers' own TLS connections, kept alive) both go over TLS here, trusting one certificate.
    const tls = { cert: path.join(dir, 'tls.crt'), key: path.join(dir, 'tls.key') };
    makeSelfSignedCertificate(tls, '127.0.0.1');
    const s3 = await startS3Server({ tls });
    try {
      const env = {
        ...process.env,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        NODE_EXTRA_CA_CERTS: tls.cert,
      };
      const store = ['--bucket', s3.bucket, '--endpoint', s3.endpoint];
      const run = (...args: string[]) =>
        spawnSync(process.execPath, [path.join(out, 'cli.mjs'), ...args], {
          encoding: 'utf8',
          env,
          timeout: 120_000,
        });
      expect(s3.endpoint).toMatch(/^https:/);
      const home = path.join(dir, 'home');
      const backup = run('backup', '--home', home, ...store, '--json');
      expect(backup.status, backup.stdout + backup.stderr).toBe(0);
      expect((JSON.parse(backup.stdout) as { status: string }).status).toBe('complete');
      const target = path.join(dir, 'restored-over-https');
      const restore = run('restore', 'latest', '--to', target, ...store, '--json');
      expect(restore.status, restore.stdout + restore.stderr).toBe(0);
      const report = JSON.parse(restore.stdout) as {
        status: string;
        results: Record<string, { status: string; summary: { files: number; verifiedFiles: number } }>;
      };
      expect(report.status).toBe('complete');
      const files = report.results.liferayHome?.summary;
      expect(files?.files).toBeGreaterThan(10);
      expect(files?.verifiedFiles).toBe(files?.files);
      const diff = spawnSync(
        'diff',
        [
          '-rq',
          '-x',
          'elasticsearch7',
          '-x',
          'deploy',
          '-x',
          'elasticsearch-sidecar',
          '-x',
          'state',
          '-x',
          'wabs',
          '-x',
          'tomcat',
          '-x',
          'work',
          home,
          target,
        ],
        {
          encoding: 'utf8',
        },
      );
      expect(diff.stdout + diff.stderr).toBe('');
      // Without the CA the same endpoint is refused, and the error says why.
      const untrusted = spawnSync(process.execPath, [path.join(out, 'cli.mjs'), 'list', ...store], {
        encoding: 'utf8',
        env: { ...env, NODE_EXTRA_CA_CERTS: '' },
        timeout: 60_000,
      });
      expect(untrusted.status).not.toBe(0);
      expect(untrusted.stdout + untrusted.stderr).toMatch(/self[- ]signed certificate/i);
    } finally {
      await s3.stop();
    }
  }, 180_000);

  it('runs the definitions without validating them each time: they are validated here', async () => {
    const { StateMachine } = await import('aws-local-stepfunctions');
    const { adaptForLocalInterpreter } = await import('#local/adapt-for-local-interpreter.ts');
    for (const [name, definition] of Object.entries(WORKFLOWS)) {
      expect(
        () =>
          new StateMachine(adaptForLocalInterpreter(definition) as never, {
            validationOptions: { checkArn: false },
          }),
        name,
      ).not.toThrow();
    }
  });
});
