import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import {
  backupContext,
  commitSet,
  driveBackup,
  driveRestore,
  homeRuntime,
  indexEntriesOf,
  restoreContext,
} from './support/drive.ts';
import { bytesFor, diffTrees, readTree } from './support/trees.ts';

/**
 * A file too large to read in one invocation (a video on an EFS short of throughput): its read
 * stops at the shard's time budget and the next round goes on from where it stopped, never from
 * its first byte again. The budget here is 0 s, so every invocation reads one chunk of it and
 * stops; the mock below only counts the reads, the engine's code runs unchanged.
 */
const reads = vi.hoisted(() => ({
  calls: [] as Array<{ absPath: string; bytesRead: number; stopped: boolean }>,
}));

vi.mock('#components/files/content.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('#components/files/content.ts')>();
  return {
    ...original,
    readChunks: async (...args: Parameters<typeof original.readChunks>) => {
      const read = await original.readChunks(...args);
      reads.calls.push({ absPath: args[0], bytesRead: read.bytesRead, stopped: 'stopped' in read });
      return read;
    },
  };
});

const CHUNK = 64 * 1024;
const work = fs.mkdtempSync(path.join(tmpdir(), 'large-file-resume-'));
afterEach(() => {
  reads.calls.length = 0;
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

let homes = 0;
function setUp() {
  homes += 1;
  const home = path.join(work, `home-${homes}`);
  fs.mkdirSync(path.join(home, 'data/document_library'), { recursive: true });
  fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'x=y\n');
  fs.writeFileSync(path.join(home, 'data/document_library/small'), 'a small document');
  const store = new LocalFolderStore(path.join(work, `store-${homes}`));
  const rt = (root: string) =>
    homeRuntime(
      store,
      {
        root,
        shard: { maxFiles: 1000, maxBytes: 64 * 1024 * 1024, timeBudgetSeconds: 0 },
        blobThresholdBytes: CHUNK,
        chunkBytes: CHUNK,
        packBytes: 1024 * 1024,
        resumableFileBytes: 4 * CHUNK,
        // A file at the top that sorts before every other entry (the first entry of the first round).
        include: ['a-video.mp4'],
      },
      path.join(work, 'scratch'),
    );
  return { home, store, rt };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const readsOf = (file: string) => reads.calls.filter((call) => call.absPath === file);

async function restoredMatches(
  rt: (root: string) => ReturnType<typeof homeRuntime>,
  home: string,
  id: string,
) {
  const target = path.join(work, `restored-${homes}`);
  const restored = await driveRestore(rt(target), restoreContext(id, {}));
  expect(restored.status).toBe('complete');
  expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
}

describe('a large file whose read outlasts the time budget', () => {
  it.each([
    ['the first entry of the tree', 'a-video.mp4'],
    ['a file after others in its shard', 'data/document_library/video.mp4'],
  ])('is read across rounds, each byte once, when it is %s', async (_where, rel) => {
    // Prepare: 13.5 chunks, above the resumable size; every round may read one chunk of it.
    const { home, store, rt } = setUp();
    const bytes = bytesFor(`video-${rel}`, 13 * CHUNK + CHUNK / 2);
    fs.writeFileSync(path.join(home, rel), bytes);
    const id = `b20261128t020000z-${homes.toString(16).padStart(4, '0')}`;
    let rounds = 0;
    // Act
    const result = await driveBackup(rt(home), backupContext(id), 'liferayHome', {
      beforeShard: (_item, round) => {
        rounds = Math.max(rounds, round + 1);
        return true;
      },
    });
    // Assess: one chunk per round, every byte read once, the whole file's sha256 recorded.
    expect(result.status).toBe('complete');
    const ofVideo = readsOf(path.join(home, rel));
    expect(ofVideo).toHaveLength(14);
    expect(ofVideo.slice(0, -1).every((call) => call.stopped && call.bytesRead === CHUNK)).toBe(true);
    expect(ofVideo.reduce((sum, call) => sum + call.bytesRead, 0)).toBe(bytes.length);
    expect(rounds).toBeGreaterThanOrEqual(14);
    const entry = (await indexEntriesOf(store, result)).get(rel);
    expect(entry).toMatchObject({ type: 'file', size: bytes.length, sha256: sha256(bytes) });
    if (entry?.type !== 'file' || !entry.data || !('chunks' in entry.data)) throw new Error('not chunked');
    expect(entry.data.chunks).toHaveLength(14);
    await commitSet(store, id, [result]);
    await restoredMatches(rt, home, id);
  });

  it('starts again from its first byte when it changed between two rounds', async () => {
    // Prepare: the file is rewritten (same size, other bytes) once two rounds have read a chunk of it.
    const { home, store, rt } = setUp();
    const rel = 'data/document_library/video.mp4';
    const file = path.join(home, rel);
    fs.writeFileSync(file, bytesFor('first version', 6 * CHUNK));
    const second = bytesFor('second version', 6 * CHUNK);
    const id = 'b20261128t020000z-c001';
    // Act
    const result = await driveBackup(rt(home), backupContext(id), 'liferayHome', {
      beforeShard: () => {
        if (readsOf(file).length === 2 && !readsOf(file).some((call) => !call.stopped))
          fs.writeFileSync(file, second);
        return true;
      },
    });
    // Assess: the set records the second version (its sha256, and its bytes on restore).
    expect(result.status).toBe('complete');
    expect(readsOf(file).reduce((sum, call) => sum + call.bytesRead, 0)).toBe(2 * CHUNK + second.length);
    expect((await indexEntriesOf(store, result)).get(rel)).toMatchObject({ sha256: sha256(second) });
    await commitSet(store, id, [result]);
    await restoredMatches(rt, home, id);
  });

  it('is given up with a warning, not read forever, when it changes before every round', async () => {
    const { home, store, rt } = setUp();
    const rel = 'data/document_library/video.mp4';
    const file = path.join(home, rel);
    let version = 0;
    fs.writeFileSync(file, bytesFor(`version ${version}`, 6 * CHUNK));
    const id = 'b20261128t020000z-c002';
    // Act: rewritten before every round once its read began.
    const result = await driveBackup(rt(home), backupContext(id), 'liferayHome', {
      beforeShard: () => {
        if (readsOf(file).length > 0) {
          version += 1;
          fs.writeFileSync(file, bytesFor(`version ${version}`, 6 * CHUNK));
        }
        return true;
      },
    });
    // Assess: three attempts (as within one invocation), then the set goes on without it, saying so.
    expect(result.status).toBe('complete');
    expect(readsOf(file)).toHaveLength(3);
    expect((await indexEntriesOf(store, result)).has(rel)).toBe(false);
    expect(JSON.stringify(result)).toContain(`${rel} kept changing while it was read (3 times)`);
  });

  it('is read from its first byte when its checkpoint was damaged, never with the damaged state', async () => {
    // Prepare: once the first chunk was read and its checkpoint saved, one byte of the saved hash state changes.
    const { home, store, rt } = setUp();
    const rel = 'data/document_library/video.mp4';
    const bytes = bytesFor('video', 6 * CHUNK);
    fs.writeFileSync(path.join(home, rel), bytes);
    const id = 'b20261128t020000z-c003';
    const checkpoints = path.join(work, `store-${homes}`, `work/${id}/files/liferayHome/reads`);
    let damaged = false;
    // Act
    const result = await driveBackup(rt(home), backupContext(id), 'liferayHome', {
      beforeShard: () => {
        if (readsOf(path.join(home, rel)).length === 1 && !damaged) {
          const [name] = fs.readdirSync(checkpoints).filter((file) => file.endsWith('.json'));
          const key = path.join(checkpoints, name as string);
          const checkpoint = JSON.parse(fs.readFileSync(key, 'utf8')) as { hashState: string };
          const state = Buffer.from(checkpoint.hashState, 'base64');
          state[40] = (state[40] as number) ^ 1;
          checkpoint.hashState = state.toString('base64');
          fs.writeFileSync(key, JSON.stringify(checkpoint));
          damaged = true;
        }
        return true;
      },
    });
    // Assess: the first chunk was read twice (the damaged checkpoint was set aside), the sha256 is right.
    expect(damaged).toBe(true);
    expect(result.status).toBe('complete');
    expect(readsOf(path.join(home, rel)).reduce((sum, call) => sum + call.bytesRead, 0)).toBe(
      bytes.length + CHUNK,
    );
    expect((await indexEntriesOf(store, result)).get(rel)).toMatchObject({ sha256: sha256(bytes) });
  });

  it('is read in one go below the resumable size, as before', async () => {
    const { home, store, rt } = setUp();
    const rel = 'data/document_library/smaller.pdf';
    const bytes = bytesFor('smaller', 3 * CHUNK + 10);
    fs.writeFileSync(path.join(home, rel), bytes);
    const id = 'b20261128t020000z-c004';
    const result = await driveBackup(rt(home), backupContext(id));
    expect(result.status).toBe('complete');
    expect(readsOf(path.join(home, rel))).toEqual([
      { absPath: path.join(home, rel), bytesRead: bytes.length, stopped: false },
    ]);
    expect((await indexEntriesOf(store, result)).get(rel)).toMatchObject({ sha256: sha256(bytes) });
  });
});
