import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '#local/cli.ts';
import '#local/verify-command.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { makeHome } from '../reliability/support.ts';
import { allKeys, tempDir } from '../support/local-runtime.ts';

/**
 * `show`, where an SRE looks before restoring a set at night: besides the set itself, every
 * restore and drill of it, newest first, with what each left out or found.
 */

async function cli(...argv: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await main(argv, { out: (line) => lines.push(line), err: process.stderr });
  return { code, lines };
}

describe('show', () => {
  it("lists the set's restores and drills, newest first, with what each left out or found", async () => {
    const { dir } = tempDir('show-runs');
    const home = path.join(dir, 'home');
    makeHome(home, 4);
    const storeDir = path.join(dir, 'store');
    const store = new LocalFolderStore(storeDir);
    expect((await cli('backup', '--home', home, '--store', storeDir, '--quiet')).code).toBe(0);
    const shown = await cli('show', 'latest', '--store', storeDir);
    expect(shown.lines.at(-1)).toBe('  no restore or drill of this set yet');

    const restore = (to: string, ...flags: string[]) =>
      cli('restore', 'latest', '--to', path.join(dir, to), '--store', storeDir, '--quiet', ...flags);
    expect((await restore('first')).code).toBe(0);
    expect((await cli('verify', 'latest', '--store', storeDir, '--scratch', 'none', '--quiet')).code).toBe(0);
    const pack = (await allKeys(store)).find((key) => key.startsWith('objects/packs/')) as string;
    fs.rmSync(path.join(storeDir, pack));
    expect((await restore('second')).code).toBe(1);
    expect((await restore('third', '--skip-lost')).code).toBe(0);
    const [backupId] = (await allKeys(store))
      .map((key) => /^backups\/([^/]+)\/manifest\.json$/.exec(key)?.[1])
      .filter(Boolean);
    await store.put(`backups/${backupId}/restores/r20200101t000000z-0bad.json`, '{"restoreId": ');

    const { code, lines } = await cli('show', 'latest', '--store', storeDir);
    expect(code).toBe(0);
    const runs = lines.slice(lines.indexOf('  restores and drills of this set, newest first:') + 1);
    const took = 'started \\S+, took [\\d.]+ m?s';
    expect(runs).toEqual([
      expect.stringMatching(new RegExp(`^ {4}restore r\\S+: complete, ${took}$`)),
      expect.stringMatching(
        /^ {6}liferayHome: \d+ files not restored, their stored content lost \(skipLost\)$/,
      ),
      expect.stringMatching(new RegExp(`^ {4}restore r\\S+: failed, ${took}$`)),
      expect.stringMatching(
        new RegExp(
          `^ {6}liferayHome: ObjectNotFoundError: not found in the backup store: ${pack}; a restore with "skipLost"`,
        ),
      ),
      expect.stringMatching(new RegExp(`^ {4}drill v\\S+: verified, ${took}$`)),
      expect.stringMatching(new RegExp(`^ {4}restore r\\S+: complete, ${took}$`)),
      // A report that cannot be read is shown as such, last (it says nothing of when it ran).
      '    restore r20200101t000000z-0bad: unreadable',
      expect.stringMatching(/^ {6}backups\/\S+\/restores\/r20200101t000000z-0bad\.json is not valid JSON/),
    ]);
  });
});
