import { spawn } from 'node:child_process';

/**
 * glibc gives each thread that allocates its own malloc arena (up to 8 per core) and keeps what
 * was freed in it for that arena. A restore's two fetch worker threads each receive gigabytes in
 * 64 KiB socket buffers, and their arenas held 20-50 MB each: the medium set's restore peaked at
 * 225-270 MB. With MALLOC_ARENA_MAX=2 it peaks at 210-217 MB, in the same time. glibc reads the
 * variable once, when the process starts, so for the commands that start those threads the CLI
 * starts itself again with it set (about 0.05 s: main.ts decides before loading the rest). The Lambda functions have memory to spare and are left alone.
 */
const COMMANDS_WITH_FETCH_WORKERS = new Set(['restore', 'verify']);

export function needsArenaLimit(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
): boolean {
  return (
    platform === 'linux' &&
    env.MALLOC_ARENA_MAX === undefined &&
    COMMANDS_WITH_FETCH_WORKERS.has(argv[2] ?? '') &&
    !argv.includes('--help')
  );
}

/**
 * Runs this CLI again with MALLOC_ARENA_MAX=2 and ends with its exit code (or its signal); false
 * if it could not be started (the CLI then runs in this process).
 */
export async function rerunWithArenaLimit(): Promise<boolean> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, MALLOC_ARENA_MAX: '2' },
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, forward);
  const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined>(
    (resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      // Not started (it always is: it is this same node): run in this process instead.
      child.once('error', () => resolve(undefined));
    },
  );
  if (!ended) return false;
  if (ended.signal) {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(signal, forward);
    process.kill(process.pid, ended.signal);
  }
  process.exit(ended.code ?? 1);
}
