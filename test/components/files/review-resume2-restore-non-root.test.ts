import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { backupContext, commitSet, driveBackup, driveRestore, restoreContext } from './support/drive.ts';
import { CHUNK, clockedChunkReads, resumeHome } from './support/resume.ts';
import { bytesFor, diffTrees, readTree } from './support/trees.ts';

/**
 * Review of "large files across invocations" (files-engine.md), restore side: files of more chunks
 * than a fetch worker takes, inside read-only folders, written across rounds by a user other than
 * root (a Lambda's EFS access point user): no folder may get its mode before the file in it is
 * finished, and the tree must come out whole, with a `path` filter too.
 */
// Not under the test run's temporary folder (0700): nobody must reach the store and the target.
const work = fs.mkdtempSync('/tmp/review-resume2-restore-');
fs.chmodSync(work, 0o755);
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

const NOBODY = 65534;
let homes = 0;

describe('a restore across rounds of large files in read-only folders, as a user other than root', () => {
  it.each([
    ['the whole tree', undefined, ''],
    ['a path glob', 'data/ro/**', 'data/ro'],
  ])('writes %s whole, each chunk fetched once', async (_label, glob, under) => {
    if (typeof process.seteuid !== 'function' || process.geteuid?.() !== 0)
      throw new Error('this test needs root, to take the uid of nobody');
    // Prepare: data/ro (0555) starts with a large file, data/ro/inner (0555) holds one alone, and
    // data/ro/zz (0555) holds one after a small file; their shard ends right before each of them.
    homes += 1;
    const { home, store, storeDir, rt } = resumeHome(work, homes, 600);
    const ro = path.join(home, 'data/ro');
    fs.mkdirSync(path.join(ro, 'inner'), { recursive: true });
    fs.mkdirSync(path.join(ro, 'zz'), { recursive: true });
    fs.writeFileSync(path.join(ro, 'a-big.mp4'), bytesFor('a', 66 * CHUNK - 1));
    fs.writeFileSync(path.join(ro, 'inner/big.mp4'), bytesFor('b', 67 * CHUNK + 1));
    fs.writeFileSync(path.join(ro, 'zz/0.txt'), 'small');
    fs.writeFileSync(path.join(ro, 'zz/big.mp4'), bytesFor('c', 65 * CHUNK + 3));
    for (const dir of ['zz', 'inner', '.']) fs.chmodSync(path.join(ro, dir), 0o555);
    const id = `b20261128t060000z-${homes.toString(16).padStart(4, '0')}`;
    const backup = await driveBackup(rt(home), backupContext(id));
    await commitSet(store, id, [backup]);
    // nobody writes the store (checkpoints, results), the scratch folder and the target's parent.
    const out = path.join(work, `out-${homes}`);
    fs.mkdirSync(out);
    fs.mkdirSync(path.join(work, 'scratch'), { recursive: true });
    for (const dir of [storeDir, path.join(work, 'scratch'), out]) {
      fs.chmodSync(dir, 0o777);
      for (const entry of fs.readdirSync(dir, { recursive: true }))
        fs.chmodSync(path.join(dir, String(entry)), 0o777);
    }
    // A clock that moves 200 ms at each chunk's GET and a budget of 1 s: five chunks per round.
    const { store: slowStore, gets } = clockedChunkReads(store, 200);
    const target = path.join(out, 'target');
    // Act
    process.seteuid(NOBODY);
    let restored: unknown;
    let rounds = 0;
    try {
      restored = await driveRestore(
        rt(target, slowStore, 1),
        restoreContext(id, glob ? { path: glob } : {}),
        'liferayHome',
        {
          beforeShard: (_item, round) => {
            rounds = Math.max(rounds, round + 1);
            return true;
          },
        },
      ).catch((error: Error) => error);
    } finally {
      process.seteuid(0);
    }
    // Assess
    if (restored instanceof Error) throw restored;
    expect(gets).toHaveLength(66 + 68 + 66);
    expect(rounds).toBeGreaterThan(30);
    expect(fs.statSync(path.join(target, 'data/ro/inner/big.mp4')).uid).toBe(NOBODY);
    const expected = readTree(path.join(home, under));
    const actual = readTree(path.join(target, under));
    expect(diffTrees(expected, actual)).toEqual([]);
  });
});
