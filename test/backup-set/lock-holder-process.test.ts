import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { localExecutionId } from '#backup-set/executions.ts';
import { storeKeys } from '#backup-set/keys.ts';
import { readManifest } from '#backup-set/manifest.ts';
import {
  type HostProcess,
  liveProcessTable,
  type ProcessTable,
  processEnded,
  thisProcess,
} from '#runtime/host-process.ts';
import { testRuntime } from '../support/local-runtime.ts';
import { killedProcess } from '../support/processes.ts';

/**
 * Whether the process of a CLI run that holds the lock has ended, judged on this machine: against
 * real processes (a child killed with SIGKILL), and with a made-up process table for what a test
 * cannot do to its machine (a restart, another machine of the same name, another container).
 */

const BOOTED = new Date('2026-11-27T06:00:00Z');
const SELF: HostProcess = {
  host: 'liferay-admin',
  bootId: 'c9a2e0c4-0000-4000-8000-000000000001',
  machineId: '3d1219c7c4c5404aaa1f6d2a48adfda4',
  pidNamespace: 'pid:[4026531836]',
  pid: 4242,
  startTicks: '990000',
};

function table(
  processes: Record<number, string | 'unreadable'>,
  /** null: a machine without /proc. */
  self: HostProcess | null = SELF,
): ProcessTable {
  return { self: self ?? undefined, startTicks: (pid) => processes[pid] ?? null, bootedAt: BOOTED };
}

const holder = (changes: Partial<HostProcess> = {}): HostProcess => ({
  ...SELF,
  pid: 1234,
  startTicks: '500',
  ...changes,
});

