import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '#local/cli.ts';
import { makeHome } from '../reliability/support.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * Review of what the README tells an SRE to run with the CLI: `--help` on any command, the exit
 * code of a backup whose capture hook failed (the README: "the execution still ends red", "a failed
 * post hook makes the execution fail loudly too"; on the command line the exit code is that alarm),
 * and what `restore` says when it is given no target.
 */

const work = tempDir('review-readme-cli');
afterAll(() => work.cleanup());

function quietStderr(): NodeJS.WriteStream {
  return { isTTY: false, columns: 100, write: () => true } as unknown as NodeJS.WriteStream;
}

async function run(args: string[]) {
  const lines: string[] = [];
  const code = await main(args, { out: (line) => lines.push(line), err: quietStderr() });
  return { code, stdout: lines.join('\n') };
}

function setUp(name: string) {
  const dir = path.join(work.dir, name);
  const home = path.join(dir, 'home');
  makeHome(home, 4);
  return { dir, home, store: path.join(dir, 'store') };
}

function onlyManifest(store: string): { status: string; warnings: string[] } {
  const [backupId = '-'] = fs.readdirSync(path.join(store, 'backups'));
  return JSON.parse(fs.readFileSync(path.join(store, 'backups', backupId, 'manifest.json'), 'utf8'));
}

describe('README: "--help on any command lists its flags"', () => {
  for (const command of ['list', 'show']) {
    it(`${command} --help prints its usage and flags and exits 0`, async () => {
      const result = await run([command, '--help']);
      expect(result.code, result.stdout).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`usage: liferay-backup ${command}`));
      expect(result.stdout).toContain('--store');
      expect(result.stdout).toContain('--json');
      expect(result.stdout).not.toMatch(/error|Unknown option/);
    });
  }
});

describe('README: a failed capture hook makes the run fail, though the set may be complete', () => {
  it('a failed pre hook with --continue-on-pre-hook-failure: the set is complete, the command exits 1 and says why', async () => {
    const { home, store } = setUp('continue-on-pre-hook-failure');
    const result = await run([
      'backup',
      '--home',
      home,
      '--store',
      store,
      '--quiet',
      '--pre-hook',
      'exit 3',
      '--continue-on-pre-hook-failure',
    ]);
    expect(onlyManifest(store).status).toBe('complete');
    expect(result.code, result.stdout).toBe(1);
    expect(result.stdout).toMatch(/BackupHookFailed/);
  }, 60_000);

  it('a failed post hook: the set is complete, the command exits 1 and says why; --json keeps stdout one JSON object', async () => {
    const { home, store } = setUp('failed-post-hook');
    const result = await run([
      'backup',
      '--home',
      home,
      '--store',
      store,
      '--quiet',
      '--json',
      '--post-hook',
      'exit 4',
    ]);
    expect(onlyManifest(store).status).toBe('complete');
    expect(result.code, result.stdout).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'complete' });
  }, 60_000);
});

describe('restore without a target', () => {
  it('names the flags that give one, instead of "the set holds no complete component this deployment can restore"', async () => {
    const { home, store } = setUp('restore-without-target');
    expect((await run(['backup', '--home', home, '--store', store, '--quiet'])).code).toBe(0);
    const before = fs.readdirSync(path.join(store, 'backups'));
    const result = await run(['restore', 'latest', '--store', store, '--quiet']);
    expect(result.code, result.stdout).toBe(2);
    expect(result.stdout).toMatch(/--to DIR/);
    expect(result.stdout).not.toMatch(/holds no complete component/);
    // Nothing was written: no restore report beside the set.
    const [backupId = '-'] = before;
    expect(fs.existsSync(path.join(store, 'backups', backupId, 'restores'))).toBe(false);
  }, 60_000);

  it('says which components of the set it left out for want of a target', async () => {
    const { dir, home, store } = setUp('restore-leaves-out-app-server');
    const appServer = path.join(dir, 'tomcat');
    makeHome(appServer, 2);
    expect(
      (await run(['backup', '--home', home, '--app-server', appServer, '--store', store, '--quiet'])).code,
    ).toBe(0);
    const result = await run([
      'restore',
      'latest',
      '--to',
      path.join(dir, 'restored'),
      '--store',
      store,
      '--quiet',
    ]);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(/appServer.*not restored.*--app-server DIR/);
  }, 60_000);
});

describe('README: "A Liferay Home of another DXP build is refused unless force"', () => {
  it('is refused with the flag to give, and restored over with --force, saying so', async () => {
    const { home, store } = setUp('force');
    fs.writeFileSync(path.join(home, '.liferay-version'), '2024.q1.1');
    expect((await run(['backup', '--home', home, '--store', store])).code).toBe(0);
    // The live tree was upgraded since
    fs.writeFileSync(path.join(home, '.liferay-version'), '2025.q1.0');

    const refused = await run(['restore', 'latest', '--to', home, '--swap', '--store', store]);
    expect(refused.code, refused.stdout).toBe(1);
    expect(refused.stdout).toContain('set "force": true (CLI --force) to restore it anyway');
    expect(fs.readFileSync(path.join(home, '.liferay-version'), 'utf8')).toBe('2025.q1.0');

    const forced = await run(['restore', 'latest', '--to', home, '--swap', '--force', '--store', store]);
    expect(forced.code, forced.stdout).toBe(0);
    expect(forced.stdout).toContain('restored DXP 2024.q1.1 over a tree of DXP 2025.q1.0 (forced)');
    expect(fs.readFileSync(path.join(home, '.liferay-version'), 'utf8')).toBe('2024.q1.1');
  });
});
