import { describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { localExecutionId } from '#backup-set/executions.ts';
import { storeKeys } from '#backup-set/keys.ts';
import { readManifest } from '#backup-set/manifest.ts';
import { thisProcess } from '#runtime/host-process.ts';
import { allKeys, testRuntime } from '../support/local-runtime.ts';
import { killedProcess } from '../support/processes.ts';

const HOME = { liferayHome: { root: '/tmp/does-not-matter-here' } };
const T0 = new Date('2026-11-27T02:00:00Z');
/** Past the lock's time-out (testRuntime: 60 minutes). */
const threeHoursLater = () => new Date(T0.getTime() + 3 * 3_600_000);

describe('Begin of a CLI run, with a stale lock of a CLI run whose process still runs here', () => {
  // Found in review: a lock past its time-out was taken over even when its process was seen
  // running on this machine (a CLI first full backup longer than a day), so two backups ran at once
  // and the live run's set was recorded failed (retention then marked none of its content).
  it('is refused: a run seen alive is not dead because it is slow (its set stays running)', async () => {
    expect(thisProcess(), 'this test runs on Linux, where /proc tells a process').toBeDefined();
    const store = testRuntime({ components: HOME }).store;
    // The lock's holder is this very process: alive, on this machine, in this boot.
    const first = await beginBackup(
      { request: {}, executionId: localExecutionId() },
      testRuntime({ store, components: HOME, now: () => T0 }),
    );
    const before = await allKeys(store);

    const next = beginBackup(
      { request: {}, executionId: localExecutionId() },
      testRuntime({ store, components: HOME, now: threeHoursLater }),
    );

    await expect(next).rejects.toThrow(`a backup is already running: ${first.backupId}`);
    await expect(next).rejects.toThrow(/still runs/);
    expect((await readManifest(store, first.backupId)).status).toBe('running');
    expect(await allKeys(store)).toEqual(before);
  });

  it('is still taken over once stale when its process is gone', async () => {
    const store = testRuntime({ components: HOME }).store;
    const first = await beginBackup(
      { request: {}, executionId: localExecutionId() },
      testRuntime({ store, components: HOME, now: () => T0 }),
    );
    const lock = JSON.parse((await store.read(storeKeys.backupLock)).toString());
    await store.put(storeKeys.backupLock, JSON.stringify({ ...lock, process: await killedProcess() }));

    const taker = await beginBackup(
      { request: {}, executionId: localExecutionId() },
      testRuntime({ store, components: HOME, now: threeHoursLater }),
    );

    expect((await readManifest(store, first.backupId)).status).toBe('failed');
    expect((await readManifest(store, taker.backupId)).status).toBe('running');
  });
});
