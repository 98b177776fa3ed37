import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import {
  backupContext,
  commitSet,
  driveBackup,
  driveRestore,
  homeRuntime,
  restoreContext,
} from './support/drive.ts';
import { readTree } from './support/trees.ts';

const work = fs.mkdtempSync(path.join(tmpdir(), 'review-restore-glob-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
const fresh = (name: string) => {
  const dir = path.join(work, `${name}-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
};
const settings = (root: string) => ({
  root,
  shard: { maxFiles: 10, maxBytes: 1e9, timeBudgetSeconds: 600 },
  blobThresholdBytes: 256 * 1024,
  chunkBytes: 256 * 1024,
  packBytes: 1024 * 1024,
});

/** A tree of two folders of 25 files each, backed up into index parts of at most 10 entries. */
async function backedUp(): Promise<{ store: LocalFolderStore; id: string }> {
  const store = new LocalFolderStore(fresh('store'));
  const tree = fresh('home');
  for (const folder of ['data/a', 'data/z']) {
    fs.mkdirSync(path.join(tree, folder), { recursive: true });
    for (let i = 0; i < 25; i += 1)
      fs.writeFileSync(path.join(tree, folder, `f${String(i).padStart(2, '0')}`), `${folder} ${i}`);
  }
  const rt = homeRuntime(store, settings(tree), path.join(work, 'scratch'));
  const id = 'b20261127t020001z-0001';
  await commitSet(store, id, [await driveBackup(rt, backupContext(id))]);
  return { store, id };
}

describe('review: a negated path glob', () => {
  it('restores every entry the glob matches, not only those in the parts near its base', async () => {
    const { store, id } = await backedUp();
    const target = path.join(fresh('restore'), 'home');
    // picomatch scans `!data/a/**` with base `data/a`, but it matches everything *outside* data/a.
    const restored = await driveRestore(
      homeRuntime(store, settings(target)),
      restoreContext(id, { path: '!data/a/**' }),
    );
    expect(restored.status).toBe('complete');
    const files = [...readTree(target)].filter(([, e]) => e.type === 'file').map(([p]) => p);
    expect(files.filter((p) => p.startsWith('data/a/'))).toEqual([]);
    expect(files.filter((p) => p.startsWith('data/z/'))).toHaveLength(25);
  }, 60_000);
});

describe('a path glob that matches folders', () => {
  it('restores each folder it matches with everything the folder holds (as a plain path does), not the folders empty', async () => {
    const { store, id } = await backedUp();
    const target = path.join(fresh('restore'), 'home');
    const restored = await driveRestore(
      homeRuntime(store, settings(target)),
      restoreContext(id, { path: 'data/*' }),
    );
    expect(restored.status).toBe('complete');
    const files = [...readTree(target)].filter(([, e]) => e.type === 'file').map(([p]) => p);
    expect(files.filter((p) => p.startsWith('data/a/'))).toHaveLength(25);
    expect(files.filter((p) => p.startsWith('data/z/'))).toHaveLength(25);
  }, 60_000);
});
