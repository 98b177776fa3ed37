import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackupIds } from '#backup-set/manifest.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { type LocalS3Server, startS3Server } from '../../support/s3-server.ts';
import {
  backupContext,
  commitSet,
  driveBackup,
  driveRestore,
  homeRuntime,
  restoreContext,
} from './support/drive.ts';
import { bytesFor, diffTrees, readTree, type TreeEntry } from './support/trees.ts';

/**
 * Incremental forever, generation after generation: a seeded random tree is changed in every way
 * a Liferay Home (or an operator) changes one between two nights, backed up after each round of
 * changes, and then every generation, the oldest included, is restored and compared with the tree
 * as it was when that generation was taken (content, mode, mtime, link targets, folders), whole
 * and one folder of it by glob.
 *
 * Among the changes are the ones the quick check must not be fooled by: content rewritten with the
 * same size and the old mtime put back (only ctime says), two files swapping names (the inode
 * says), a large file changed in one chunk in the middle, a file replaced by a folder of the same
 * name and a folder by a link. Small shard limits make the shard boundaries move from one
 * generation to the next, so unchanged lines carried over from far back cross shards too.
 *
 * Then retention deletes the older generations and collects their content, and the generations
 * it kept, whose unchanged files still point at content the first one stored, are restored again.
 */

const GENERATIONS = 6;
/** Generations retention keeps: the newest. */
const KEPT = 3;
const DAY = 86_400_000;
// Another seed explores other trees and changes: GENERATIONS_SEED=x npx vitest run generations.
const SEED = process.env.GENERATIONS_SEED ?? 'generations-1';

const work = fs.mkdtempSync(path.join(tmpdir(), 'files-generations-'));
let server: LocalS3Server;
beforeAll(async () => {
  server = await startS3Server();
});
afterAll(async () => {
  await server?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

/** A small deterministic generator (sfc32 from a sha256), so a failure can be replayed. */
function random(label: string) {
  const h = createHash('sha256').update(label).digest();
  let a = h.readUInt32LE(0);
  let b = h.readUInt32LE(4);
  let c = h.readUInt32LE(8);
  let d = h.readUInt32LE(12);
  const next = () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i += 1) next();
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
  };
}
type Random = ReturnType<typeof random>;

// The smallest the settings accept: large files of a few chunks stay cheap to write and read.
const BLOB_THRESHOLD = 256 * 1024;
const CHUNK = 256 * 1024;

function settingsFor(root: string) {
  return {
    root,
    shard: { maxFiles: 20, maxBytes: 64 * 1024 * 1024, timeBudgetSeconds: 600 },
    blobThresholdBytes: BLOB_THRESHOLD,
    chunkBytes: CHUNK,
    packBytes: 1024 * 1024,
  };
}

function runtime(store: ContentStore, root: string): Runtime {
  return homeRuntime(store, settingsFor(root), path.join(work, 'scratch'));
}

/** The generated part of the tree: everything under it is selected by the Liferay rules. */
const GEN = 'data/document_library/20101';

/** A file's size: mostly small documents, some empty, some above the blob threshold (several chunks). */
function sizeFor(rng: Random): number {
  const roll = rng.next();
  if (roll < 0.08) return 0;
  if (roll < 0.85) return rng.int(1, 12_000);
  return rng.int(BLOB_THRESHOLD, BLOB_THRESHOLD + 2 * CHUNK + 777);
}

class TreeChanger {
  private counter = 0;

  constructor(
    private readonly root: string,
    private readonly rng: Random,
  ) {}

  private abs(rel: string): string {
    return path.join(this.root, rel);
  }

  /**
   * A new name. Some carry what makes path order subtle: a space, `.` and `-` (which sort before
   * `/`'s children of a same-named folder), non-ASCII letters, and characters on both sides of the
   * UTF-16 surrogates (U+E000 sorts before U+1F600 by code point, after it by UTF-16 unit).
   */
  private fresh(prefix: string): string {
    this.counter += 1;
    const decoration = this.rng.pick([
      '',
      '',
      '',
      ' space',
      '.x',
      '-',
      'é',
      '日本',
      '\u{1F600}',
      '\uE000',
      'Z',
    ]);
    return `${prefix}-${this.counter}${decoration}`;
  }

  private content(size: number): Buffer {
    return bytesFor(this.fresh('content'), size);
  }

