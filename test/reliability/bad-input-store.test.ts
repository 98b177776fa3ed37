import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeKeys } from '#backup-set/keys.ts';
import { readManifest, writeManifest } from '#backup-set/manifest.ts';
import { EMPTY_SHA256 } from '#components/files/content.ts';
import { comparePaths } from '#components/files/paths.ts';
import { main } from '#local/cli.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';
import {
  backup,
  backupIdOf,
  homeSettings,
  listTree,
  makeHome,
  outputOf,
  restore,
  restoreIdsOf,
  restoreReport,
  runtimeWith,
  storeSnapshot,
  verifySet,
} from './support.ts';

/**
 * What a restore reads back from the store is input like any other: manifests, the latest pointer,
 * file indexes and the content they point to, damaged or written by someone hostile (indexes are
 * re-signed here, as an attacker with write access to the bucket would: the part's and the index's
 * digests match, so only the entries themselves can give the game away). Each case runs a real
 * restore through the Restore workflow (or the drill, or the CLI) into an existing tree with
 * `swap`; it is refused with a message naming the problem, the tree is untouched, nothing in the
 * store changes (a refused restore adds only its own report and work area).
 */

const work = tempDir('bad-input-store');
const pristine = path.join(work.dir, 'pristine');
const home = path.join(work.dir, 'home');
let backupId = '';
let counter = 0;

beforeAll(async () => {
  makeHome(home, 8);
  backupId = backupIdOf(
    await backup(runtimeWith(new LocalFolderStore(pristine), { liferayHome: homeSettings(home) })),
  );
});
afterAll(() => work.cleanup());

type Entry = Record<string, unknown>;

interface Case {
  readonly store: LocalFolderStore;
  readonly dir: string;
  readonly backupId: string;
}

/** A copy of the fixture store and a live tree to restore over, for one case. */
function freshCase(): Case & { target: string } {
  counter += 1;
  const dir = path.join(work.dir, `case-${counter}`);
  fs.cpSync(pristine, path.join(dir, 'store'), { recursive: true });
  const target = path.join(dir, 'live');
  fs.mkdirSync(target);
  // A file the rules select but the backup lacks: a swap leaves it in the previous tree (one no
  // rule reaches, like the bundle's, would be carried into the restored tree: restore-swap.ts).
  fs.writeFileSync(path.join(target, 'portal-live.properties'), 'the live tree');
  return {
    store: new LocalFolderStore(path.join(dir, 'store')),
    dir: path.join(dir, 'store'),
    backupId,
    target,
  };
}

const sha256 = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex');
const manifestFile = (c: Case) => path.join(c.dir, 'backups', c.backupId, 'manifest.json');

async function editManifest(c: Case, change: (manifest: Record<string, unknown>) => void): Promise<void> {
  const manifest = JSON.parse(fs.readFileSync(manifestFile(c), 'utf8')) as Record<string, unknown>;
  change(manifest);
  fs.writeFileSync(manifestFile(c), JSON.stringify(manifest, null, 2));
}

interface IndexFile {
  parts: Array<Record<string, unknown> & { key: string }>;
  [key: string]: unknown;
}

async function indexOf(c: Case): Promise<{ key: string; index: IndexFile }> {
  const manifest = await readManifest(c.store, c.backupId);
  const details = manifest.results.liferayHome?.details as { index: { key: string } } | undefined;
  if (!details) throw new Error('the fixture set has no liferayHome index');
  const key = details.index.key;
  return { key, index: JSON.parse((await c.store.read(key)).toString('utf8')) as IndexFile };
}

async function entriesOf(c: Case): Promise<Entry[]> {
  const { index } = await indexOf(c);
  const entries: Entry[] = [];
  for (const part of index.parts) {
    for (const line of gunzipSync(await c.store.read(part.key))
      .toString('utf8')
      .split('\n')) {
      if (line) entries.push(JSON.parse(line) as Entry);
    }
  }
  return entries;
}

