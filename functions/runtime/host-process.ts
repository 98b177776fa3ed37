import * as fs from 'node:fs';
import { hostname } from 'node:os';
import * as z from 'zod';

/**
 * The process a CLI run lives in, as Linux identifies it, and whether such a process has ended.
 * A CLI backup killed with SIGKILL (the OOM killer, `kill -9`) or stopped by a reboot cannot give
 * its lock back; without this the next night's backup was refused until the lock went stale, a
 * day later. Only a CLI run records it: there the process is the run. A Lambda's process is not
 * (the execution goes on in other functions), so Begin on AWS asks Step Functions instead.
 *
 * Ended means certainly ended; every doubt answers "still running" and leaves the lock to go stale.
 */
export const hostProcessSchema = z.object({
  host: z.string().max(255),
  /** The kernel's boot id: equal only on the same machine, in the same boot. */
  bootId: z.string().max(64),
  /** /etc/machine-id, where there is one: what tells a restarted machine from another of that name. */
  machineId: z.string().max(64).optional(),
  /** The PID namespace: two containers of one machine see different processes under one pid. */
  pidNamespace: z.string().max(64),
  pid: z.number().int().positive(),
  /** When the process started, in clock ticks since boot: a pid used again is another process. */
  startTicks: z.string().regex(/^\d{1,20}$/),
});
export type HostProcess = z.infer<typeof hostProcessSchema>;

/** What the judge reads from this machine (injected by the tests). */
export interface ProcessTable {
  readonly self: HostProcess | undefined;
  /** A pid's start ticks in this PID namespace; null when no process has that pid. */
  readonly startTicks: (pid: number) => string | null | 'unreadable';
  /** When this machine booted. */
  readonly bootedAt: Date;
}

function readTrimmed(path: string): string | undefined {
  try {
    return fs.readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses. */
function startTicksOf(pid: number | 'self'): string | undefined {
  const stat = readTrimmed(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = fields[22 - 3];
  return ticks !== undefined && /^\d+$/.test(ticks) ? ticks : undefined;
}

/** This process, or undefined where Linux's /proc does not tell it (the CLI then records nothing). */
export function thisProcess(): HostProcess | undefined {
  const bootId = readTrimmed('/proc/sys/kernel/random/boot_id');
  const startTicks = startTicksOf('self');
  let pidNamespace: string;
  try {
    pidNamespace = fs.readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
  if (bootId === undefined || startTicks === undefined) return undefined;
  const machineId = readTrimmed('/etc/machine-id');
  return {
    host: hostname(),
    bootId,
    ...(machineId ? { machineId } : {}),
    pidNamespace,
    pid: process.pid,
    startTicks,
  };
}

export function liveProcessTable(): ProcessTable {
  const btime = /^btime (\d+)$/m.exec(readTrimmed('/proc/stat') ?? '')?.[1];
  return {
    self: thisProcess(),
    startTicks: (pid) => {
      // Only a missing /proc/<pid> means no such process; a process we may not read still runs.
      if (!fs.existsSync(`/proc/${pid}`)) return null;
      return startTicksOf(pid) ?? 'unreadable';
    },
    // Unknown boot time: a date no lock is older than, so a restart is never assumed.
    bootedAt: btime ? new Date(Number(btime) * 1000) : new Date(0),
  };
}

/**
 * What this machine can tell of the process that took a lock at `acquiredAt`: it certainly runs
 * (here, in this boot, seen in /proc), it has certainly ended (and why), or it cannot tell
 * (another machine, another container, a process it may not read).
 */
export function processState(
  holder: HostProcess,
  acquiredAt: Date,
  table: ProcessTable = liveProcessTable(),
): 'running' | { readonly ended: string } | 'unknown' {
  const self = table.self;
  if (!self) return 'unknown';
  const where = `pid ${holder.pid} on ${holder.host}`;
  if (holder.bootId === self.bootId) {
    if (holder.pidNamespace !== self.pidNamespace) return 'unknown';
    const ticks = table.startTicks(holder.pid);
    if (ticks === null) return { ended: `its process (${where}) had ended` };
    if (ticks === 'unreadable') return 'unknown';
    if (ticks === holder.startTicks) return 'running';
    return { ended: `its process (${where}) had ended (that pid is now another process)` };
  }
  // Another boot: this machine restarted since, or another machine; only the machine id tells.
  if (
    holder.machineId !== undefined &&
    holder.machineId === self.machineId &&
    holder.host === self.host &&
    acquiredAt < table.bootedAt
  ) {
    return {
      ended: `its machine (${holder.host}) restarted at ${table.bootedAt.toISOString()}, ending its process (${where})`,
    };
  }
  return 'unknown';
}

/** Why that process has certainly ended, or undefined when it may still run. */
export function processEnded(
  holder: HostProcess,
  acquiredAt: Date,
  table: ProcessTable = liveProcessTable(),
): string | undefined {
  const state = processState(holder, acquiredAt, table);
  return typeof state === 'object' ? state.ended : undefined;
}
