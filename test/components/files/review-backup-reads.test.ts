import * as fs from 'node:fs';
import * as net from 'node:net';
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
 * Review: what happens between the walk and the read of a file. The mock below only chooses WHEN
 * something happens (before a small file is opened, when a large file's read begins); the
 * engine's own code runs unchanged.
 */
const hooks = vi.hoisted(() => ({
  /** Runs before each read of that small file. */
  beforeSmallRead: new Map<string, () => void>(),
  /** Runs when a read of any large file begins. */
  onLargeRead: undefined as ((absPath: string) => void) | undefined,
}));

vi.mock('#components/files/content.ts', async (importOriginal) => {
  const { observedContent } = await import('./support/observed-reads.ts');
  return observedContent(importOriginal, {
    beforeSmall: (absPath) => hooks.beforeSmallRead.get(absPath)?.(),
    beforeLarge: (absPath) => hooks.onLargeRead?.(absPath),
  });
});

const work = fs.mkdtempSync(path.join(tmpdir(), 'review-backup-reads-'));
const servers: net.Server[] = [];
afterEach(() => {
  hooks.beforeSmallRead.clear();
  hooks.onLargeRead = undefined;
  vi.restoreAllMocks();
});
afterAll(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  fs.rmSync(work, { recursive: true, force: true });
});

let homes = 0;
function setUp(shard: Record<string, number> = {}) {
  homes += 1;
  const home = path.join(work, `home-${homes}`);
  fs.mkdirSync(path.join(home, 'data'), { recursive: true });
  fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'x=y\n');
  const store = new LocalFolderStore(path.join(work, `store-${homes}`));
  const rt = (root: string) =>
    homeRuntime(
      store,
      {
        root,
        shard: { maxFiles: 1000, maxBytes: 64 * 1024 * 1024, timeBudgetSeconds: 600, ...shard },
        blobThresholdBytes: 256 * 1024,
        chunkBytes: 256 * 1024,
        packBytes: 1024 * 1024,
      },
      path.join(work, 'scratch'),
    );
  return { home, store, rt };
}

describe('a file replaced by a Unix socket between the walk and the read', () => {
  it('is skipped with a warning, as a named pipe is: the shard does not fail', async () => {
    // Prepare: the file becomes a socket (a process listening on that path) right before it is opened.
    const { home, store, rt } = setUp();
    const rel = 'data/socket-later';
    const file = path.join(home, rel);
    fs.writeFileSync(file, 'a regular file when listed');
    fs.writeFileSync(path.join(home, 'data/other'), 'another file');
    let replaced = false;
    hooks.beforeSmallRead.set(file, () => {
      hooks.beforeSmallRead.delete(file);
      fs.rmSync(file);
      const server = net.createServer();
      servers.push(server);
      // The socket is bound before listen() returns ('listening' is only emitted later).
      server.listen(file);
      replaced = fs.lstatSync(file).isSocket();
    });
    const id = 'b20261127t020000z-d001';
    // Act
    const result = await driveBackup(rt(home), backupContext(id));
    // Assess
    expect(replaced).toBe(true);
    expect(result.status).toBe('complete');
    expect(result.warnings.join('\n')).toMatch(/could not read data\/socket-later \(/);
    const entries = await indexEntriesOf(store, result);
    expect(entries.has(rel)).toBe(false);
    expect(entries.get('data/other')).toMatchObject({ type: 'file' });
  });
});

describe('a shard that reaches its time budget with large files queued', () => {
  it("leaves the large files whose read had not begun to the next round (one invocation must end inside Lambda's 15 minutes)", async () => {
    // Prepare: twelve large files in one folder (one batch of the walk, all queued at once), a
    // budget of 60 s, and a clock that jumps 120 s when the first large read begins (EFS is slow
    // tonight): every large file still read by that invocation is read after its budget.
    const { home, store, rt } = setUp({ timeBudgetSeconds: 60 });
    fs.mkdirSync(path.join(home, 'data/big'));
    for (let i = 0; i < 12; i += 1)
      fs.writeFileSync(
        path.join(home, `data/big/f${String(i).padStart(2, '0')}`),
        bytesFor(`big-${i}`, 300 * 1024),
      );
    const realNow = Date.now.bind(Date);
    let offset = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    let round = -1;
    const readsPerRound = new Map<number, number>();
    hooks.onLargeRead = () => {
      readsPerRound.set(round, (readsPerRound.get(round) ?? 0) + 1);
      if (offset === 0) offset = 120_000;
    };
    const id = 'b20261127t020000z-d002';
    // Act
    const result = await driveBackup(rt(home), backupContext(id), 'liferayHome', {
      beforeShard: (_item, r) => {
        round = r;
        return true;
      },
    });
    // Assess: the invocation whose budget ran out read the file in hand, no other; the rest
    // came in the next round, and the set holds every file.
    expect(result.status).toBe('complete');
    expect(readsPerRound.get(0)).toBe(1);
    expect([...readsPerRound.values()].reduce((a, b) => a + b, 0)).toBe(12);
    await commitSet(store, id, [result]);
    const target = path.join(work, `restored-${homes}`);
    const restored = await driveRestore(rt(target), restoreContext(id, {}));
    expect(restored.status).toBe('complete');
    expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
  });
});
