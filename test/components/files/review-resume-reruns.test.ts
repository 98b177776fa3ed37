import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { copyShard } from '#components/files/copy-shard.ts';
import { filesKeys } from '#components/files/keys.ts';
import {
  backupContext,
  commitSet,
  driveBackup,
  driveRestore,
  indexEntriesOf,
  restoreContext,
} from './support/drive.ts';
import { CHUNK, clockedChunkReads, clockedStore, resumeHome } from './support/resume.ts';
import { bytesFor, diffTrees, readTree } from './support/trees.ts';

/**
 * Review of "large files across invocations" (files-engine.md): re-runs of a round that goes on
 * with a large file, on both sides. The mock only counts the reads; the engine runs unchanged.
 */
const reads = vi.hoisted(() => ({ calls: [] as Array<{ absPath: string; bytesRead: number }> }));

vi.mock('#components/files/content.ts', async (importOriginal) => {
  const { observedContent } = await import('./support/observed-reads.ts');
  return observedContent(importOriginal, {
    afterLarge: (absPath, read) => reads.calls.push({ absPath, bytesRead: read.bytesRead }),
  });
});

const work = fs.mkdtempSync(path.join(tmpdir(), 'review-resume-reruns-'));
afterEach(() => {
  reads.calls.length = 0;
  vi.restoreAllMocks();
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

let homes = 0;
function setUp(budgetSeconds: number) {
  homes += 1;
  return resumeHome(work, homes, budgetSeconds);
}

describe('a copy shard that goes on with a large file from the first entry of the tree', () => {
  it('run again after it wrote its result (its answer lost) returns that result without walking again', async () => {
    // Prepare: the file sorts first, so the rounds after the first go on from '' (before every path).
    const { home, storeDir, rt } = setUp(0);
    const file = path.join(home, 'a-video.mp4');
    fs.writeFileSync(file, bytesFor('video', 6 * CHUNK));
    const id = 'b20261128t040000z-d001';
    const backup = backupContext(id);
    const reRuns: Array<{ readsByReRun: number; sameResult: boolean }> = [];
    // Act: every such shard runs once here, then the driver runs it again, as a Step Functions retry would.
    const result = await driveBackup(rt(home), backup, 'liferayHome', {
      beforeShard: async (item) => {
        if (item.after !== '') return true;
        const event = () => JSON.parse(JSON.stringify({ backup, component: 'liferayHome', shard: item }));
        await copyShard(event(), rt(home));
        const resultKey = filesKeys.shardResult(id, 'liferayHome', item.id);
        const written = fs.readFileSync(path.join(storeDir, resultKey), 'utf8');
        const readsBefore = reads.calls.length;
        await copyShard(event(), rt(home));
        const rewritten = fs.readFileSync(path.join(storeDir, resultKey), 'utf8');
        reRuns.push({ readsByReRun: reads.calls.length - readsBefore, sameResult: written === rewritten });
        return false;
      },
    });
    // Assess: the re-run neither read the file again nor replaced the result it was answering with.
    expect(result.status).toBe('complete');
    expect(reRuns.length).toBeGreaterThan(0);
    expect(reRuns).toEqual(reRuns.map(() => ({ readsByReRun: 0, sameResult: true })));
  });
});

describe('a restore with skipLost of a large file followed by a damaged small file', () => {
  it('writes the large file once, chunk by chunk, not again from its first byte after the restart', async () => {
    // Prepare: a file of 69 chunks (written by a restore across rounds) and a small file after it
    // whose bytes in its pack are damaged (found only while writing it: the pack exists).
    const { home, store, storeDir, rt } = setUp(600);
    const rel = 'data/document_library/video.mp4';
    fs.writeFileSync(path.join(home, rel), bytesFor('a long video', 69 * CHUNK - 100));
    fs.writeFileSync(path.join(home, 'data/document_library/zz-after.txt'), 'damaged in its pack');
    const id = 'b20261128t040000z-d002';
    const backup = await driveBackup(rt(home), backupContext(id));
    expect(backup.status).toBe('complete');
    await commitSet(store, id, [backup]);
    const damaged = (await indexEntriesOf(store, backup)).get('data/document_library/zz-after.txt');
    if (damaged?.type !== 'file' || !damaged.data || !('pack' in damaged.data))
      throw new Error('not in a pack');
    const packFile = path.join(storeDir, damaged.data.pack);
    const pack = fs.readFileSync(packFile);
    pack[damaged.data.offset] = (pack[damaged.data.offset] as number) ^ 1;
    fs.writeFileSync(packFile, pack);
    // A clock that moves 300 ms at each chunk's GET, a budget of 1 s: four chunks per round.
    const { store: slowStore, gets } = clockedChunkReads(store, 300);
    const target = path.join(work, `restored-${homes}`);
    // Act
    const restored = await driveRestore(
      rt(target, slowStore, 1),
      restoreContext(id, { skipLost: true }),
      'liferayHome',
    ).catch((error: Error) => error);
    // Assess: restored without the damaged file, each chunk of the large one fetched once.
    expect(restored).not.toBeInstanceOf(Error);
    expect(JSON.stringify(restored)).toContain('zz-after.txt');
    expect(gets).toHaveLength(69);
    expect(fs.readFileSync(path.join(target, rel)).equals(fs.readFileSync(path.join(home, rel)))).toBe(true);
  });

  it('goes on with the file when it is the first entry of its part (resumeAfter "")', async () => {
    // Prepare: 70 chunks at the top of the tree, before every folder.
    const { home, store, rt } = setUp(600);
    fs.writeFileSync(path.join(home, 'a-video.mp4'), bytesFor('a first video', 70 * CHUNK - 7));
    const id = 'b20261128t040000z-d003';
    const backup = await driveBackup(rt(home), backupContext(id));
    await commitSet(store, id, [backup]);
    const { store: slowStore, gets } = clockedChunkReads(store, 300);
    const target = path.join(work, `restored-${homes}`);
    const afters: Array<string | undefined> = [];
    // Act
    const restored = await driveRestore(rt(target, slowStore, 1), restoreContext(id, {}), 'liferayHome', {
      beforeShard: (item) => {
        afters.push(item.after);
        return true;
      },
    });
    // Assess
    expect(afters).toContain('');
    expect(restored.status).toBe('complete');
    expect(gets).toHaveLength(70);
    expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
  });
});

describe('the small files behind a large file whose read stops at the budget', () => {
  it('are uploaded again at most once (the round where its read first stopped), not once per round it takes', async () => {
    // Prepare: a resumable file of 16 chunks, then 30 small documents (each changed: a first backup).
    const { home, store, rt } = setUp(1);
    const docs = path.join(home, 'data/document_library');
    fs.writeFileSync(path.join(docs, 'a-video.mp4'), bytesFor('video', 16 * CHUNK));
    for (let i = 0; i < 30; i += 1) fs.writeFileSync(path.join(docs, `doc-${i}.pdf`), `document ${i}`);
    // A clock that moves 400 ms as each chunk is looked up before its upload, a budget of 1 s: three chunks per round.
    const packPuts: string[] = [];
    const slowStore = clockedStore(store, 400, (method, key) => {
      if (method === 'put' && key.startsWith('objects/packs/')) packPuts.push(key);
      return method === 'stat' && key.startsWith('objects/blobs/');
    });
    let rounds = 0;
    // Act
    const result = await driveBackup(
      rt(home, slowStore),
      backupContext('b20261128t040000z-d004'),
      'liferayHome',
      {
        beforeShard: (_item, round) => {
          rounds = Math.max(rounds, round + 1);
          return true;
        },
      },
    );
    // Assess: six rounds for the large file. The files the window read ahead behind it in the
    // round where it first stopped (32: the 30 documents and the two files before it) are packed
    // and uploaded once more (a second pack); the rounds that go on with it read nothing ahead
    // (each would add a pack). The counts are those of one round: what was cut off is not counted.
    expect(result.status).toBe('complete');
    expect(rounds).toBeGreaterThan(5);
    expect(result.summary).toMatchObject({ files: 33, uploadedFiles: 33 });
    expect(packPuts.length).toBeLessThanOrEqual(3);
  });
});
