/**
 * `npm run bench`: the files engine against rclone and restic, in one run, on the same machine
 * and the same local S3 server (issue 3, item 6), then the Git mirror benchmark (bench/git-mirror.ts).
 *
 *   npm run bench                          # medium set (~20,000 files, 2 GB), 3 runs, medians; then Git
 *   npm run bench -- --files               # only the files benchmark
 *   npm run bench -- --git                 # only the Git benchmark
 *   npm run bench -- --simulate            # only the scale simulation (bench/scale-simulation.ts)
 *   npm run bench -- --floor               # only the incremental's floor (bench/incremental-floor.ts)
 *   npm run bench -- --plan-cpu            # only a first backup's Plan CPU per entry (bench/plan-cpu.ts)
 *   npm run bench -- --files --tools ours  # only this engine (quick look while tuning)
 *   SCALE=small RUNS=1 npm run bench -- --files
 *   BENCH_DIR=/data/bench npm run bench
 *   KEEP=1 npm run bench                   # keep the S3 servers' data (about 20 GB) afterwards
 *   S3RVER_ORIGINAL_GET=1 npm run bench -- --files  # the S3 server with s3rver's own GetObject
 *
 * Needs: rclone, restic, openssl and GNU time (`apt-get install -y rclone restic openssl time`),
 * git for the Git part, and the generator ../shared/bench/gen-liferay-home.mjs (or BENCH_GENERATOR).
 *
 * What is measured, per tool and operation: wall time and CPU (user+sys of the tool's process
 * tree, from GNU time; the S3 server's CPU is shown apart), peak RSS of the tool's largest
 * process, bytes stored, and the files and bytes each tool read and restored. The engine runs as
 * built JavaScript (dist/liferay-backup, as npm installs it), start-up included; a run with another engine build is
 * `npm run build` first (npm run bench does it).
 *
 * Like for like: this engine selects files by Liferay's rules (docs/readme/liferay-rules.md),
 * which leave out `osgi/state`, `work/` and the contents of Tomcat's `work/`, `temp/` and `logs/`, and it backs up
 * the generated tree's `tomcat-9.0.83` as the app server (a second component). rclone and restic
 * get the same exclusions, so all three read the same files; the harness checks that the files
 * and bytes this engine recorded (both components) are those of the tree minus the exclusions,
 * and that each restore brought back that many files and bytes.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { makeSelfSignedCertificate } from '../test/support/self-signed.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const W = process.env.BENCH_DIR ?? '/tmp/liferay-backup-bench';
const SCALE = process.env.SCALE ?? 'medium';
const RUNS = Number(process.env.RUNS ?? 3);
const GENERATOR = process.env.BENCH_GENERATOR ?? path.resolve(ROOT, '../shared/bench/gen-liferay-home.mjs');
const DATA = path.join(W, SCALE);
const CREDS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
/** What this engine's rules leave out of the generated tree: rclone and restic get the same. */
const EXCLUDED = ['osgi/state', 'work'];
const EXCLUDED_CONTENTS = ['tomcat*/work', 'tomcat*/temp', 'tomcat*/logs'];

/** The targets of issue 3, item 6. */
export const TARGETS = {
  fullVsRestic: 0.7,
  fullVsRclone: 0.3,
  incrementalVsRestic: 0.25,
  restoreVsRestic: 0.7,
  peakRssMiB: 256,
} as const;

export interface Measure {
  readonly wall: number;
  readonly cpu: number;
  readonly rssMiB: number;
  readonly serverCpu: number;
  readonly ok: boolean;
}

interface Server {
  readonly port: number;
  readonly pid: number;
  stop(): void;
}

function need(command: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0) {
    throw new Error(`${command} is not installed: apt-get install -y ${pkg}`);
  }
}

/** GNU time's "Elapsed (wall clock) time (h:mm:ss or m:ss)": `1:04.84` or `1:02:03`. */
export function parseElapsed(text: string): number {
  return text
    .trim()
    .split(':')
    .map(Number)
    .reduce((total, part) => total * 60 + part, 0);
}