/**
 * Rewrites the set's file index with these entries (one part), and signs it again: the part's
 * digest in the index, the index's digest in the manifest.
 */
async function rewriteIndex(c: Case, change: (entries: Entry[]) => Entry[]): Promise<void> {
  const entries = change(await entriesOf(c));
  const { key, index } = await indexOf(c);
  const body = gzipSync(`${entries.map((entry) => JSON.stringify(entry)).join('\n')}\n`);
  const partKey = index.parts[0]?.key ?? '';
  await c.store.put(partKey, body);
  await c.store.delete(index.parts.slice(1).map((part) => part.key));
  const paths = entries.map((entry) => String(entry.path)).sort(comparePaths);
  const files = entries.filter((entry) => entry.type === 'file');
  index.parts = [
    {
      key: partKey,
      firstPath: paths[0] ?? '',
      lastPath: paths[paths.length - 1] ?? '',
      entries: entries.length,
      files: files.length,
      bytes: files.reduce((sum, entry) => sum + (typeof entry.size === 'number' ? entry.size : 0), 0),
      size: body.length,
      sha256: sha256(body),
    },
  ];
  const indexBody = `${JSON.stringify(index, null, 2)}\n`;
  await c.store.put(key, indexBody);
  const manifest = await readManifest(c.store, c.backupId);
  const result = manifest.results.liferayHome;
  if (!result) throw new Error('no liferayHome result');
  result.details = {
    ...result.details,
    index: { key, size: Buffer.byteLength(indexBody), sha256: sha256(indexBody) },
  };
  await writeManifest(c.store, manifest);
}

/** An empty file entry (no content to point to). */
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

const isDoc = (entry: Entry) =>
  entry.type === 'file' && String(entry.path).startsWith('data/document_library/');
const inPack = (entry: Entry) =>
  isDoc(entry) && typeof (entry.data as { pack?: unknown } | undefined)?.pack === 'string';
const inBlob = (entry: Entry) =>
  isDoc(entry) && typeof (entry.data as { blob?: unknown } | undefined)?.blob === 'string';

function firstWhere(entries: Entry[], predicate: (entry: Entry) => boolean): Entry {
  const found = entries.find(predicate);
  if (!found) throw new Error('the fixture has no such entry');
  return found;
}

type Phase = 'validate' | 'plan' | 'shard';

/** Restores over the live tree with swap; returns the message people see. */
async function refused(
  c: Case & { target: string },
  phase: Phase,
  request: Record<string, unknown> = {},
): Promise<string> {
  const before = await storeSnapshot(c.store);
  const rt = runtimeWith(c.store, { liferayHome: homeSettings(home) });
  const outcome = await restore(rt, {
    backupId: c.backupId,
    liferayHome: { target: c.target, swap: true },
    ...request,
  });
  expect(outcome.status).toBe('FAILED');
  if (outcome.status !== 'FAILED') return '';
  const after = await storeSnapshot(c.store);
  // Nothing stored before changed; a restore refused after Validate adds only its report and work area.
  for (const [key, digest] of before) expect(after.get(key), key).toBe(digest);
  const added = [...after.keys()].filter((key) => !before.has(key));
  expect(listTree(c.target)).toEqual(['portal-live.properties']);
  const siblings = fs.readdirSync(path.dirname(c.target)).filter((name) => name !== 'store');
  if (phase === 'validate') {
    expect(added).toEqual([]);
    expect(outcome.statesEntered).not.toContain('Restore');
    expect(siblings).toEqual(['live']);
    return outcome.cause;
  }
  const ids = restoreIdsOf(outcome);
  expect(added.filter((key) => !key.startsWith(`work/${ids.restoreId}/`))).toEqual([
    storeKeys.restoreReport(c.backupId, ids.restoreId),
  ]);
  const report = await restoreReport(c.store, ids);
  expect(report.status).toBe('failed');
  // A plan refuses before it creates the staging folder; a shard has written part of it.
  expect(siblings).toEqual(phase === 'plan' ? ['live'] : ['live', `live.restore-${ids.restoreId}`]);
  return `${report.results.liferayHome?.error?.name}: ${report.results.liferayHome?.error?.message}`;
}

