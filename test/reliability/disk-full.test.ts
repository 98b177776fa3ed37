import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { bytesFor, diffTrees, readTree } from '../components/files/support/trees.ts';
import { tempDir } from '../support/local-runtime.ts';
import {
  backup,
  backupIdOf,
  causeOf,
  expectNothingLost,
  homeSettings,
  listTree,
  outputOf,
  restore,
  restoreIdsOf,
  restoreReport,
  runtimeWith,
  storeSnapshot,
  verifySet,
  writeTree,
} from './support.ts';

/**
 * The disk fills during a restore: the target lies on a 2 MiB tmpfs (a real file system that
 * answers ENOSPC), the tree needs about 1.8 MiB and a 1 MiB file is already there. The mount needs
 * root (CI runs as root); without it the test fails and says so, it does not skip.
 */

const work = tempDir('disk-full');
const disk = path.join(work.dir, 'disk');
let mounted = false;

beforeAll(() => {
  fs.mkdirSync(disk);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0755', 'tmpfs', disk], { stdio: 'pipe' });
    mounted = true;
  } catch (error) {
    throw new Error(
      `this test mounts a 2 MiB tmpfs to fill a disk for real and needs root (CAP_SYS_ADMIN): ${(error as { stderr?: Buffer }).stderr?.toString() ?? error}`,
    );
  }
});
afterAll(() => {
  if (mounted) execFileSync('umount', [disk]);
  work.cleanup();
});

describe('the disk fills during a restore', () => {
  it('the report says failed with ENOSPC, the target and the store are untouched, and once space is freed the re-run restores the tree', async () => {
    const store = new LocalFolderStore(path.join(work.dir, 'store'));
    const home = path.join(work.dir, 'home');
    const files: Record<string, Buffer | string> = { 'portal-ext.properties': 'x=1\n' };
    for (let i = 0; i < 12; i += 1)
      files[`data/document_library/20101/${i}/1.0`] = bytesFor(`doc-${i}`, 150 * 1024);
    writeTree(home, files);
    const rt = runtimeWith(store, { liferayHome: homeSettings(home) });
    const backupId = backupIdOf(await backup(rt));
    const before = await storeSnapshot(store);

    const filler = path.join(disk, 'other-data.bin');
    fs.writeFileSync(filler, bytesFor('filler', 1024 * 1024));
    const target = path.join(disk, 'liferay');
    const full = await restore(rt, { backupId, liferayHome: { target } });
    expect(causeOf(full)).toMatch(/is failed: liferayHome: .*ENOSPC: no space left on device/);
    const failed = restoreIdsOf(full);
    const report = await restoreReport(store, failed);
    expect(report.status).toBe('failed');
    expect(report.results.liferayHome?.error?.message).toMatch(/ENOSPC: no space left on device/);
    expect(fs.existsSync(target)).toBe(false);
    // The partial tree stays in the failed restore's staging folder (it holds the space).
    const leftover = `${target}.restore-${failed.restoreId}`;
    expect(fs.readdirSync(disk).sort()).toEqual([`liferay.restore-${failed.restoreId}`, 'other-data.bin']);
    expect(fs.readFileSync(filler)).toEqual(bytesFor('filler', 1024 * 1024));
    expectNothingLost(before, await storeSnapshot(store));

    // The operator frees space (the other data goes elsewhere) and runs the restore again.
    fs.rmSync(filler);
    // The re-run removes the partial tree of the failed restore first, or it would fill the disk again.
    const again = outputOf<{
      report: { status: string; components: Record<string, { warnings: string[] }> };
    }>(await restore(rt, { backupId, liferayHome: { target } }));
    expect(again.report.status).toBe('complete');
    expect(again.report.components.liferayHome?.warnings).toContain(
      `removed ${leftover}, the partial tree of restore ${failed.restoreId} (failed)`,
    );
    expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
    expect(listTree(disk)).toEqual(['liferay', ...listTree(target).map((rel) => `liferay/${rel}`)]);
    expect((await verifySet(rt, backupId)).status).toBe('verified');
  });
});