/** CPU seconds (user+system) a process has used, from /proc (the S3 servers' share). */
function processCpu(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Runs a command under GNU time; wall, user+sys and max RSS of the command, and the server's CPU meanwhile. */
function timed(
  label: string,
  server: Server,
  command: string,
  args: string[],
  env: Record<string, string> = {},
  stdoutFile?: string,
): Measure {
  const report = path.join(W, 'time.txt');
  const serverBefore = processCpu(server.pid);
  const result = spawnSync('/usr/bin/time', ['-v', '-o', report, command, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
  });
  if (stdoutFile) writeFileSync(stdoutFile, result.stdout);
  const text = readFileSync(report, 'utf8');
  const field = (name: string) =>
    text
      .split('\n')
      .find((line) => line.includes(name))
      ?.split(': ')
      .pop() ?? '0';
  const measure: Measure = {
    wall: parseElapsed(field('Elapsed (wall clock)')),
    cpu: Number(field('User time')) + Number(field('System time')),
    rssMiB: Number(field('Maximum resident set size')) / 1024,
    serverCpu: processCpu(server.pid) - serverBefore,
    ok: result.status === 0,
  };
  if (!measure.ok)
    console.error(`${label} failed (exit ${result.status}): ${result.stderr.toString().slice(-2000)}`);
  console.error(
    `  ${label}: ${measure.wall.toFixed(2)} s wall, ${measure.cpu.toFixed(1)} s CPU (server ${measure.serverCpu.toFixed(1)} s), ${measure.rssMiB.toFixed(0)} MiB peak`,
  );
  return measure;
}

function startServer(dir: string, extra: string[] = []): Promise<Server> {
  mkdirSync(dir, { recursive: true });
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', path.join(ROOT, 'test/support/s3rver-main.cjs'), '--dir', dir, ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`s3rver exited ${code}`)));
    if (!child.stdout || child.pid === undefined) return reject(new Error('s3rver did not start'));
    const pid = child.pid;
    createInterface({ input: child.stdout }).once('line', (line) => {
      resolve({ port: (JSON.parse(line) as { port: number }).port, pid, stop: () => child.kill('SIGTERM') });
    });
  });
}

/** Objects s3rver holds under a folder of its store, and their bytes. */
function storedObjects(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile() && entry.name.endsWith('._S3rver_object')) {
        files += 1;
        bytes += statSync(p).size;
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return { files, bytes };
}
const storedBytes = (dir: string) => storedObjects(dir).bytes;

/** Regular files and their bytes under a folder (links and folders not counted). */
function treeSize(
  dir: string,
  skip: (rel: string) => boolean = () => false,
): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (abs: string, rel: string) => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (skip(childRel)) continue;
      const child = path.join(abs, entry.name);
      if (entry.isDirectory()) walk(child, childRel);
      else if (entry.isFile()) {
        files += 1;
        bytes += lstatSync(child).size;
      }
    }
  };
  if (existsSync(dir)) walk(dir, '');
  return { files, bytes };
}

const globToRegExp = (glob: string) => new RegExp(`^${glob.replace(/[.]/g, '\\.').replace(/\*/g, '[^/]*')}$`);
const excludedRel = (rel: string) =>
  EXCLUDED.includes(rel) ||
  EXCLUDED_CONTENTS.some((glob) => globToRegExp(glob).test(rel.split('/').slice(0, -1).join('/')));

/** The median: the middle value, or the mean of the two middle ones for an even count. */
export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/**
 * A target row: the ratio of the medians of two tools' wall times. A run that failed (non-zero
 * exit) measures nothing but how fast it failed: the ratio is then no verdict at all.
 */
export function ratioVerdict(
  ours: readonly Measure[],
  theirs: readonly Measure[],
  limit: number,
): { value: number; verdict: string } {
  const value = median(ours.map((m) => m.wall)) / median(theirs.map((m) => m.wall));
  if (ours.length === 0 || theirs.length === 0 || ![...ours, ...theirs].every((m) => m.ok))
    return { value, verdict: '**no verdict: a run failed**' };
  return { value, verdict: value <= limit ? 'met' : '**NOT met**' };
}

/** Why a benchmark's results cannot be trusted (failed runs, wrong file counts), or nothing. */
export function invalidResults(
  results: Record<string, readonly Measure[]>,
  checks: readonly string[],
): string[] {
  return [
    ...Object.entries(results)
      .filter(([, runs]) => runs.some((m) => !m.ok))
      .map(([name, runs]) => `${name}: ${runs.filter((m) => !m.ok).length} of ${runs.length} run(s) failed`),
    ...checks.filter((line) => !line.startsWith('same:')),
  ];
}

