import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { PackWriter, readSmallFile, UploadBuffers } from '#components/files/content.ts';
import { ContentChangedError } from '#components/files/errors.ts';
import type { FileIo } from '#components/files/fsx.ts';
import type { IndexEntry } from '#components/files/index-format.ts';
import type { ContentStore } from '#store/content-store.ts';
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
import { bytesFor } from './support/trees.ts';

/**
 * Files that another process changes while a backup reads them (Liferay writing a document, a
 * log, an app being redeployed). The mock below only chooses WHEN a simulated writer acts: before
 * a small file is opened, after the first (short) read of its bytes, or after a large file's first
 * chunk. The engine's own code runs unchanged.
 */
const writers = vi.hoisted(() => ({
  /** Runs before each read of that small file (and removes itself when it should act once). */
  beforeSmallRead: new Map<string, () => void>(),
  /**
   * Runs after the first read call of each read of that small file. Its read calls are cut to
   * 16 KiB, as a read may be (NFS hands out what it has), so that a write can fall between two.
   */
  duringSmallRead: new Map<string, () => void>(),
  /** Runs once the engine has read a large file's first chunk. */
  afterFirstChunk: new Map<string, () => void>(),
}));

vi.mock('#components/files/content.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('#components/files/content.ts')>();
  const fsx = await import('#components/files/fsx.ts');
  const shortReads = (io: FileIo, writer: () => void): FileIo => {
    let reads = 0;
    const read: FileIo['read'] = async (fd, buffer, offset, length, position) => {
      const bytes = await io.read(fd, buffer, offset, Math.min(length, 16 * 1024), position);
      reads += 1;
      if (reads === 1) writer();
      return bytes;
    };
    return new Proxy(io, {
      get: (target, key) => {
        if (key === 'read') return read;
        const value = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
  return {
    ...original,
    readSmallFile: async (
      ...[absPath, buffer, io, appendOnly]: Parameters<typeof original.readSmallFile>
    ) => {
      writers.beforeSmallRead.get(absPath)?.();
      const writer = writers.duringSmallRead.get(absPath);
      return original.readSmallFile(
        absPath,
        buffer,
        writer ? shortReads(io ?? fsx.ASYNC_IO, writer) : io,
        appendOnly,
      );
    },
    readChunks: (
      ...[absPath, chunkBytes, buffers, onChunk, io, appendOnly]: Parameters<typeof original.readChunks>
    ) =>
      original.readChunks(
        absPath,
        chunkBytes,
        buffers,
        async (chunk, bytes, release) => {
          if (chunk.start === 0) writers.afterFirstChunk.get(absPath)?.();
          return onChunk(chunk, bytes, release);
        },
        io,
        appendOnly,
      ),
  };
});

const work = fs.mkdtempSync(path.join(tmpdir(), 'changing-files-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
let homes = 0;

/**
 * A Liferay Home with one file at `rel`, a store and a runtime: blob threshold and chunks of
 * 256 KiB, packs (and so upload buffers) of 1 MiB.
 */
function setUp(rel: string, content: Buffer) {
  homes += 1;
  const home = path.join(work, `home-${homes}`);
  const file = path.join(home, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'x=y\n');
  writeVersion(file, content, 0);
  const store = new LocalFolderStore(path.join(work, `store-${homes}`));
  const rt = (root: string) =>
    homeRuntime(
      store,
      {
        root,
        shard: { maxFiles: 1000, maxBytes: 64 * 1024 * 1024, timeBudgetSeconds: 600 },
        blobThresholdBytes: 256 * 1024,
        chunkBytes: 256 * 1024,
        packBytes: 1024 * 1024,
      },
      path.join(work, 'scratch'),
    );
  return { home, file, store, rt };
}

/**
 * Writes a version of a file in place (truncate, then write) with an mtime of its own. Two writes
 * within one tick of the kernel's clock get the same times, and no reader of stats (this engine's
 * check, the next backup's quick check) can tell them apart; a real writer's versions are further
 * apart than that.
 */
function writeVersion(file: string, content: Buffer, version: number): void {
  fs.writeFileSync(file, content);
  const mtime = new Date(Date.UTC(2026, 0, 1, 0, 0, version));
  fs.utimesSync(file, mtime, mtime);
}

/** Every object an entry references is stored, and holds the range the entry says it holds. */
async function expectStoredWhole(store: ContentStore, entries: Map<string, IndexEntry>): Promise<void> {
  for (const entry of entries.values()) {
    if (entry.type !== 'file' || !entry.data) continue;
    const { data } = entry;
    if ('pack' in data) {
      const size = (await store.stat(data.pack))?.size;
      expect(size, `${entry.path}: ${data.pack} holds ${data.offset}+${data.length}`).toBeGreaterThanOrEqual(
        data.offset + data.length,
      );
    } else if ('blob' in data) {
      expect((await store.stat(data.blob))?.size, `${entry.path}: ${data.blob}`).toBe(entry.size);
    } else {
      expect(
        data.chunks.reduce((sum, [, size]) => sum + size, 0),
        `${entry.path}: its chunks`,
      ).toBe(entry.size);
      for (const [chunkSha, size] of data.chunks)
        expect((await store.stat(`objects/blobs/${chunkSha.slice(0, 2)}/${chunkSha}`))?.size).toBe(size);
    }
  }
}

/** Restores a committed set into a new folder and returns its bytes at `rel` (undefined: no such file). */
async function restoredBytes(
  rt: (root: string) => ReturnType<typeof homeRuntime>,
  backupId: string,
  rel: string,
): Promise<Buffer | undefined> {
  homes += 1;
  const target = path.join(work, `restored-${homes}`);
  const restored = await driveRestore(rt(target), restoreContext(backupId, { target }));
  expect(restored.status).toBe('complete');
  const file = path.join(target, rel);
  return fs.existsSync(file) ? fs.readFileSync(file) : undefined;
}

describe('a small file that grows between the walk and its read', () => {
  it('past the blob threshold: it is stored whole as chunks, and that set and the next one restore it', async () => {
    // Prepare: 10,000 bytes when the walk lists it, 3 MiB more when the engine opens it.
    const rel = 'data/document_library/20101/20000/1000.pdf/1.0';
    const { file, store, rt, home } = setUp(rel, bytesFor('start', 10_000));
    writers.beforeSmallRead.set(file, () => {
      writers.beforeSmallRead.delete(file);
      fs.appendFileSync(file, bytesFor('appended', 3 * 1024 * 1024));
    });
    const first = 'b20261127t020000z-c001';
    // Act
    const result = await driveBackup(rt(home), backupContext(first));
    await commitSet(store, first, [result]);
    const second = 'b20261128t020000z-c002';
    const next = await driveBackup(rt(home), backupContext(second, first));
    await commitSet(store, second, [next], first);
    // Assess: one complete set whose entry is the grown file, read in chunks (not into a pack).
    expect(writers.beforeSmallRead.has(file)).toBe(false);
    expect(result.status).toBe('complete');
    const onDisk = fs.readFileSync(file);
    const entry = (await indexEntriesOf(store, result)).get(rel);
    expect(entry).toMatchObject({ type: 'file', size: onDisk.length, sha256: sha(onDisk) });
    await expectStoredWhole(store, await indexEntriesOf(store, result));
    expect(entry?.type === 'file' && entry.data && 'chunks' in entry.data).toBe(true);
    expect(next.status).toBe('complete');
    expect(next.summary.changedFiles).toBe(0);
    await expectStoredWhole(store, await indexEntriesOf(store, next));
    expect((await restoredBytes(rt, first, rel))?.equals(onDisk)).toBe(true);
    expect((await restoredBytes(rt, second, rel))?.equals(onDisk)).toBe(true);
  });

  it('but stays small: it is read again at its new size and packed whole', async () => {
    // Prepare: 10,000 bytes listed, 100,000 read (below the 256 KiB threshold).
    const rel = 'data/document_library/20101/20000/1001.pdf/1.0';
    const { file, store, rt, home } = setUp(rel, bytesFor('start-small', 10_000));
    writers.beforeSmallRead.set(file, () => {
      writers.beforeSmallRead.delete(file);
      fs.appendFileSync(file, bytesFor('appended-small', 90_000));
    });
    const id = 'b20261127t020000z-c003';
    // Act
    const result = await driveBackup(rt(home), backupContext(id));
    await commitSet(store, id, [result]);
    // Assess
    expect(result.status).toBe('complete');
    const onDisk = fs.readFileSync(file);
    expect(onDisk.length).toBe(100_000);
    const entry = (await indexEntriesOf(store, result)).get(rel);
    expect(entry).toMatchObject({ type: 'file', size: 100_000, sha256: sha(onDisk) });
    expect(entry?.type === 'file' && entry.data && 'pack' in entry.data).toBe(true);
    await expectStoredWhole(store, await indexEntriesOf(store, result));
    expect((await restoredBytes(rt, id, rel))?.equals(onDisk)).toBe(true);
  });

  it('is never read past the buffer it was given (readSmallFile refuses a file that no longer fits)', async () => {
    // Prepare: a file of 1 MiB, a buffer for the 10 bytes the walk saw plus one.
    const file = path.join(work, 'grown-to-a-megabyte');
    fs.writeFileSync(file, bytesFor('big', 1024 * 1024));
    // Act / Assess
    await expect(readSmallFile(file, Buffer.alloc(11))).rejects.toBeInstanceOf(ContentChangedError);
  });
});

describe('PackWriter', () => {
  it('refuses bytes that do not fit in a pack buffer, and packs nothing of them', async () => {
    // Prepare: upload buffers of 1 MiB.
    const store = new LocalFolderStore(path.join(work, 'pack-store'));
    const stored: Array<{ key: string; size: number; files: Array<[string, number, number]> }> = [];
    const packs = new PackWriter({
      store,
      targetBytes: 1024 * 1024,
      buffers: new UploadBuffers(2, 1024 * 1024),
      checkpointKey: (packId) => `work/packs/${packId}.json`,
      onStored: (pack) => stored.push(pack),
    });
    const large = bytesFor('large', 3 * 1024 * 1024);
    const small = bytesFor('small', 1000);
    // Act / Assess: the large bytes are refused; the one pack holds exactly the small file.
    await expect(packs.add(sha(large), large)).rejects.toThrow(/does not fit in a pack buffer/);
    const location = await packs.add(sha(small), small);
    await packs.finish();
    expect(stored).toEqual([
      { packId: expect.any(String), key: expect.any(String), size: 1000, files: [[sha(small), 0, 1000]] },
    ]);
    expect(location).toEqual({ pack: stored[0]?.key, offset: 0, length: 1000 });
    expect((await store.stat(stored[0]?.key ?? ''))?.size).toBe(1000);
  });
});

describe('a file rewritten in place (same size) while it is read', () => {
  it.each([
    {
      // 1 MiB read in 256 KiB chunks; after the first chunk, a writer rewrites it.
      kind: 'large',
      rel: 'osgi/marketplace/app.lpkg',
      size: 1024 * 1024,
      during: writers.afterFirstChunk,
      id: 'b20261127t020000z-c004',
    },
    {
      // 64 KiB, read 16 KiB at a time; after the first read, a writer rewrites it.
      kind: 'small',
      rel: 'data/document_library/20101/20000/1002.pdf/1.0',
      size: 64 * 1024,
      during: writers.duringSmallRead,
      id: 'b20261127t020000z-c005',
    },
  ])(
    '$kind: it is read again and recorded as the version it holds now, never a mix',
    async ({ kind, rel, size, during, id }) => {
      // Prepare
      const before = bytesFor(`${kind}-version-1`, size);
      const after = bytesFor(`${kind}-version-2`, size);
      const { file, store, rt, home } = setUp(rel, before);
      during.set(file, () => {
        during.delete(file);
        writeVersion(file, after, 1);
      });
      // Act
      const result = await driveBackup(rt(home), backupContext(id));
      await commitSet(store, id, [result]);
      // Assess: the writer did write during the read; the entry is version 2, with its times.
      expect(during.has(file)).toBe(false);
      expect(result.status).toBe('complete');
      const entry = (await indexEntriesOf(store, result)).get(rel);
      const stats = fs.statSync(file, { bigint: true });
      expect(entry).toMatchObject({
        type: 'file',
        size: after.length,
        sha256: sha(after),
        mtimeNs: `${stats.mtimeNs}`,
      });
      expect((await restoredBytes(rt, id, rel))?.equals(after)).toBe(true);
    },
  );

  it('small, on every read: a new file is left out with a warning', async () => {
    // Prepare: a writer rewrites it during every read.
    const rel = 'data/document_library/20101/20000/1003.pdf/1.0';
    const { file, store, rt, home } = setUp(rel, bytesFor('busy-0', 64 * 1024));
    let version = 0;
    writers.duringSmallRead.set(file, () => {
      version += 1;
      writeVersion(file, bytesFor(`busy-${version}`, 64 * 1024), version);
    });
    const id = 'b20261127t020000z-c006';
    // Act
    const result = await driveBackup(rt(home), backupContext(id));
    writers.duringSmallRead.delete(file);
    // Assess: three reads, each torn by a write; no entry, and the warning says why.
    expect(version).toBe(3);
    expect(result.status).toBe('complete');
    expect((await indexEntriesOf(store, result)).has(rel)).toBe(false);
    expect(result.warnings).toContain(
      `${rel} kept changing while it was read (3 times); it is not in this backup`,
    );
  });

  it('small, on every read: a file backed up before keeps its previous version, with a warning', async () => {
    // Prepare: a first set with version 1; then version 2 on disk, rewritten during every read.
    const rel = 'data/document_library/20101/20000/1004.pdf/1.0';
    const first = bytesFor('kept-1', 64 * 1024);
    const { file, store, rt, home } = setUp(rel, first);
    const firstId = 'b20261127t020000z-c007';
    await commitSet(store, firstId, [await driveBackup(rt(home), backupContext(firstId))]);
    writeVersion(file, bytesFor('kept-2', 64 * 1024), 2);
    let version = 2;
    writers.duringSmallRead.set(file, () => {
      version += 1;
      writeVersion(file, bytesFor(`kept-${version}`, 64 * 1024), version);
    });
    const secondId = 'b20261128t020000z-c008';
    // Act
    const result = await driveBackup(rt(home), backupContext(secondId, firstId));
    writers.duringSmallRead.delete(file);
    await commitSet(store, secondId, [result], firstId);
    // Assess: the second set holds version 1 (a real version), and says so.
    expect(version).toBe(5);
    expect(result.status).toBe('complete');
    expect((await indexEntriesOf(store, result)).get(rel)).toMatchObject({
      type: 'file',
      sha256: sha(first),
    });
    expect(result.warnings).toContain(
      `${rel} kept changing while it was read (3 times); the backup keeps its previous version`,
    );
    expect((await restoredBytes(rt, secondId, rel))?.equals(first)).toBe(true);
  });
});

describe("Liferay's log, appended to while it is read (a busy site writes it all night)", () => {
  it.each([
    { kind: 'small', size: 64 * 1024, during: writers.duringSmallRead, id: 'b20261127t030000z-c101' },
    { kind: 'large', size: 1024 * 1024, during: writers.afterFirstChunk, id: 'b20261127t030000z-c102' },
  ])(
    '$kind: it is stored as it was when the read began, without a warning; the next backup takes the rest',
    async ({ kind, size, during, id }) => {
      // Prepare: every read of the log is followed by an appended line, as log4j writes them.
      const rel = 'logs/liferay.2026-11-27.log';
      const begun = bytesFor(`${kind}-log`, size);
      const { file, store, rt, home } = setUp(rel, begun);
      const openedAt = fs.statSync(file, { bigint: true });
      let appended = 0;
      during.set(file, () => {
        appended += 1;
        fs.appendFileSync(file, `line ${appended}\n`);
      });
      // Act
      const result = await driveBackup(rt(home), backupContext(id));
      during.delete(file);
      await commitSet(store, id, [result]);
      // Assess: read once; the entry is the file as it was opened (its bytes, size and times).
      expect(appended).toBe(1);
      expect(result.status).toBe('complete');
      expect(result.warnings.filter((warning) => warning.includes(rel))).toEqual([]);
      const entries = await indexEntriesOf(store, result);
      expect(entries.get(rel)).toMatchObject({
        type: 'file',
        size: begun.length,
        sha256: sha(begun),
        mtimeNs: `${openedAt.mtimeNs}`,
      });
      await expectStoredWhole(store, entries);
      expect((await restoredBytes(rt, id, rel))?.equals(begun)).toBe(true);
      // The next backup sees a longer file than recorded and reads it whole.
      const nextId = id.replace('t030000z', 't040000z');
      const next = await driveBackup(rt(home), backupContext(nextId, id));
      expect((await indexEntriesOf(store, next)).get(rel)).toMatchObject({
        sha256: sha(fs.readFileSync(file)),
      });
    },
  );

  it('truncated and written again, longer, while it is read: not an append, so it is read again', async () => {
    // Prepare: the first read is torn by a rewrite that leaves the file longer (not an append).
    const rel = 'logs/liferay.2026-11-28.log';
    const { file, store, rt, home } = setUp(rel, bytesFor('log-v1', 64 * 1024));
    const rewritten = bytesFor('log-v2', 80 * 1024);
    writers.duringSmallRead.set(file, () => {
      writers.duringSmallRead.delete(file);
      writeVersion(file, rewritten, 1);
    });
    const id = 'b20261127t030000z-c103';
    // Act
    const result = await driveBackup(rt(home), backupContext(id));
    // Assess: the torn read was refused; the second read recorded the rewritten file whole.
    expect(writers.duringSmallRead.has(file)).toBe(false);
    expect((await indexEntriesOf(store, result)).get(rel)).toMatchObject({
      size: rewritten.length,
      sha256: sha(rewritten),
    });
  });

  it('outside the logs folder, a file that grows while it is read is read again (no part of it is stored)', async () => {
    const rel = 'data/document_library/20101/20000/1005.txt/1.0';
    const { file, store, rt, home } = setUp(rel, bytesFor('doc-grows', 64 * 1024));
    writers.duringSmallRead.set(file, () => {
      writers.duringSmallRead.delete(file);
      fs.appendFileSync(file, 'more\n');
    });
    const id = 'b20261127t030000z-c104';
    const result = await driveBackup(rt(home), backupContext(id));
    expect(writers.duringSmallRead.has(file)).toBe(false);
    expect((await indexEntriesOf(store, result)).get(rel)).toMatchObject({
      sha256: sha(fs.readFileSync(file)),
    });
  });
});

/** Ends a helper started detached (sh and its sleep), by its id; one that ended already is fine. */
function endProcessGroup(child: ChildProcess | undefined): void {
  if (child?.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

describe('a file replaced by a named pipe between the walk and the read', () => {
  it('is skipped with a warning at once, without waiting for a writer to open the pipe', async () => {
    // Prepare: the file becomes a pipe right before the engine opens it. If the engine waited
    // for a writer, a helper process opens the pipe after 6 s (so the test ends either way),
    // leaving a mark first.
    const rel = 'data/pipe-later';
    const { file, rt, home } = setUp(rel, Buffer.from('a regular file when listed'));
    const mark = path.join(work, 'the-helper-opened-the-pipe');
    let helper: ChildProcess | undefined;
    writers.beforeSmallRead.set(file, () => {
      writers.beforeSmallRead.delete(file);
      fs.rmSync(file);
      execFileSync('mkfifo', [file]);
      helper = spawn('sh', ['-c', `sleep 6; : > '${mark}'; : > '${file}'`], {
        detached: true,
        stdio: 'ignore',
      });
    });
    try {
      // Act
      const result = await driveBackup(rt(home), backupContext('b20261127t020000z-c009'));
      // Assess: done before the helper acted, the pipe named in a warning.
      expect(helper).toBeDefined();
      expect(fs.existsSync(mark), 'the backup waited until the helper opened the pipe').toBe(false);
      expect(result.status).toBe('complete');
      expect(result.warnings).toContain(`could not read ${rel} (ENOTFILE); it is not in this backup`);
    } finally {
      endProcessGroup(helper);
    }
  });
});

describe('a symbolic link whose target is not valid UTF-8', () => {
  it('is skipped with a warning (never restored pointing elsewhere); a link to a UTF-8 name is kept', async () => {
    // Prepare: data/link -> "doc-\xff" (a Latin-1 name, as an old server might have written);
    // data/ok -> "doc-ü" in UTF-8.
    const { store, rt, home } = setUp('portal-setup-wizard.properties', Buffer.from('a=b\n'));
    fs.mkdirSync(path.join(home, 'data'), { recursive: true });
    fs.symlinkSync(Buffer.from([...Buffer.from('doc-'), 0xff]), path.join(home, 'data/link'));
    fs.symlinkSync('doc-ü', path.join(home, 'data/ok'));
    const id = 'b20261127t020000z-c00a';
    // Act
    const result = await driveBackup(rt(home), backupContext(id));
    await commitSet(store, id, [result]);
    // Assess
    expect(result.status).toBe('complete');
    expect(result.warnings).toContain(
      'skipped the link data/link: its target is not valid UTF-8 (doc-\ufffd)',
    );
    const entries = await indexEntriesOf(store, result);
    expect(entries.has('data/link')).toBe(false);
    expect(entries.get('data/ok')).toMatchObject({ type: 'symlink', target: 'doc-ü' });
    homes += 1;
    const target = path.join(work, `restored-${homes}`);
    expect((await driveRestore(rt(target), restoreContext(id, { target }))).status).toBe('complete');
    expect(fs.lstatSync(path.join(target, 'data/link'), { throwIfNoEntry: false })).toBeUndefined();
    expect(fs.readlinkSync(path.join(target, 'data/ok'))).toBe('doc-ü');
  });
});
