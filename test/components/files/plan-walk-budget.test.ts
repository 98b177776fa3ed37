import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { ComponentResult } from '#components/component.ts';
import { PLAN_WALK_BUDGET_MS, planBackup, readBackupPlan } from '#components/files/backup-plan.ts';
import type { RoundState, ShardItem } from '#components/files/events.ts';
import { filesKeys } from '#components/files/keys.ts';
import { readRound } from '#components/files/rounds.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import {
  backupContext,
  commitSet,
  driveBackup,
  homeRuntime,
  indexEntriesOf,
  withoutLocation,
} from './support/drive.ts';

/**
 * A tree too large for one Plan invocation to list (Lambda's 15 minutes) must still get its first
 * set: Plan stops listing at PLAN_WALK_BUDGET_MS and its last, open-ended shard copies the rest.
 * The clock is mocked to move a second at each reading while Plan runs, and to stand still after.
 */
const work = fs.mkdtempSync(path.join(tmpdir(), 'plan-walk-budget-'));
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const FOLDERS = 120;
const FILES_PER_FOLDER = 9;
const home = path.join(work, 'home');
fs.mkdirSync(home, { recursive: true });
fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'a=b\n');
for (let folder = 0; folder < FOLDERS; folder++) {
  const dir = path.join(home, 'data/document_library', `f${String(folder).padStart(3, '0')}`);
  fs.mkdirSync(dir, { recursive: true });
  for (let file = 0; file < FILES_PER_FOLDER; file++)
    fs.writeFileSync(path.join(dir, `1.${file}`), `${folder}/${file}`);
}

const settings = (root: string) => ({
  root,
  shard: { maxFiles: 100, maxBytes: 64 * 1024 * 1024, timeBudgetSeconds: 600 },
});

/** Date.now moves a second per reading until `stop()`; then it stands still. */
function slowPlanClock(): { stop: () => void } {
  let now = Date.now();
  let moving = true;
  vi.spyOn(Date, 'now').mockImplementation(() => {
    if (moving) now += 1000;
    return now;
  });
  return {
    stop: () => {
      moving = false;
    },
  };
}

describe('a first backup whose Plan runs out of time listing the tree', () => {
  it('stops listing, says so, and still backs up every entry: its last shard copies the rest', async () => {
    // The whole tree, planned in one go (the clock untouched), for comparison.
    const wholeStore = new LocalFolderStore(path.join(work, 'store-whole'));
    const whole = await driveBackup(
      homeRuntime(wholeStore, settings(home)),
      backupContext('b20261128t170000z-0001'),
    );
    const entries = (await indexEntriesOf(wholeStore, whole)).size;
    expect(entries).toBe(1 + 2 + FOLDERS * (1 + FILES_PER_FOLDER));
    // More entries than the budget's readings: Plan cannot list them all.
    expect(entries).toBeGreaterThan(PLAN_WALK_BUDGET_MS / 1000);

    const store = new LocalFolderStore(path.join(work, 'store-stopped'));
    const rt = homeRuntime(store, settings(home));
    const backup = backupContext('b20261128t170000z-0002');
    // The run as the workflow drives it; the clock stands still from the first shard on.
    const clock = slowPlanClock();
    let shards: ShardItem[] | undefined;
    const stopped = await driveBackup(rt, backup, 'liferayHome', {
      beforeShard: async (_item, round) => {
        clock.stop();
        shards ??= await readRound(store, filesKeys.round(backup.backupId, 'liferayHome', round));
        return true;
      },
    });
    const plan = await readBackupPlan(store, filesKeys.plan(backup.backupId, 'liferayHome'));
    expect(plan.planning.method).toBe('walk');
    expect(plan.planning.entries).toBeLessThan(entries);
    expect(plan.planning.entries).toBeGreaterThan(100);
    const said = new RegExp(
      `^liferayHome: the first backup's plan stopped listing the tree after 13 minutes, at ${plan.planning.entries} entries; its last shard copies the rest`,
    );
    expect(plan.warnings).toContainEqual(expect.stringMatching(said));
    expect(stopped.warnings).toContainEqual(expect.stringMatching(said));
    // The last shard is open-ended: it covers the paths Plan never listed.
    expect(shards?.at(-1)?.through).toBeUndefined();
    expect(shards?.length).toBe(Math.ceil(plan.planning.entries / 100));

    expect(stopped.status).toBe('complete');
    const listed = async (from: LocalFolderStore, result: ComponentResult) =>
      [...(await indexEntriesOf(from, result)).values()].map(withoutLocation);
    expect(await listed(store, stopped)).toEqual(await listed(wholeStore, whole));

    // The next backup plans from that set's index: every entry, without a walk.
    await commitSet(store, backup.backupId, [stopped]);
    const next = backupContext('b20261128t180000z-0003', backup.backupId);
    const nextPlanned = (await planBackup({ backup: next, component: 'liferayHome' }, rt)) as RoundState;
    const nextPlan = await readBackupPlan(store, nextPlanned.planKey);
    expect(nextPlan.planning).toMatchObject({ method: 'previous-index', entries });
  });
});
