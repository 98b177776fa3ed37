import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { storeKeys } from '#backup-set/keys.ts';
import type { ComponentResult } from '#components/component.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../../support/local-runtime.ts';
import {
  backupContext,
  commitSet,
  driveBackup,
  driveRestore,
  homeRuntime,
  restoreContext,
} from './support/drive.ts';
import { bytesFor, diffTrees, readTree } from './support/trees.ts';

/**
 * What a backup builds on: the previous complete copy. When that copy cannot be used (its set
 * deleted, its manifest, its index, a part of it or its content catalog damaged) the backup reads
 * the files it covered again and says why: it never fails, and the backup after it is incremental
 * again.
 */

const A = 'b20261127t020000z-aaaa';
const B = 'b20261127t030000z-bbbb';
const C = 'b20261127t040000z-cccc';

function setup(name: string) {
  const { dir } = tempDir(`previous-${name}`);
  const home = path.join(dir, 'home');
  for (let i = 0; i < 30; i += 1) {
    const file = path.join(home, `data/document_library/20101/${i}/1.0`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, bytesFor(`doc-${i}`, 10_000 + i));
  }
  fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'a=1\n');
  const store = new LocalFolderStore(path.join(dir, 'store'));
  // Shards of a few files: damage in one part of the index costs only that shard's files.
  const rt = homeRuntime(
    store,
    { root: home, shard: { maxFiles: 10, maxBytes: 64 * 1024 * 1024, timeBudgetSeconds: 600 } },
    path.join(dir, 'scratch'),
  );
  return { dir, home, store, rt };
}

async function backup(
  rt: ReturnType<typeof setup>['rt'],
  id: string,
  previous?: string,
): Promise<ComponentResult> {
  const result = await driveBackup(rt, backupContext(id, previous));
  await commitSet(rt.store, id, [result], previous);
  return result;
}

const indexOf = (dir: string) => path.join(dir, 'store/backups', A, 'files/liferayHome');
const partsIn = (dir: string) =>
  fs
    .readdirSync(indexOf(dir))
    .filter((name) => name.startsWith('part-'))
    .map((name) => path.join(indexOf(dir), name));
const ALL = 31;

const summaryOf = (result: ComponentResult) => result.summary as { files: number; changedFiles: number };

describe('a backup whose previous copy cannot be used', () => {
  it.each([
    [
      'its manifest is damaged',
      (dir: string) => fs.writeFileSync(path.join(dir, 'store', storeKeys.manifest(A)), '{"backupId": '),
      new RegExp(
        `^the earlier backup set ${A} cannot be read \\(the manifest backups/${A}/manifest.json cannot be read: .*is not valid JSON.*\\); this backup reads every file again$`,
      ),
      'all',
    ],
    [
      'its set is gone',
      (dir: string) => fs.rmSync(path.join(dir, 'store/backups', A), { recursive: true }),
      new RegExp(`^the earlier backup set ${A} is gone; this backup reads every file again$`),
      'all',
    ],
    [
      'its index is damaged',
      (dir: string) => {
        const index = path.join(dir, 'store/backups', A, 'files/liferayHome/index.json');
        fs.writeFileSync(index, `${fs.readFileSync(index, 'utf8')} `);
      },
      new RegExp(
        `^the file index of the earlier set ${A} cannot be used \\(.*\\); this backup reads every file again$`,
      ),
      'all',
    ],
    [
      'a part of its index is damaged',
      (dir: string) => fs.appendFileSync(partsIn(dir)[1] as string, ' '),
      new RegExp(
        `^the index of the earlier set ${A} could not be read for shard \\S+ \\(.*\\); every file of that shard was read again$`,
      ),
      'some',
    ],
    [
      'a part of its index is gone',
      (dir: string) => fs.rmSync(partsIn(dir)[0] as string),
      new RegExp(
        `^the index of the earlier set ${A} could not be read for shard \\S+ \\(not found in the backup store: .*\\); every file of that shard was read again$`,
      ),
      'some',
    ],
    [
      'its content catalog is damaged, and a file changed',
      (dir: string) => {
        for (const name of fs.readdirSync(path.join(indexOf(dir), 'catalog')))
          fs.appendFileSync(path.join(indexOf(dir), 'catalog', name), ' ');
        fs.writeFileSync(
          path.join(dir, 'home/data/document_library/20101/3/1.0'),
          bytesFor('changed', 9_000),
        );
      },
      new RegExp(
        `^the index of the earlier set ${A} could not be read for shard \\S+ \\(.*catalog.*\\); every file of that shard was read again$`,
      ),
      'some',
    ],
  ])(
    'reads the files again when %s, says why, and the next backup is incremental again',
    async (_, damage, why, reread) => {
      const { dir, home, rt } = setup(_.replace(/\W+/g, '-'));
      const first = await backup(rt, A);
      expect(summaryOf(first).changedFiles).toBe(ALL);
      damage(dir);

      const second = await backup(rt, B, A);
      expect(second.status).toBe('complete');
      expect(second.warnings.filter((warning) => warning.includes(A))).toEqual([expect.stringMatching(why)]);
      const { files, changedFiles } = summaryOf(second);
      expect(files).toBe(ALL);
      if (reread === 'all') expect(changedFiles).toBe(ALL);
      else expect([changedFiles > 0, changedFiles < ALL]).toEqual([true, true]);
      const target = path.join(dir, 'restored');
      const restored = await driveRestore(rt, restoreContext(B, { target }));
      expect(restored.status).toBe('complete');
      expect(diffTrees(readTree(home), readTree(target))).toEqual([]);

      expect(summaryOf(await backup(rt, C, B)).changedFiles).toBe(0);
    },
  );
});

describe('content the store lost', () => {
  it('an incremental goes on referencing it; a backup on no earlier set ("full") stores it again', async () => {
    const { dir, home, rt } = setup('lost-pack');
    await backup(rt, A);
    // A pack lost from the store (deleted by hand, a lifecycle rule): every file in it is gone.
    const packs = path.join(dir, 'store/objects/packs');
    const [prefix = '-'] = fs.readdirSync(packs);
    const [pack = '-'] = fs.readdirSync(path.join(packs, prefix));
    fs.rmSync(path.join(packs, prefix, pack));

    // The files did not change: the incremental records them where they were.
    expect(summaryOf(await backup(rt, B, A)).changedFiles).toBe(0);
    await expect(
      driveRestore(rt, restoreContext(B, { target: path.join(dir, 'from-incremental') })),
    ).rejects.toThrow(`not found in the backup store: objects/packs/${prefix}/${pack}`);

    // What Begin does for {"full": true}: no previous set.
    expect(summaryOf(await backup(rt, C))).toMatchObject({ files: ALL, changedFiles: ALL });
    const target = path.join(dir, 'from-full');
    expect((await driveRestore(rt, restoreContext(C, { target }))).status).toBe('complete');
    expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
  });
});
