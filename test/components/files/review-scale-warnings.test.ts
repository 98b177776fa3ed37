import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readJsonLines } from '#components/files/jsonl.ts';
import { filesKeys } from '#components/files/keys.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { backupContext, driveBackup, homeRuntime } from './support/drive.ts';

/**
 * Review (scale): what a files backup returns travels in the Step Functions state, whose every
 * input and output is limited to 256 KiB (both files components, the database, search and source
 * results together). A tree that makes hundreds of long warnings (names that are not UTF-8 deep in
 * a tree of 255-byte names) must give a small result; the warnings are kept whole in the store.
 */
const work = fs.mkdtempSync(path.join(tmpdir(), 'review-scale-warnings-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const STEP_FUNCTIONS_PAYLOAD = 256 * 1024;

describe('a backup of a tree with 300 long warnings', () => {
  it('returns a result of at most 32 KiB, counts every warning and keeps them all in the store', async () => {
    const home = path.join(work, 'home');
    fs.mkdirSync(home);
    fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'x=y\n');
    // data/ then 13 folders of 255-byte names: a logical path of about 3,340 bytes.
    let deep = path.join(home, 'data');
    for (let level = 0; level < 13; level += 1) deep = path.join(deep, `${level}`.padEnd(255, 'n'));
    fs.mkdirSync(deep, { recursive: true });
    for (let i = 0; i < 300; i += 1)
      fs.writeFileSync(Buffer.concat([Buffer.from(`${deep}/${i}-`), Buffer.from([0xff, 0xfe])]), 'x');
    const store = new LocalFolderStore(path.join(work, 'store'));
    const rt = homeRuntime(store, { root: home }, path.join(work, 'scratch'));
    const backupId = 'b20261127t020000z-0a01';

    const result = await driveBackup(rt, backupContext(backupId));

    expect(result.status).toBe('complete');
    const size = Buffer.byteLength(JSON.stringify(result));
    // Before: 201 warnings of up to 4,000 characters, about 700 KB (States.DataLimitExceeded).
    expect(size).toBeLessThanOrEqual(32 * 1024);
    expect(size).toBeLessThan(STEP_FUNCTIONS_PAYLOAD / 8);
    const last = result.warnings.at(-1) ?? '';
    const listKey = `${filesKeys.setPrefix(backupId, 'liferayHome')}warnings.jsonl.gz`;
    expect(last).toMatch(/^\.\.\. and \d+ more warnings/);
    expect(last).toContain(listKey);
    const kept: string[] = [];
    for await (const { value } of readJsonLines(store, listKey)) kept.push(value as string);
    const names = kept.filter((warning) => warning.startsWith('skipped a name that is not valid UTF-8'));
    // A shard keeps its first 200 warnings, and says how many more it had; they are kept whole.
    expect(names).toHaveLength(200);
    expect(names.every((warning) => warning.length > 3000)).toBe(true);
    expect(kept.at(-1)).toBe('... and 100 more warnings');
    expect(result.warnings.every((warning) => warning.length <= 1000)).toBe(true);
  }, 120_000);
});
