import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '#local/cli.ts';
import '#local/retention-command.ts';
import '#local/verify-command.ts';
import { makeHome } from '../reliability/support.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * Review of the README's CLI examples as an SRE woken at night types them: a typo in a path or an
 * id, or a component asked for without its target flag, must end with exit code 2 ("bad input: a
 * flag") and a message that says what to fix, and must create nothing. Before this review a
 * mistyped `--store` read as "there is no complete backup set yet" (as if the backups were gone),
 * and `retention` made a new store there; a mistyped `show` id exited 1 with a store key;
 * `verify --scratch` into a missing folder exited 1 with a bare ENOENT; and `restore --components
 * appServer` without `--app-server` said the component was "not configured in this deployment".
 */

const work = tempDir('review-readme-sre');
afterAll(() => work.cleanup());

function quietStderr(): NodeJS.WriteStream {
  return { isTTY: false, columns: 100, write: () => true } as unknown as NodeJS.WriteStream;
}

async function run(args: string[]) {
  const lines: string[] = [];
  const code = await main(args, { out: (line) => lines.push(line), err: quietStderr() });
  return { code, stdout: lines.join('\n') };
}

const home = path.join(work.dir, 'home');
const store = path.join(work.dir, 'store');
let backupId = '';

beforeAll(async () => {
  makeHome(home, 4);
  const backup = await run([
    'backup',
    '--home',
    home,
    '--app-server',
    path.join(home, 'osgi'),
    '--store',
    store,
  ]);
  expect(backup.code, backup.stdout).toBe(0);
  [backupId = ''] = fs.readdirSync(path.join(store, 'backups'));
}, 60_000);

/** Every file under `dir`, relative: what a refused command must leave unchanged. */
function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

describe('a mistyped --store folder is named as such, and nothing is created there', () => {
  const missing = () => path.join(work.dir, 'stroe');
  const commands: [string, () => string[]][] = [
    ['restore', () => ['restore', 'latest', '--to', path.join(work.dir, 'never'), '--store', missing()]],
    ['verify', () => ['verify', 'latest', '--store', missing()]],
    ['show', () => ['show', 'latest', '--store', missing()]],
    ['list', () => ['list', '--store', missing()]],
    ['retention', () => ['retention', '--dry-run', '--store', missing()]],
  ];
  for (const [command, args] of commands) {
    it(`${command}: exit 2, the folder and --store named; with --json too`, async () => {
      const result = await run(args());
      expect(result.code, result.stdout).toBe(2);
      expect(result.stdout).toContain(`no backup store at ${missing()}`);
      expect(result.stdout).toContain('--store');
      expect(result.stdout).not.toMatch(/no complete backup set yet|no backup sets in/);
      const json = await run([...args(), '--json']);
      expect(json.code).toBe(2);
      expect(JSON.parse(json.stdout)).toMatchObject({ status: 'failed', error: 'InvalidInputError' });
      expect(fs.existsSync(missing())).toBe(false);
      expect(fs.existsSync(path.join(work.dir, 'never'))).toBe(false);
    }, 60_000);
  }

  it('backup still makes a new store folder (the first backup creates it)', async () => {
    const fresh = path.join(work.dir, 'new-store');
    const result = await run(['backup', '--home', home, '--store', fresh, '--quiet']);
    expect(result.code, result.stdout).toBe(0);
    expect(fs.existsSync(path.join(fresh, 'pointers', 'latest.json'))).toBe(true);
  }, 60_000);
});

describe('show of a set the store does not hold', () => {
  it('exit 2, says no such set and how to see the ones there are', async () => {
    const typo = `${backupId.slice(0, -1)}${backupId.endsWith('0') ? '1' : '0'}`;
    const result = await run(['show', typo, '--store', store]);
    expect(result.code, result.stdout).toBe(2);
    expect(result.stdout).toContain(`no backup set ${typo} in ${store}`);
    expect(result.stdout).toContain('liferay-backup list');
  });

  it('a string that is no backup id: exit 2, the expected form given', async () => {
    const result = await run(['show', 'b2026', '--store', store]);
    expect(result.code, result.stdout).toBe(2);
    expect(result.stdout).toContain('b20261127t020000z-7f3a');
  });
});

describe('verify --scratch into a folder that does not exist', () => {
  it('exit 2, names --scratch and the folder; no drill is recorded', async () => {
    const before = filesUnder(store);
    const missing = path.join(work.dir, 'scratch-typo');
    const result = await run(['verify', 'latest', '--store', store, '--scratch', missing]);
    expect(result.code, result.stdout).toBe(2);
    expect(result.stdout).toContain(`--scratch ${missing}`);
    expect(result.stdout).toMatch(/does not exist/);
    expect(result.stdout).not.toMatch(/ENOENT/);
    expect(filesUnder(store)).toEqual(before);
    expect(fs.existsSync(missing)).toBe(false);
  }, 60_000);
});

describe('restore --components naming a component without its target flag', () => {
  it('exit 2, names the flag to give, restores nothing', async () => {
    const before = filesUnder(store);
    const to = path.join(work.dir, 'restored-components');
    const result = await run([
      'restore',
      'latest',
      '--to',
      to,
      '--components',
      'appServer',
      '--store',
      store,
    ]);
    expect(result.code, result.stdout).toBe(2);
    expect(result.stdout).toContain('--app-server DIR');
    expect(result.stdout).not.toMatch(/not configured in this deployment/);
    expect(filesUnder(store)).toEqual(before);
    expect(fs.existsSync(to)).toBe(false);
  }, 60_000);

  it('with the flag given, it restores that component', async () => {
    const target = path.join(work.dir, 'restored-app-server');
    const result = await run([
      'restore',
      'latest',
      '--app-server',
      target,
      '--components',
      'appServer',
      '--store',
      store,
      '--quiet',
    ]);
    expect(result.code, result.stdout).toBe(0);
    expect(fs.existsSync(target)).toBe(true);
  }, 60_000);
});

describe('README: "--help on any command lists its flags" (retention)', () => {
  it('names every flag retention accepts, and the policy a run without flags applies', async () => {
    const help = await run(['retention', '--help']);
    expect(help.code).toBe(0);
    for (const flag of [
      '--region',
      '--environment',
      '--quiet',
      '--json',
      '--store',
      '--bucket',
      '--endpoint',
    ])
      expect(help.stdout).toContain(flag);
    expect(help.stdout).toContain(
      'Defaults: --daily 7 --weekly 5 --monthly 12 --min-complete 3 --incomplete-days 14 --grace-hours 48',
    );
    // Each flag the help names is accepted.
    const accepted = await run([
      'retention',
      '--dry-run',
      '--quiet',
      '--environment',
      'local',
      '--store',
      store,
    ]);
    expect(accepted.code, accepted.stdout).toBe(0);
  }, 60_000);
});

describe('README: "With --json, stdout is one JSON object in every case, an error before the run included"', () => {
  it.each([[['restor', 'latest', '--to', '/tmp/never', '--json']], [['--json']]])(
    'a mistyped command %j: one JSON object naming the commands, exit 2',
    async (args) => {
      const result = await run(args);
      expect(result.code).toBe(2);
      expect(JSON.parse(result.stdout)).toMatchObject({
        status: 'failed',
        error: 'InvalidInputError',
        cause: expect.stringMatching(/unknown command .*restore.*verify/),
      });
    },
  );

  it('without --json the usage follows, as before', async () => {
    const result = await run(['restor', 'latest']);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^unknown command restor\nusage: liferay-backup/);
  });
});

describe('a backup of a folder that does not exist is a wrong flag, not a failed set', () => {
  for (const flag of ['home', 'app-server'] as const) {
    it(`--${flag}: exit 2 naming the flag and the folder, and no set is begun`, async () => {
      const before = filesUnder(store);
      const typo = path.join(work.dir, 'liferya');
      const args =
        flag === 'home'
          ? ['backup', '--home', typo, '--store', store]
          : ['backup', '--home', home, '--app-server', typo, '--store', store];
      const result = await run(args);
      expect(result.code, result.stdout).toBe(2);
      expect(result.stdout).toContain(`--${flag} ${typo}: no such folder`);
      expect(filesUnder(store)).toEqual(before);
    }, 60_000);
  }
});
