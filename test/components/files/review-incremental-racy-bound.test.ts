import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { ComponentResult } from '#components/component.ts';
import { type BackupPlan, readBackupPlan } from '#components/files/backup-plan.ts';
import { RACY_MARGIN_MS } from '#components/files/copy-shard.ts';
import { type FileIndex, indexBody, readIndex, readPart } from '#components/files/index-format.ts';
import { JsonLinesFile } from '#components/files/jsonl.ts';
import { filesKeys } from '#components/files/keys.ts';
import { filesResultDetailsSchema } from '#components/files/settings.ts';
import { jsonBody } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { CountingStore } from './support/counting-store.ts';
import { backupContext, commitSet, driveBackup, homeRuntime, indexEntriesOf } from './support/drive.ts';
import { bytesFor } from './support/trees.ts';

/**
 * Review of the racily clean rule's bound (copy-shard.ts, RACY_MARGIN_MS) on incremental backups.
 *
 * As in review-racy-clean.test.ts, this kernel cannot make the race happen for real (fine-grained
 * times), so the earlier set's index is made to hold what a coarse-grained filesystem would have
 * left: the file is really rewritten on disk, and its entry keeps the content that set read next
 * to the file's current size, times and inode. Everything else is real. The mock only records
 * which files are read.
 */
const reads = vi.hoisted(() => ({ paths: [] as string[] }));

vi.mock('#components/files/content.ts', async (importOriginal) => {
  const record = (absPath: string) => reads.paths.push(absPath);
  const { observedContent } = await import('./support/observed-reads.ts');
  return observedContent(importOriginal, { beforeSmall: record, beforeLarge: record });
});

const SETTLE_MS = RACY_MARGIN_MS + 500;
const LARGE = 300 * 1024;