function machine(): string {
  const version = (command: string, args: string[]) =>
    spawnSync(command, args, { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim() ?? '?';
  return [
    `${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${version('uname', ['-r'])}`,
    `Node ${process.version}, ${version('rclone', ['version'])}, ${version('restic', ['version'])}`,
  ].join('; ');
}

async function filesBenchmark(tools: Set<string>): Promise<void> {
  for (const [command, pkg] of [
    ['rclone', 'rclone'],
    ['restic', 'restic'],
    ['openssl', 'openssl'],
    ['/usr/bin/time', 'time'],
  ] as const)
    if (command !== 'rclone' || tools.has('rclone')) need(command, pkg);
  if (!existsSync(GENERATOR))
    throw new Error(`benchmark generator not found at ${GENERATOR}: set BENCH_GENERATOR`);
  if (!existsSync(path.join(ROOT, 'dist/liferay-backup')))
    throw new Error('dist/liferay-backup missing: run `npm run build` (npm run bench does)');
  const loadBefore = loadavg();
  const started = new Date();
  mkdirSync(W, { recursive: true });
  rmSync(DATA, { recursive: true, force: true });
  console.error(`generating ${SCALE} Liferay Home in ${DATA}`);
  execFileSync(process.execPath, [GENERATOR, DATA, '--scale', SCALE], { stdio: 'inherit' });
  const tomcat = readdirSync(DATA).find((name) => name.startsWith('tomcat'));
  const selected = () => treeSize(DATA, excludedRel);
  const expectedFull = selected();

  const plainDir = path.join(W, 's3-plain');
  const tlsDir = path.join(W, 's3-tls');
  rmSync(plainDir, { recursive: true, force: true });
  rmSync(tlsDir, { recursive: true, force: true });
  const cert = path.join(W, 'tls.crt');
  const key = path.join(W, 'tls.key');
  if (!existsSync(cert)) makeSelfSignedCertificate({ key, cert }, '127.0.0.1');
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
  const rcloneExcludes = [...EXCLUDED, ...EXCLUDED_CONTENTS].flatMap((rule) => ['--exclude', `/${rule}/**`]);
  const resticRepo = (i: number) => `s3:https://127.0.0.1:${tls.port}/restic/${SCALE}${i}`;
  const resticArgs = ['--cacert', cert, '-o', 's3.list-objects-v1=true', '-o', 's3.bucket-lookup=path', '-q'];
  const resticExcludes = [
    ...EXCLUDED.map((rule) => path.join(DATA, rule)),
    ...EXCLUDED_CONTENTS.map((rule) => path.join(DATA, rule, '*')),
  ].flatMap((rule) => ['--exclude', rule]);
  const resticEnv = { ...CREDS, RESTIC_PASSWORD: 'bench' };
  // The executable as npm installs it (the launcher of cli.mjs, scripts/build-cli.mjs).
  const cli = path.join(ROOT, 'dist/liferay-backup');
  const ours = (i: number, ...args: string[]) => [
    ...args,
    '--bucket',
    `ours${i}`,
    '--endpoint',
    endpoint,
    '--quiet',
    '--json',
  ];
  const appServerArgs = (dir: string) => (tomcat ? ['--app-server', dir] : []);
  const homeArgs = ['--home', DATA, ...appServerArgs(path.join(DATA, tomcat ?? ''))];

  const results: Record<string, Measure[]> = {};
  const record = (name: string, measure: Measure) => {
    results[name] ??= [];
    results[name].push(measure);
  };
  const checks: string[] = [];
  const check = (what: string, actual: { files: number; bytes: number }, expected: typeof actual) => {
    const same = actual.files === expected.files && actual.bytes === expected.bytes;
    checks.push(
      `${same ? 'same' : 'DIFFERENT'}: ${what}: ${actual.files} files, ${actual.bytes} B (expected ${expected.files}, ${expected.bytes})`,
    );
  };
  /** Files and bytes this engine recorded: both components' summaries. */
  const oursRead = (jsonFile: string) => {
    const manifest = JSON.parse(readFileSync(jsonFile, 'utf8')) as {
      results: Record<string, { summary: { files?: number; bytes?: number } }>;
    };
    return Object.values(manifest.results).reduce(
      (sum, result) => ({
        files: sum.files + (result.summary.files ?? 0),
        bytes: sum.bytes + (result.summary.bytes ?? 0),
      }),
      { files: 0, bytes: 0 },
    );
  };
  /**
   * Before each timed run: dirty pages written out, then (as root) the page cache dropped and the
   * run's input read once, so every tool starts with its input in cache and the same free memory.
   * Without the drop, reclaiming the gigabytes the previous runs left in the cache fell on
   * whichever run came next: the same restore took 6.6 s on one run and 16 s on the next.
   */
  const canDrop = (() => {
    try {
      accessSync('/proc/sys/vm/drop_caches', constants.W_OK);
      return true;
    } catch {
      return false;
    }
  })();
  const settle = (input: string) => {
    spawnSync('sh', ['-c', 'sync']);
    if (!canDrop) return;
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    spawnSync('sh', ['-c', 'find "$1" -type f -exec cat {} + > /dev/null', 'settle', input]);
  };
  const stored: Record<string, { full: number; incremental: number }> = {};
  const storedNow = () => ({
    ours: storedBytes(path.join(plainDir, 'ours0')),
    rclone: storedBytes(path.join(plainDir, 'rclone0')),
    restic: storedBytes(path.join(tlsDir, 'restic', `${SCALE}0`)),
  });

  for (let i = 0; i < RUNS; i++) {
    console.error(`run ${i + 1}/${RUNS}: full backups`);
    if (tools.has('ours')) {
      settle(DATA);
      const json = path.join(W, `ours-full-${i}.json`);
      record(
        'ours full',
        timed('liferay-backup backup', plain, cli, ours(i, 'backup', ...homeArgs), CREDS, json),
      );
      check(`this engine read (full, run ${i + 1})`, oursRead(json), expectedFull);
    }
    if (tools.has('rclone')) {
      settle(DATA);
      record(
        'rclone full',
        timed(
          'rclone copy',
          plain,
          'rclone',
          ['copy', DATA, `s3:rclone${i}/full`, ...rcloneExcludes],
          rcloneEnv,
        ),
      );
      // rclone stores each file as one object: what it stored is what it read.
      check(
        `rclone stored (full, run ${i + 1})`,
        storedObjects(path.join(plainDir, `rclone${i}`, 'full')),
        expectedFull,
      );
    }
    if (tools.has('restic')) {
      execFileSync('restic', ['-r', resticRepo(i), ...resticArgs, 'init'], {
        env: { ...process.env, ...resticEnv },
        stdio: 'ignore',
      });
      settle(DATA);
      record(
        'restic full',
        timed(
          'restic backup',
          tls,
          'restic',
          ['-r', resticRepo(i), ...resticArgs, 'backup', ...resticExcludes, DATA],
          resticEnv,
        ),
      );
    }
    console.error(`run ${i + 1}/${RUNS}: full restores`);
    const oursOut = path.join(W, `restore-ours-${i}`);
    const resticOut = path.join(W, `restore-restic-${i}`);
    const restoreOurs = () => {
      if (!tools.has('ours')) return;
      settle(path.join(plainDir, `ours${i}`));
      // Both components: the Liferay Home and the app server, each to its own folder.
      record(
        'ours restore',
        timed(
          'liferay-backup restore',
          plain,
          cli,
          ours(
            i,
            'restore',
            'latest',
            '--to',
            path.join(oursOut, 'home'),
            ...appServerArgs(path.join(oursOut, 'tomcat')),
          ),
          CREDS,
        ),
      );
      const home = treeSize(path.join(oursOut, 'home'));
      const app = treeSize(path.join(oursOut, 'tomcat'));
      check(
        `this engine restored (run ${i + 1})`,
        { files: home.files + app.files, bytes: home.bytes + app.bytes },
        expectedFull,
      );
    };
    const restoreRestic = () => {
      if (!tools.has('restic')) return;
      settle(path.join(tlsDir, 'restic', `${SCALE}${i}`));
      record(
        'restic restore',
        timed(
          'restic restore',
          tls,
          'restic',
          ['-r', resticRepo(i), ...resticArgs, 'restore', 'latest', '--target', resticOut],
          resticEnv,
        ),
      );
      check(`restic restored (run ${i + 1})`, treeSize(resticOut), expectedFull);
    };
    // Alternating order: on ext4, creating files soon after many were deleted (the previous
    // run's restores) is slower for whoever comes first (the allocator skips recently freed inodes).
    if (i % 2 === 0) {
      restoreOurs();
      restoreRestic();
    } else {
      restoreRestic();
      restoreOurs();
    }
    rmSync(oursOut, { recursive: true, force: true });
    rmSync(resticOut, { recursive: true, force: true });
  }
  const afterFull = storedNow();

  console.error('mutating 1 % of the document library');
  execFileSync(process.execPath, [GENERATOR, DATA, '--mutate', '1', '--round', '1'], { stdio: 'inherit' });
  const expectedIncremental = selected();
  for (let i = 0; i < RUNS; i++) {
    console.error(`run ${i + 1}/${RUNS}: incremental backups`);
    if (tools.has('ours')) {
      settle(DATA);
      const json = path.join(W, `ours-incremental-${i}.json`);
      record(
        'ours incremental',
        timed('liferay-backup backup (incremental)', plain, cli, ours(i, 'backup', ...homeArgs), CREDS, json),
      );
      check(`this engine read (incremental, run ${i + 1})`, oursRead(json), expectedIncremental);
    }
    if (tools.has('rclone')) {
      settle(DATA);
      record(
        'rclone incremental',
        timed(
          'rclone copy --fast-list',
          plain,
          'rclone',
          ['copy', '--fast-list', DATA, `s3:rclone${i}/full`, ...rcloneExcludes],
          rcloneEnv,
        ),
      );
    }
    if (tools.has('restic')) {
      settle(DATA);
      record(
        'restic incremental',
        timed(
          'restic backup (incremental)',
          tls,
          'restic',
          ['-r', resticRepo(i), ...resticArgs, 'backup', ...resticExcludes, DATA],
          resticEnv,
        ),
      );
    }
  }
  plain.stop();
  tls.stop();
  const afterIncremental = storedNow();
  // Tens of gigabytes on a shared disk: the servers' data goes unless KEEP=1.
  if (process.env.KEEP !== '1')
    for (const dir of [plainDir, tlsDir]) rmSync(dir, { recursive: true, force: true });
  for (const tool of ['ours', 'rclone', 'restic'] as const)
    stored[tool] = { full: afterFull[tool], incremental: afterIncremental[tool] };
  const loadAfter = loadavg();

  const row = (name: string) => {
    const runs = results[name] ?? [];
    const walls = runs.map((m) => m.wall);
    return {
      name,
      runs: runs.length,
      wall: median(walls),
      min: Math.min(...walls),
      max: Math.max(...walls),
      cpu: median(runs.map((m) => m.cpu)),
      serverCpu: median(runs.map((m) => m.serverCpu)),
      rss: Math.max(...runs.map((m) => m.rssMiB)),
      ok: runs.every((m) => m.ok),
    };
  };
  const names = [
    'ours full',
    'rclone full',
    'restic full',
    'ours incremental',
    'rclone incremental',
    'restic incremental',
    'ours restore',
    'restic restore',
  ].filter((name) => results[name]);
  const rows = names.map(row);
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  const storedCell = (name: string) => {
    const [tool, operation] = name.split(' ') as [keyof typeof stored, string];
    if (operation === 'restore' || !stored[tool]) return '–';
    const { full, incremental } = stored[tool];
    return operation === 'full' ? `${mib(full)} MiB` : `+${mib(incremental - full)} MiB`;
  };
  const out: string[] = [];
  out.push(
    `## Files engine benchmark (${SCALE}, ${RUNS} run(s), medians; ${started.toISOString().slice(0, 16)}Z)`,
    '',
    `Machine: ${machine()}. Load average before ${loadBefore.map((l) => l.toFixed(1)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(1)).join(' ')} (other work shares these cores).`,
    `Each tool read ${expectedFull.files} files, ${expectedFull.bytes} B (${mib(expectedFull.bytes)} MiB): the tree minus ${[...EXCLUDED, ...EXCLUDED_CONTENTS.map((rule) => `${rule}/*`)].join(', ')}; after the 1 % mutation ${expectedIncremental.files} files, ${expectedIncremental.bytes} B.`,
    '',
    '| tool / operation | wall s, median (min-max) | CPU s | S3 server CPU s | peak RSS MiB | stored | ok |',
    '|---|---|---|---|---|---|---|',
  );
  for (const r of rows)
    out.push(
      `| ${r.name} | ${r.wall.toFixed(2)} (${r.min.toFixed(2)}-${r.max.toFixed(2)}) | ${r.cpu.toFixed(1)} | ${r.serverCpu.toFixed(1)} | ${r.rss.toFixed(0)} | ${storedCell(r.name)} | ${r.ok ? 'yes' : 'NO'} |`,
    );
  out.push('', ...checks.map((line) => `- ${line}`), '', '| target | value | limit | |', '|---|---|---|---|');
  const ratio = (label: string, a: string, b: string, limit: number) => {
    if (!results[a] || !results[b]) return;
    const { value, verdict } = ratioVerdict(results[a], results[b], limit);
    out.push(`| ${label} | ${value.toFixed(2)} | ≤ ${limit} | ${verdict} |`);
  };
  ratio('full backup / restic', 'ours full', 'restic full', TARGETS.fullVsRestic);
  ratio('full backup / rclone', 'ours full', 'rclone full', TARGETS.fullVsRclone);
  ratio('1 % incremental / restic', 'ours incremental', 'restic incremental', TARGETS.incrementalVsRestic);
  ratio('full restore / restic', 'ours restore', 'restic restore', TARGETS.restoreVsRestic);
  const oursRows = rows.filter((r) => r.name.startsWith('ours'));
  if (oursRows.length > 0) {
    const peak = Math.max(...oursRows.map((r) => r.rss));
    out.push(
      `| peak RSS, MiB (full, incremental, restore) | ${peak.toFixed(0)} | ≤ ${TARGETS.peakRssMiB} | ${peak <= TARGETS.peakRssMiB ? 'met' : '**NOT met**'} |`,
    );
  }
  out.push(
    '',
    'CPU is user+sys of the tool (GNU time); the S3 server (s3rver, one Node.js thread; TLS for restic) runs on the same 2 cores and its CPU is shown apart. Peak RSS is the largest of the runs.',
    process.env.S3RVER_ORIGINAL_GET
      ? "The S3 server answered GetObject with s3rver's own code (S3RVER_ORIGINAL_GET): 64 KiB reads, a new buffer each."
      : "The S3 server sends GetObject bodies from reused 1 MiB buffers (test/support/s3rver-main.cjs); S3RVER_ORIGINAL_GET=1 measures with s3rver's own code.",
    canDrop
      ? "Before each timed run the page cache was dropped and the run's input (the tree for a backup, the tool's store for a restore) read once: every run starts with its input in cache and the same free memory."
      : 'The page cache was not dropped between runs (not root): later runs may pay for reclaiming what earlier ones left, and vary more.',
  );
  console.log(`\n${out.join('\n')}`);
  writeFileSync(path.join(W, 'results.md'), `${out.join('\n')}\n`);
  writeFileSync(
    path.join(W, 'results.json'),
    JSON.stringify({ started, scale: SCALE, runs: RUNS, rows, stored, checks, raw: results }, null, 2),
  );
  console.error(`results written to ${path.join(W, 'results.md')} and results.json`);
  const invalid = invalidResults(results, checks);
  if (invalid.length > 0)
    throw new Error(
      `the benchmark's results are not valid:\n${invalid.map((line) => `  ${line}`).join('\n')}`,
    );
}

function runScript(script: string, args: string[] = []): void {
  const tsx = path.join(ROOT, 'node_modules/.bin/tsx');
  const result = spawnSync(tsx, [path.join(ROOT, script), ...args], { stdio: 'inherit', cwd: ROOT });
  if (result.status !== 0) throw new Error(`${script} failed (exit ${result.status})`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      files: { type: 'boolean' },
      git: { type: 'boolean' },
      simulate: { type: 'boolean' },
      floor: { type: 'boolean' },
      'plan-cpu': { type: 'boolean' },
      tools: { type: 'string' },
    },
  });
  if (values.simulate) return runScript('bench/scale-simulation.ts');
  if (values.floor) return runScript('bench/incremental-floor.ts', [DATA]);
  if (values['plan-cpu']) return runScript('bench/plan-cpu.ts', [DATA]);
  const both = !values.files && !values.git;
  const tools = new Set((values.tools ?? 'ours,rclone,restic').split(',').map((tool) => tool.trim()));
  for (const tool of tools)
    if (!['ours', 'rclone', 'restic'].includes(tool)) throw new Error(`--tools: unknown ${tool}`);
  if (both || values.files) await filesBenchmark(tools);
  if (both || values.git) {
    console.log('\n## Git mirror benchmark (bench/git-mirror.ts)\n');
    runScript('bench/git-mirror.ts');
  }
}

// Run as a script (npm run bench); imported by tests for its helpers.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href)
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