interface StoreCase {
  readonly name: string;
  readonly phase: Phase;
  readonly mutate: (c: Case) => Promise<void>;
  readonly expected: (c: Case) => RegExp;
  readonly request?: Record<string, unknown>;
}

const esc = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const manifestCases: StoreCase[] = [
  {
    name: 'a manifest that is not JSON',
    phase: 'validate',
    mutate: async (c) => fs.writeFileSync(manifestFile(c), '{"schemaVersion": 1, "backupId": '),
    expected: (c) =>
      new RegExp(`the manifest ${esc(storeKeys.manifest(c.backupId))} cannot be read: .*is not valid JSON`),
  },
  {
    name: 'a manifest with a field of the wrong type',
    phase: 'validate',
    mutate: (c) => editManifest(c, (m) => Object.assign(m, { status: 42 })),
    expected: () =>
      /the manifest \S+ is not valid: status: Invalid option: expected one of "running"\|"complete"\|"partial"\|"failed"/,
  },
  {
    name: 'a manifest naming another set',
    phase: 'validate',
    mutate: (c) => editManifest(c, (m) => Object.assign(m, { backupId: 'b20200101t000000z-beef' })),
    expected: () => /the manifest \S+ names another backup set: b20200101t000000z-beef/,
  },
  {
    name: 'a manifest listing an unknown component',
    phase: 'validate',
    mutate: (c) => editManifest(c, (m) => Object.assign(m, { components: ['liferayHome', 'ldap'] })),
    expected: () => /is not valid: components\.1: unknown component "ldap"/,
  },
  {
    name: 'a manifest of a newer format',
    phase: 'validate',
    mutate: (c) => editManifest(c, (m) => Object.assign(m, { schemaVersion: 2 })),
    expected: () => /schemaVersion: manifest schema version 2 is not supported \(this tool reads version 1\)/,
  },
  {
    name: 'an oversized manifest',
    phase: 'validate',
    mutate: (c) => editManifest(c, (m) => Object.assign(m, { padding: 'x'.repeat(9 * 1024 * 1024) })),
    expected: () => /cannot be read: .* more than the 8388608 allowed/,
  },
  {
    name: 'an oversized field in a manifest',
    phase: 'validate',
    mutate: (c) => editManifest(c, (m) => Object.assign(m, { warnings: ['x'.repeat(5000)] })),
    expected: () => /is not valid: warnings\.0: Too big: expected string to have <=4096 characters/,
  },
  {
    name: 'a latest pointer to a set that is not there',
    phase: 'validate',
    request: { backupId: 'latest' },
    mutate: async (c) =>
      c.store.put(
        storeKeys.latest,
        JSON.stringify({ backupId: 'b20200101t000000z-dead', committedAt: new Date().toISOString() }),
      ),
    expected: () => /backupId b20200101t000000z-dead: no such backup set in /,
  },
  {
    // A damaged pointer alone is not fatal (the newest complete set is taken: see below).
    name: 'a latest pointer that is not one, and no complete set to take instead',
    phase: 'validate',
    request: { backupId: 'latest' },
    mutate: async (c) => {
      await c.store.put(
        storeKeys.latest,
        JSON.stringify({ backupId: '../../etc', committedAt: 'yesterday' }),
      );
      await editManifest(c, (m) => Object.assign(m, { status: 'failed' }));
    },
    expected: () =>
      /backupId "latest": pointers\/latest\.json is not valid: backupId: not a backup id .*; committedAt: Invalid ISO datetime, and no set is complete/,
  },
  {
    name: 'a set whose component record is not a files record',
    phase: 'validate',
    mutate: (c) =>
      editManifest(c, (m) => {
        (m.results as { liferayHome: { details: unknown } }).liferayHome.details = { engine: 'rsync' };
      }),
    expected: () => /liferayHome: the backup set records no file index for this component/,
  },
];

