import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EMPTY_SHA256 } from '#components/files/content.ts';
import { UnsafeEntryError } from '#components/files/errors.ts';
import { INDEX_FORMAT, indexBody } from '#components/files/index-format.ts';
import { JsonLinesFile } from '#components/files/jsonl.ts';
import { SafeTree } from '#components/files/restore-fs.ts';
import { planRestore } from '#components/files/restore-plan.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { commitSet, homeRuntime, restoreContext } from './support/drive.ts';

const work = fs.mkdtempSync(path.join(tmpdir(), 'files-safety-'));
const store = new LocalFolderStore(path.join(work, 'store'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const SHA = 'c'.repeat(64);
const file = (p: string, extra: Record<string, unknown> = {}) => ({
  path: p,
  type: 'file',
  mode: 0o644,
  size: 3,
  mtimeNs: '1',
  sha256: SHA,
  data: { pack: `objects/packs/ab/${'ab'.repeat(16)}`, offset: 0, length: 3 },
  uid: 0,
  gid: 0,
  ...extra,
});
const dir = (p: string) => ({ path: p, type: 'dir', mode: 0o755, mtimeNs: '1', uid: 0, gid: 0 });
const link = (p: string, target: string) => ({
  path: p,
  type: 'symlink',
  target,
  mtimeNs: '1',
  uid: 0,
  gid: 0,
});

let sets = 0;
/** Stores a set whose index holds exactly these entries (in this order), as a damaged or hostile store would. */
async function hostileSet(entries: Array<Record<string, unknown>>): Promise<string> {
  sets += 1;
  const backupId = `b20261127t020000z-${sets.toString(16).padStart(4, '0')}`;
  const key = `backups/${backupId}/files/liferayHome/part-00-00000.jsonl.gz`;
  const part = await JsonLinesFile.create(path.join(work, 'scratch'), 'hostile');
  for (const entry of entries) await part.write(entry);
  const digest = await part.upload(store, key);
  const paths = entries.map((entry) => String(entry.path));
  const index = {
    format: INDEX_FORMAT,
    version: 1 as const,
    backupId,
    component: 'liferayHome' as const,
    createdAt: new Date().toISOString(),
    sources: [{ mount: '', root: '/opt/liferay', role: 'tree' as const }],
    parts: [
      {
        key,
        firstPath: paths[0] ?? '',
        lastPath: paths.at(-1) ?? '',
        entries: entries.length,
        files: 0,
        bytes: 0,
        ...digest,
      },
    ],
    totals: { entries: entries.length, files: 0, dirs: 0, symlinks: 0, bytes: 0 },
    catalog: { prefixLength: 0, entries: 0, partitions: [] },
  };
  const body = indexBody(index);
  const indexKey = `backups/${backupId}/files/liferayHome/index.json`;
  await store.put(indexKey, body);
  await commitSet(store, backupId, [
    {
      component: 'liferayHome',
      status: 'complete',
      warnings: [],
      summary: {},
      details: {
        engine: 'files',
        index: {
          key: indexKey,
          size: Buffer.byteLength(body),
          sha256: createHash('sha256').update(body).digest('hex'),
        },
        sources: index.sources,
        rules: { include: [], exclude: [] },
      },
    },
  ]);
  return backupId;
}

function runtimeFor(target: string) {
  return homeRuntime(store, { root: target }, path.join(work, 'scratch'));
}

describe('a restore refuses hostile index entries before writing anything', () => {
  it.each([
    ['an absolute path', [file('/etc/cron.d/evil')], /is absolute/],
    ['a .. segment', [file('../../outside')], /'\.\.' segment/],
    ['a .. inside the path', [dir('a'), file('a/../../x')], /'\.\.' segment/],
    [
      'a path through a link',
      [link('data', '/tmp'), file('data/evil')],
      /beneath "data", which is a symbolic link/,
    ],
    ['a path beneath a file', [file('f'), file('f/child')], /beneath "f", which is a file/],
    ['an unknown encoding', [file('z', { encoding: 'zstd' })], /encoding "zstd"/],
    ['a file without a location', [{ ...file('q'), data: undefined }], /no location/],
    ['a NUL character', [file('a\u0000b')], /NUL/],
  ])('%s', async (_what, entries, reason) => {
    const backupId = await hostileSet(entries);
    const target = path.join(work, `target-${sets}`);
    const request = restoreContext(backupId, {});
    const attempt = planRestore({ restore: request, component: 'liferayHome' }, runtimeFor(target));
    await expect(attempt).rejects.toThrow(UnsafeEntryError);
    await expect(
      planRestore({ restore: request, component: 'liferayHome' }, runtimeFor(target)),
    ).rejects.toThrow(reason);
    // Nothing written: no staging folder, no target.
    expect(fs.readdirSync(work).filter((name) => name.startsWith(`target-${sets}`))).toEqual([]);
  });

  it('accepts a clean index (the same checks pass on ordinary entries)', async () => {
    const backupId = await hostileSet([
      dir('a'),
      file('a/b', { size: 0, sha256: EMPTY_SHA256, data: undefined }),
      link('a/c', '../x'),
    ]);
    const target = path.join(work, 'clean-target');
    const state = await planRestore(
      { restore: restoreContext(backupId, {}), component: 'liferayHome' },
      runtimeFor(target),
    );
    expect(state.shards).toBe(1);
  });
});

describe('the restore writer never writes through a link', () => {
  it('refuses to create a file beneath a link that is already in the staging folder', async () => {
    const staging = path.join(work, 'staging-with-link');
    const outside = path.join(work, 'outside');
    fs.mkdirSync(staging);
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(staging, 'a'));
    const tree = new SafeTree(staging);
    await expect(tree.createFile('a/evil')).rejects.toThrow(/"a": it is a symbolic link/);
    await expect(tree.ensureDir('a/b')).rejects.toThrow(UnsafeEntryError);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('replaces a link left where a file goes, without following it', async () => {
    const staging = path.join(work, 'staging-leftover');
    const victim = path.join(work, 'victim.txt');
    fs.mkdirSync(staging);
    fs.writeFileSync(victim, 'keep me');
    fs.symlinkSync(victim, path.join(staging, 'f'));
    const fd = await new SafeTree(staging).createFile('f');
    fs.writeSync(fd, 'restored');
    fs.closeSync(fd);
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep me');
    expect(fs.readFileSync(path.join(staging, 'f'), 'utf8')).toBe('restored');
  });

  it('refuses unsafe paths itself', () => {
    const tree = new SafeTree(path.join(work, 'x'));
    expect(() => tree.absolute('../x')).toThrow(UnsafeEntryError);
    expect(() => tree.absolute('/x')).toThrow(UnsafeEntryError);
  });
});
