import * as fs from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../../support/local-runtime.ts';
import { CountingStore } from './support/counting-store.ts';
import {
  backupContext,
  commitSet,
  driveBackup,
  driveRestore,
  homeRuntime,
  restoreContext,
} from './support/drive.ts';
import { bytesFor, diffTrees, readTree } from './support/trees.ts';

/**
 * A restore makes its file calls synchronously while they are fast (a local disk) and through the
 * thread pool once they are slow (EFS); only the synchronous mode reads the store on worker threads,
 * which on the medium set is twice as fast. A mkdir on ext4 without a journal takes 0.25-0.65 ms
 * for a minute after a tree was deleted, and that must not count as a network file system: a
 * restore right after `rm -rf` of the old tree turned asynchronous and took twice as long. EFS
 * writes take 1.6 ms and more (its documented latency), and those must still turn it.
 *
 * Here every mkdir of the restore's main thread takes a set time by that thread's clock (the clock
 * the calls are judged by, set by the call instead of waited out, so that neither a machine busy
 * with other tests nor the disk itself changes what the restore sees); the worker threads keep
 * their own clock and calls.
 * The store tells which path read the content.
 */
const work = tempDir('restore-file-calls');
afterAll(() => work.cleanup());

const nodeFs = createRequire(import.meta.url)('node:fs') as typeof fs;
const realMkdirSync = nodeFs.mkdirSync;
const realNow = performance.now.bind(performance);
let clockAhead = 0;

/**
 * Every synchronous mkdir of this thread takes exactly `ms` by its clock, whatever the disk took (a
 * real mkdir here is itself slow after other tests deleted their trees); the import bindings follow
 * the change.
 */
function mkdirTaking(ms: number): void {
  const now = () => realNow() + clockAhead;
  vi.spyOn(performance, 'now').mockImplementation(now);
  nodeFs.mkdirSync = ((...args: Parameters<typeof fs.mkdirSync>) => {
    const started = now();
    try {
      return realMkdirSync(...args);
    } finally {
      clockAhead = started + ms - realNow();
    }
  }) as typeof fs.mkdirSync;
  syncBuiltinESMExports();
}
afterEach(() => {
  nodeFs.mkdirSync = realMkdirSync;
  syncBuiltinESMExports();
  vi.restoreAllMocks();
});

const FOLDERS = 150;
const home = path.join(work.dir, 'home');
const store = new LocalFolderStore(path.join(work.dir, 'store'));
const BACKUP = 'b20261128t030000z-f11e';
let backedUp: Promise<void> | undefined;

/** A document library of 150 folders of two small files each (every file in one pack), backed up once. */
function backup(): Promise<void> {
  backedUp ??= (async () => {
    for (let i = 0; i < FOLDERS; i += 1) {
      const folder = path.join(home, 'data/document_library/20101', `f${String(i).padStart(3, '0')}`);
      fs.mkdirSync(folder, { recursive: true });
      fs.writeFileSync(path.join(folder, '1.0'), bytesFor(`a${i}`, 700 + i));
      fs.writeFileSync(path.join(folder, '1.1'), bytesFor(`b${i}`, 900 + i));
    }
    const result = await driveBackup(homeRuntime(store, { root: home }), backupContext(BACKUP));
    expect(result.status).toBe('complete');
    await commitSet(store, BACKUP, [result]);
  })();
  return backedUp;
}

async function restoreWithMkdirOf(ms: number, name: string) {
  await backup();
  const target = path.join(work.dir, name);
  const watched = new CountingStore(store);
  mkdirTaking(ms);
  const result = await driveRestore(
    homeRuntime(watched, { root: target }),
    restoreContext(BACKUP, { target }),
  );
  expect(result.status).toBe('complete');
  expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
  // Reads of packs and blobs (objects/...), not of the index or the plan: on a worker or on this thread.
  const reads = watched.calls.filter(
    (call) => call.key.startsWith('objects/') && (call.method === 'get' || call.method === 'getRange'),
  );
  return {
    workers: reads.filter((call) => call.onWorker).length,
    mainThread: reads.filter((call) => !call.onWorker).length,
  };
}

describe('files restore: synchronous file calls on a local disk, asynchronous on EFS', () => {
  it('stays synchronous when mkdir takes 0.5 ms (ext4 right after a tree was deleted)', async () => {
    const reads = await restoreWithMkdirOf(0.5, 'local');
    expect(reads.workers).toBeGreaterThan(0);
    expect(reads.mainThread).toBe(0);
  });

  it('turns asynchronous when mkdir takes 2 ms (an EFS write)', async () => {
    const reads = await restoreWithMkdirOf(2, 'efs');
    expect(reads.mainThread).toBeGreaterThan(0);
    expect(reads.workers).toBe(0);
  });
});