const indexCases: StoreCase[] = [
  {
    name: 'an index that grew since the manifest recorded it',
    phase: 'plan',
    mutate: async (c) => {
      const { key } = await indexOf(c);
      await c.store.put(key, `${(await c.store.read(key)).toString('utf8')} `);
    },
    expected: () =>
      /CorruptBackupError: \S+index\.json is \d+ bytes, the manifest recorded \d+: it was changed or damaged/,
  },
  {
    name: 'an index changed at the same size',
    phase: 'plan',
    mutate: async (c) => {
      const { key } = await indexOf(c);
      await c.store.put(
        key,
        (await c.store.read(key)).toString('utf8').replace('"version": 1', '"version": 7'),
      );
    },
    expected: () => /CorruptBackupError: \S+index\.json does not match the sha256 the manifest recorded/,
  },
  {
    name: 'an index part changed after the index was written',
    phase: 'plan',
    mutate: async (c) => {
      const { index } = await indexOf(c);
      const key = index.parts[0]?.key ?? '';
      const lines = gunzipSync(await c.store.read(key)).toString('utf8');
      await c.store.put(key, gzipSync(lines.replace('"mode":420', '"mode":511')));
    },
    expected: () => /CorruptBackupError: \S+part-\S+\.jsonl\.gz (is \d+ bytes|does not match)/,
  },
  {
    name: 'a path that climbs out of the tree',
    phase: 'plan',
    mutate: (c) => rewriteIndex(c, (entries) => [emptyFile('../../etc/cron.d/evil'), ...entries]),
    expected: () =>
      /UnsafeEntryError: .*"\.\.\/\.\.\/etc\/cron\.d\/evil": the path has a '\.\.' segment; nothing was written/,
  },
  {
    name: 'an absolute path',
    phase: 'plan',
    mutate: (c) => rewriteIndex(c, (entries) => [emptyFile('/etc/passwd'), ...entries]),
    expected: () => /UnsafeEntryError: .*"\/etc\/passwd": the path is absolute/,
  },
  {
    name: 'a symbolic link that later entries write through',
    phase: 'plan',
    mutate: (c) =>
      rewriteIndex(c, (entries) =>
        entries.map((entry) =>
          entry.path === 'data'
            ? { path: 'data', type: 'symlink', target: '/etc', mtimeNs: entry.mtimeNs, uid: 0, gid: 0 }
            : entry,
        ),
      ),
    expected: () =>
      /UnsafeEntryError: .*"data\/document_library": it lies beneath "data", which is a symbolic link: restoring it would write through it/,
  },
  {
    name: 'an entry beneath a file',
    phase: 'plan',
    mutate: (c) =>
      rewriteIndex(c, (entries) => {
        const at = entries.findIndex((entry) => entry.path === 'portal-ext.properties');
        return [
          ...entries.slice(0, at + 1),
          emptyFile('portal-ext.properties/evil'),
          ...entries.slice(at + 1),
        ];
      }),
    expected: () =>
      /UnsafeEntryError: .*"portal-ext\.properties\/evil": it lies beneath "portal-ext\.properties", which is a file/,
  },
  {
    name: 'a NUL character in a path',
    phase: 'plan',
    mutate: (c) => rewriteIndex(c, (entries) => [emptyFile('a\u0000b'), ...entries]),
    expected: () => /UnsafeEntryError: .*the path contains a NUL character/,
  },
  {
    name: 'an oversized path',
    phase: 'plan',
    mutate: (c) => rewriteIndex(c, (entries) => [emptyFile(`a${'/b'.repeat(2100)}`), ...entries]),
    expected: () =>
      /CorruptBackupError: \S+ line 1 is not a valid index entry: path: Too big: expected string to have <=4096 characters/,
  },
  {
    name: 'a name longer than a file system allows',
    phase: 'plan',
    // Sorted last, after every path of the tree.
    mutate: (c) => rewriteIndex(c, (entries) => [...entries, emptyFile('z'.repeat(300))]),
    expected: () => /UnsafeEntryError: .*a name is longer than 255 bytes/,
  },
  {
    name: 'content in an encoding this version cannot read',
    phase: 'plan',
    mutate: (c) =>
      rewriteIndex(c, (entries) =>
        entries.map((entry) => (isDoc(entry) ? { ...entry, encoding: 'zstd' } : entry)),
      ),
    expected: () =>
      /UnsafeEntryError: .*its content is stored with encoding "zstd", which this version cannot read/,
  },
  {
    name: 'entries out of order',
    phase: 'plan',
    mutate: (c) =>
      rewriteIndex(c, (entries) => [...entries.slice(1, 3), entries[0] as Entry, ...entries.slice(3)]),
    expected: () =>
      /CorruptBackupError: \S+ line 3: "\S+" is not after "\S+" \(an index part is sorted by path\)/,
  },
  {
    name: 'a field of the wrong type',
    phase: 'plan',
    mutate: (c) =>
      rewriteIndex(c, (entries) =>
        entries.map((entry) => (isDoc(entry) ? { ...entry, size: String(entry.size) } : entry)),
      ),
    expected: () =>
      /CorruptBackupError: \S+ line \d+ is not a valid index entry: .*size: Invalid input: expected number, received string/,
  },
  {
    name: 'an unknown field',
    phase: 'plan',
    mutate: (c) =>
      rewriteIndex(c, (entries) =>
        entries.map((entry) => (isDoc(entry) ? { ...entry, exec: 'rm -rf /' } : entry)),
      ),
    expected: () =>
      /CorruptBackupError: \S+ line \d+ is not a valid index entry: \(root\): Unrecognized key: "exec"/,
  },
  {
    name: 'content said to lie outside the content objects',
    phase: 'plan',
    mutate: (c) =>
      rewriteIndex(c, (entries) =>
        entries.map((entry) =>
          inPack(entry)
            ? { ...entry, data: { pack: storeKeys.manifest(c.backupId), offset: 0, length: entry.size } }
            : entry,
        ),
      ),
    expected: () =>
      /CorruptBackupError: .*not a valid index entry: .*a key under objects\/blobs\/ or objects\/packs\//,
  },
  {
    name: 'a stored length that is not the file size',
    phase: 'plan',
    mutate: (c) =>
      rewriteIndex(c, (entries) =>
        entries.map((entry) =>
          inPack(entry)
            ? { ...entry, data: { ...(entry.data as object), length: Number(entry.size) + 1 } }
            : entry,
        ),
      ),
    expected: () => /UnsafeEntryError: .*its stored length \(\d+\) differs from its size \(\d+\)/,
  },
];

