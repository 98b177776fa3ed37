import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSampleHome } from '#local/sample-home.ts';
import { makeHome } from '../reliability/support.ts';
import { type LocalS3Server, startS3Server } from '../support/s3-server.ts';

/**
 * Restore target locks as an SRE meets them at night, with the CLI that `npm run build` makes, run
 * as real processes (dist/liferay-backup, the executable npm puts on the PATH): two restores into
 * one folder, two into two folders, a restore stopped with Ctrl-C, one killed with SIGKILL, and the
 * README's runbook swap of a Liferay Home with its Tomcat inside, run twice.
 *
 * "While the first restore runs" is made exact, not a race against a big tree: the first run is
 * started with a preload that stops its own process (SIGSTOP) the moment it prints the progress
 * line of its first restore shard. It then holds its target lock (Validate took it), its staging
 * folder exists, and nothing more happens until the test sends SIGCONT; from outside it is a
 * running restore in the middle of its download (its pid is in /proc, in state T).
 */

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The progress line (ProgressPrinter.step) at which the first restore stops itself. */
const AT_SHARD = '→ Liferay Home restore shard\n';

const STOP_AT_LINE_PRELOAD = `'use strict';
// Test preload: stops this process (SIGSTOP) right after it printed the line E2E_STOP_AT on stderr.
const line = process.env.E2E_STOP_AT;
if (line) {
  const write = process.stderr.write;
  let stopped = false;
  process.stderr.write = function (chunk, ...rest) {
    const written = write.call(this, chunk, ...rest);
    if (!stopped && String(chunk).includes(line)) {
      stopped = true;
      process.kill(process.pid, 'SIGSTOP');
    }
    return written;
  };
}
`;

interface Store {
  readonly flags: string[];
  readonly env: Record<string, string>;
  /** The keys under locks/restores/, read from the store itself (not through the CLI). */
  readonly restoreLockKeys: () => Promise<string[]>;
  /** The restore reports beside the set (backups/<id>/restores/*.json). */
  readonly restoreReports: (backupId: string) => Promise<string[]>;
  readonly report: (backupId: string, restoreId: string) => Promise<RestoreReport>;
}

interface RestoreReport {
  restoreId: string;
  backupId: string;
  status: string;
  warnings?: string[];
  results: Record<string, { status: string; warnings: string[]; details: Record<string, unknown> }>;
}

interface RestoreLockJson {
  key: string;
  target: string;
  restoreId: string;
  backupId: string;
  requestedBy?: string;
  since: string;
  state: string;
}

interface Background {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly stdout: () => string;
  readonly stderr: () => string;
}