  /** Files, folders and links under GEN now (paths relative to the root). */
  private list(): { files: string[]; dirs: string[]; links: string[] } {
    const out = { files: [] as string[], dirs: [] as string[], links: [] as string[] };
    const visit = (rel: string) => {
      for (const name of fs.readdirSync(this.abs(rel)).sort()) {
        const child = `${rel}/${name}`;
        const stats = fs.lstatSync(this.abs(child));
        if (stats.isSymbolicLink()) out.links.push(child);
        else if (stats.isDirectory()) {
          out.dirs.push(child);
          visit(child);
        } else out.files.push(child);
      }
    };
    visit(GEN);
    return out;
  }

  private writeFile(rel: string, bytes: Buffer, mode = 0o644): void {
    fs.mkdirSync(path.dirname(this.abs(rel)), { recursive: true });
    fs.writeFileSync(this.abs(rel), bytes);
    fs.chmodSync(this.abs(rel), mode);
  }

  private randomTime(): Date {
    // Whole microseconds: what utimes sets exactly and the comparison checks.
    return new Date(Date.UTC(2020, 0, 1) + this.rng.int(0, 5 * 365 * 86_400) * 1000 + this.rng.int(0, 999));
  }

  /** The first tree: nested folders of documents, a few links, odd modes and old mtimes. */
  seed(files: number): void {
    fs.mkdirSync(this.abs(GEN), { recursive: true });
    fs.writeFileSync(this.abs('portal-ext.properties'), 'company.default.web.id=liferay.com\n');
    for (let i = 0; i < files; i += 1) {
      const depth = this.rng.int(0, 3);
      const dirs = Array.from({ length: depth }, () => `d${this.rng.int(0, 6)}`);
      const rel = [GEN, ...dirs, this.fresh('f')].join('/');
      this.writeFile(rel, this.content(sizeFor(this.rng)), this.rng.pick([0o644, 0o600, 0o755, 0o444]));
      if (this.rng.next() < 0.5) fs.utimesSync(this.abs(rel), this.randomTime(), this.randomTime());
    }
    const { files: all, dirs } = this.list();
    for (let i = 0; i < 4; i += 1) {
      const target = path.relative(path.dirname(this.abs(`${GEN}/x`)), this.abs(this.rng.pick(all)));
      fs.symlinkSync(target, this.abs(`${GEN}/${this.fresh('link')}`));
    }
    fs.symlinkSync('does-not-exist', this.abs(`${GEN}/${this.fresh('dangling')}`));
    for (const dir of dirs)
      if (this.rng.next() < 0.3) fs.utimesSync(this.abs(dir), this.randomTime(), this.randomTime());
  }