/** A content case also says which files a restore with skipLost must go on without. */
interface ContentCase extends StoreCase {
  readonly lost: (entries: Entry[]) => string[];
}

const packOf = (entry: Entry) => (entry.data as { pack: string }).pack;
const blobOf = (entry: Entry) => (entry.data as { blob: string }).blob;
/** The paths of the files stored in the same object as the first file `where` picks. */
const sharing =
  (where: (entry: Entry) => boolean, object: (entry: Entry) => string) => (entries: Entry[]) => {
    const key = object(firstWhere(entries, where));
    return entries
      .filter((entry) => where(entry) && object(entry) === key)
      .map((entry) => String(entry.path));
  };

const contentCases: ContentCase[] = [
  {
    name: 'a checksum that does not match the content',
    phase: 'shard',
    mutate: (c) =>
      rewriteIndex(c, (entries) => {
        const victim = firstWhere(entries, inPack);
        return entries.map((entry) => (entry === victim ? { ...entry, sha256: 'a'.repeat(64) } : entry));
      }),
    expected: () =>
      /VerificationError: data\/document_library\/\S+: the restored bytes \(\d+ bytes, sha256 [0-9a-f]{64}\) do not match the index \(\d+ bytes, sha256 a{64}\): the stored copy is damaged/,
    lost: (entries) => [String(firstWhere(entries, inPack).path)],
  },
  {
    name: 'a truncated pack',
    phase: 'shard',
    mutate: async (c) => {
      const file = path.join(c.dir, ...packOf(firstWhere(await entriesOf(c), inPack)).split('/'));
      fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
    },
    expected: () =>
      /VerificationError: objects\/packs\/\S+: the store returned \d+ of \d+ bytes; the pack is shorter than the index says/,
    // The pack is lost as a whole, with the files in its first half.
    lost: sharing(inPack, packOf),
  },
  {
    name: 'a pack that is gone',
    phase: 'shard',
    mutate: async (c) => c.store.delete([packOf(firstWhere(await entriesOf(c), inPack))]),
    expected: () =>
      /ObjectNotFoundError: not found in the backup store: objects\/packs\/\S+; a restore with "skipLost": true \(CLI: --skip-lost\) restores every other file and lists the lost ones/,
    lost: sharing(inPack, packOf),
  },
  {
    name: 'a blob replaced by other bytes of the same length',
    phase: 'shard',
    mutate: async (c) => {
      const file = path.join(c.dir, ...blobOf(firstWhere(await entriesOf(c), inBlob)).split('/'));
      fs.writeFileSync(file, Buffer.alloc(fs.statSync(file).size, 0x41));
    },
    expected: () =>
      /VerificationError: data\/document_library\/\S+: the restored bytes .* do not match the index/,
    lost: (entries) => [String(firstWhere(entries, inBlob).path)],
  },
  {
    name: 'a blob that is gone',
    phase: 'shard',
    mutate: async (c) => c.store.delete([blobOf(firstWhere(await entriesOf(c), inBlob))]),
    expected: () => /ObjectNotFoundError: not found in the backup store: objects\/blobs\//,
    lost: sharing(inBlob, blobOf),
  },
];

