/**
 * `npm run bench -- --plan-cpu`: the CPU a first backup's Plan spends per entry, which the scale
 * simulation (bench/scale-simulation.ts, PLAN_CPU_US_PER_ENTRY) needs: Plan walks the whole tree in
 * one function of 1,024 MB, a little over half a vCPU, so its CPU can bind before EFS's latency does.
 *
 * Runs what Plan runs per entry, its walk (the Liferay Home's rules, PLAN_WALK_CONCURRENCY calls in
 * flight) and the shard cutter, over the benchmark's tree: asynchronously from the start, as over
 * EFS (on a local disk the walk would stay synchronous, which costs less), and synchronously for
 * comparison. CPU is the process's user + system time, the thread pool's included. The thread
 * pool has 64 threads, as in the EFS functions (UV_THREADPOOL_SIZE, cdk/components/files.ts): with
 * libuv's default of 4 the asynchronous walk costs about half as much CPU here, and would flatter it.
 *
 *   npx tsx bench/plan-cpu.ts [DIR]   # default: the generated medium tree
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { PLAN_WALK_CONCURRENCY, walkSources } from '#components/files/backup-plan.ts';
import { filesSettingsSchema } from '#components/files/settings.ts';
import { ShardCutter } from '#components/files/shard-plan.ts';
import { walkTree } from '#components/files/walk.ts';
import { median } from './run.ts';

const RUNS = 5;

interface Measure {
  readonly entries: number;
  readonly shards: number;
  readonly cpuUs: number;
  readonly systemUs: number;
  readonly wallMs: number;
}

async function planOnce(root: string, synchronous: boolean): Promise<Measure> {
  const settings = filesSettingsSchema.parse({ root });
  const cutter = new ShardCutter(settings.shard);
  const cpu = process.cpuUsage();
  const started = performance.now();
  let entries = 0;
  for await (const entry of walkTree({
    sources: walkSources({
      sources: [{ mount: '', root, role: 'tree' }],
      overrides: {},
      component: 'liferayHome',
    }),
    concurrency: Math.max(settings.fsConcurrency, PLAN_WALK_CONCURRENCY),
    synchronous,
    onWarning: () => undefined,
  })) {
    cutter.add(entry.path, 1, entry.type === 'file' ? Number(entry.stats.size) : 0);
    entries += 1;
  }
  const shards = cutter.finish().length;
  const used = process.cpuUsage(cpu);
  return {
    entries,
    shards,
    cpuUs: used.user + used.system,
    systemUs: used.system,
    wallMs: performance.now() - started,
  };
}

/** The EFS functions' thread pool; libuv reads it once, when the process starts. */
const LAMBDA_THREADPOOL_SIZE = '64';

async function main(): Promise<void> {
  if (process.env.UV_THREADPOOL_SIZE === undefined) {
    const again = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, UV_THREADPOOL_SIZE: LAMBDA_THREADPOOL_SIZE },
    });
    process.exit(again.status ?? 1);
  }
  const root = path.resolve(process.argv[2] ?? '/tmp/liferay-backup-bench/medium');
  if (!existsSync(root))
    throw new Error(`${root} does not exist: run the files benchmark first, or name a tree`);
  // Once unmeasured: the tree's metadata in cache and the code compiled, as in the runs after it.
  await planOnce(root, false);
  console.log(
    `tree: ${root}; medians of ${RUNS} runs; CPU is user + system, the thread pool's ${process.env.UV_THREADPOOL_SIZE} threads included`,
  );
  for (const synchronous of [false, true]) {
    const runs: Measure[] = [];
    for (let run = 0; run < RUNS; run += 1) runs.push(await planOnce(root, synchronous));
    const entries = runs[0]?.entries ?? 0;
    if (runs.some((run) => run.entries !== entries))
      throw new Error(`the runs walked different trees: ${runs.map((run) => run.entries).join(', ')}`);
    const perEntry = median(runs.map((run) => run.cpuUs / entries));
    console.log(
      `${synchronous ? 'synchronous walk ' : 'asynchronous walk'} (${entries} entries, ${runs[0]?.shards} shard(s)): ` +
        `${perEntry.toFixed(1)} µs of CPU per entry (${median(runs.map((run) => run.systemUs / entries)).toFixed(1)} of it system), ` +
        `${median(runs.map((run) => run.wallMs)).toFixed(0)} ms wall`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