describe('this process', () => {
  it('is told by /proc: this pid, the boot, the PID namespace and its start', () => {
    const self = thisProcess();
    expect(self, 'this test runs on Linux, where /proc tells a process').toBeDefined();
    expect(self).toMatchObject({ host: hostname(), pid: process.pid });
    expect(self?.bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(self?.pidNamespace).toMatch(/^pid:\[\d+\]$/);
    expect(liveProcessTable().startTicks(process.pid)).toBe(self?.startTicks);
  });
});

describe('a holder on this machine, in this boot', () => {
  it('has ended once its process is gone, and runs while it is there (a real process, killed with SIGKILL)', async () => {
    const self = thisProcess() as HostProcess;
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    const pid = child.pid as number;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const startTicks = liveProcessTable().startTicks(pid);
    expect(startTicks).toMatch(/^\d+$/);
    const lockOfChild: HostProcess = { ...self, pid, startTicks: startTicks as string };
    expect(processEnded(lockOfChild, new Date())).toBeUndefined();
    child.kill('SIGKILL');
    await exited;
    expect(processEnded(lockOfChild, new Date())).toBe(`its process (pid ${pid} on ${self.host}) had ended`);
  });

  it('has ended when its pid is another process now (started at another time)', () => {
    expect(processEnded(holder(), BOOTED, table({ 1234: '777' }))).toBe(
      'its process (pid 1234 on liferay-admin) had ended (that pid is now another process)',
    );
    expect(processEnded(holder(), BOOTED, table({ 1234: '500' }))).toBeUndefined();
  });

  it('counts as running when its process cannot be read, or lives in another PID namespace (a container)', () => {
    expect(processEnded(holder(), BOOTED, table({ 1234: 'unreadable' }))).toBeUndefined();
    expect(processEnded(holder({ pidNamespace: 'pid:[4026532999]' }), BOOTED, table({}))).toBeUndefined();
  });
});

describe('a holder in another boot', () => {
  const before = new Date(BOOTED.getTime() - 60_000);
  it('has ended when this machine restarted after it took the lock', () => {
    expect(processEnded(holder({ bootId: 'an-earlier-boot' }), before, table({}))).toBe(
      'its machine (liferay-admin) restarted at 2026-11-27T06:00:00.000Z, ending its process (pid 1234 on liferay-admin)',
    );
  });

  it('counts as running on another machine, even of the same name, and whenever the machine id cannot tell', () => {
    const elsewhere = { bootId: 'another-kernel' };
    // Taken after this machine booted: another machine (or a clock that cannot be trusted).
    expect(processEnded(holder(elsewhere), new Date(BOOTED.getTime() + 1000), table({}))).toBeUndefined();
    expect(
      processEnded(holder({ ...elsewhere, machineId: 'another-machine' }), before, table({})),
    ).toBeUndefined();
    expect(
      processEnded(holder({ ...elsewhere, host: 'liferay-admin-2' }), before, table({})),
    ).toBeUndefined();
    const { machineId: _, ...noMachineId } = holder(elsewhere);
    expect(processEnded(noMachineId, before, table({}))).toBeUndefined();
    const { machineId: __, ...selfWithout } = SELF;
    expect(processEnded(holder(elsewhere), before, table({}, selfWithout))).toBeUndefined();
  });

  it('counts as running where this machine cannot tell its own process (no /proc)', () => {
    expect(processEnded(holder(), BOOTED, table({}, null))).toBeUndefined();
  });
});

describe('Begin of a CLI run, with the lock of another CLI run that is not stale yet', () => {
  const HOME = { liferayHome: { root: '/tmp/does-not-matter-here' } };
  const T0 = new Date('2026-11-27T02:00:00Z');
  const tenMinutesLater = () => new Date(T0.getTime() + 10 * 60_000);

  it('records its process in the lock; on Lambda, whose process is not the run, nothing', async () => {
    const store = testRuntime({ components: HOME }).store;
    await beginBackup(
      { request: {}, executionId: localExecutionId() },
      testRuntime({ store, components: HOME }),
    );
    expect(JSON.parse((await store.read(storeKeys.backupLock)).toString()).process).toEqual(thisProcess());
    const { process: _, ...lambda } = testRuntime({ components: HOME });
    await beginBackup(
      { request: {}, executionId: 'arn:aws:states:eu-west-1:111111111111:execution:B:n' },
      lambda,
    );
    expect(JSON.parse((await lambda.store.read(storeKeys.backupLock)).toString())).not.toHaveProperty(
      'process',
    );
  });

  it('takes it over at once when its process was killed, and records its set failed saying why', async () => {
    const store = testRuntime({ components: HOME }).store;
    const first = await beginBackup(
      { request: {}, executionId: localExecutionId() },
      testRuntime({ store, components: HOME, now: () => T0 }),
    );
    const next = () =>
      beginBackup(
        { request: {}, executionId: localExecutionId() },
        testRuntime({ store, components: HOME, now: tenMinutesLater }),
      );
    // Its process (this one) still runs.
    await expect(next()).rejects.toThrow(`a backup is already running: ${first.backupId}`);

    const dead = await killedProcess();
    const lock = JSON.parse((await store.read(storeKeys.backupLock)).toString());
    await store.put(storeKeys.backupLock, JSON.stringify({ ...lock, process: dead }));
    const taker = await next();
    const why = `its process (pid ${dead.pid} on ${dead.host}) had ended without giving the lock back`;
    expect((await readManifest(store, taker.backupId)).warnings).toEqual([
      `took over the lock of ${first.backupId}: ${why}`,
    ]);
    expect(await readManifest(store, first.backupId)).toMatchObject({
      status: 'failed',
      warnings: [`the run ended without committing: ${why}, and ${taker.backupId} took over its lock`],
    });
  });
});

describe('a recorded process this version cannot read', () => {
  it('is left out: the lock is still read (and waits to go stale), not refused as corrupt', async () => {
    const rt = testRuntime({ components: { liferayHome: { root: '/tmp/does-not-matter-here' } } });
    const lock = {
      backupId: 'b20261127t020000z-aaaa',
      acquiredAt: new Date().toISOString(),
      process: { host: 'x', pid: 'not a number' },
    };
    await rt.store.put(storeKeys.backupLock, JSON.stringify(lock));
    await expect(beginBackup({ request: {}, executionId: localExecutionId() }, rt)).rejects.toThrow(
      'a backup is already running: b20261127t020000z-aaaa',
    );
  });
});
