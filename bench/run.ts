/**
 * `npm run bench`: the files engine against rclone and restic, in one run, on the same machine
 * and the same local S3 server (issue: files engine at scale, item 6).
 *
 *   npm run bench                      # medium set (~20,000 files, 2 GB), 3 runs, medians
 *   SCALE=small RUNS=1 npm run bench   # quick look
 *   BENCH_DIR=/data/bench npm run bench
 *
 * Needs: rclone, restic, openssl and GNU time (`apt-get install -y rclone restic openssl time`),
 * and the generator ../shared/bench/gen-liferay-home.mjs (or BENCH_GENERATOR=path).
 * For each tool: wall time, CPU (user+sys of the tool's processes, not the server's), peak RSS,
 * bytes stored; then the ratios. The engine runs as built JavaScript (dist/cli.mjs), start-up included.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = path.resolve(import.meta.dirname, '..');
const W = process.env.BENCH_DIR ?? '/tmp/liferay-backup-bench';
const SCALE = process.env.SCALE ?? 'medium';
const RUNS = Number(process.env.RUNS ?? 3);
const GENERATOR = process.env.BENCH_GENERATOR ?? path.resolve(ROOT, '../shared/bench/gen-liferay-home.mjs');
const DATA = path.join(W, SCALE);
const CREDS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

interface Measure {
  readonly wall: number;
  readonly cpu: number;
  readonly rssMiB: number;
  readonly ok: boolean;
}

function need(command: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0) {
    throw new Error(`${command} is not installed: apt-get install -y ${pkg}`);
  }
}

/** Runs a command under GNU time; returns wall, user+sys and max RSS of the command. */
function timed(label: string, command: string, args: string[], env: Record<string, string> = {}): Measure {
  const report = path.join(W, 'time.txt');
  const result = spawnSync('/usr/bin/time', ['-v', '-o', report, command, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const text = readFileSync(report, 'utf8');
  const field = (name: string) =>
    text
      .split('\n')
      .find((line) => line.includes(name))
      ?.split(': ')
      .pop() ?? '0';
  const [h, m, s] = field('Elapsed (wall clock)').split(':').reverse().map(Number).concat([0, 0]) as [
    number,
    number,
    number,
  ];
  const wall = (s ?? 0) + (m ?? 0) * 60 + (h ?? 0) * 3600;
  const measure = {
    wall,
    cpu: Number(field('User time')) + Number(field('System time')),
    rssMiB: Number(field('Maximum resident set size')) / 1024,
    ok: result.status === 0,
  };
  if (!measure.ok)
    console.error(`${label} failed (exit ${result.status}): ${result.stderr.toString().slice(-2000)}`);
  console.error(
    `  ${label}: ${wall.toFixed(2)} s wall, ${measure.cpu.toFixed(1)} s CPU, ${measure.rssMiB.toFixed(0)} MiB peak`,
  );
  return measure;
}

function startServer(dir: string, extra: string[] = []): Promise<{ port: number; stop: () => void }> {
  mkdirSync(dir, { recursive: true });
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', path.join(ROOT, 'test/support/s3rver-main.cjs'), '--dir', dir, ...extra],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`s3rver exited ${code}`)));
    if (!child.stdout) return reject(new Error('no stdout'));
    createInterface({ input: child.stdout }).once('line', (line) => {
      resolve({ port: (JSON.parse(line) as { port: number }).port, stop: () => child.kill('SIGTERM') });
    });
  });
}

function duBytes(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile() && entry.name.endsWith('._S3rver_object')) total += statSync(p).size;
    }
  };
  if (existsSync(dir)) walk(dir);
  return total;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

