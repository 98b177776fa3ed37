import * as fs from 'node:fs';
import * as path from 'node:path';
import { vi } from 'vitest';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { homeRuntime } from './drive.ts';

/** The chunk size of the large-file rounds tests; a file of four chunks or more may stop in the middle. */
export const CHUNK = 64 * 1024;

/**
 * A Liferay Home `home-<n>` under `work` (a properties file, a small document) and its folder store
 * `store-<n>`, with the settings of the large-file rounds tests: 64 KiB chunks, files of four chunks
 * or more resumable, `a-video.mp4` at the top included (it sorts before every other entry), and
 * shards of `maxFiles` entries.
 */
export function resumeHome(work: string, n: number, budgetSeconds: number, maxFiles = 1000) {
  const home = path.join(work, `home-${n}`);
  fs.mkdirSync(path.join(home, 'data/document_library'), { recursive: true });
  fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'x=y\n');
  fs.writeFileSync(path.join(home, 'data/document_library/small'), 'a small document');
  const storeDir = path.join(work, `store-${n}`);
  const folder = new LocalFolderStore(storeDir);
  const rt = (root: string, store: ContentStore = folder, timeBudgetSeconds = budgetSeconds) =>
    homeRuntime(
      store,
      {
        root,
        shard: { maxFiles, maxBytes: 64 * 1024 * 1024, timeBudgetSeconds },
        blobThresholdBytes: CHUNK,
        chunkBytes: CHUNK,
        packBytes: 1024 * 1024,
        resumableFileBytes: 4 * CHUNK,
        include: ['a-video.mp4'],
      },
      path.join(work, 'scratch'),
    );
  return { home, store: folder, storeDir, rt };
}

/**
 * A slow store without sleeping: `Date.now` is mocked (undone by vi.restoreAllMocks) and stands
 * still but for `stepMs` at each call on the returned store for which `moves(method, key)` is true.
 * It does not follow the real clock: a busy CI machine then cannot move a round's stop by a chunk
 * (it did, with 100 ms to spare in a 1 s budget).
 */
export function clockedStore(
  store: ContentStore,
  stepMs: number,
  moves: (method: string, key: string) => boolean,
): ContentStore {
  const start = Date.now();
  let offset = 0;
  vi.spyOn(Date, 'now').mockImplementation(() => start + offset);
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (typeof args[0] === 'string' && moves(String(property), args[0])) offset += stepMs;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** A clockedStore moved at each chunk's GET (a slow restore of a large file), and the chunks read. */
export function clockedChunkReads(
  store: ContentStore,
  stepMs: number,
): { store: ContentStore; gets: string[] } {
  const gets: string[] = [];
  const clocked = clockedStore(store, stepMs, (method, key) => {
    const chunkRead = method === 'get' && key.startsWith('objects/blobs/');
    if (chunkRead) gets.push(key);
    return chunkRead;
  });
  return { store: clocked, gets };
}
