import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeRestoreReport } from '#backup-set/restore-report.ts';
import type { VerifyContext } from '#backup-set/verify-context.ts';
import { CLEANUP_BUDGET_MS, drillCleanup } from '#components/files/drill-scratch.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../../support/local-runtime.ts';

const VERIFY_ID = 'v20261127t030000z-0a1b';
const BACKUP_ID = 'b20261127t020000z-7f3a';
const RESTORE_ID = 'r20261127t030001z-2c3d';

function setup(options: { scratchRoot?: string; now?: () => Date } = {}) {
  const { dir } = tempDir('drill-scratch');
  const scratchRoot = path.join(dir, 'drills');
  const store = new LocalFolderStore(path.join(dir, 'store'));
  const root = options.scratchRoot === undefined ? scratchRoot : options.scratchRoot;
  const settings = parseSettings(
    { environment: 'test-env', ...(root ? { verify: { scratchRoot: root } } : {}) },
    'test',
  );
  const rt = localRuntime({ store, settings, ...(options.now ? { now: options.now } : {}) });
  const verify: VerifyContext = {
    verifyId: VERIFY_ID,
    backupId: BACKUP_ID,
    components: ['liferayHome'],
    selected: { database: false, liferayHome: true, appServer: false, search: false, source: false },
    startedAt: '2026-11-27T03:00:00.000Z',
    workPrefix: `work/${VERIFY_ID}/`,
    scratch: { folder: `${scratchRoot}/${VERIFY_ID}`, allowPartial: false },
  };
  return { dir, scratchRoot, folder: `${scratchRoot}/${VERIFY_ID}`, store, rt, verify };
}

/** A restored tree: nested folders, a folder without write permission, a link pointing outside. */
function restoredTree(folder: string, outside: string): void {
  const home = path.join(folder, 'liferayHome');
  for (let d = 0; d < 5; d += 1) {
    const sub = path.join(home, 'data/document_library', String(d));
    fs.mkdirSync(sub, { recursive: true });
    for (let f = 0; f < 20; f += 1) fs.writeFileSync(path.join(sub, `${f}.bin`), `file ${d}/${f}`);
  }
  fs.mkdirSync(path.join(home, 'osgi/configs'), { recursive: true });
  fs.writeFileSync(path.join(home, 'osgi/configs/a.config'), 'a=1\n');
  fs.chmodSync(path.join(home, 'osgi/configs'), 0o555);
  fs.symlinkSync(outside, path.join(home, 'link-to-outside'));
  // A staging folder left by a restore that stopped half-way.
  fs.mkdirSync(path.join(folder, 'liferayHome.restore-r20261127t030001z-2c3d/data'), { recursive: true });
  fs.writeFileSync(path.join(folder, 'liferayHome.restore-r20261127t030001z-2c3d/data/x'), 'x');
}

