import { describe, expect, it } from 'vitest';
import { comparePaths, inRange } from '#components/files/paths.ts';
import { ShardCutter } from '#components/files/shard-plan.ts';

function paths(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `d${Math.floor(i / 100)}/f${String(i).padStart(6, '0')}`).sort(
    comparePaths,
  );
}

describe('shard planning', () => {
  it('cuts a listing into ranges within the file limit that cover every path exactly once', () => {
    const cutter = new ShardCutter({ maxFiles: 250, maxBytes: 1e12 });
    const all = paths(1000);
    for (const path of all) cutter.add(path, 1, 10);
    const shards = cutter.finish();
    expect(shards).toHaveLength(4);
    for (const shard of shards) expect(shard.entries).toBeLessThanOrEqual(250);
    for (const path of all) expect(shards.filter((shard) => inRange(path, shard))).toHaveLength(1);
    // Paths that appear after planning still fall into exactly one shard.
    for (const path of ['', 'a', 'd3/new', 'd9/zzz', 'zzz/new']) {
      expect(shards.filter((shard) => inRange(path || 'x', shard))).toHaveLength(1);
    }
    expect(shards[0]?.after).toBeUndefined();
    expect(shards.at(-1)?.through).toBeUndefined();
  });

  it('cuts by bytes, and gives a file larger than the limit a shard of its own', () => {
    const cutter = new ShardCutter({ maxFiles: 1000, maxBytes: 100 });
    cutter.add('a', 1, 60);
    cutter.add('b', 1, 60);
    cutter.add('c', 1, 500);
    cutter.add('d', 1, 10);
    const shards = cutter.finish();
    expect(shards.map((shard) => [shard.after, shard.through, shard.bytes])).toEqual([
      [undefined, 'a', 60],
      ['a', 'b', 60],
      ['b', 'c', 500],
      ['c', undefined, 10],
    ]);
  });

  it('plans one open shard for an empty tree', () => {
    expect(new ShardCutter({ maxFiles: 10, maxBytes: 10 }).finish()).toEqual([
      { after: undefined, through: undefined, entries: 0, bytes: 0 },
    ]);
  });

  it('takes whole ranges of an earlier index as blocks, and says when one must be split', () => {
    const cutter = new ShardCutter({ maxFiles: 100, maxBytes: 1e9 });
    expect(cutter.exceedsAlone(150, 10)).toBe(true);
    expect(cutter.exceedsAlone(90, 10)).toBe(false);
    cutter.add('m', 60, 0);
    cutter.add('t', 30, 0);
    cutter.add('z', 60, 0);
    expect(cutter.finish().map((shard) => [shard.after, shard.through, shard.entries])).toEqual([
      [undefined, 't', 90],
      ['t', undefined, 60],
    ]);
  });
});
