import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeRestoredTree } from '#components/files/restore-fs.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../../support/local-runtime.ts';
import { backupContext, commitSet, driveBackup, homeRuntime } from './support/drive.ts';
import { diffTrees, readTree } from './support/trees.ts';

/**
 * A restore run by a user that is not root: the Lambda functions write to EFS as the access
 * point's user, the CLI often as a liferay user. Root ignores modes, so a folder made read-only
 * too early (osgi/configs locked down at 0555, whose files span two index parts and two rounds)
 * goes unnoticed as root and fails with EACCES otherwise. The restore runs in a child process
 * (support/restore-child.ts), as uid 65534 through setpriv when this test runs as root.
 */

const CONFIGS = 4_500;
/** Backup shards of this many entries cut osgi/configs in two parts. */
const MAX_FILES = 4_200;
const UNPRIVILEGED = 65_534;

const work = tempDir('restore-non-root');
const isRoot = process.getuid?.() === 0;
const home = path.join(work.dir, 'home');
const store = path.join(work.dir, 'store');
const backupId = 'b20261127t020000z-0b01';
let backupShards = 0;

afterAll(() => {
  // The restored read-only folders would stop a user that is not root from removing the tree.
  spawnSync('chmod', ['-R', 'u+rwX', work.dir]);
  work.cleanup();
});

/** A distinct whole-second mtime per folder (restored to the microsecond: compared exactly). */
const dirTime = (n: number) => new Date(Date.UTC(2021, 0, 1 + n, 8, 30, 0));

/**
 * The source: osgi/configs (0555) with CONFIGS files and a 0500 folder in it; data/ro (0555) with a
 * 0555 folder inside, all in one shard; folder mtimes set last, deepest first.
 */
function makeHome(): void {
  const write = (rel: string, content: string) => {
    const abs = path.join(home, ...rel.split('/'));
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, content);
  };
  write('portal-ext.properties', 'company.default.web.id=liferay.com\n');
  write('data/ro/b.txt', 'b\n');
  write('data/ro/inner/a.txt', 'a\n');
  for (let i = 0; i < CONFIGS; i += 1)
    write(`osgi/configs/c${String(i).padStart(4, '0')}.config`, `x=${i}\n`);
  write('osgi/configs/locked/secret.config', 'secret=1\n');
  write('osgi/modules/readme.txt', 'modules\n');
  const modes: Array<[string, number]> = [
    ['data/ro/inner', 0o555],
    ['data/ro', 0o555],
    ['data', 0o755],
    ['osgi/configs/locked', 0o500],
    ['osgi/configs', 0o555],
    ['osgi/modules', 0o755],
    ['osgi', 0o750],
    ['', 0o750],
  ];
  modes.forEach(([rel, mode], n) => {
    const abs = path.join(home, ...rel.split('/').filter(Boolean));
    fs.chmodSync(abs, mode);
    fs.utimesSync(abs, dirTime(n), dirTime(n));
  });
}

/** The folders of a tree with their mode and mtime (the root as ''), for a comparison that names them. */
function dirsOf(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const show = (stats: fs.BigIntStats) =>
    `mode ${(Number(stats.mode) & 0o7777).toString(8)}, mtime ${stats.mtimeNs / 1000n} µs`;
  out[''] = show(fs.statSync(root, { bigint: true }));
  for (const [rel, entry] of readTree(root))
    if (entry.type === 'dir') out[rel] = `mode ${entry.mode.toString(8)}, mtime ${entry.mtimeUs} µs`;
  return out;
}

interface ChildOutcome {
  readonly ok: boolean;
  readonly error?: string;
  readonly restoreId?: string;
  readonly summary?: { shards: number; files: number };
  /** Folders that shards reported open (still written into later) found read-only before a later shard. */
  readonly readOnlyOpenDirs?: string[];
}

/** Restores the set into `target` from `storeDir` in a child process that is not root. */
function restoreAsUnprivileged(storeDir: string, target: string, flags: string[]): ChildOutcome {
  const script = path.join(import.meta.dirname, 'support', 'restore-child.ts');
  const scratch = path.join(path.dirname(target), 'scratch');
  fs.mkdirSync(scratch);
  const args = ['--store', storeDir, '--id', backupId, '--target', target, '--scratch', scratch, ...flags];
  const command = [process.execPath, '--import', 'tsx', script, ...args];
  if (isRoot) {
    // The user owns its store copy and the folder it restores into, as on EFS or a server.
    const chown = spawnSync('chown', [
      '-R',
      `${UNPRIVILEGED}:${UNPRIVILEGED}`,
      storeDir,
      path.dirname(target),
    ]);
    if (chown.status !== 0) throw new Error(`chown failed: ${chown.stderr}`);
    command.unshift('setpriv', `--reuid=${UNPRIVILEGED}`, `--regid=${UNPRIVILEGED}`, '--clear-groups');
  }
  const [file, ...rest] = command as [string, ...string[]];
  const child = spawnSync(file, rest, {
    encoding: 'utf8',
    cwd: path.join(import.meta.dirname, '..', '..', '..'),
    // tsx keeps its cache under the temporary folder: one this user may write.
    env: { ...process.env, HOME: scratch, TMPDIR: scratch },
  });
  const line = child.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as ChildOutcome;
  } catch {
    return {
      ok: false,
      error: `the child printed no result (exit ${child.status}, ${child.error?.message ?? 'no spawn error'}): ${child.stdout} ${child.stderr}`,
    };
  }
}

