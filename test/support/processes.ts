import { spawn } from 'node:child_process';
import { type HostProcess, liveProcessTable, thisProcess } from '#runtime/host-process.ts';

/**
 * A real process that is gone, as a lock or a report records it: a child killed with SIGKILL, as
 * the OOM killer ends a CLI run (on this machine, in this boot and PID namespace).
 */
export async function killedProcess(): Promise<HostProcess> {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const startTicks = liveProcessTable().startTicks(child.pid as number);
  child.kill('SIGKILL');
  await exited;
  const self = thisProcess();
  if (!self || typeof startTicks !== 'string')
    throw new Error(
      'this test needs Linux /proc to tell processes (boot id, PID namespace, /proc/<pid>/stat)',
    );
  return { ...self, pid: child.pid as number, startTicks };
}

/**
 * A process on another machine, as a lock records it: this machine can tell nothing of it (neither
 * running nor ended), so its lock waits to go stale. What a run that died elsewhere leaves.
 */
export function processElsewhere(): HostProcess {
  const self = thisProcess();
  if (!self) throw new Error('this test needs Linux /proc to tell processes (boot id, PID namespace)');
  return { ...self, host: 'another-host', bootId: 'another-boot', machineId: 'another-machine' };
}