describe('restore target locks, with the built CLI as real processes', () => {
  let dir: string;
  let cliPath: string;
  let preload: string;
  let s3: LocalS3Server | undefined;
  const host = hostname();

  /** The CLI's environment: node on the PATH (the executable runs `node`), this store's credentials. */
  const envWith = (extra: Record<string, string>): NodeJS.ProcessEnv => ({
    ...process.env,
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
    AWS_REGION: 'us-east-1',
    ...extra,
  });

  /** `liferay-backup ARGS`, run to its end. */
  function cli(store: Store, ...args: string[]) {
    const started = Date.now();
    const run = spawnSync(cliPath, [...args, ...store.flags], {
      encoding: 'utf8',
      env: envWith(store.env),
      timeout: 60_000,
    });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr, ms: Date.now() - started };
  }

  /** `liferay-backup ARGS` in the background, stopping itself once it printed `stopAt`. */
  function start(store: Store, stopAt: string, ...args: string[]): Background {
    const child = spawn(cliPath, [...args, ...store.flags], {
      env: envWith({
        ...store.env,
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${preload}`.trim(),
        E2E_STOP_AT: stopAt,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    return { child, pid: child.pid as number, exited, stdout: () => stdout, stderr: () => stderr };
  }

  /** Polls until `done`, at most 30 s; fails naming what it waited for, with the run's stderr. */
  async function waitUntil(done: () => boolean, what: string, run: Background): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(done(), `${what}\n${run.stderr()}`).toBe(true);
  }

  /** The process's state letter in /proc/<pid>/stat (T: stopped); undefined once it is gone. */
  function processStateOf(pid: number): string | undefined {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    } catch {
      return undefined;
    }
  }

  /** Waits for the background run to have stopped itself at its line (printed just before it stopped). */
  async function stoppedAtItsLine(run: Background): Promise<void> {
    await waitUntil(
      () => processStateOf(run.pid) === 'T' && run.stderr().includes(AT_SHARD),
      'the first restore stopped at its shard',
      run,
    );
  }

  /** What `list --json` shows of the restore locks. */
  function restoreLocksListed(store: Store): { restores: RestoreLockJson[]; restoresNotListed: number } {
    const listed = cli(store, 'list', '--json');
    expect(listed.status, listed.stdout + listed.stderr).toBe(0);
    return (
      JSON.parse(listed.stdout) as { locks: { restores: RestoreLockJson[]; restoresNotListed: number } }
    ).locks;
  }

  /** `list` shows no restore lock, in its text and in its JSON, and the store holds none. */
  async function noRestoreLock(store: Store): Promise<void> {
    const listed = cli(store, 'list');
    expect(listed.status, listed.stdout + listed.stderr).toBe(0);
    expect(listed.stdout).not.toMatch(/held by restore/);
    expect(restoreLocksListed(store)).toMatchObject({ restores: [], restoresNotListed: 0 });
    expect(await store.restoreLockKeys()).toEqual([]);
  }

  /**
   * Every entry under `root` whose top-level name starts with `prefix`: path, type, mode, size,
   * mtime and content digest, sorted. Equal snapshots: nothing there was written, renamed or removed.
   */
  function snapshot(root: string, prefix: string): string[] {
    const lines: string[] = [];
    const visit = (relative: string) => {
      const absolute = path.join(root, relative);
      const stat = lstatSync(absolute);
      const what = stat.isSymbolicLink()
        ? `-> ${readlinkSync(absolute)}`
        : stat.isFile()
          ? createHash('sha256').update(readFileSync(absolute)).digest('hex')
          : 'dir';
      lines.push(`${relative} ${stat.mode.toString(8)} ${stat.size} ${stat.mtimeMs} ${what}`);
      if (stat.isDirectory()) for (const entry of readdirSync(absolute)) visit(path.join(relative, entry));
    };
    for (const entry of readdirSync(root)) if (entry.startsWith(prefix)) visit(entry);
    return lines.sort();
  }

  /** `diff -r`: '' when both trees hold the same files with the same contents. */
  function differences(a: string, b: string): string {
    const diff = spawnSync('diff', ['-r', a, b], { encoding: 'utf8' });
    return diff.stdout + diff.stderr;
  }

  function folderStore(name: string): Store {
    const root = path.join(dir, `${name}-store`);
    const restoresOf = (backupId: string) => path.join(root, 'backups', backupId, 'restores');
    return {
      flags: ['--store', root],
      env: {},
      restoreLockKeys: async () => {
        const locks = path.join(root, 'locks/restores');
        return existsSync(locks) ? readdirSync(locks).map((file) => `locks/restores/${file}`) : [];
      },
      restoreReports: async (backupId) =>
        existsSync(restoresOf(backupId))
          ? readdirSync(restoresOf(backupId))
              .filter((file) => file.endsWith('.json'))
              .sort()
          : [],
      report: async (backupId, restoreId) =>
        JSON.parse(readFileSync(path.join(restoresOf(backupId), `${restoreId}.json`), 'utf8')),
    };
  }

  async function s3Store(): Promise<Store> {
    s3 ??= await startS3Server();
    const server = s3;
    const keysUnder = async (prefix: string) => {
      const keys: string[] = [];
      for await (const { key } of server.store().list(prefix)) keys.push(key);
      return keys.sort();
    };
    // One bucket for the whole file: each test starts from a store without restore locks.
    await server.store().delete(await keysUnder(''));
    return {
      flags: ['--bucket', server.bucket, '--endpoint', server.endpoint],
      env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
      restoreLockKeys: () => keysUnder('locks/restores/'),
      restoreReports: async (backupId) =>
        (await keysUnder(`backups/${backupId}/restores/`))
          .filter((key) => key.endsWith('.json'))
          .map((key) => path.basename(key)),
      report: async (backupId, restoreId) =>
        JSON.parse((await server.store().read(`backups/${backupId}/restores/${restoreId}.json`)).toString()),
    };
  }

  /** A small Liferay Home backed up into `store`; returns it and the set's id. */
  function backedUpHome(name: string, store: Store): { home: string; backupId: string } {
    const home = path.join(dir, `${name}-home`);
    makeHome(home, 6);
    const backup = cli(store, 'backup', '--home', home, '--json', '--quiet');
    expect(backup.status, backup.stdout + backup.stderr).toBe(0);
    return { home, backupId: (JSON.parse(backup.stdout) as { backupId: string }).backupId };
  }

  /** The one restore lock the first run holds while stopped, as `list --json` shows it. */
  function heldBy(store: Store, run: Background, target: string, backupId: string): RestoreLockJson {
    const { restores } = restoreLocksListed(store);
    expect(restores).toHaveLength(1);
    const [lock] = restores as [RestoreLockJson];
    expect(lock).toMatchObject({
      target: `folder ${target}`,
      backupId,
      requestedBy: 'cli',
      state: `its process (pid ${run.pid} on ${host}) is running`,
    });
    return lock;
  }

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'review-e2e-restore-'));
    const out = path.join(dir, 'dist');
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-cli.mjs'), '--outdir', out], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    cliPath = path.join(out, 'liferay-backup');
    preload = path.join(dir, 'stop-at-line.cjs');
    writeFileSync(preload, STOP_AT_LINE_PRELOAD);
  }, 120_000);

  afterAll(async () => {
    await s3?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A first restore into `target` (the live tree with --swap, else a new folder), stopped at its
   * first shard holding its lock, and what the target and its siblings held at that moment.
   */
  async function firstRestoreRunning(name: string, store: Store, swap: boolean) {
    const { home, backupId } = backedUpHome(name, store);
    const pristine = path.join(dir, `${name}-as-backed-up`);
    cpSync(home, pristine, { recursive: true });
    // With --swap the live Liferay Home is the target; it has a document the set does not hold.
    const target = swap ? home : path.join(dir, `${name}-restored`);
    if (swap) writeFileSync(path.join(home, 'data/document_library/20101/added-since'), 'new');
    const args = ['restore', 'latest', '--to', target, ...(swap ? ['--swap'] : [])];
    const first = start(store, AT_SHARD, ...args);
    await stoppedAtItsLine(first);
    const lock = heldBy(store, first, target, backupId);
    expect(
      existsSync(`${target}.restore-${lock.restoreId}`),
      'the first restore writes its staging folder',
    ).toBe(true);
    const targetNow = () => snapshot(path.dirname(target), path.basename(target));
    return { backupId, pristine, target, args, first, lock, targetNow, before: targetNow() };
  }

  it.each([
    ['folder store', 'a new folder', false],
    ['folder store', 'the live tree, with --swap', true],
    ['s3rver store', 'the live tree, with --swap', true],
  ] as const)(
    '%s: a second restore into %s while the first runs is refused at once and changes nothing; the first completes and gives its lock back',
    async (storeKind, _into, swap) => {
      const name = `same-${storeKind.split(' ')[0]}-${swap ? 'swap' : 'new'}`;
      const store = storeKind === 'folder store' ? folderStore(name) : await s3Store();
      const { backupId, pristine, target, args, first, lock, targetNow, before } = await firstRestoreRunning(
        name,
        store,
        swap,
      );

      const second = cli(store, ...args);
      expect(second.status, second.stdout + second.stderr).toBe(1);
      // Refused by Validate: the first is stopped, so any wait for it would never end.
      expect(second.ms, 'refused at once, not after waiting for the first').toBeLessThan(15_000);
      expect(second.stderr).toContain('→ Validate');
      expect(second.stderr).not.toContain('→ Restore\n');
      // Nothing of the target, its staging folder or the store's restores changed.
      expect(targetNow()).toEqual(before);
      expect(await store.restoreReports(backupId)).toEqual([`${lock.restoreId}.json`]);
      expect(restoreLocksListed(store).restores).toEqual([lock]);

      first.child.kill('SIGCONT');
      expect(await first.exited, first.stderr()).toEqual({ code: 0, signal: null });
      expect(first.stdout()).toContain(`restore ${lock.restoreId} of ${backupId}: complete`);
      expect(differences(pristine, target)).toBe('');
      if (swap)
        expect(
          readFileSync(
            path.join(`${target}.before-${lock.restoreId}`, 'data/document_library/20101/added-since'),
            'utf8',
          ),
        ).toBe('new');
      await noRestoreLock(store);
    },
  );

  // The refusal names the FIRST restore ("restore <first> of <set> (…)"): restoreNamedIn used to
  // take it for this run's report, and the CLI printed "restore <first> of <set>: running" instead.
  it('the refused restore says which restore holds the folder, its pid and `kill -INT <pid>`; with --json, one failure object', async () => {
    const store = folderStore('refusal-message');
    const { backupId, target, args, first, lock } = await firstRestoreRunning(
      'refusal-message',
      store,
      false,
    );
    try {
      const refusal = `another restore is writing folder ${target}: restore ${lock.restoreId} of ${backupId} (started at ${lock.since}, requested by cli, CLI process ${first.pid} on ${host}). Two restores into one target overwrite each other; nothing was changed. Wait for it to end, or stop it: press Ctrl-C in the terminal of that restore (or: kill -INT ${first.pid}). Its process runs on this machine, so its lock is never taken over while that process runs`;
      const second = cli(store, ...args, '--quiet');
      expect(second.stdout).toContain(`restore failed: RestoreAlreadyRunningError: ${refusal}`);
      expect(second.stdout).not.toMatch(/: running, took/);
      const json = cli(store, ...args, '--json', '--quiet');
      expect(JSON.parse(json.stdout)).toMatchObject({
        status: 'failed',
        error: 'RestoreAlreadyRunningError',
        cause: expect.stringContaining(refusal),
      });
    } finally {
      first.child.kill('SIGCONT');
      expect(await first.exited, first.stderr()).toEqual({ code: 0, signal: null });
    }
    await noRestoreLock(store);
  });

  it('two restores into two folders at once both complete', async () => {
    const store = folderStore('two-folders');
    const { home, backupId } = backedUpHome('two-folders', store);
    const one = path.join(dir, 'two-folders-one');
    const two = path.join(dir, 'two-folders-two');

    const first = start(store, AT_SHARD, 'restore', 'latest', '--to', one);
    await stoppedAtItsLine(first);
    const lock = heldBy(store, first, one, backupId);

    // The second runs from start to end while the first holds its lock mid-restore.
    const second = cli(store, 'restore', 'latest', '--to', two);
    expect(second.status, second.stdout + second.stderr).toBe(0);
    expect(second.stdout).toMatch(new RegExp(`restore r\\S+ of ${backupId}: complete`));
    expect(second.stdout).not.toMatch(/took over|another restore/);
    expect(restoreLocksListed(store).restores).toEqual([lock]);

    first.child.kill('SIGCONT');
    expect(await first.exited, first.stderr()).toEqual({ code: 0, signal: null });
    expect(first.stdout()).toContain(`restore ${lock.restoreId} of ${backupId}: complete`);
    expect(differences(home, one)).toBe('');
    expect(differences(home, two)).toBe('');
    await noRestoreLock(store);
  });

  it('Ctrl-C on a running restore: exit 130, report failed, its lock given back; the next restore into that folder runs without a takeover', async () => {
    const store = folderStore('ctrl-c');
    const { home, backupId } = backedUpHome('ctrl-c', store);
    const target = path.join(dir, 'ctrl-c-restored');

    const first = start(store, AT_SHARD, 'restore', 'latest', '--to', target);
    await stoppedAtItsLine(first);
    const { restoreId } = heldBy(store, first, target, backupId);
    // Ctrl-C reaches the stopped process; it handles it once it runs on (mid-shard).
    first.child.kill('SIGINT');
    first.child.kill('SIGCONT');
    expect(await first.exited, first.stderr()).toEqual({ code: 130, signal: null });
    expect(first.stderr()).toContain('SIGINT: stopping the restore and recording it as failed');
    expect(first.stderr()).toContain(
      `restore ${restoreId} of ${backupId} recorded as failed; run it again: it removes the partial tree first`,
    );
    const stopped = await store.report(backupId, restoreId);
    expect(stopped.status).toBe('failed');
    expect(stopped.warnings).toContain(
      'interrupted (SIGINT): what it wrote stays in its staging folder beside each target, and the next restore into that target removes it',
    );
    await noRestoreLock(store);

    const next = cli(store, 'restore', 'latest', '--to', target, '--json');
    expect(next.status, next.stdout + next.stderr).toBe(0);
    const report = JSON.parse(next.stdout) as RestoreReport;
    expect(report.status).toBe('complete');
    expect(report.warnings ?? []).not.toEqual(expect.arrayContaining([expect.stringMatching(/took over/)]));
    expect(differences(home, target)).toBe('');
    await noRestoreLock(store);
  });

  it.each(['folder store', 's3rver store'] as const)(
    '%s: a restore killed with SIGKILL leaves its lock, which list says has ended; the next restore takes it over and says so',
    async (storeKind) => {
      const name = `sigkill-${storeKind.split(' ')[0]}`;
      const store = storeKind === 'folder store' ? folderStore(name) : await s3Store();
      const { home, backupId } = backedUpHome(name, store);
      const target = path.join(dir, `${name}-restored`);

      const first = start(store, AT_SHARD, 'restore', 'latest', '--to', target);
      await stoppedAtItsLine(first);
      const lock = heldBy(store, first, target, backupId);
      first.child.kill('SIGKILL');
      expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });

      // Nothing could give it back.
      expect(await store.restoreLockKeys()).toEqual([lock.key]);
      const ended = `its process (pid ${first.pid} on ${host}) had ended`;
      const listed = cli(store, 'list');
      expect(listed.status, listed.stdout + listed.stderr).toBe(0);
      expect(listed.stdout).toContain(
        `${lock.key} (folder ${target}): held by restore ${lock.restoreId} of ${backupId}, requested by cli, since ${lock.since}; ${ended}: the next restore into that target takes the lock over`,
      );

      const next = cli(store, 'restore', 'latest', '--to', target);
      expect(next.status, next.stdout + next.stderr).toBe(0);
      expect(next.stdout).toContain(
        `warning: took over the lock on folder ${target} from restore ${lock.restoreId}: ${ended} without giving it back`,
      );
      expect(differences(home, target)).toBe('');
      await noRestoreLock(store);
    },
  );

  it("README's runbook, run twice: --swap of a Liferay Home and its Tomcat inside it; each keeps the previous trees as .before-<id>", async () => {
    const store = folderStore('runbook');
    const home = path.join(dir, 'runbook-home');
    await generateSampleHome(home);
    const tomcat = path.join(home, 'tomcat');
    const backup = cli(store, 'backup', '--home', home, '--app-server', tomcat, '--json', '--quiet');
    expect(backup.status, backup.stdout + backup.stderr).toBe(0);
    const { backupId } = JSON.parse(backup.stdout) as { backupId: string };
    const pristine = path.join(dir, 'runbook-as-backed-up');
    cpSync(home, pristine, { recursive: true, verbatimSymlinks: true });

    const runbook = () => {
      const run = cli(store, 'restore', backupId, '--to', home, '--app-server', tomcat, '--swap', '--json');
      expect(run.status, run.stdout + run.stderr).toBe(0);
      const report = JSON.parse(run.stdout) as RestoreReport;
      expect(report.status).toBe('complete');
      expect(report.results.liferayHome?.status).toBe('complete');
      expect(report.results.appServer?.status).toBe('complete');
      expect(report.warnings ?? []).not.toEqual(expect.arrayContaining([expect.stringMatching(/took over/)]));
      return report.restoreId;
    };
    const first = runbook();
    await noRestoreLock(store);
    const second = runbook();
    await noRestoreLock(store);

    // Each swap kept the tree it replaced; no staging folder is left.
    expect(
      readdirSync(dir)
        .filter((entry) => entry.startsWith('runbook-home'))
        .sort(),
    ).toEqual(
      // Two restores in one second sort by their ids' random suffix, not by when they ran.
      ['runbook-home', `runbook-home.before-${first}`, `runbook-home.before-${second}`].sort(),
    );
    // One Tomcat in the home, and the second app server swap's previous one beside it; the first
    // swap's stayed in the tree the second replaced, not carried on (docs/readme/files-engine.md).
    expect(
      readdirSync(home)
        .filter((entry) => entry.startsWith('tomcat'))
        .sort(),
    ).toEqual(['tomcat', `tomcat.before-${second}`]);
    const previous = path.join(dir, `runbook-home.before-${second}`);
    expect(readdirSync(previous).filter((entry) => entry.startsWith('tomcat'))).toEqual([
      `tomcat.before-${first}`,
    ]);
    // The live home is the set's, but for what the rules leave out because Liferay and Tomcat
    // regenerate it (kept in the first .before- tree) and the second app server swap's previous tree.
    const only = (where: string, name: string) => `Only in ${where}: ${name}`;
    expect(differences(pristine, home).trim().split('\n').sort()).toEqual(
      [
        only(path.join(pristine, 'data'), 'elasticsearch7'),
        only(pristine, 'elasticsearch-sidecar'),
        only(path.join(pristine, 'osgi'), 'state'),
        only(path.join(pristine, 'osgi'), 'wabs'),
        only(pristine, 'work'),
        only(path.join(pristine, 'tomcat/logs'), 'catalina.out'),
        only(path.join(pristine, 'tomcat/logs'), 'localhost_access_log.2024-05-01.txt'),
        only(path.join(pristine, 'tomcat/temp'), 'safeToDelete.tmp'),
        only(path.join(pristine, 'tomcat/work'), 'Catalina'),
        only(home, `tomcat.before-${second}`),
      ].sort(),
    );
    // The first swap's previous tree is the live home of before, less what it carried into the
    // restored one (the app server and deploy/, which the backup leaves out).
    expect(
      differences(pristine, path.join(dir, `runbook-home.before-${first}`))
        .trim()
        .split('\n')
        .sort(),
    ).toEqual([only(pristine, 'deploy'), only(pristine, 'tomcat')]);
  });
});
