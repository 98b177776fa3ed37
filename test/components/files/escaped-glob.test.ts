import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compilePathFilter } from '#components/files/settings.ts';
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

const work = fs.mkdtempSync(path.join(tmpdir(), 'escaped-glob-'));
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

/**
 * A folder whose name holds a glob character (`*`, `[`, `(`) is asked for with that character
 * escaped. The glob's base chooses the index parts to read by comparing paths: it must be the
 * folder's real name, or the parts inside the folder sort before it and are skipped, while the
 * expected count (taken from the parts kept) still says "complete".
 */
describe('the base of an escaped glob', () => {
  it.each([
    ['data/x\\*y/**', 'data/x*y'],
    ['data/a\\[1\\]/**', 'data/a[1]'],
    ['data/b\\(2\\)', 'data/b(2)'],
    ['data/back\\\\slash/**', 'data/back\\slash'],
  ])('%s reads from %s', (glob, base) => {
    expect(compilePathFilter(glob).base).toBe(base);
  });
});

describe('a path glob with an escaped character restores every entry it matches', () => {
  it.each([
    ['x*y', 'data/x\\*y/**'],
    ['a[1]', 'data/a\\[1\\]/**'],
    // No wildcard left once escaped: a literal path, the folder and all it holds.
    ['b(2)', 'data/b\\(2\\)'],
  ])(
    'folder %s restored with glob %s spans several index parts',
    async (folder, glob) => {
      const store = new LocalFolderStore(fresh('store'));
      const tree = fresh('home');
      fs.mkdirSync(path.join(tree, 'data', folder), { recursive: true });
      for (let i = 0; i < 25; i += 1)
        fs.writeFileSync(path.join(tree, 'data', folder, `f${String(i).padStart(2, '0')}`), `file ${i}`);
      fs.mkdirSync(path.join(tree, 'data', 'z'), { recursive: true });
      for (let i = 0; i < 5; i += 1) fs.writeFileSync(path.join(tree, 'data', 'z', `g${i}`), `z ${i}`);
      const rt = homeRuntime(store, settings(tree), path.join(work, 'scratch'));
      const id = 'b20261127t020001z-0001';
      const backup = await driveBackup(rt, backupContext(id));
      await commitSet(store, id, [backup]);

      const target = path.join(fresh('restore'), 'home');
      const restored = await driveRestore(
        homeRuntime(store, settings(target)),
        restoreContext(id, { path: glob }),
      );
      expect(restored.status).toBe('complete');
      const files = [...readTree(target)].filter(([, e]) => e.type === 'file').map(([p]) => p);
      // The glob's own matcher selects all 25 files of the folder: the restore must write them all.
      expect(files.filter((p) => p.startsWith(`data/${folder}/`))).toHaveLength(25);
    },
    60_000,
  );
});
