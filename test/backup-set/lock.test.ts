import { describe, expect, it } from 'vitest';
import { acquireBackupLock, releaseBackupLock } from '#backup-set/lock.ts';
import { BackupAlreadyRunningError, CorruptBackupError } from '#runtime/errors.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';

const KEY = 'locks/backup.json';
const T0 = new Date('2026-11-27T02:00:00Z');
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);

describe('the backup lock', () => {
  it('is resumed by the execution that holds it (a retried Begin), and refused to any other', async () => {
    const { dir } = tempDir('lock-execution');
    const store = new LocalFolderStore(dir);
    const execution = 'arn:aws:states:eu-west-1:111111111111:execution:Backup:nightly-1';
    expect(
      await acquireBackupLock(store, KEY, 'b20261127t020000z-aaaa', T0, 60, { executionId: execution }),
    ).toEqual({});
    expect(
      await acquireBackupLock(store, KEY, 'b20261127t020010z-bbbb', minutes(1), 60, {
        executionId: execution,
      }),
    ).toEqual({
      resumed: { backupId: 'b20261127t020000z-aaaa', acquiredAt: T0.toISOString() },
    });
    await expect(
      acquireBackupLock(store, KEY, 'b20261127t020500z-cccc', minutes(5), 60, {
        executionId: `${execution}-other`,
      }),
    ).rejects.toThrow('a backup is already running: b20261127t020000z-aaaa');
    await expect(acquireBackupLock(store, KEY, 'b20261127t020500z-dddd', minutes(5), 60)).rejects.toThrow(
      BackupAlreadyRunningError,
    );
  });

  it('refuses with what to do if the holder is dead: the lock to delete, or when it goes stale', async () => {
    const store = new LocalFolderStore(tempDir('lock-message').dir);
    await acquireBackupLock(store, KEY, 'b20261127t020000z-aaaa', T0, 60);
    await expect(acquireBackupLock(store, KEY, 'b20261127t020500z-bbbb', minutes(5), 60)).rejects.toThrow(
      'a backup is already running: b20261127t020000z-aaaa (it took the lock locks/backup.json at 2026-11-27T02:00:00.000Z). If it is no longer running (its execution was stopped or timed out, or its process was killed), delete locks/backup.json from the backup store to start now; otherwise the lock counts as stale from 2026-11-27T03:00:00.000Z',
    );
    const retentionKey = 'locks/retention.json';
    await acquireBackupLock(store, retentionKey, 'g20261127t020000z-aaaa', T0, 60);
    await expect(
      acquireBackupLock(store, retentionKey, 'g20261127t020500z-bbbb', minutes(5), 60),
    ).rejects.toThrow(
      /^a retention run is already running: g20261127t020000z-aaaa \(it took the lock locks\/retention.json/,
    );
  });

  it('is taken once; a second run is refused naming the running backup', async () => {
    const store = new LocalFolderStore(tempDir('lock').dir);
    expect(await acquireBackupLock(store, KEY, 'b20261127t020000z-aaaa', T0, 60)).toEqual({});
    const second = acquireBackupLock(store, KEY, 'b20261127t020500z-bbbb', minutes(5), 60);
    await expect(second).rejects.toBeInstanceOf(BackupAlreadyRunningError);
    await expect(second).rejects.toThrow('a backup is already running: b20261127t020000z-aaaa');
  });

  it('is taken over only when older than the timeout, and says from whom', async () => {
    const store = new LocalFolderStore(tempDir('lock').dir);
    await acquireBackupLock(store, KEY, 'b20261127t020000z-aaaa', T0, 60);
    await expect(acquireBackupLock(store, KEY, 'b20261127t025900z-bbbb', minutes(59), 60)).rejects.toThrow(
      /already running/,
    );
    expect(await acquireBackupLock(store, KEY, 'b20261127t030100z-cccc', minutes(61), 60)).toEqual({
      tookOverFrom: 'b20261127t020000z-aaaa',
    });
    // The run that died cannot release the new owner's lock.
    expect(await releaseBackupLock(store, KEY, 'b20261127t020000z-aaaa')).toBe(false);
    expect(await releaseBackupLock(store, KEY, 'b20261127t030100z-cccc')).toBe(true);
    expect(await store.stat(KEY)).toBeUndefined();
    // Released already (a retried Commit): nothing to do.
    expect(await releaseBackupLock(store, KEY, 'b20261127t030100z-cccc')).toBe(false);
  });

  it('lets only one of two concurrent stale takeovers win', async () => {
    const store = new LocalFolderStore(tempDir('lock').dir);
    await acquireBackupLock(store, KEY, 'b20261127t020000z-aaaa', T0, 60);
    const attempts = await Promise.allSettled([
      acquireBackupLock(store, KEY, 'b20261127t040000z-bbbb', minutes(120), 60),
      acquireBackupLock(store, KEY, 'b20261127t040000z-cccc', minutes(120), 60),
    ]);
    expect(attempts.filter((attempt) => attempt.status === 'fulfilled')).toHaveLength(1);
  });

  it('refuses a corrupt lock with what to do', async () => {
    const store = new LocalFolderStore(tempDir('lock').dir);
    await store.put(KEY, '{"backupId": "../../etc"}');
    await expect(acquireBackupLock(store, KEY, 'b20261127t020000z-aaaa', T0, 60)).rejects.toBeInstanceOf(
      CorruptBackupError,
    );
    await expect(acquireBackupLock(store, KEY, 'b20261127t020000z-aaaa', T0, 60)).rejects.toThrow(
      /delete it if no backup is running/,
    );
  });
});