describe('files-drill-cleanup', () => {
  it('removes the copy in time-boxed rounds without following links, then reports the restore', async () => {
    let clock = Date.parse('2026-11-27T03:10:00Z');
    // Every call to the clock moves it on a tenth of the budget: a round ends after a few removals.
    const now = () => {
      clock += CLEANUP_BUDGET_MS / 10;
      return new Date(clock);
    };
    const { dir, folder, store, rt, verify } = setup({ now });
    const outside = path.join(dir, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'keep.txt'), 'keep');
    restoredTree(folder, outside);
    // The other files component's copy in the same folder is not this call's to remove.
    fs.mkdirSync(path.join(folder, 'appServer/conf'), { recursive: true });
    await writeRestoreReport(store, {
      restoreId: RESTORE_ID,
      backupId: BACKUP_ID,
      status: 'complete',
      startedAt: '2026-11-27T03:00:01.000Z',
      finishedAt: '2026-11-27T03:05:00.000Z',
      components: ['liferayHome'],
      requests: {},
      results: {
        liferayHome: {
          component: 'liferayHome',
          status: 'complete',
          warnings: [],
          summary: { files: 101, bytes: 1234, verifiedFiles: 101 },
          details: {},
        },
      },
    });
    const event = {
      verify,
      component: 'liferayHome',
      restore: { restoreId: RESTORE_ID, status: 'complete', message: 'complete' },
    };
    let rounds = 0;
    let output = await drillCleanup(event, rt);
    while (!output.done) {
      rounds += 1;
      expect(rounds).toBeLessThan(200);
      output = await drillCleanup(event, rt);
    }
    expect(rounds).toBeGreaterThan(1);
    expect(output.verification).toEqual({
      component: 'liferayHome',
      status: 'verified',
      checks: [
        `restore ${RESTORE_ID} wrote 101 files, 1234 bytes into ${folder}/liferayHome and checked the sha256 of 101 files as it wrote them`,
        `the scratch copy ${folder}/liferayHome was removed`,
      ],
      problems: [],
    });
    expect(fs.readdirSync(folder)).toEqual(['appServer']);
    expect(fs.readFileSync(path.join(outside, 'keep.txt'), 'utf8')).toBe('keep');
  });

  it("turns the restore's failure (the child execution's Error and Cause) into the drill's problem", async () => {
    const { folder, rt, verify } = setup();
    fs.mkdirSync(path.join(folder, 'liferayHome.restore-r20261127t030001z-2c3d'), { recursive: true });
    const output = await drillCleanup(
      {
        verify,
        component: 'liferayHome',
        restore: {
          Error: 'States.TaskFailed',
          Cause: JSON.stringify({
            Status: 'FAILED',
            Error: 'RestoreFailed',
            Cause: 'restore r1 of b1: liferayHome: data/x: the stored copy is damaged',
          }),
        },
      },
      rt,
    );
    expect(output).toEqual({
      done: true,
      removed: 1,
      verification: {
        component: 'liferayHome',
        status: 'failed',
        checks: [`the scratch copy ${folder}/liferayHome was removed`],
        problems: [
          `the restore into ${folder}/liferayHome failed: RestoreFailed: restore r1 of b1: liferayHome: data/x: the stored copy is damaged`,
        ],
      },
    });
    expect(fs.existsSync(folder)).toBe(false);
  });

  it.each([
    ['a folder outside the scratch root', (folder: string) => path.dirname(path.dirname(folder))],
    ['a traversal out of it', (folder: string) => `${folder}/../../outside`],
    ['the scratch root itself', (folder: string) => path.dirname(folder)],
  ])('refuses %s, removing nothing', async (_, wrong) => {
    const { folder, rt, verify } = setup();
    fs.mkdirSync(path.join(folder, 'liferayHome'), { recursive: true });
    const event = {
      verify: { ...verify, scratch: { folder: wrong(folder), allowPartial: false } },
      component: 'liferayHome',
      restore: { Error: 'X', Cause: 'y' },
    };
    await expect(drillCleanup(event, rt)).rejects.toThrow(
      /files drill-cleanup input: the scratch folder must be \S+\/drills\/v20261127t030000z-0a1b, got /,
    );
    expect(fs.existsSync(path.join(folder, 'liferayHome'))).toBe(true);
  });

  it('refuses a drill id that is not one, and runs only where a scratch root is configured', async () => {
    const { folder, rt, verify } = setup();
    fs.mkdirSync(path.join(folder, 'liferayHome'), { recursive: true });
    const restore = { Error: 'X', Cause: 'y' };
    await expect(
      drillCleanup({ verify: { ...verify, verifyId: '..' }, component: 'liferayHome', restore }, rt),
    ).rejects.toThrow(/verifyId \.\. is not a drill id/);
    await expect(drillCleanup({ verify, component: 'database', restore }, rt)).rejects.toThrow(
      /files drill-cleanup input: component/,
    );
    expect(fs.existsSync(path.join(folder, 'liferayHome'))).toBe(true);
    const unconfigured = setup({ scratchRoot: '' });
    await expect(
      drillCleanup({ verify: unconfigured.verify, component: 'liferayHome', restore }, unconfigured.rt),
    ).rejects.toThrow(/the restore drill has no scratch folder here \(verify\.scratchRoot\)/);
  });
});

describe('files-drill-cleanup, with the copies of drills that never cleaned up', () => {
  it('removes the folders of drills that cannot still run (older than the 24-hour time-out and an hour), and nothing else', async () => {
    const { dir, scratchRoot, folder, rt, verify } = setup({ now: () => new Date('2026-11-27T03:10:00Z') });
    const outside = path.join(dir, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'keep.txt'), 'keep');
    // Stopped in the console two days ago: its whole copy is still there.
    restoredTree(path.join(scratchRoot, 'v20261125t020000z-aaaa'), outside);
    // Started 24 h 10 min ago: it may still be in its last hour.
    fs.mkdirSync(path.join(scratchRoot, 'v20261126t030000z-bbbb/liferayHome'), { recursive: true });
    // Not drills' folders, or not folders.
    fs.mkdirSync(path.join(scratchRoot, 'kept-by-someone/data'), { recursive: true });
    fs.writeFileSync(path.join(scratchRoot, 'v20261120t000000z-cccc'), 'a file');
    fs.mkdirSync(path.join(folder, 'liferayHome'), { recursive: true });
    const output = await drillCleanup(
      { verify, component: 'liferayHome', restore: { Error: 'X', Cause: 'y' } },
      rt,
    );
    expect(output.done).toBe(true);
    expect(fs.readdirSync(scratchRoot).sort()).toEqual([
      'kept-by-someone',
      'v20261120t000000z-cccc',
      'v20261126t030000z-bbbb',
    ]);
    expect(fs.readFileSync(path.join(outside, 'keep.txt'), 'utf8')).toBe('keep');
  });
});