describe('files restore by a user that is not root', () => {
  beforeAll(async () => {
    makeHome();
    const rt = homeRuntime(new LocalFolderStore(store), {
      root: home,
      shard: { maxFiles: MAX_FILES, maxBytes: 1024 ** 3, timeBudgetSeconds: 600 },
    });
    const result = await driveBackup(rt, backupContext(backupId));
    await commitSet(rt.store, backupId, [result]);
    backupShards = Number(result.summary.shards);
    // Every user may reach the work folder (mkdtemp made it 0700) and read the sources (tsx).
    fs.chmodSync(work.dir, 0o755);
  });

  it('backs up osgi/configs in two index parts (what the restore cases below rely on)', () => {
    const index = JSON.parse(
      fs.readFileSync(path.join(store, 'backups', backupId, 'files', 'liferayHome', 'index.json'), 'utf8'),
    ) as { parts: Array<{ firstPath: string; lastPath: string }> };
    const inConfigs = (p: string) => p.startsWith('osgi/configs/');
    const spanning = index.parts.filter((part) => inConfigs(part.firstPath) || inConfigs(part.lastPath));
    expect(backupShards).toBe(index.parts.length);
    expect(spanning.length).toBeGreaterThanOrEqual(2);
  });

  it.each([
    ['by the fetch workers', 'workers', []],
    ['on the main thread (the path taken over EFS)', 'main-thread', ['--main-thread']],
    ['with every shard run twice (a retried Lambda meets the modes its first run set)', 'twice', ['--twice']],
  ])(
    'restores a read-only folder spanning two shards and two rounds %s, with every folder mode and mtime as in the source',
    (_name, slug, flags) => {
      // Prepare: a copy of the store per case (each child numbers its restore ids from 1).
      const caseDir = path.join(work.dir, slug);
      fs.mkdirSync(caseDir);
      const storeCopy = path.join(caseDir, 'store');
      expect(spawnSync('cp', ['-a', store, storeCopy]).status).toBe(0);
      const target = path.join(caseDir, 'out', 'home');
      fs.mkdirSync(path.dirname(target));

      // Act: a time budget of 0 ends a shard after its first batch of files (4,000), so the first
      // part continues in a second round.
      const outcome = restoreAsUnprivileged(storeCopy, target, ['--budget', '0', ...flags]);

      // Assess: restored, in more shard runs than parts, and identical (folders: mode and mtime);
      // no shard made a folder read-only while later shards still wrote into it (with parallel
      // shards, as in the Distributed Map, that fails a shard in the middle of its writes).
      expect(outcome.error).toBeUndefined();
      expect(outcome).toMatchObject({ ok: true, summary: { files: CONFIGS + 5 }, readOnlyOpenDirs: [] });
      // Written by that user (root would have passed anyway).
      expect(fs.statSync(path.join(target, 'osgi', 'configs', 'c0000.config')).uid).toBe(
        isRoot ? UNPRIVILEGED : process.getuid?.(),
      );
      expect(outcome.summary?.shards).toBeGreaterThan(backupShards);
      expect(dirsOf(target)).toEqual(dirsOf(home));
      expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
    },
  );
});

describe('a partial tree removed by a user that is not root', () => {
  it('goes, read-only folders included (the next restore frees the disk a failed one filled)', async () => {
    // Prepare: what a failed restore leaves, owned by nobody: a finished shard gave its folders their modes.
    // Every user may reach the work folder (mkdtemp made it 0700).
    fs.chmodSync(work.dir, 0o755);
    const tree = path.join(work.dir, 'partial', 'live.restore-r20261127t020000z-0001');
    fs.mkdirSync(path.join(tree, 'osgi/configs/locked'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'osgi/configs/a.config'), 'a');
    fs.writeFileSync(path.join(tree, 'osgi/configs/locked/b.config'), 'b');
    for (const rel of [
      '',
      'osgi',
      'osgi/configs',
      'osgi/configs/locked',
      'osgi/configs/a.config',
      'osgi/configs/locked/b.config',
    ])
      fs.chownSync(path.join(tree, rel), 65534, 65534);
    fs.chownSync(path.dirname(tree), 65534, 65534);
    fs.chmodSync(path.join(tree, 'osgi/configs/locked'), 0o500);
    fs.chmodSync(path.join(tree, 'osgi/configs'), 0o555);
    if (typeof process.seteuid !== 'function' || process.geteuid?.() !== 0)
      throw new Error('this test needs root, to take the uid of nobody');
    // Act: as nobody, first as fs.rm alone would, then as the restore does.
    process.seteuid(65534);
    let plain: unknown;
    try {
      plain = await fs.promises.rm(tree, { recursive: true, force: true }).catch((error: unknown) => error);
      await removeRestoredTree(tree);
    } finally {
      process.seteuid(0);
    }
    // Assess
    expect((plain as NodeJS.ErrnoException).code).toBe('EACCES');
    expect(fs.existsSync(tree)).toBe(false);
  });
});