const groups: Array<[string, StoreCase[]]> = [
  ['manifests and pointers read back from the store (Restore workflow)', manifestCases],
  ['file indexes read back from the store (Restore workflow)', indexCases],
  ['content that does not match its index (Restore workflow: every byte is checked)', contentCases],
];
for (const [title, cases] of groups) {
  describe(title, () => {
    it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, storeCase) => {
      const c = freshCase();
      await storeCase.mutate(c);
      const message = await refused(c, storeCase.phase, storeCase.request);
      expect(message).toMatch(storeCase.expected(c));
      // Lost or damaged content names the way out; nothing else does.
      const hint =
        '; a restore with "skipLost": true (CLI: --skip-lost) restores every other file and lists the lost ones';
      if (cases === contentCases) expect(message.endsWith(hint), message).toBe(true);
      else expect(message).not.toContain('skipLost');
    });
  });
}

describe('content the store lost or damaged, restored with skipLost (Restore workflow)', () => {
  it.each(contentCases.map((c) => [c.name, c] as const))(
    '%s: every other file is restored and checked, the lost ones are listed and absent',
    async (_name, storeCase) => {
      const c = freshCase();
      const lost = storeCase.lost(await entriesOf(c)).sort(comparePaths);
      expect(lost.length).toBeGreaterThan(0);
      await storeCase.mutate(c);
      const before = await storeSnapshot(c.store);
      const rt = runtimeWith(c.store, { liferayHome: homeSettings(home) });
      const outcome = await restore(rt, {
        backupId: c.backupId,
        liferayHome: { target: c.target, swap: true, skipLost: true },
      });
      expect(outcome.status).toBe('SUCCEEDED');
      const ids = restoreIdsOf(outcome);
      // The execution ends green; its one line says what is missing.
      expect(outputOf<{ report: { message: string } }>(outcome).report.message).toMatch(
        new RegExp(
          `^restore ${ids.restoreId} of ${c.backupId} is complete, without the files whose stored content is lost \\(liferayHome: ${lost.length}; the report's warnings name them\\); report: `,
        ),
      );
      const report = await restoreReport(c.store, ids);
      const result = report.results.liferayHome;
      expect(report.status).toBe('complete');
      expect(result?.summary).toMatchObject({ lostFiles: lost.length });
      const listKey = `backups/${c.backupId}/restores/${ids.restoreId}-liferayHome-lost.jsonl.gz`;
      const localList = `${c.target}.lost-${ids.restoreId}.jsonl`;
      expect(result?.warnings[0]).toMatch(
        new RegExp(
          `^${lost.length} files? \\(\\d+ bytes\\) w(as|ere) NOT restored: their content in the backup store is lost \\(.+\\)\\. Every other file was restored and checked\\. They are listed beside the target in ${esc(localList)}, and in the store as ${esc(listKey)} \\(gzip\\); one JSON line per file; the first: ${esc(lost.slice(0, 10).join(', '))}\\.`,
        ),
      );
      const listed = gunzipSync(await c.store.read(listKey))
        .toString('utf8')
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { path: string }).path);
      expect(listed).toEqual(lost);
      const listedBeside = fs
        .readFileSync(localList, 'utf8')
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { path: string }).path);
      expect(listedBeside).toEqual(lost);

      // The live tree was swapped for the restored one: the backed-up tree but for the lost files,
      // each file byte for byte (a file begun before its content proved damaged is not left behind).
      expect(listTree(c.target)).toEqual(listTree(home).filter((rel) => !lost.includes(rel)));
      for (const rel of listTree(home).filter((rel) => !lost.includes(rel)))
        if (fs.statSync(path.join(home, rel)).isFile())
          expect(sha256(fs.readFileSync(path.join(c.target, rel))), rel).toBe(
            sha256(fs.readFileSync(path.join(home, rel))),
          );
      expect(listTree(`${c.target}.before-${ids.restoreId}`)).toEqual(['portal-live.properties']);

      // The store: nothing changed; the report and the list added, beside the work area.
      const after = await storeSnapshot(c.store);
      for (const [key, digest] of before) expect(after.get(key), key).toBe(digest);
      expect(
        [...after.keys()]
          .filter((key) => !before.has(key) && !key.startsWith(`work/${ids.restoreId}/`))
          .sort(),
      ).toEqual([storeKeys.restoreReport(c.backupId, ids.restoreId), listKey].sort());
    },
  );

  it('with nothing lost, restores the whole tree and says nothing about lost files', async () => {
    const c = freshCase();
    const rt = runtimeWith(c.store, { liferayHome: homeSettings(home) });
    const outcome = await restore(rt, {
      backupId: c.backupId,
      liferayHome: { target: c.target, swap: true, skipLost: true },
    });
    const report = await restoreReport(c.store, restoreIdsOf(outcome));
    expect(report.status).toBe('complete');
    expect(outputOf<{ report: { message: string } }>(outcome).report.message).toMatch(
      / is complete; report: /,
    );
    expect(report.results.liferayHome?.summary).not.toHaveProperty('lostFiles');
    expect(report.results.liferayHome?.warnings.join('\n')).not.toMatch(/NOT restored/);
    expect(listTree(c.target)).toEqual(listTree(home));
  });

  it('the CLI: a restore that meets a lost pack names --skip-lost; with it, the rest is restored', async () => {
    const c = freshCase();
    const pack = contentCases.find((storeCase) => storeCase.name === 'a pack that is gone');
    const lost = pack?.lost(await entriesOf(c)) ?? [];
    await pack?.mutate(c);
    const lines: string[] = [];
    const io = { out: (line: string) => lines.push(line), err: process.stderr };
    const to = path.join(path.dirname(c.target), 'restored');
    expect(await main(['restore', 'latest', '--to', to, '--store', c.dir, '--quiet'], io)).toBe(1);
    expect(lines.join('\n')).toContain('(CLI: --skip-lost)');
    expect(listTree(to)).toEqual([]);
    lines.length = 0;
    const args = ['restore', 'latest', '--to', to, '--store', c.dir, '--skip-lost', '--quiet'];
    expect(await main(args, io)).toBe(0);
    expect(lines.join('\n')).toMatch(
      new RegExp(`warning: ${lost.length} files \\(\\d+ bytes\\) were NOT restored`),
    );
    expect(listTree(to)).toEqual(listTree(home).filter((rel) => !lost.includes(rel)));
  });
});

