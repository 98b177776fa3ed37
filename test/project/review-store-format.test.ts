import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '#backup-set/manifest.ts';
import { compileSelection, type FilesKind } from '#components/files/liferay-rules.ts';
import { main } from '#local/cli.ts';
import { compareTrees } from '#local/demo-compare.ts';
import '#local/retention-command.ts';
import '#local/verify-command.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import {
  type FormatGeneration,
  GENERATION_3_UPLOADS,
  writeFormatTree,
} from '../support/store-format-fixture.ts';

/**
 * The store format, pinned by stores that earlier versions wrote (test/fixtures/store-format-*,
 * made by scripts/make-format-fixture.ts): after an upgrade the SRE restores a set the previous
 * version took, and the first backup builds on the previous version's index. Each fixture is
 * copied and read with this version's CLI: list, show, verify and restore every set (compared
 * with the tree it was taken of, written again from its seed), retention's plan, and a new
 * incremental backup on top of the newest set. A schema that refuses what an earlier version
 * wrote (a new required manifest field, a stricter index) fails here.
 */

const FIXTURES = ['store-format-1', 'store-format-aaca37f'];
const FIXTURES_DIR = resolve(import.meta.dirname, '../fixtures');

interface Fixture {
  readonly producedBy: string;
  readonly appServer: string;
  readonly sets: { backupId: string; generation: FormatGeneration }[];
  readonly restoreId: string;
  readonly verifyId: string;
}

async function cli(...args: string[]): Promise<{ code: number; output: string }> {
  const lines: string[] = [];
  const code = await main(args, { out: (line) => lines.push(line), err: process.stderr });
  return { code, output: lines.join('\n') };
}

describe.each(FIXTURES)('the store %s, read by this version', (name) => {
  let work: string;
  let store: string;
  let fixture: Fixture;
  const trees = new Map<FormatGeneration, string>();

  /** The tree of a generation, as the backup read it. */
  async function tree(generation: FormatGeneration): Promise<string> {
    let dir = trees.get(generation);
    if (!dir) {
      dir = join(work, `generation-${generation}`);
      await writeFormatTree(dir, generation);
      trees.set(generation, dir);
    }
    return dir;
  }

  async function expectRestored(backupId: string, generation: FormatGeneration, to: string): Promise<void> {
    const run = await cli(
      'restore',
      backupId,
      '--to',
      join(to, 'home'),
      '--app-server',
      join(to, 'tomcat'),
      '--store',
      store,
      '--quiet',
    );
    expect(run.code, run.output).toBe(0);
    const source = await tree(generation);
    const sources: Record<FilesKind, string> = {
      liferayHome: source,
      appServer: join(source, fixture.appServer),
    };
    for (const component of ['liferayHome', 'appServer'] as const) {
      const restored = join(to, component === 'liferayHome' ? 'home' : 'tomcat');
      const comparison = await compareTrees(sources[component], restored, compileSelection(component));
      expect(comparison.differences, `${backupId} ${component}`).toEqual([]);
      expect(comparison.files, `${backupId} ${component}`).toBeGreaterThan(2);
    }
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), `review-${name}-`));
    store = join(work, 'store');
    await cp(join(FIXTURES_DIR, name, 'store'), store, { recursive: true });
    fixture = JSON.parse(await readFile(join(FIXTURES_DIR, name, 'fixture.json'), 'utf8')) as Fixture;
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('lists every set complete, the newest as latest', async () => {
    const run = await cli('list', '--store', store, '--json');
    expect(run.code, run.output).toBe(0);
    const listed = JSON.parse(run.output) as { latest: string; backups: { id: string; status: string }[] };
    expect(listed.backups).toEqual(
      fixture.sets.map((set) => expect.objectContaining({ id: set.backupId, status: 'complete' })),
    );
    expect(listed.latest).toBe(fixture.sets.at(-1)?.backupId);
  });

  it('shows every set, with the restore and the drill the earlier version recorded', async () => {
    for (const { backupId } of fixture.sets) {
      const run = await cli('show', backupId, '--store', store);
      expect(run.code, run.output).toBe(0);
      expect(run.output).toContain(`backup set ${backupId}: complete`);
    }
    const latest = await cli('show', 'latest', '--store', store);
    expect(latest.output).toContain(`restore ${fixture.restoreId}: complete`);
    expect(latest.output).toContain(`drill ${fixture.verifyId}: verified`);
    expect(latest.output).toContain(`builds on ${fixture.sets[0]?.backupId}`);
  });

  it('verifies every set', async () => {
    for (const { backupId } of fixture.sets) {
      const run = await cli('verify', backupId, '--store', store, '--quiet');
      expect(run.code, run.output).toBe(0);
    }
  });

  it('restores every set byte for byte, with modes and mtimes', async () => {
    for (const { backupId, generation } of fixture.sets)
      await expectRestored(backupId, generation, join(work, `restored-${backupId}`));
  });

  it('plans retention over the sets', async () => {
    const run = await cli('retention', '--dry-run', '--store', store, '--quiet');
    expect(run.code, run.output).toBe(0);
  });

  it('builds the next backup on the newest set: only what changed is uploaded, and it restores', async () => {
    const newest = fixture.sets.at(-1);
    if (!newest) throw new Error(`${name}/fixture.json names no set`);
    // Generation 3 is generation 2 with a file added and one changed (GENERATION_3_UPLOADS).
    expect(newest.generation).toBe(2);
    const home = join(work, 'live');
    await writeFormatTree(home, 3);
    const run = await cli(
      'backup',
      '--home',
      home,
      '--app-server',
      join(home, fixture.appServer),
      '--store',
      store,
      '--quiet',
    );
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain(`builds on ${newest.backupId}`);
    const backupId = /backup set (b\S+): complete/.exec(run.output)?.[1] ?? '';
    const manifest = await readManifest(new LocalFolderStore(store), backupId);
    expect(manifest.previousBackupId).toBe(newest.backupId);
    for (const component of ['liferayHome', 'appServer'] as const) {
      const result = manifest.results[component];
      expect(result?.status).toBe('complete');
      // The earlier version's index was read as the previous one: the files it holds are not
      // uploaded again (a backup without it would upload every file).
      expect(result?.details.previousBackupId).toBe(newest.backupId);
      expect(result?.summary.uploadedFiles, component).toBe(GENERATION_3_UPLOADS[component]);
    }
    trees.set(3, home);
    await expectRestored(backupId, 3, join(work, 'restored-generation-3'));
  });
});
