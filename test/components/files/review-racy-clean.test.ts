import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { ComponentResult } from '#components/component.ts';
import { type BackupPlan, readBackupPlan } from '#components/files/backup-plan.ts';
import { RACY_MARGIN_MS } from '#components/files/copy-shard.ts';
import {
  type FileIndex,
  type IndexEntry,
  indexBody,
  readIndex,
  readPart,
} from '#components/files/index-format.ts';
import { JsonLinesFile } from '#components/files/jsonl.ts';
import { filesKeys } from '#components/files/keys.ts';
import { filesResultDetailsSchema } from '#components/files/settings.ts';
import { jsonBody } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { CountingStore } from './support/counting-store.ts';
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
 * Review: racily clean files ("racy git", git's Documentation/technical/racy-git.txt). A file
 * rewritten with the same size within the filesystem's timestamp tick after a backup read it
 * keeps the size, mtime, ctime and inode that backup recorded: the quick check alone would
 * trust the old content in every later set.
 *
 * This kernel stamps files with fine-grained times once they are looked at (multigrain
 * timestamps), so the race cannot be made to happen here for real, and no write can leave a
 * ctime as it was. The previous index is therefore made to hold what a coarse-grained
 * filesystem (EFS over NFS, FAT's 2 s ticks) would have left it holding: the file is really
 * rewritten on disk, and its entry in the earlier set gets the file's current size, times and
 * inode next to the content that set really read. Everything else (the walk, the reads, the
 * store, the restore) is real. The mock below only records which files are read.
 */
const reads = vi.hoisted(() => ({ paths: [] as string[] }));

vi.mock('#components/files/content.ts', async (importOriginal) => {
  const record = (absPath: string) => reads.paths.push(absPath);
  const { observedContent } = await import('./support/observed-reads.ts');
  return observedContent(importOriginal, { beforeSmall: record, beforeLarge: record });
});

/** How long after its last change a file is trusted by its times alone (the engine's margin, and a little). */
const SETTLE_MS = RACY_MARGIN_MS + 500;
const LARGE = 300 * 1024;

const work = fs.mkdtempSync(path.join(tmpdir(), 'review-racy-clean-'));
afterEach(() => {
  reads.paths.length = 0;
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

let homes = 0;
function setUp() {
  homes += 1;
  const home = path.join(work, `home-${homes}`);
  fs.mkdirSync(path.join(home, 'data'), { recursive: true });
  fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'x=y\n');
  const store = new CountingStore(new LocalFolderStore(path.join(work, `store-${homes}`)));
  const scratch = path.join(work, 'scratch');
  const rt = (root: string) =>
    homeRuntime(
      store,
      {
        root,
        shard: { maxFiles: 1000, maxBytes: 64 * 1024 * 1024, timeBudgetSeconds: 600 },
        blobThresholdBytes: 256 * 1024,
        chunkBytes: 128 * 1024,
        packBytes: 1024 * 1024,
      },
      scratch,
    );
  return { home, store, rt, scratch };
}

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/**
 * The earlier set as a coarse-grained filesystem would have left it: for each of `paths`, its
 * entry keeps the content that set read but gets the file's current size, times and inode (the
 * rewrite that came after the read landed in the same tick). The parts, the index and the
 * result's digest of the index are written again, so the set reads back as valid.
 */
async function sameTickAsTheRead(
  store: CountingStore,
  result: ComponentResult,
  home: string,
  paths: readonly string[],
  scratch: string,
): Promise<ComponentResult> {
  const details = filesResultDetailsSchema.parse(result.details);
  const index = await readIndex(store, details.index.key, details.index);
  const parts: FileIndex['parts'] = [];
  let crafted = 0;
  for (const part of index.parts) {
    const entries: IndexEntry[] = [];
    for await (const entry of readPart(store, part)) {
      if (entry.type === 'file' && paths.includes(entry.path)) {
        const now = fs.lstatSync(path.join(home, entry.path), { bigint: true });
        expect(Number(now.size)).toBe(entry.size);
        entries.push({
          ...entry,
          mtimeNs: now.mtimeNs.toString(),
          ctimeNs: now.ctimeNs.toString(),
          ino: now.ino.toString(),
        });
        crafted += 1;
      } else entries.push(entry);
    }
    const out = await JsonLinesFile.create(scratch, 'crafted-part');
    for (const entry of entries) await out.write(entry);
    parts.push({ ...part, ...(await out.upload(store, part.key)) });
  }
  expect(crafted).toBe(paths.length);
  const body = indexBody({ ...index, parts });
  await store.put(details.index.key, body, { contentType: 'application/json' });
  return {
    ...result,
    details: {
      ...result.details,
      index: { key: details.index.key, size: Buffer.byteLength(body), sha256: sha256(body) },
    },
  };
}

const readNames = (home: string) => reads.paths.map((absPath) => path.relative(home, absPath)).sort();

describe('a file rewritten with the same size in the timestamp tick of the previous read (racily clean)', () => {
  it.each([
    ['the plan records when the earlier set began reading', false],
    ['a plan written before that was recorded (an upgrade between Plan and the shards)', true],
  ])(
    'is read again and its new content backed up, while files changed long before are not read (%s)',
    async (_name, oldPlan) => {
      // Prepare: files last changed well before the first backup, two of which (a small and a
      // large one) are rewritten, at the same size, after that backup read them.
      const { home, store, rt, scratch } = setUp();
      fs.writeFileSync(path.join(home, 'data/stable.txt'), 'never changes');
      fs.writeFileSync(path.join(home, 'data/stable.lpkg'), bytesFor('stable large', LARGE));
      fs.writeFileSync(path.join(home, 'data/racy.txt'), 'version one');
      fs.writeFileSync(path.join(home, 'data/racy.lpkg'), bytesFor('racy large one', LARGE));
      await sleep(SETTLE_MS);
      const first = `b20261127t02000${homes}z-a001`;
      const firstResult = await driveBackup(rt(home), backupContext(first));
      expect(firstResult.status).toBe('complete');
      fs.writeFileSync(path.join(home, 'data/racy.txt'), 'version two');
      const largeTwo = bytesFor('racy large two', LARGE);
      fs.writeFileSync(path.join(home, 'data/racy.lpkg'), largeTwo);
      const crafted = await sameTickAsTheRead(
        store,
        firstResult,
        home,
        ['data/racy.txt', 'data/racy.lpkg'],
        scratch,
      );
      await commitSet(store, first, [crafted]);
      // The earlier set's entries now pass the quick check: what the race leaves behind.
      const recorded = await indexEntriesOf(store, crafted);
      expect(recorded.get('data/racy.txt')).toMatchObject({ sha256: sha256('version one') });
      reads.paths.length = 0;

      // Act
      const second = `b20261127t02000${homes}z-a002`;
      const secondResult = await driveBackup(rt(home), backupContext(second, first), 'liferayHome', {
        beforeShard: async () => {
          if (!oldPlan) return true;
          const key = filesKeys.plan(second, 'liferayHome');
          const plan: BackupPlan = await readBackupPlan(store, key);
          const { backupId, index } = plan.previous as NonNullable<BackupPlan['previous']>;
          // The earlier set as a plan of the previous version named it: its id and index, nothing more.
          await store.put(key, jsonBody({ ...plan, previous: { backupId, index } }), {
            contentType: 'application/json',
          });
          return true;
        },
      });

      // Assess: only the two racy files were read; the new content is in the set and restored.
      expect(secondResult.status).toBe('complete');
      expect(readNames(home)).toEqual(['data/racy.lpkg', 'data/racy.txt']);
      expect(secondResult.summary).toMatchObject({ changedFiles: 2 });
      const entries = await indexEntriesOf(store, secondResult);
      expect(entries.get('data/racy.txt')).toMatchObject({ sha256: sha256('version two') });
      expect(entries.get('data/racy.lpkg')).toMatchObject({ sha256: sha256(largeTwo) });
      await commitSet(store, second, [secondResult], first);
      const target = path.join(work, `restored-${homes}`);
      const restored = await driveRestore(rt(target), restoreContext(second, {}));
      expect(restored.status).toBe('complete');
      expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
    },
  );
});

describe('a file changed just before the previous backup began, and not since', () => {
  it('is read once more and stores nothing; once a backup began well after its change it is trusted again', async () => {
    // Prepare: files written right before the first backup (their times are within the margin
    // of its start, so that backup's read of them cannot be trusted by their times alone), as
    // portal-ext.properties is (setUp).
    const { home, store, rt } = setUp();
    fs.writeFileSync(path.join(home, 'data/fresh.txt'), 'just written');
    fs.writeFileSync(path.join(home, 'data/fresh.lpkg'), bytesFor('just written large', LARGE));
    // The first backup's clock reads the moment the files were written, so that it begins "right
    // after" however long this machine then takes to get there: on the real clock, a machine busy
    // enough to take 3 s (RACY_MARGIN_MS) to reach its Plan would leave the files outside the margin.
    const writtenAt = new Date();
    const ids = [1, 2, 3, 4].map((n) => `b20261127t03000${homes}z-c00${n}`);
    const backup = async (i: number, now?: () => Date) => {
      reads.paths.length = 0;
      const runtime = rt(home);
      const result = await driveBackup(
        now ? { ...runtime, now } : runtime,
        backupContext(ids[i] as string, ids[i - 1]),
      );
      expect(result.status).toBe('complete');
      await commitSet(store, ids[i] as string, [result], ids[i - 1]);
      return result;
    };
    await backup(0, () => writtenAt);

    // Act: the next backup at once
    store.reset();
    const again = await backup(1);

    // Assess: the three files read and hashed again, found as recorded: nothing stored, nothing
    // requested of the content objects, nothing counted as changed or deduplicated.
    expect(readNames(home)).toEqual(['data/fresh.lpkg', 'data/fresh.txt', 'portal-ext.properties']);
    expect(again.summary).toMatchObject({
      changedFiles: 0,
      uploadedFiles: 0,
      dedupedFiles: 0,
      recheckedFiles: 3,
    });
    expect(store.count(['put', 'get', 'getRange', 'stat', 'read'], 'objects/')).toBe(0);

    // Act: once the margin has passed, a backup, then the one after it
    await sleep(SETTLE_MS);
    await backup(2);
    const settled = await backup(3);

    // Assess: the backup that began well after the files' last change is trusted: nothing read.
    expect(readNames(home)).toEqual([]);
    expect(settled.summary).toMatchObject({ changedFiles: 0 });
    expect(settled.summary.recheckedFiles).toBeUndefined();
  });
});
