import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '#local/cli.ts';
import '#local/verify-command.ts';
import '#local/retention-command.ts';
import { makeHome } from '../reliability/support.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * Review of the CLI: the capture hooks the README documents (`--pre-hook 'CMD' --post-hook 'CMD'`),
 * what Ctrl-C leaves behind when they bracket the capture, and stdout under --json when a command
 * fails before its run.
 */

const work = tempDir('review-cli');
afterAll(() => work.cleanup());

/**
 * A stderr that records what the CLI writes there, and raises `signal` in this process (as Ctrl-C
 * would) when the progress names the state `at` as entered.
 */
function stderrSignalling(at?: string, signal: NodeJS.Signals = 'SIGINT') {
  let text = '';
  let raised = false;
  const stream = {
    isTTY: false,
    columns: 100,
    write(chunk: string) {
      text += chunk;
      if (at && !raised && text.includes(`→ ${at}\n`)) {
        raised = true;
        process.emit(signal, signal);
      }
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

async function run(args: string[], err = stderrSignalling()) {
  const lines: string[] = [];
  const code = await main(args, { out: (line) => lines.push(line), err: err.stream });
  return { code, stdout: lines.join('\n'), stderr: err.text() };
}

/** A Liferay Home and a store of their own, and a log the hooks append their phase to. */
function setUp(name: string) {
  const dir = path.join(work.dir, name);
  const home = path.join(dir, 'home');
  makeHome(home, 4);
  const log = path.join(dir, 'hooks.log');
  const hook = (phase: string, before = '') => `${before}echo ${phase} >> '${log}'`;
  return { dir, home, store: path.join(dir, 'store'), log, hook, hooks: () => readIfPresent(log) };
}

function readIfPresent(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

function onlyManifest(store: string): { status: string; warnings: string[] } {
  const [backupId = '-'] = fs.readdirSync(path.join(store, 'backups'));
  return JSON.parse(fs.readFileSync(path.join(store, 'backups', backupId, 'manifest.json'), 'utf8'));
}

describe('capture hooks on the command line', () => {
  it('backup takes --pre-hook and --post-hook, as the README says, and runs them around the capture', async () => {
    // Prepare
    const { home, store, hook, hooks } = setUp('hooks');
    // Act
    const result = await run([
      'backup',
      '--home',
      home,
      '--store',
      store,
      '--pre-hook',
      hook('pre'),
      '--post-hook',
      hook('post'),
      '--json',
    ]);
    // Assess
    expect(result.code, result.stdout).toBe(0);
    expect(hooks()).toBe('pre\npost\n');
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'complete' });
  }, 60_000);

  it('refuses a --hook-timeout that is not a whole number of seconds, naming the flag', async () => {
    const { home, store, hook } = setUp('hook-timeout');
    const result = await run([
      'backup',
      '--home',
      home,
      '--store',
      store,
      '--pre-hook',
      hook('pre'),
      '--hook-timeout',
      'ten',
    ]);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/--hook-timeout/);
    expect(fs.existsSync(store)).toBe(false);
  });

  it('Ctrl-C during the capture still runs the post hook (writes resumed), then frees the lock and fails the set', async () => {
    // Prepare: the pre hook "pauses writes" (the file), the post hook resumes them.
    const { dir, home, store, hook, hooks } = setUp('interrupted-capture');
    const paused = path.join(dir, 'writes-paused');
    // Act: Ctrl-C once the capture has begun, after the pre hook.
    const result = await run(
      [
        'backup',
        '--home',
        home,
        '--store',
        store,
        '--pre-hook',
        hook('pre', `touch '${paused}'; `),
        '--post-hook',
        hook('post', `rm '${paused}'; `),
      ],
      stderrSignalling('Liferay Home plan'),
    );
    // Assess
    expect(result.code, result.stderr).toBe(130);
    expect(hooks(), result.stderr).toBe('pre\npost\n');
    expect(fs.existsSync(paused)).toBe(false);
    expect(fs.existsSync(path.join(store, 'locks', 'backup.json'))).toBe(false);
    expect(onlyManifest(store)).toMatchObject({
      status: 'failed',
      warnings: ['the run ended without committing: it was interrupted (SIGINT); the post hook succeeded'],
    });
  }, 60_000);

  it('Ctrl-C while the pre hook runs: the run waits for it, then runs the post hook', async () => {
    // Prepare: a pre hook that takes a moment (pausing writes), so the signal comes while it runs.
    const { dir, home, store, hook, hooks } = setUp('interrupted-pre-hook');
    const paused = path.join(dir, 'writes-paused');
    // Act
    const result = await run(
      [
        'backup',
        '--home',
        home,
        '--store',
        store,
        '--pre-hook',
        hook('pre', `sleep 1; touch '${paused}'; `),
        '--post-hook',
        hook('post', `rm -f '${paused}'; `),
      ],
      stderrSignalling('Run pre hook'),
    );
    // Assess: once the pre hook has finished (with or without the CLI waiting for it), writes are resumed.
    for (let i = 0; i < 100 && !hooks().includes('pre'); i += 1)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(result.code, result.stderr).toBe(130);
    expect(hooks(), result.stderr).toBe('pre\npost\n');
    expect(fs.existsSync(paused)).toBe(false);
    expect(fs.existsSync(path.join(store, 'locks', 'backup.json'))).toBe(false);
  }, 60_000);
});

/** Waits (bounded) until `found` answers something: what a step still running in this process writes. */
async function eventually<T>(found: () => T | undefined): Promise<T | undefined> {
  for (let i = 0; i < 100; i += 1) {
    const value = found();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}

/** The one report under backups/<id>/<folder>/ once it is there. */
function onlyReport(store: string, folder: string): { status: string; warnings?: string[] } | undefined {
  const [backupId = '-'] = fs.readdirSync(path.join(store, 'backups'));
  const dir = path.join(store, 'backups', backupId, folder);
  const [file] = fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => name.endsWith('.json')) : [];
  return file ? JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) : undefined;
}

