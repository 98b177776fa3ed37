import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RESULT_BUDGET_BYTES } from '#components/component.ts';
import { finalizeBackup } from '#components/files/backup-finalize.ts';
import { readBackupPlan } from '#components/files/backup-plan.ts';
import type { RoundState } from '#components/files/events.ts';
import { readJsonLines } from '#components/files/jsonl.ts';
import { filesKeys } from '#components/files/keys.ts';
import { filesResultDetailsSchema } from '#components/files/settings.ts';
import { jsonBody } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { backupContext, driveBackup, homeRuntime } from './support/drive.ts';

/**
 * Review of Finalize's warnings with the result budget (withinResultBudget, 32 KiB): files shows
 * up to 16,384 characters of warnings, which in a script of 3 bytes a character is 48 KB, so the
 * budget cuts them again. The line an SRE reads must then say how many warnings are not shown
 * (of all of them, not of the ones Finalize had already chosen to show), and point to the list,
 * which must be stored; a Finalize run twice must write the same objects.
 */
const work = fs.mkdtempSync(path.join(tmpdir(), 'review-incremental-warnings-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const ALL = 300;
/** A warning of 1,000 characters, a name in Japanese (3 bytes a character in UTF-8). */
const warning = (i: number) => {
  const head = `could not read data/document_library/${i}/`;
  return head + '資料'.repeat((1000 - head.length) / 2);
};

describe('a files backup with more warnings, in a multi-byte script, than its result can carry', () => {
  it('says how many of all its warnings are not shown, stores them all, and a Finalize run twice writes the same objects', async () => {
    // Prepare: a small tree; its plan carries 300 warnings of 1,000 characters.
    const home = path.join(work, 'home');
    fs.mkdirSync(path.join(home, 'data'), { recursive: true });
    fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'x=y\n');
    const store = new LocalFolderStore(path.join(work, 'store'));
    const rt = homeRuntime(store, { root: home }, path.join(work, 'scratch'));
    const backupId = 'b20261128t030000z-d001';
    const warnings = Array.from({ length: ALL }, (_, i) => warning(i));
    const planKey = filesKeys.plan(backupId, 'liferayHome');
    let withWarnings = false;

    // Act
    const result = await driveBackup(rt, backupContext(backupId), 'liferayHome', {
      beforeShard: async () => {
        if (withWarnings) return true;
        const plan = await readBackupPlan(store, planKey);
        await store.put(planKey, jsonBody({ ...plan, warnings }), { contentType: 'application/json' });
        withWarnings = true;
        return true;
      },
    });

    // Assess: within the budget; every warning shown is one of the first, whole or cut; the last
    // line counts the rest of all 300 and names the list, which holds all of them, whole.
    expect(result.status).toBe('complete');
    expect(Buffer.byteLength(JSON.stringify(result))).toBeLessThanOrEqual(RESULT_BUDGET_BYTES);
    const shown = result.warnings.slice(0, -1);
    const line = result.warnings.at(-1) as string;
    expect(shown.length).toBeGreaterThan(0);
    shown.forEach((text, i) => {
      expect(warnings[i]?.startsWith(text.replace(/…$/, ''))).toBe(true);
    });
    const listKey = filesKeys.warnings(backupId, 'liferayHome');
    expect(line).toContain(`${ALL - shown.length} more warnings`);
    expect(line).toContain(listKey);
    const stored: string[] = [];
    for await (const line of readJsonLines(store, listKey)) stored.push(line.value as string);
    // (not toEqual: a failure would print 300 KB of warnings)
    expect(stored.length).toBe(ALL);
    expect(stored.findIndex((text, i) => text !== warnings[i])).toBe(-1);

    // Act: Finalize again (an invocation reported failed that went on running)
    const details = filesResultDetailsSchema.parse(result.details);
    const indexBytes = fs.readFileSync(path.join(work, 'store', details.index.key));
    const listBytes = fs.readFileSync(path.join(work, 'store', listKey));
    const files: RoundState = {
      component: 'liferayHome',
      planKey,
      round: 0,
      shardListKey: filesKeys.round(backupId, 'liferayHome', 0),
      shards: 1,
      next: true,
    };
    const again = (await finalizeBackup(
      { backup: backupContext(backupId), component: 'liferayHome', files },
      rt,
    )) as RoundState;

    // Assess: the same objects; the result's line names the same list
    expect(again.next).toBe(false);
    expect(fs.readFileSync(path.join(work, 'store', details.index.key)).equals(indexBytes)).toBe(true);
    expect(fs.readFileSync(path.join(work, 'store', listKey)).equals(listBytes)).toBe(true);
    expect((again.result as typeof result).warnings.at(-1)).toContain(listKey);
  });
});
