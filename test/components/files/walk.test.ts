import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { comparePaths } from '#components/files/paths.ts';
import { ShardCutter } from '#components/files/shard-plan.ts';
import { type WalkOptions, walkTree, walkTreeBatches } from '#components/files/walk.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'files-walk-'));
const home = path.join(dir, 'home');
const dl = path.join(dir, 'dl-elsewhere');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(rel: string, content = rel): void {
  const abs = path.join(home, rel);
  mkdirSync(path.dirname(abs), { recursive: true });
  writeFileSync(abs, content);
}

beforeAll(() => {
  for (const rel of ['a-c', 'a/b', 'a.txt', 'ab/x', 'Z', 'ü/日本', 'a/b-c/d', 'deep/1/2/3/4/5/6/7/8/9/f'])
    file(rel);
  for (let i = 0; i < 300; i += 1) file(`many/${String(i).padStart(3, '0')}/v1.0`);
  // Wider than a chunk of the walk (1,024 children statted at once), names not in creation order.
  for (let i = 0; i < 2500; i += 1) file(`wide/f-${(i * 7919) % 2500}`, '');
  mkdirSync(path.join(home, 'empty-dir'));
  symlinkSync('a.txt', path.join(home, 'link'));
  mkdirSync(path.join(dl, '20101/0'), { recursive: true });
  writeFileSync(path.join(dl, '20101/0/doc'), 'doc');
});

async function walk(options: Partial<WalkOptions> = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of walkTree({
    sources: [{ mount: '', root: home }],
    concurrency: 8,
    onWarning: () => undefined,
    ...options,
  })) {
    out.push(`${entry.path}${entry.type === 'dir' ? '/' : entry.type === 'symlink' ? '@' : ''}`);
  }
  return out;
}

const plain = (listing: string[]) => listing.map((item) => item.replace(/[/@]$/, ''));

describe('walk', () => {
  it('emits every entry once, already in index order, links not followed', async () => {
    const listing = await walk();
    const paths = plain(listing);
    expect([...paths].sort(comparePaths)).toEqual(paths);
    expect(new Set(paths).size).toBe(paths.length);
    expect(listing).toContain('link@');
    expect(listing).toContain('empty-dir/');
    expect(listing).toContain('ü/日本');
    expect(listing).toContain('deep/1/2/3/4/5/6/7/8/9/f');
  });

  it('lists the same, synchronously, asynchronously, and when it turns asynchronous half-way', async () => {
    const synchronous = await walk();
    expect(await walk({ synchronous: false })).toEqual(synchronous);
    // Every call counts as slow: the walk turns asynchronous after its first 32 calls.
    expect(await walk({ slowSyncCallMs: -1 })).toEqual(synchronous);
    const batches: number[] = [];
    for await (const batch of walkTreeBatches({
      sources: [{ mount: '', root: home }],
      concurrency: 8,
      onWarning: () => undefined,
    }))
      batches.push(batch.length);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(synchronous.length);
    expect(Math.max(...batches)).toBeLessThanOrEqual(256);
    const wide = synchronous.filter((item) => item.startsWith('wide/f-'));
    expect(wide).toHaveLength(2500);
    expect(wide).toEqual([...wide].sort(comparePaths));
  });

  it('walks shard ranges whose concatenation is the whole walk', async () => {
    const full = plain(await walk());
    const cutter = new ShardCutter({ maxFiles: 37, maxBytes: 1e12 });
    for (const p of full) cutter.add(p, 1, 0);
    const shards = cutter.finish();
    expect(shards.length).toBeGreaterThan(10);
    const joined: string[] = [];
    for (const shard of shards) joined.push(...plain(await walk({ range: shard, lookahead: 3 })));
    expect(joined).toEqual(full);
    const joinedAsync: string[] = [];
    for (const shard of shards)
      joinedAsync.push(...plain(await walk({ range: shard, lookahead: 3, synchronous: false })));
    expect(joinedAsync).toEqual(full);
  });

  it('applies the selection: pruned folders are not read, unselected folders only lead to selected paths', async () => {
    const seen: string[] = [];
    const listing = await walk({
      sources: [
        {
          mount: '',
          root: home,
          selection: {
            includes: (rel) => rel.startsWith('many/00') || rel === 'a.txt',
            prunes: (rel) => {
              seen.push(rel);
              return !(rel === 'many' || rel.startsWith('many/00'));
            },
          },
        },
      ],
    });
    // Folders the walk enters are recorded (many/ leads to selected paths); pruned ones are not entered.
    expect(listing).toEqual([
      'a.txt',
      'many/',
      ...Array.from({ length: 10 }, (_, i) => [`many/00${i}/`, `many/00${i}/v1.0`]).flat(),
    ]);
    expect(seen).not.toContain('deep/1'); // never descended into deep
  });

  it('adds a second source under its mount, in order, and hides a real folder of the same name', async () => {
    mkdirSync(path.join(home, '.external'));
    writeFileSync(path.join(home, '.external/shadowed'), 'x');
    const warnings: string[] = [];
    try {
      const listing = await walk({
        sources: [
          { mount: '', root: home },
          { mount: '.external/document_library', root: dl },
        ],
        onWarning: (message) => warnings.push(message),
      });
      expect(listing.filter((item) => item.startsWith('.external'))).toEqual([
        '.external/document_library/',
        '.external/document_library/20101/',
        '.external/document_library/20101/0/',
        '.external/document_library/20101/0/doc',
      ]);
      expect([...plain(listing)].sort(comparePaths)).toEqual(plain(listing));
      expect(warnings.join('\n')).toContain('.external in');
    } finally {
      rmSync(path.join(home, '.external'), { recursive: true });
    }
  });
});
