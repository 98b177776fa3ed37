import { existsSync, mkdirSync, readFileSync, readlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * A local folder store's object is whole or absent after a crash or a power cut, not only while
 * the machine runs: the temporary file is flushed before it is renamed (or linked) to its key, and
 * the folder that holds the key afterwards. Without the first flush, a rename can reach the disk
 * before the data (XFS; ext4 when the rename replaces nothing) and leave an empty or partial pack,
 * blob or lock under its final key; without the second, the key itself may be lost.
 *
 * Every flush goes through FileHandle.sync; the test records what each one flushed (the path of
 * its descriptor, from /proc/self/fd) and what the final key held at that moment.
 */

const work = tempDir('local-durability');
let FileHandlePrototype: { sync: () => Promise<void> };

interface Flush {
  /** What was flushed: a file or a folder. */
  readonly path: string;
  /** The final key's content at that moment (undefined: not there yet). */
  readonly finalHeld: string | undefined;
}

beforeAll(async () => {
  const probe = await fs.open(import.meta.filename, 'r');
  FileHandlePrototype = Object.getPrototypeOf(probe);
  await probe.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(() => work.cleanup());

/** Records every flush while `act` runs, with what `finalFile` held at that moment. */
async function flushesDuring(finalFile: string, act: () => Promise<unknown>): Promise<Flush[]> {
  const flushes: Flush[] = [];
  const realSync = FileHandlePrototype.sync;
  vi.spyOn(FileHandlePrototype, 'sync').mockImplementation(async function (this: fs.FileHandle) {
    flushes.push({
      path: readlinkSync(`/proc/self/fd/${this.fd}`),
      finalHeld: existsSync(finalFile) ? readFileSync(finalFile, 'utf8') : undefined,
    });
    return realSync.call(this);
  });
  await act();
  vi.restoreAllMocks();
  return flushes;
}

/** The flush of the temporary file of `finalFile`, and the flush of its folder, in that order. */
function expectFlushedBeforeAndAfter(
  flushes: Flush[],
  finalFile: string,
  before: string | undefined,
  after: string,
) {
  const temp = flushes.findIndex((flush) => flush.path.startsWith(`${finalFile}.partial-`));
  expect(
    temp,
    `a flush of the temporary file of ${finalFile}: ${JSON.stringify(flushes)}`,
  ).toBeGreaterThanOrEqual(0);
  // Flushed while the key still held what it held before: the data is on the disk before the name.
  expect(flushes[temp]?.finalHeld).toBe(before);
  const folder = flushes.findIndex((flush, i) => i > temp && flush.path === path.dirname(finalFile));
  expect(
    folder,
    `a flush of ${path.dirname(finalFile)} after the rename: ${JSON.stringify(flushes)}`,
  ).toBeGreaterThan(temp);
  expect(flushes[folder]?.finalHeld).toBe(after);
}

describe('LocalFolderStore flushes what it writes', () => {
  it('put: the temporary file before its rename, then its folder and every folder it created', async () => {
    // Prepare
    const root = path.join(work.dir, 'put');
    mkdirSync(root);
    const store = new LocalFolderStore(root);
    const finalFile = path.join(root, 'objects', 'packs', 'aa', 'pack-1');
    // Act
    const flushes = await flushesDuring(finalFile, () => store.put('objects/packs/aa/pack-1', 'pack bytes'));
    // Assess
    expectFlushedBeforeAndAfter(flushes, finalFile, undefined, 'pack bytes');
    // objects/, packs/ and aa/ are new: each one's name is flushed in its parent.
    const flushed = flushes.map((flush) => flush.path);
    for (const folder of ['objects/packs', 'objects', '.'])
      expect(flushed, folder).toContain(path.join(root, folder));
  });

  it('put of a stream (a pack or blob as a backup writes it), and over an existing key', async () => {
    const root = path.join(work.dir, 'put-stream');
    const store = new LocalFolderStore(root);
    await store.put('objects/blobs/bb/blob', 'first');
    const finalFile = path.join(root, 'objects', 'blobs', 'bb', 'blob');
    const flushes = await flushesDuring(finalFile, () =>
      store.put('objects/blobs/bb/blob', Readable.from([Buffer.from('sec'), Buffer.from('ond')])),
    );
    expectFlushedBeforeAndAfter(flushes, finalFile, 'first', 'second');
  });

  it('createIfAbsent: the temporary file before it is linked to the key (a lock), then the folder', async () => {
    const root = path.join(work.dir, 'create');
    const store = new LocalFolderStore(root);
    const finalFile = path.join(root, 'locks', 'backup.json');
    const flushes = await flushesDuring(finalFile, () =>
      store.createIfAbsent('locks/backup.json', '{"lock":1}'),
    );
    expectFlushedBeforeAndAfter(flushes, finalFile, undefined, '{"lock":1}');
  });

  it('replaceIfMatch: the temporary file before it replaces the key, then the folder', async () => {
    const root = path.join(work.dir, 'replace');
    const store = new LocalFolderStore(root);
    await store.put('locks/backup.json', 'old');
    const etag = (await store.stat('locks/backup.json'))?.etag ?? '';
    const finalFile = path.join(root, 'locks', 'backup.json');
    const flushes = await flushesDuring(finalFile, async () =>
      expect(await store.replaceIfMatch('locks/backup.json', etag, 'new')).toBe(true),
    );
    expectFlushedBeforeAndAfter(flushes, finalFile, 'old', 'new');
  });
});