describe('the drill and the CLI on a damaged set', () => {
  it('verify names the file whose pack is truncated and fails; the store is unchanged but for its report', async () => {
    const c = freshCase();
    await contentCases[1]?.mutate(c);
    const before = await storeSnapshot(c.store);
    const verified = await verifySet(runtimeWith(c.store, {}), c.backupId);
    expect(verified.status).toBe('failed');
    expect(verified.message).toMatch(
      /liferayHome: data\/document_library\/\S+: (read \d+ bytes with sha256 [0-9a-f]+, the index records|its content cannot be read)/,
    );
    const after = await storeSnapshot(c.store);
    for (const [key, digest] of before) expect(after.get(key), key).toBe(digest);
    expect([...after.keys()].filter((key) => !before.has(key))).toEqual([
      expect.stringMatching(new RegExp(`^backups/${c.backupId}/verifications/v\\S+\\.json$`)),
    ]);
  });

  it('a damaged latest pointer: restore, drill, show and list take the newest complete set, and say so', async () => {
    const c = freshCase();
    await c.store.put(storeKeys.latest, '{"backupId": ');
    // The JSON error's own words are Node.js's.
    const warning = new RegExp(
      `^pointers/latest\\.json is not valid JSON: .+: "latest" is taken as the newest complete set, ${c.backupId}$`,
    );
    const rt = runtimeWith(c.store, { liferayHome: homeSettings(home) });
    const target = path.join(path.dirname(c.target), 'restored');
    const outcome = await restore(rt, { backupId: 'latest', liferayHome: { target } });
    expect(outcome.status).toBe('SUCCEEDED');
    const report = await restoreReport(c.store, restoreIdsOf(outcome));
    expect(report).toMatchObject({
      backupId: c.backupId,
      status: 'complete',
      warnings: [expect.stringMatching(warning)],
    });
    expect(listTree(target)).toEqual(listTree(home));
    const verified = await verifySet(runtimeWith(c.store, {}), 'latest');
    expect(verified.status).toBe('verified');

    const lines: string[] = [];
    const io = { out: (line: string) => lines.push(line), err: process.stderr };
    expect(await main(['list', '--store', c.dir], io)).toBe(0);
    expect(lines.filter((line) => line.startsWith('warning: '))).toEqual([
      expect.stringMatching(new RegExp(`^warning: ${warning.source.slice(1)}`)),
    ]);
    expect(await main(['show', 'latest', '--store', c.dir, '--json'], io)).toBe(0);
    expect(lines.join('\n')).toContain(`"backupId": "${c.backupId}"`);
  });

  it('show refuses a manifest of the wrong shape and list marks it unreadable', async () => {
    const c = freshCase();
    await editManifest(c, (m) => Object.assign(m, { status: 'done' }));
    const before = await storeSnapshot(c.store);
    const lines: string[] = [];
    const io = { out: (line: string) => lines.push(line), err: process.stderr };
    expect(await main(['show', c.backupId, '--store', c.dir], io)).toBe(1);
    expect(lines.join('\n')).toMatch(/^error: the manifest \S+ is not valid: status: Invalid option/);
    lines.length = 0;
    expect(await main(['list', '--store', c.dir], io)).toBe(0);
    expect(lines.join('\n')).toContain(
      `${c.backupId} (latest)  unreadable (the manifest backups/${c.backupId}/manifest.json is not valid: status:`,
    );
    expect(await storeSnapshot(c.store)).toEqual(before);
  });
});