const work = fs.mkdtempSync(path.join(tmpdir(), 'review-incremental-racy-'));
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
  const rt = homeRuntime(
    store,
    {
      root: home,
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
const readNames = (home: string) => reads.paths.map((absPath) => path.relative(home, absPath)).sort();

/**
 * The earlier set as a coarse-grained filesystem would have left it (see above), its index
 * finished at `indexCreatedAt` (when its last shard ended).
 */
async function sameTickAsTheRead(
  store: CountingStore,
  result: ComponentResult,
  home: string,
  paths: readonly string[],
  scratch: string,
  indexCreatedAt: string,
): Promise<ComponentResult> {
  const details = filesResultDetailsSchema.parse(result.details);
  const index = await readIndex(store, details.index.key, details.index);
  const parts: FileIndex['parts'] = [];
  for (const part of index.parts) {
    const out = await JsonLinesFile.create(scratch, 'crafted-part');
    for await (const entry of readPart(store, part)) {
      if (entry.type === 'file' && paths.includes(entry.path)) {
        const now = fs.lstatSync(path.join(home, entry.path), { bigint: true });
        expect(Number(now.size)).toBe(entry.size);
        await out.write({
          ...entry,
          mtimeNs: now.mtimeNs.toString(),
          ctimeNs: now.ctimeNs.toString(),
          ino: now.ino.toString(),
        });
      } else await out.write(entry);
    }
    parts.push({ ...part, ...(await out.upload(store, part.key)) });
  }
  const body = indexBody({ ...index, parts, createdAt: indexCreatedAt });
  await store.put(details.index.key, body, { contentType: 'application/json' });
  return {
    ...result,
    details: {
      ...result.details,
      index: { key: details.index.key, size: Buffer.byteLength(body), sha256: sha256(body) },
    },
  };
}

describe('a plan written before the plan recorded when the earlier set began reading (an upgrade between Plan and the shards)', () => {
  it('still reads again a file rewritten in the tick of its read long before that set ended', async () => {
    // Prepare: files last changed well before the first backup; that backup reads them, then the
    // two racy ones are rewritten at the same size; the set's last shard ends a while after that
    // (a long first backup: its index's time is far later than the read).
    const { home, store, rt, scratch } = setUp();
    fs.writeFileSync(path.join(home, 'data/stable.txt'), 'never changes');
    fs.writeFileSync(path.join(home, 'data/racy.txt'), 'version one');
    fs.writeFileSync(path.join(home, 'data/racy.lpkg'), bytesFor('racy large one', LARGE));
    await sleep(SETTLE_MS);
    const first = `b20261128t01000${homes}z-a001`;
    const firstResult = await driveBackup(rt, backupContext(first));
    expect(firstResult.status).toBe('complete');
    fs.writeFileSync(path.join(home, 'data/racy.txt'), 'version two');
    const largeTwo = bytesFor('racy large two', LARGE);
    fs.writeFileSync(path.join(home, 'data/racy.lpkg'), largeTwo);
    await sleep(SETTLE_MS);
    const crafted = await sameTickAsTheRead(
      store,
      firstResult,
      home,
      ['data/racy.txt', 'data/racy.lpkg'],
      scratch,
      new Date().toISOString(),
    );
    await commitSet(store, first, [crafted]);
    reads.paths.length = 0;

    // Act: the next backup, its plan as the previous version wrote it (no readFrom)
    const second = `b20261128t01000${homes}z-a002`;
    const secondResult = await driveBackup(rt, backupContext(second, first), 'liferayHome', {
      beforeShard: async () => {
        const key = filesKeys.plan(second, 'liferayHome');
        const plan: BackupPlan = await readBackupPlan(store, key);
        const { backupId, index } = plan.previous as NonNullable<BackupPlan['previous']>;
        await store.put(key, jsonBody({ ...plan, previous: { backupId, index } }), {
          contentType: 'application/json',
        });
        return true;
      },
    });

    // Assess: the two racy files were read again and their new content is in the set.
    expect(secondResult.status).toBe('complete');
    expect(readNames(home)).toEqual(['data/racy.lpkg', 'data/racy.txt']);
    const entries = await indexEntriesOf(store, secondResult);
    expect(entries.get('data/racy.txt')).toMatchObject({ sha256: sha256('version two') });
    expect(entries.get('data/racy.lpkg')).toMatchObject({ sha256: sha256(largeTwo) });
  });
});

describe('a tree copied into place just before the first backup (every file changed within the margin of its start)', () => {
  it('is read once more by the next backup, which stores nothing and records the entries as they were; the one after reads nothing', async () => {
    // Prepare: 60 small files and 2 large ones written, then the first backup at once.
    const { home, store, rt } = setUp();
    const small = Array.from({ length: 60 }, (_, i) => `data/copied-${String(i).padStart(2, '0')}.txt`);
    for (const name of small) fs.writeFileSync(path.join(home, name), `content of ${name}`);
    const large = ['data/copied-a.lpkg', 'data/copied-b.lpkg'];
    for (const name of large) fs.writeFileSync(path.join(home, name), bytesFor(name, LARGE));
    // The first backup's clock reads the moment the copy ended, so that it begins "at once" after
    // it however long this machine then takes to get there: on the real clock, a machine busy
    // enough to take 3 s (RACY_MARGIN_MS) to reach its Plan would leave every file outside the margin.
    const copiedAt = new Date();
    const ids = [1, 2, 3].map((n) => `b20261128t02000${homes}z-c00${n}`);
    const backup = async (i: number, runtime = rt) => {
      reads.paths.length = 0;
      const result = await driveBackup(runtime, backupContext(ids[i] as string, ids[i - 1]));
      expect(result.status).toBe('complete');
      await commitSet(store, ids[i] as string, [result], ids[i - 1]);
      return result;
    };
    const first = await backup(0, { ...rt, now: () => copiedAt });
    const everyFile = [...small, ...large, 'portal-ext.properties'].sort();
    expect(readNames(home)).toEqual(everyFile);
    // The next backup, hours later in life: here, once the margin has passed.
    await sleep(SETTLE_MS);

    // Act
    store.reset();
    const second = await backup(1);

    // Assess: every file read once more (63), found as recorded: nothing stored, no content
    // object requested, none counted as changed; each entry is the one the first set recorded.
    expect(readNames(home)).toEqual(everyFile);
    expect(second.summary).toMatchObject({
      files: everyFile.length,
      changedFiles: 0,
      recheckedFiles: everyFile.length,
      uploadedFiles: 0,
      uploadedBytes: 0,
      dedupedFiles: 0,
      blobs: 0,
    });
    expect(store.count(['put', 'get', 'getRange', 'stat', 'read'], 'objects/')).toBe(0);
    const before = await indexEntriesOf(store, first);
    const after = await indexEntriesOf(store, second);
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [name, entry] of after) expect(entry, name).toEqual(before.get(name));

    // Act: the backup after it
    const third = await backup(2);

    // Assess: nothing read; the entries are still the first set's
    expect(readNames(home)).toEqual([]);
    expect(third.summary).toMatchObject({ changedFiles: 0, uploadedFiles: 0 });
    expect(third.summary.recheckedFiles).toBeUndefined();
    const last = await indexEntriesOf(store, third);
    for (const [name, entry] of last) expect(entry, name).toEqual(before.get(name));
  });
});
