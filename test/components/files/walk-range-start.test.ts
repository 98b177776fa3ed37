import fs, { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { comparePaths, inRange, type PathRange } from '#components/files/paths.ts';
import { walkTree } from '#components/files/walk.ts';

/**
 * A shard whose range starts deep in a wide folder (a document library folder of 300,000
 * documents) statted every child before its start, each time, and threw the stats away: the time
 * of the shards before it again, and 100 MB of heap. The walk now starts each listing that holds
 * the range's start at the first child the range can reach.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'walk-range-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  // wide/ holds 1,000 files and two folders, one of them before the range's start with the start inside it.
  mkdirSync(path.join(dir, 'wide', 'f0500', 'inner'), { recursive: true });
  mkdirSync(path.join(dir, 'wide', 'f0100'), { recursive: true });
  writeFileSync(path.join(dir, 'wide', 'f0100', 'x'), 'x');
  for (let i = 0; i < 1000; i += 1) {
    const name = `f${String(i).padStart(4, '0')}`;
    if (name !== 'f0500' && name !== 'f0100') writeFileSync(path.join(dir, 'wide', name), name);
  }
  writeFileSync(path.join(dir, 'wide', 'f0500', 'inner', 'a'), 'a');
  writeFileSync(path.join(dir, 'wide', 'f0500', 'inner', 'b'), 'b');
  writeFileSync(path.join(dir, 'wide', 'f0500-z'), 'z');
});

/** Every path of the tree, walked without a range, then kept if in it: what a ranged walk must give. */
async function expected(range: PathRange): Promise<string[]> {
  const all: string[] = [];
  for await (const entry of walkTree({
    sources: [{ mount: '', root: dir }],
    concurrency: 4,
    onWarning: () => {},
  }))
    all.push(entry.path);
  return all.filter((p) => inRange(p, range));
}

async function walkCountingLstat(range: PathRange): Promise<{ paths: string[]; lstats: number }> {
  const original = fs.lstatSync;
  // The module's own exports object (what syncBuiltinESMExports copies into the ESM bindings).
  const mutable = fs as unknown as { lstatSync: typeof original };
  let lstats = 0;
  mutable.lstatSync = ((...args: Parameters<typeof original>) => {
    lstats += 1;
    return original(...args);
  }) as typeof original;
  syncBuiltinESMExports();
  try {
    const paths: string[] = [];
    for await (const entry of walkTree({
      sources: [{ mount: '', root: dir }],
      range,
      concurrency: 4,
      // Synchronous calls throughout, however slow a busy machine makes them: asynchronous ones are not counted.
      slowSyncCallMs: Number.POSITIVE_INFINITY,
      onWarning: () => {},
    }))
      paths.push(entry.path);
    return { paths, lstats };
  } finally {
    mutable.lstatSync = original;
    syncBuiltinESMExports();
  }
}

describe('a walk whose range starts deep in a wide folder', () => {
  it.each([
    ['a file', { after: 'wide/f0900' }],
    ['a path beneath a folder before it', { after: 'wide/f0500/inner/a' }],
    ['a folder itself', { after: 'wide/f0500' }],
    ['with an end', { after: 'wide/f0100', through: 'wide/f0200' }],
  ])('gives exactly the entries of the range (after %s)', async (_what, range) => {
    const { paths } = await walkCountingLstat(range);
    expect(paths).toEqual(await expected(range));
    expect([...paths].sort(comparePaths)).toEqual(paths);
  });

  it('does not stat the children before the range start', async () => {
    const { paths, lstats } = await walkCountingLstat({ after: 'wide/f0900' });
    expect(paths).toHaveLength(99);
    // wide itself, then the 99 files after f0900 (and a few at most around the start)
    expect(lstats).toBeLessThan(110);
    expect(lstats).toBeGreaterThanOrEqual(100);
  });
});
