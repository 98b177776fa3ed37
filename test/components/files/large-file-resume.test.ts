import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { sameIdentity } from '#components/files/content.ts';
import { filesKeys } from '#components/files/keys.ts';
import { SafeTree } from '#components/files/restore-fs.ts';
import {
  backupContext,
  commitSet,
  driveBackup,
  driveRestore,
  type homeRuntime,
  indexEntriesOf,
  restoreContext,
} from './support/drive.ts';
import { CHUNK, clockedChunkReads, resumeHome } from './support/resume.ts';
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
  const { observedContent } = await import('./support/observed-reads.ts');
  return observedContent(importOriginal, {
    afterLarge: (absPath, read) =>
      reads.calls.push({ absPath, bytesRead: read.bytesRead, stopped: 'stopped' in read }),
  });
});

const work = fs.mkdtempSync(path.join(tmpdir(), 'large-file-resume-'));
afterEach(() => {
  reads.calls.length = 0;
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

let homes = 0;
function setUp(budgetSeconds = 0) {
  homes += 1;
  return resumeHome(work, homes, budgetSeconds);
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
    const { home, store, storeDir, rt } = setUp();
    const rel = 'data/document_library/video.mp4';
    const bytes = bytesFor('video', 6 * CHUNK);
    fs.writeFileSync(path.join(home, rel), bytes);
    const id = 'b20261128t020000z-c003';
    const checkpoints = path.join(storeDir, `work/${id}/files/liferayHome/resume`);
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

  it('is read in one go when it is a log (append-only): its growth since an earlier round would restart it', async () => {
    const { home, store, rt } = setUp();
    const rel = 'logs/liferay.2026-11-28.log';
    fs.mkdirSync(path.join(home, 'logs'));
    const bytes = bytesFor('log lines', 6 * CHUNK);
    fs.writeFileSync(path.join(home, rel), bytes);
    const id = 'b20261128t020000z-c005';
    const result = await driveBackup(rt(home), backupContext(id));
    expect(result.status).toBe('complete');
    expect(readsOf(path.join(home, rel))).toEqual([
      { absPath: path.join(home, rel), bytesRead: bytes.length, stopped: false },
    ]);
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

describe('a restore of a file too large for one invocation (more chunks than a fetch worker takes)', () => {
  /**
   * 70 chunks (more than the 64 a fetch worker takes), restored with a budget of 1 s on a clock
   * that moves 300 ms at each chunk's GET: every invocation writes four chunks and stops.
   */
  async function setUpRestore() {
    const { home, store, storeDir, rt } = setUp(600);
    const rel = 'data/document_library/video.mp4';
    const bytes = bytesFor('a long video', 70 * CHUNK - 100);
    fs.writeFileSync(path.join(home, rel), bytes);
    const id = `b20261128t030000z-${homes.toString(16).padStart(4, '0')}`;
    const backup = await driveBackup(rt(home), backupContext(id));
    expect(backup.status).toBe('complete');
    await commitSet(store, id, [backup]);
    const { store: slowStore, gets } = clockedChunkReads(store, 300);
    const target = path.join(work, `restored-${homes}`);
    return {
      home,
      store,
      storeDir,
      backup,
      rel,
      bytes,
      id,
      target,
      gets,
      restoreRt: rt(target, slowStore, 1),
    };
  }

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('writes it across rounds, each chunk fetched once, and checks its sha256', async () => {
    const { home, id, target, gets, restoreRt } = await setUpRestore();
    let rounds = 0;
    // Act
    const restored = await driveRestore(restoreRt, restoreContext(id, {}), 'liferayHome', {
      beforeShard: (_item, round) => {
        rounds = Math.max(rounds, round + 1);
        return true;
      },
    });
    // Assess
    expect(restored.status).toBe('complete');
    expect(rounds).toBe(18);
    expect(gets).toHaveLength(70);
    expect(new Set(gets).size).toBe(70);
    expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
  });

  it('names the damaged chunk when one of them no longer matches its name', async () => {
    // Prepare: one byte of the file's 30th chunk changes in the store.
    const { store, storeDir, backup, rel, id, target, restoreRt } = await setUpRestore();
    const entry = (await indexEntriesOf(store, backup)).get(rel);
    if (entry?.type !== 'file' || !entry.data || !('chunks' in entry.data)) throw new Error('not chunked');
    const [sha256] = entry.data.chunks[29] as [string, number];
    const blob = path.join(storeDir, filesKeys.blob(sha256));
    const bytes = fs.readFileSync(blob);
    bytes[100] = (bytes[100] as number) ^ 1;
    fs.writeFileSync(blob, bytes);
    // Act
    const failed = await driveRestore(restoreRt, restoreContext(id, {})).catch((error: Error) => error);
    // Assess: the chunk is named (what skipLost goes without), not only the file.
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).message).toContain(
      `${rel}: the chunk ${filesKeys.blob(sha256)} does not match its name: the stored copy is damaged`,
    );
    expect(fs.existsSync(path.join(target, rel))).toBe(false);
  });

  it('starts the file again when its staging copy changed between two rounds', async () => {
    // Prepare: once two rounds wrote into it, one byte is appended to the half-written file.
    const { home, rel, id, target, gets, restoreRt } = await setUpRestore();
    let touched = false;
    // Act
    const restored = await driveRestore(restoreRt, restoreContext(id, {}), 'liferayHome', {
      beforeShard: () => {
        if (gets.length === 8 && !touched) {
          const [staging] = fs.readdirSync(work).filter((name) => name.startsWith(`restored-${homes}.`));
          const partial = path.join(work, staging as string, rel);
          fs.appendFileSync(partial, 'x');
          touched = true;
        }
        return true;
      },
    });
    // Assess: the eight chunks written before are fetched again, and the file is whole.
    expect(touched).toBe(true);
    expect(restored.status).toBe('complete');
    expect(gets).toHaveLength(78);
    expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
  });
});

describe('going on with a staging file (SafeTree.openUnchanged)', () => {
  it('gives no descriptor, and no error, for a file an earlier attempt finished (read-only) as a user other than root', async () => {
    // Prepare: nobody's staging folder, holding a file an attempt wrote to its end and set to 0444.
    const staging = path.join(work, 'staging-read-only');
    fs.mkdirSync(staging);
    const file = path.join(staging, 'video.mp4');
    fs.writeFileSync(file, 'finished');
    fs.chmodSync(file, 0o444);
    fs.chownSync(staging, 65534, 65534);
    fs.chownSync(file, 65534, 65534);
    const left = fs.lstatSync(file, { bigint: true });
    if (typeof process.seteuid !== 'function' || process.geteuid?.() !== 0)
      throw new Error('this test needs root, to take the uid of nobody');
    // Act: as nobody (a Lambda's EFS access point user), as the restore would.
    process.seteuid(65534);
    let opened: number | undefined | Error;
    try {
      opened = await new SafeTree(staging).openUnchanged('video.mp4', left).catch((error: Error) => error);
    } finally {
      process.seteuid(0);
    }
    // Assess: the caller starts the file again (createFile replaces it), the shard does not fail.
    expect(opened).toBeUndefined();
  });
});

describe('the identity of a file across invocations (sameIdentity)', () => {
  it('does not compare the device: two Lambda environments may number one EFS mount differently', () => {
    const file = path.join(work, 'identity');
    fs.writeFileSync(file, 'same bytes');
    const seen = fs.statSync(file, { bigint: true });
    const seenWith = (changes: Partial<fs.BigIntStats>): fs.BigIntStats =>
      Object.assign(Object.create(Object.getPrototypeOf(seen)), seen, changes);
    expect(sameIdentity(seenWith({ dev: seen.dev + 1n }), seen)).toBe(true);
    // Another inode, or other times, is another file (or the same one changed).
    expect(sameIdentity(seenWith({ ino: seen.ino + 1n }), seen)).toBe(false);
    expect(sameIdentity(seenWith({ ctimeNs: seen.ctimeNs + 1n }), seen)).toBe(false);
  });
});