  /** One night's changes: `count` of them, each of a random kind. Returns what was done, for a failure message. */
  change(count: number): string[] {
    const done: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const { files, dirs, links } = this.list();
      const kinds = [
        'sameSizeOldMtime',
        'append',
        'truncate',
        'rename',
        'copy',
        'delete',
        'newFiles',
        'chmod',
        'touch',
        'swap',
        'largeMiddle',
        'fileToDir',
        'dirToLink',
        'deleteDir',
        'relink',
        'dirMode',
      ] as const;
      const kind = this.rng.pick(kinds);
      const file = files.length > 0 ? this.rng.pick(files) : undefined;
      const other = files.length > 1 ? this.rng.pick(files.filter((rel) => rel !== file)) : undefined;
      const dir = dirs.length > 0 ? this.rng.pick(dirs) : undefined;
      const applied = this.apply(kind, {
        file,
        other,
        dir,
        link: links.length > 0 ? this.rng.pick(links) : undefined,
      });
      if (applied) done.push(applied);
    }
    return done;
  }

  private apply(
    kind: string,
    pick: { file?: string; other?: string; dir?: string; link?: string },
  ): string | undefined {
    const { file, other, dir, link } = pick;
    switch (kind) {
      case 'sameSizeOldMtime': {
        if (!file) return undefined;
        const stats = fs.statSync(this.abs(file));
        if (stats.size === 0) return undefined;
        fs.writeFileSync(this.abs(file), this.content(stats.size));
        fs.utimesSync(this.abs(file), stats.atime, stats.mtime);
        return `${kind} ${file}`;
      }
      case 'append':
        if (!file) return undefined;
        fs.appendFileSync(this.abs(file), this.content(this.rng.int(1, 3000)));
        return `${kind} ${file}`;
      case 'truncate':
        if (!file) return undefined;
        fs.truncateSync(this.abs(file), 0);
        return `${kind} ${file}`;
      case 'rename': {
        if (!file) return undefined;
        const to = `${dir ?? GEN}/${this.fresh('renamed')}`;
        fs.renameSync(this.abs(file), this.abs(to));
        return `${kind} ${file} -> ${to}`;
      }
      case 'copy': {
        if (!file) return undefined;
        const to = `${dir ?? GEN}/${this.fresh('copy')}`;
        fs.copyFileSync(this.abs(file), this.abs(to));
        return `${kind} ${file} -> ${to}`;
      }
      case 'delete':
        if (!file) return undefined;
        fs.rmSync(this.abs(file));
        return `${kind} ${file}`;
      case 'newFiles': {
        const base = `${dir ?? GEN}/${this.fresh('new')}`;
        for (let i = 0; i < this.rng.int(1, 6); i += 1)
          this.writeFile(`${base}/${this.fresh('n')}`, this.content(sizeFor(this.rng)));
        return `${kind} ${base}`;
      }
      case 'chmod':
        if (!file) return undefined;
        fs.chmodSync(this.abs(file), this.rng.pick([0o600, 0o640, 0o755, 0o444]));
        return `${kind} ${file}`;
      case 'touch':
        if (!file) return undefined;
        fs.utimesSync(this.abs(file), this.randomTime(), this.randomTime());
        return `${kind} ${file}`;
      case 'swap': {
        if (!file || !other) return undefined;
        const tmp = `${GEN}/${this.fresh('swap')}`;
        fs.renameSync(this.abs(file), this.abs(tmp));
        fs.renameSync(this.abs(other), this.abs(file));
        fs.renameSync(this.abs(tmp), this.abs(other));
        return `${kind} ${file} <-> ${other}`;
      }
      case 'largeMiddle': {
        const large = this.list().files.filter((rel) => fs.statSync(this.abs(rel)).size > 2 * CHUNK);
        if (large.length === 0) return undefined;
        const target = this.rng.pick(large);
        const stats = fs.statSync(this.abs(target));
        const fd = fs.openSync(this.abs(target), 'r+');
        try {
          fs.writeSync(fd, this.content(100), 0, 100, CHUNK + 10);
        } finally {
          fs.closeSync(fd);
        }
        fs.utimesSync(this.abs(target), stats.atime, stats.mtime);
        return `${kind} ${target}`;
      }
      case 'fileToDir':
        if (!file) return undefined;
        fs.rmSync(this.abs(file));
        this.writeFile(`${file}/${this.fresh('inside')}`, this.content(sizeFor(this.rng)));
        return `${kind} ${file}`;
      case 'dirToLink': {
        if (!dir || !file || file.startsWith(`${dir}/`)) return undefined;
        fs.rmSync(this.abs(dir), { recursive: true });
        fs.symlinkSync(path.relative(path.dirname(this.abs(dir)), this.abs(file)), this.abs(dir));
        return `${kind} ${dir}`;
      }
      case 'deleteDir':
        if (!dir) return undefined;
        fs.rmSync(this.abs(dir), { recursive: true });
        return `${kind} ${dir}`;
      case 'relink':
        if (!link) return undefined;
        fs.rmSync(this.abs(link));
        fs.symlinkSync(this.fresh('elsewhere'), this.abs(link));
        return `${kind} ${link}`;
      case 'dirMode':
        if (!dir) return undefined;
        fs.chmodSync(this.abs(dir), this.rng.pick([0o700, 0o750, 0o755]));
        fs.utimesSync(this.abs(dir), this.randomTime(), this.randomTime());
        return `${kind} ${dir}`;
      default:
        throw new Error(`unknown change ${kind}`);
    }
  }
}

const stores: Array<[string, () => ContentStore]> = [
  ['local folder', () => new LocalFolderStore(fs.mkdtempSync(path.join(work, 'store-')))],
  ['S3 (s3rver)', () => server.store()],
];