describe('Ctrl-C during the first step of a restore or a drill', () => {
  it('a restore stopped while Validate writes its running report records that report failed', async () => {
    // Prepare
    const { dir, home, store } = setUp('interrupted-validate');
    expect((await run(['backup', '--home', home, '--store', store, '--quiet'])).code).toBe(0);
    // Act
    const result = await run(
      ['restore', 'latest', '--to', path.join(dir, 'restored'), '--store', store],
      stderrSignalling('Validate'),
    );
    // Assess: Validate has written the report (it goes on in this process when the CLI does not wait).
    const report = await eventually(() => onlyReport(store, 'restores'));
    expect(result.code, result.stderr).toBe(130);
    expect(result.stderr).not.toContain('nothing was written');
    expect(report?.status, result.stderr).toBe('failed');
  }, 60_000);

  it('a drill stopped while Begin verify writes its running report records that report failed', async () => {
    const { home, store } = setUp('interrupted-begin-verify');
    expect((await run(['backup', '--home', home, '--store', store, '--quiet'])).code).toBe(0);
    const result = await run(
      ['verify', 'latest', '--store', store, '--scratch', 'none'],
      stderrSignalling('Begin verify'),
    );
    const report = await eventually(() => onlyReport(store, 'verifications'));
    expect(result.code, result.stderr).toBe(130);
    expect(report?.status, result.stderr).toBe('failed');
  }, 60_000);

  it('a retention run stopped while Plan retention takes its lock gives the lock back', async () => {
    const { home, store } = setUp('interrupted-plan-retention');
    expect((await run(['backup', '--home', home, '--store', store, '--quiet'])).code).toBe(0);
    const result = await run(['retention', '--store', store], stderrSignalling('Plan retention'));
    const reports = path.join(store, 'reports', 'retention');
    const report = await eventually(() => {
      const [file] = fs.existsSync(reports) ? fs.readdirSync(reports) : [];
      return file
        ? (JSON.parse(fs.readFileSync(path.join(reports, file), 'utf8')) as { status: string })
        : undefined;
    });
    expect(result.code, result.stderr).toBe(130);
    expect(report?.status, result.stderr).toBe('failed');
    expect(fs.existsSync(path.join(store, 'locks', 'retention.json'))).toBe(false);
  }, 60_000);

  it('a backup stopped during Begin gives back the lock Begin takes and records the set failed', async () => {
    const { home, store } = setUp('interrupted-begin');
    const result = await run(['backup', '--home', home, '--store', store], stderrSignalling('Begin'));
    const manifest = await eventually(() =>
      fs.existsSync(path.join(store, 'backups')) ? onlyManifest(store) : undefined,
    );
    expect(result.code, result.stderr).toBe(130);
    expect(manifest?.status, result.stderr).toBe('failed');
    expect(fs.existsSync(path.join(store, 'locks', 'backup.json'))).toBe(false);
  }, 60_000);
});

describe('--json when a command fails before its run', () => {
  it.each([
    // 2, as restore and verify of a missing set (cli-output.test.ts): a mistyped id is bad input.
    ['show of a missing set', ['show', 'b20200101t000000z-0000'], 2],
    ['show latest of an empty store', ['show', 'latest'], 2],
    [
      'restore with an unknown component',
      ['restore', 'latest', '--to', '/tmp/never', '--components', 'nope'],
      2,
    ],
    ['list with an unknown flag', ['list', '--nope'], 2],
  ])('%s: stdout is one JSON object (a script pipes it to jq)', async (_name, args, code) => {
    const store = path.join(work.dir, 'json-empty-store');
    fs.mkdirSync(store, { recursive: true });
    const result = await run([...args, '--store', store, '--json']);
    expect(result.code).toBe(code);
    expect(() => JSON.parse(result.stdout), result.stdout).not.toThrow();
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'failed', error: expect.any(String) });
  });
});