async function main(): Promise<void> {
  for (const [command, pkg] of [
    ['rclone', 'rclone'],
    ['restic', 'restic'],
    ['openssl', 'openssl'],
    ['/usr/bin/time', 'time'],
  ] as const)
    need(command, pkg);
  if (!existsSync(GENERATOR))
    throw new Error(`benchmark generator not found at ${GENERATOR}: set BENCH_GENERATOR`);
  if (!existsSync(path.join(ROOT, 'dist/cli.mjs')))
    throw new Error('dist/cli.mjs missing: run `npm run build` (npm run bench does)');
  mkdirSync(W, { recursive: true });
  rmSync(DATA, { recursive: true, force: true });
  console.error(`generating ${SCALE} Liferay Home in ${DATA}`);
  execFileSync(process.execPath, [GENERATOR, DATA, '--scale', SCALE], { stdio: 'inherit' });
  const tomcat = readdirSync(DATA).find((name) => name.startsWith('tomcat'));

  const plainDir = path.join(W, 's3-plain');
  const tlsDir = path.join(W, 's3-tls');
  rmSync(plainDir, { recursive: true, force: true });
  rmSync(tlsDir, { recursive: true, force: true });
  const cert = path.join(W, 'tls.crt');
  const key = path.join(W, 'tls.key');
  if (!existsSync(cert)) {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '30',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
  }
  const buckets = Array.from({ length: RUNS }, (_, i) => [`ours${i}`, `rclone${i}`]).flat();
  const plain = await startServer(
    plainDir,
    buckets.flatMap((b) => ['--bucket', b]),
  );
  // restic must use TLS: over plain HTTP its streaming signatures end up stored as data (BASELINE.md).
  const tls = await startServer(tlsDir, ['--bucket', 'restic', '--cert', cert, '--key', key]);
  const endpoint = `http://127.0.0.1:${plain.port}`;

  const rcloneConf = path.join(W, 'rclone.conf');
  writeFileSync(
    rcloneConf,
    `[s3]\ntype = s3\nprovider = Minio\naccess_key_id = S3RVER\nsecret_access_key = S3RVER\nendpoint = ${endpoint}\nforce_path_style = true\nregion = us-east-1\nlist_version = 1\n`,
  );
  const rcloneEnv = { RCLONE_CONFIG: rcloneConf, AWS_CA_BUNDLE: '' };
  const resticRepo = (i: number) => `s3:https://127.0.0.1:${tls.port}/restic/${SCALE}${i}`;
  const resticArgs = ['--cacert', cert, '-o', 's3.list-objects-v1=true', '-o', 's3.bucket-lookup=path', '-q'];
  const resticEnv = { ...CREDS, RESTIC_PASSWORD: 'bench' };
  const cli = path.join(ROOT, 'dist/cli.mjs');
  const ours = (i: number, ...args: string[]) => [
    cli,
    ...args,
    '--bucket',
    `ours${i}`,
    '--endpoint',
    endpoint,
    '--quiet',
  ];
  const homeArgs = ['--home', DATA, ...(tomcat ? ['--app-server', path.join(DATA, tomcat)] : [])];

  const results: Record<string, Measure[]> = {};
  const record = (name: string, measure: Measure) => {
    results[name] ??= [];
    results[name].push(measure);
  };
  const drop = () => spawnSync('sh', ['-c', 'sync']);

  for (let i = 0; i < RUNS; i++) {
    console.error(`run ${i + 1}/${RUNS}: full backups`);
    execFileSync('restic', ['-r', resticRepo(i), ...resticArgs, 'init'], {
      env: { ...process.env, ...resticEnv },
      stdio: 'ignore',
    });
    drop();
    record(
      'ours full',
      timed('liferay-backup backup', process.execPath, ours(i, 'backup', ...homeArgs), CREDS),
    );
    drop();
    record(
      'rclone full',
      timed(
        'rclone copy',
        'rclone',
        ['copy', DATA, `s3:rclone${i}/full`, '--exclude', 'osgi/state/**'],
        rcloneEnv,
      ),
    );
    drop();
    record(
      'restic full',
      timed(
        'restic backup',
        'restic',
        ['-r', resticRepo(i), ...resticArgs, 'backup', '--exclude', path.join(DATA, 'osgi/state'), DATA],
        resticEnv,
      ),
    );
    console.error(`run ${i + 1}/${RUNS}: full restores`);
    const oursOut = path.join(W, `restore-ours-${i}`);
    const resticOut = path.join(W, `restore-restic-${i}`);
    rmSync(oursOut, { recursive: true, force: true });
    rmSync(resticOut, { recursive: true, force: true });
    drop();
    record(
      'ours restore',
      timed('liferay-backup restore', process.execPath, ours(i, 'restore', 'latest', '--to', oursOut), CREDS),
    );
    drop();
    record(
      'restic restore',
      timed(
        'restic restore',
        'restic',
        ['-r', resticRepo(i), ...resticArgs, 'restore', 'latest', '--target', resticOut],
        resticEnv,
      ),
    );
    rmSync(oursOut, { recursive: true, force: true });
    rmSync(resticOut, { recursive: true, force: true });
  }

  console.error('mutating 1 % of the document library');
  execFileSync(process.execPath, [GENERATOR, DATA, '--mutate', '1', '--round', '1'], { stdio: 'inherit' });
  for (let i = 0; i < RUNS; i++) {
    console.error(`run ${i + 1}/${RUNS}: incremental backups`);
    drop();
    record(
      'ours incremental',
      timed('liferay-backup backup (incremental)', process.execPath, ours(i, 'backup', ...homeArgs), CREDS),
    );
    drop();
    record(
      'rclone incremental',
      timed(
        'rclone copy --fast-list',
        'rclone',
        ['copy', '--fast-list', DATA, `s3:rclone${i}/full`, '--exclude', 'osgi/state/**'],
        rcloneEnv,
      ),
    );
    drop();
    record(
      'restic incremental',
      timed(
        'restic backup (incremental)',
        'restic',
        ['-r', resticRepo(i), ...resticArgs, 'backup', '--exclude', path.join(DATA, 'osgi/state'), DATA],
        resticEnv,
      ),
    );
  }
  plain.stop();
  tls.stop();

  const stored = {
    ours: duBytes(path.join(plainDir, 'ours0')),
    rclone: duBytes(path.join(plainDir, 'rclone0')),
    restic: duBytes(path.join(tlsDir, 'restic', `${SCALE}0`)) || duBytes(path.join(tlsDir, 'restic')) / RUNS,
  };
  const row = (name: string) => {
    const runs = results[name] ?? [];
    return {
      name,
      wall: median(runs.map((m) => m.wall)),
      cpu: median(runs.map((m) => m.cpu)),
      rss: Math.max(...runs.map((m) => m.rssMiB)),
      ok: runs.every((m) => m.ok),
    };
  };
  const rows = [
    'ours full',
    'rclone full',
    'restic full',
    'ours incremental',
    'rclone incremental',
    'restic incremental',
    'ours restore',
    'restic restore',
  ].map(row);
  const get = (name: string) => rows.find((r) => r.name === name)?.wall ?? Number.NaN;
  console.log(
    `\n## Files engine benchmark (${SCALE}, ${RUNS} run(s), medians; ${new Date().toISOString()})\n`,
  );
  console.log('| tool / operation | wall s | CPU s | peak RSS MiB | ok |');
  console.log('|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.name} | ${r.wall.toFixed(2)} | ${r.cpu.toFixed(1)} | ${r.rss.toFixed(0)} | ${r.ok ? 'yes' : 'NO'} |`,
    );
  console.log(
    `\nbytes stored after full + 1 incremental: ours ${stored.ours}, rclone ${stored.rclone}, restic ${Math.round(stored.restic)}`,
  );
  console.log('\n| ratio | value | target |');
  console.log('|---|---|---|');
  const ratio = (a: string, b: string, target: number) => {
    const value = get(a) / get(b);
    console.log(
      `| ${a} / ${b} | ${value.toFixed(2)} | ≤ ${target} ${value <= target ? '(met)' : '(NOT met)'} |`,
    );
  };
  ratio('ours full', 'restic full', 0.7);
  ratio('ours full', 'rclone full', 0.3);
  ratio('ours incremental', 'restic incremental', 0.25);
  ratio('ours restore', 'restic restore', 0.7);
  const peak = Math.max(row('ours full').rss, row('ours incremental').rss, row('ours restore').rss);
  console.log(`| ours peak RSS (MiB) | ${peak.toFixed(0)} | ≤ 256 ${peak <= 256 ? '(met)' : '(NOT met)'} |`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