describe.each(stores)('files engine, %s: incremental forever over generations', (name, makeStore) => {
  it(`restores each of ${GENERATIONS} generations exactly as the tree was when it was taken`, async () => {
    const store = makeStore();
    const home = fs.mkdtempSync(path.join(work, 'home-'));
    const changer = new TreeChanger(home, random(`${SEED} ${name}`));
    changer.seed(120);
    const generations: Array<{ id: string; tree: Map<string, TreeEntry>; changes: string[] }> = [];
    let previous: string | undefined;
    for (let g = 0; g < GENERATIONS; g += 1) {
      const changes = g === 0 ? [] : changer.change(16);
      const id = `b20261127t1${String(g).padStart(5, '0')}z-${(g + 1).toString(16).padStart(4, '0')}`;
      // The tree as it is now: the snapshot is read before the backup, which must see the same.
      const tree = readTree(home);
      const result = await driveBackup(runtime(store, home), backupContext(id, previous));
      expect(result.status, `generation ${g}: ${result.warnings.join('; ')}`).toBe('complete');
      // Discovery's notes about this bare Liferay Home aside, nothing of the tree was skipped.
      expect(result.warnings.filter((warning) => warning.includes(GEN))).toEqual([]);
      await commitSet(store, id, [result], previous);
      generations.push({ id, tree, changes });
      previous = id;
    }
    // The names that make path order subtle are in the trees.
    const paths = generations.flatMap((generation) => [...generation.tree.keys()]);
    for (const mark of [' ', '.x', '日本', '\u{1F600}', '\uE000'])
      expect(
        paths.some((rel) => rel.includes(mark)),
        mark,
      ).toBe(true);
    // Every change kind ran at least once over the generations (the seed is fixed).
    const kinds = new Set(generations.flatMap((g) => g.changes.map((change) => change.split(' ')[0])));
    expect(kinds.size).toBeGreaterThanOrEqual(14);

    const restoreAndCompare = async (g: number) => {
      const generation = generations[g] as (typeof generations)[number];
      const target = path.join(fs.mkdtempSync(path.join(work, 'restore-')), 'home');
      const restored = await driveRestore(runtime(store, target), restoreContext(generation.id, {}));
      expect(restored.status).toBe('complete');
      expect(restored.summary.verifiedFiles).toBe(restored.summary.files);
      expect(
        diffTrees(generation.tree, readTree(target)),
        `generation ${g}, after: ${generation.changes.join(', ')}`,
      ).toEqual([]);
      fs.rmSync(path.dirname(target), { recursive: true, force: true });
    };
    /** One folder of a generation by glob: exactly what was beneath it then. */
    const restoreFolder = async (g: number, folder: string) => {
      const generation = generations[g] as (typeof generations)[number];
      const target = path.join(fs.mkdtempSync(path.join(work, 'restore-')), 'home');
      const restored = await driveRestore(
        runtime(store, target),
        restoreContext(generation.id, { path: `${folder}/**` }),
      );
      expect(restored.status).toBe('complete');
      const beneath = (tree: Map<string, TreeEntry>) =>
        new Map([...tree].filter(([rel]) => rel.startsWith(`${folder}/`)));
      expect(
        diffTrees(beneath(generation.tree), beneath(readTree(target))),
        `generation ${g}, ${folder}/**`,
      ).toEqual([]);
      fs.rmSync(path.dirname(target), { recursive: true, force: true });
    };
    const folders = random(`${SEED} ${name} folders`);
    for (let g = 0; g < GENERATIONS; g += 1) {
      await restoreAndCompare(g);
      const generation = generations[g] as (typeof generations)[number];
      const dirs = [...generation.tree].filter(
        ([rel, entry]) => entry.type === 'dir' && rel.startsWith(`${GEN}/`),
      );
      await restoreFolder(g, folders.pick(dirs)[0]);
    }

    // Retention keeps the newest generations; its clock is days ahead, so every object only the
    // older ones referenced is past the grace period and collected.
    const retention = localRuntime({
      store,
      settings: parseSettings(
        {
          environment: 'test',
          retention: { policy: { daily: 0, weekly: 0, monthly: 0, minComplete: KEPT }, graceHours: 48 },
        },
        'test',
      ),
      now: () => new Date(Date.now() + 3 * DAY),
    });
    const outcome = await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retention);
    if (outcome.status !== 'SUCCEEDED')
      throw new Error(`retention failed: ${outcome.error}: ${outcome.cause}`);
    const { deletedSets, sweptObjects } = (
      outcome.output as { outcome: { deletedSets: string[]; sweptObjects: number } }
    ).outcome;
    const kept = generations.slice(-KEPT).map((generation) => generation.id);
    expect(await listBackupIds(store)).toEqual(kept);
    expect(deletedSets).toHaveLength(GENERATIONS - KEPT);
    expect(sweptObjects).toBeGreaterThan(0);
    for (let g = GENERATIONS - KEPT; g < GENERATIONS; g += 1) await restoreAndCompare(g);
  });
});
