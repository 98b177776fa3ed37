import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest, writeManifest } from '#backup-set/manifest.ts';
import { EMPTY_SHA256 } from '#components/files/content.ts';
import { comparePaths } from '#components/files/paths.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import {
  backup,
  backupIdOf,
  homeSettings,
  makeHome,
  restore,
  runtimeWith,
  verifySet,
} from '../reliability/support.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * The read-back drill (`scratch: false`) must refuse what a restore refuses: an index whose
 * entries a restore will not write (unsafe paths, entries beneath a file, an unknown encoding),
 * even when every byte it points to hashes right. A green drill of such a set is a lie: the
 * restore of it fails before writing anything.
 */

const work = tempDir('review-drill-files-index');
const pristine = path.join(work.dir, 'pristine');
const home = path.join(work.dir, 'home');
let backupId = '';
let counter = 0;

beforeAll(async () => {
  makeHome(home, 4);
  backupId = backupIdOf(
    await backup(runtimeWith(new LocalFolderStore(pristine), { liferayHome: homeSettings(home) })),
  );
});
afterAll(() => work.cleanup());

type Entry = Record<string, unknown>;

function freshStore(): LocalFolderStore {
  counter += 1;
  const dir = path.join(work.dir, `case-${counter}`, 'store');
  fs.cpSync(pristine, dir, { recursive: true });
  return new LocalFolderStore(dir);
}

const sha256 = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Rewrites the set's index with these entries (one part) and signs it again, as bad-input-store.test.ts does. */
async function rewriteIndex(
  store: LocalFolderStore,
  change: (entries: Entry[]) => Entry[],
  lastPath?: (paths: string[]) => string,
): Promise<void> {
  const manifest = await readManifest(store, backupId);
  const result = manifest.results.liferayHome;
  if (!result) throw new Error('no liferayHome result');
  const key = (result.details as { index: { key: string } }).index.key;
  const index = JSON.parse((await store.read(key)).toString('utf8')) as {
    parts: Array<Record<string, unknown> & { key: string }>;
  };
  const before: Entry[] = [];
  for (const part of index.parts)
    for (const line of gunzipSync(await store.read(part.key))
      .toString('utf8')
      .split('\n'))
      if (line) before.push(JSON.parse(line) as Entry);
  const entries = change(before);
  const body = gzipSync(`${entries.map((entry) => JSON.stringify(entry)).join('\n')}\n`);
  const partKey = index.parts[0]?.key ?? '';
  await store.put(partKey, body);
  await store.delete(index.parts.slice(1).map((part) => part.key));
  const paths = entries.map((entry) => String(entry.path)).sort(comparePaths);
  const files = entries.filter((entry) => entry.type === 'file');
  index.parts = [
    {
      key: partKey,
      firstPath: paths[0] ?? '',
      lastPath: lastPath ? lastPath(paths) : (paths[paths.length - 1] ?? ''),
      entries: entries.length,
      files: files.length,
      bytes: files.reduce((sum, entry) => sum + (typeof entry.size === 'number' ? entry.size : 0), 0),
      size: body.length,
      sha256: sha256(body),
    },
  ];
  const indexBody = `${JSON.stringify(index, null, 2)}\n`;
  await store.put(key, indexBody);
  result.details = {
    ...result.details,
    index: { key, size: Buffer.byteLength(indexBody), sha256: sha256(indexBody) },
  };
  await writeManifest(store, manifest);
}

const emptyFile = (entryPath: string): Entry => ({
  path: entryPath,
  type: 'file',
  mode: 0o644,
  mtimeNs: '1700000000000000000',
  uid: 0,
  gid: 0,
  size: 0,
  sha256: EMPTY_SHA256,
});

const cases: Array<{
  name: string;
  change: (entries: Entry[]) => Entry[];
  lastPath?: (paths: string[]) => string;
  problem: RegExp;
}> = [
  {
    name: "entries beyond the part's recorded span",
    change: (entries) => entries,
    // The part says it ends one path early: a restore refuses the last entry.
    lastPath: (paths) => paths[paths.length - 2] ?? '',
    problem: /lies outside the part's recorded span/,
  },
  {
    name: 'a path that climbs out of the tree',
    change: (entries) => [emptyFile('../../etc/cron.d/evil'), ...entries],
    problem: /"\.\.\/\.\.\/etc\/cron\.d\/evil": the path has a '\.\.' segment/,
  },
  {
    name: 'an entry beneath a file',
    change: (entries) => {
      const at = entries.findIndex((entry) => entry.path === 'portal-ext.properties');
      return [...entries.slice(0, at + 1), emptyFile('portal-ext.properties/evil'), ...entries.slice(at + 1)];
    },
    problem: /"portal-ext\.properties\/evil": it lies beneath "portal-ext\.properties", which is a file/,
  },
  {
    name: 'content in an encoding this version cannot read (the stored bytes still hash right)',
    change: (entries) =>
      entries.map((entry) =>
        entry.type === 'file' && String(entry.path).startsWith('data/document_library/')
          ? { ...entry, encoding: 'zstd' }
          : entry,
      ),
    problem: /its content is stored with encoding "zstd", which this version cannot read/,
  },
];

describe('the read-back drill refuses an index a restore refuses', () => {
  for (const c of cases) {
    it(`${c.name}: the restore fails, and so does the drill`, async () => {
      const store = freshStore();
      await rewriteIndex(store, c.change, c.lastPath);
      const target = path.join(work.dir, `restored-${counter}`);
      const restored = await restore(runtimeWith(store, { liferayHome: homeSettings(home) }), {
        backupId: 'latest',
        liferayHome: { target },
      });
      expect(restored.status).toBe('FAILED');
      const verified = await verifySet(runtimeWith(store, {}), backupId);
      expect(verified.status).toBe('failed');
      expect(verified.message).toMatch(c.problem);
    });
  }
});
