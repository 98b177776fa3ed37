import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readIndex, readPart } from '#components/files/index-format.ts';
import { filesResultDetailsSchema } from '#components/files/settings.ts';
import { type WalkOptions, walkTree } from '#components/files/walk.ts';
import { localRuntime } from '#local/local-runtime.ts';
import type { Runtime } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import {
  backupContext,
  commitSet,
  driveBackup,
  driveRestore,
  homeRuntime,
  restoreContext,
} from './support/drive.ts';
import { diffTrees, readTree } from './support/trees.ts';

/**
 * What a backup must not record as if all were well: a path longer than a restore writes
 * (paths.ts) is left out with a warning, since in the index it made the restore of the whole set
 * fail; a source root this process cannot read fails Plan (and the walk) with a ConfigError,
 * since as a warning it gave a complete, empty set that became `latest`.
 *
 * Tests run as root, which bypasses file permissions. For a real permission denial the backup
 * runs with the effective uid of `nobody` (process.seteuid, undone in `finally`): the kernel then
 * refuses (EACCES) as it does for a Lambda whose EFS access point imposes a uid that may not read
 * the tree. Vitest runs each test file in a process of its own (pool: forks).
 */

// Short (the absolute paths below stay within PATH_MAX) and open to `nobody`.
const work = fs.mkdtempSync('/tmp/unbackupable-');
fs.chmodSync(work, 0o755);
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

let counter = 0;
function fresh(name: string, mode = 0o755): string {
  counter += 1;
  const dir = path.join(work, `${name}${counter}`);
  fs.mkdirSync(dir);
  fs.chmodSync(dir, mode);
  return dir;
}

let ids = 0;
function nextId(): string {
  ids += 1;
  return `b20261127t02${String(ids).padStart(4, '0')}z-${ids.toString(16).padStart(4, '0')}`;
}

async function asNobody<T>(run: () => Promise<T>): Promise<T> {
  if (typeof process.seteuid !== 'function' || process.geteuid?.() !== 0)
    throw new Error('these tests need root, to take the uid of nobody');
  process.seteuid(65534);
  try {
    return await run();
  } finally {
    process.seteuid(0);
  }
}

const settings = {
  shard: { maxFiles: 1000, maxBytes: 64 * 1024 * 1024, timeBudgetSeconds: 600 },
  blobThresholdBytes: 256 * 1024,
  chunkBytes: 256 * 1024,
  packBytes: 1024 * 1024,
};

function serverRuntime(store: ContentStore, root: string, scratchDir: string): Runtime {
  return localRuntime({
    store,
    settings: {
      environment: 'test',
      lockTimeoutMinutes: 60,
      configuredComponents: ['appServer'],
      components: { appServer: { root, ...settings } },
    } as never,
    scratchDir,
  });
}

async function indexPaths(store: ContentStore, details: unknown): Promise<string[]> {
  const { index: ref } = filesResultDetailsSchema.parse(details);
  const index = await readIndex(store, ref.key, ref);
  const paths: string[] = [];
  for (const part of index.parts) for await (const entry of readPart(store, part)) paths.push(entry.path);
  return paths;
}

/** How the walk names a path too long to show whole (its warnings are cut at 4,000 characters). */
const shown = (ascii: string) => `${ascii.slice(0, 200)}…${ascii.slice(-300)}`;

const tooLong = 'the path is longer than 4000 bytes, so a restore could not write it back';

/**
 * One warning for each refused path, sorted: an asynchronous walk stats a folder's children
 * concurrently, so its warnings come in the order the stats return.
 */
const expectedWarnings = (longDir: string, longFile: string) =>
  [
    `skipped the folder ${shown(longDir)} (4024 bytes) and everything beneath it: ${tooLong}`,
    `skipped ${shown(longFile)} (4024 bytes): ${tooLong}`,
  ].sort();

/** 20 folder names of 200 bytes: data/ and 19 of them make a 3,823-byte path, the 20th 4,024. */
const SEGMENTS = Array.from({ length: 20 }, (_, i) => `${String(i).padStart(2, '0')}${'d'.repeat(198)}`);

/**
 * A Liferay Home with, in a folder whose path (3,823 bytes) a restore still writes: a short file
 * (kept), a file with a 200-byte name (4,024 bytes: refused) and a folder as long holding a file.
 */
function homeWithLongPaths() {
  const home = fresh('home');
  fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'company.default.web.id=liferay.com\n');
  fs.writeFileSync(path.join(home, 'portal-setup-wizard.properties'), 'kept\n');
  const near = ['data', ...SEGMENTS.slice(0, 19)].join('/');
  const longDir = `${near}/${SEGMENTS[19]}`;
  const longFile = `${near}/${'n'.repeat(200)}`;
  fs.mkdirSync(path.join(home, longDir), { recursive: true });
  fs.writeFileSync(path.join(home, near, 'f'), 'kept');
  fs.writeFileSync(path.join(home, longFile), 'refused');
  fs.writeFileSync(path.join(home, longDir, 'f'), 'refused with its folder');
  return { home, near, longDir, longFile };
}

describe('files backup: a path that a restore would refuse', () => {
  it('is left out with a warning naming it (a folder with everything beneath it), and the set restores', async () => {
    // Prepare
    const { home, near, longDir, longFile } = homeWithLongPaths();
    expect(Buffer.byteLength(near)).toBe(3823);
    expect([longDir, longFile].map((p) => Buffer.byteLength(p))).toEqual([4024, 4024]);
    const store = new LocalFolderStore(fresh('store'));
    const rt = homeRuntime(store, { root: home, ...settings }, fresh('scratch'));
    const id = nextId();
    // Act
    const backup = await driveBackup(rt, backupContext(id));
    await commitSet(store, id, [backup]);
    const target = path.join(work, 'r');
    const restore = await driveRestore(
      homeRuntime(store, { root: target, ...settings }, fresh('scratch')),
      restoreContext(id, { target }),
    );
    // Assess: the set is complete without the refused paths, and says so once for each.
    expect(backup.status).toBe('complete');
    const paths = await indexPaths(store, backup.details);
    expect(paths).toContain(`${near}/f`);
    expect(paths.filter((p) => p.startsWith(longDir) || p === longFile)).toEqual([]);
    expect(paths.filter((p) => Buffer.byteLength(p) > 4000)).toEqual([]);
    expect(backup.warnings.filter((warning) => warning.startsWith('skipped')).sort()).toEqual(
      expectedWarnings(longDir, longFile),
    );
    expect(restore.status).toBe('complete');
    const expected = readTree(home);
    for (const refused of [longDir, `${longDir}/f`, longFile]) expect(expected.delete(refused)).toBe(true);
    expect(diffTrees(expected, readTree(target))).toEqual([]);
  });

  it('is reported once by the shards whose walks list its folder, synchronously and asynchronously', async () => {
    // Prepare: range A ends at `near` (its walk lists near's children, the refused ones among
    // them, before it stops); range B holds them.
    const { home, near, longDir, longFile } = homeWithLongPaths();
    for (const synchronous of [true, false]) {
      const warnings: string[] = [];
      const walked: string[] = [];
      const walk = async (range: WalkOptions['range']) => {
        for await (const entry of walkTree({
          sources: [{ mount: '', root: home }],
          range,
          concurrency: 4,
          synchronous,
          onWarning: (message) => warnings.push(message),
        }))
          walked.push(entry.path);
      };
      // Act
      await walk({ through: near });
      await walk({ after: near });
      // Assess
      expect(walked).toContain(`${near}/f`);
      expect(walked.filter((p) => p.startsWith(longDir) || p === longFile)).toEqual([]);
      expect(warnings.sort()).toEqual(expectedWarnings(longDir, longFile));
    }
  });
});

const denied = (root: string) =>
  `${root} is not a directory this function can read: permission denied (EACCES): give the user this function runs as (on EFS, the access point's POSIX uid/gid) read and search (r-x) permission on the folder, or change its owner or mode`;

/**
 * A Liferay Home owned by root:root with this mode. The test process keeps gid 0, so the group's
 * bits are what `nobody` gets: 0700 cannot be listed, 0744 listed but its children not statted.
 */
function lockedHome(mode: number): string {
  const home = fresh('home');
  fs.mkdirSync(path.join(home, 'data/document_library/20101/20000/1000.pdf'), { recursive: true });
  fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'company.default.web.id=liferay.com\n');
  fs.writeFileSync(path.join(home, 'data/document_library/20101/20000/1000.pdf/1.0'), 'a document');
  fs.chmodSync(home, mode);
  return home;
}

/** Every file and folder beneath `dir` (what a run left in its store). */
const contents = (dir: string) => fs.readdirSync(dir, { recursive: true });

describe('files backup: a source root this function cannot read', () => {
  it.each([
    { label: '0700', mode: 0o700, nobody: 'cannot list it' },
    { label: '0744', mode: 0o744, nobody: 'can list it but not stat what it holds' },
  ])(
    'fails Plan with a ConfigError saying what to fix (mode $label: nobody $nobody), and writes nothing',
    async ({ mode }) => {
      // Prepare
      const home = lockedHome(mode);
      const storeDir = fresh('store', 0o777);
      const rt = homeRuntime(
        new LocalFolderStore(storeDir),
        { root: home, ...settings },
        fresh('scratch', 0o777),
      );
      // Act
      const backup = asNobody(() => driveBackup(rt, backupContext(nextId())));
      // Assess
      await expect(backup).rejects.toMatchObject({
        name: 'ConfigError',
        message: `liferayHome: ${denied(home)}`,
      });
      expect(contents(storeDir)).toEqual([]);
    },
  );

  it('fails Plan when the tree became unreadable after a complete set (Plan then cuts from its index, walking nothing)', async () => {
    // Prepare: a complete first set, read as root.
    const home = lockedHome(0o755);
    const store = new LocalFolderStore(fresh('store', 0o777));
    const rt = homeRuntime(store, { root: home, ...settings }, fresh('scratch', 0o777));
    const first = nextId();
    const result = await driveBackup(rt, backupContext(first));
    await commitSet(store, first, [result]);
    expect(result).toMatchObject({ status: 'complete', summary: { files: 2 } });
    fs.chmodSync(home, 0o700);
    // Act
    const second = asNobody(() => driveBackup(rt, backupContext(nextId(), first)));
    // Assess
    await expect(second).rejects.toMatchObject({
      name: 'ConfigError',
      message: `liferayHome: ${denied(home)}`,
    });
  });

  it('fails Plan for a document library outside the Liferay Home that it cannot read', async () => {
    // Prepare: the store's configuration points outside the (readable) Liferay Home.
    const home = lockedHome(0o755);
    const dl = fresh('dl', 0o700);
    fs.mkdirSync(path.join(dl, '20101/20000'), { recursive: true });
    const config =
      'osgi/configs/com.liferay.portal.store.file.system.configuration.FileSystemStoreConfiguration.config';
    fs.mkdirSync(path.join(home, 'osgi/configs'), { recursive: true });
    fs.writeFileSync(path.join(home, config), `rootDir="${dl}"\n`);
    const rt = homeRuntime(
      new LocalFolderStore(fresh('store', 0o777)),
      { root: home, ...settings },
      fresh('scratch', 0o777),
    );
    // Act
    const backup = asNobody(() => driveBackup(rt, backupContext(nextId())));
    // Assess
    await expect(backup).rejects.toMatchObject({
      name: 'ConfigError',
      message: `the document library is outside the Liferay Home at ${dl} (${config}), and ${denied(dl)}`,
    });
  });

  it('fails Plan for an application server folder that it cannot read', async () => {
    // Prepare
    const server = fresh('tomcat', 0o700);
    fs.mkdirSync(path.join(server, 'conf'));
    fs.writeFileSync(path.join(server, 'conf/server.xml'), '<Server/>\n');
    const rt = serverRuntime(new LocalFolderStore(fresh('store', 0o777)), server, fresh('scratch', 0o777));
    // Act
    const backup = asNobody(() =>
      driveBackup(rt, backupContext(nextId(), undefined, 'appServer'), 'appServer'),
    );
    // Assess
    await expect(backup).rejects.toMatchObject({
      name: 'ConfigError',
      message: `appServer: ${denied(server)}`,
    });
  });

  it.each([
    { label: '0700', mode: 0o700, synchronous: true },
    { label: '0700', mode: 0o700, synchronous: false },
    { label: '0744', mode: 0o744, synchronous: true },
    { label: '0744', mode: 0o744, synchronous: false },
  ])(
    'fails the walk itself (as a shard walks) for a root of mode $label (synchronous: $synchronous); a folder beneath it stays a warning',
    async ({ mode, synchronous }) => {
      // Prepare: a readable tree with one folder nobody may list, and a root nobody may not read.
      const tree = fresh('tree');
      fs.mkdirSync(path.join(tree, 'private'), { mode: 0o700 });
      fs.writeFileSync(path.join(tree, 'private/secret'), 'x');
      fs.writeFileSync(path.join(tree, 'public'), 'y');
      const locked = lockedHome(mode);
      const walk = (root: string) =>
        asNobody(async () => {
          const out = { paths: [] as string[], warnings: [] as string[] };
          for await (const entry of walkTree({
            sources: [{ mount: '', root }],
            concurrency: 4,
            synchronous,
            onWarning: (message) => out.warnings.push(message),
          }))
            out.paths.push(entry.path);
          return out;
        });
      // Act
      const beneath = await walk(tree);
      const atRoot = walk(locked);
      // Assess
      expect(beneath).toEqual({
        paths: ['private', 'public'],
        warnings: ['could not list private: EACCES; it is not backed up'],
      });
      await expect(atRoot).rejects.toMatchObject({ name: 'ConfigError', message: denied(locked) });
    },
  );

  it("fails the walk for a second source's root that it cannot list, or that is not there", async () => {
    // Prepare
    const home = fresh('home');
    fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'x=y\n');
    const dl = fresh('dl', 0o700);
    fs.writeFileSync(path.join(dl, 'README.txt'), 'documents\n');
    const gone = path.join(work, 'no-such-library');
    const walk = (root: string) =>
      asNobody(async () => {
        for await (const _ of walkTree({
          sources: [
            { mount: '', root: home },
            { mount: '.external/document_library', root },
          ],
          concurrency: 4,
          onWarning: () => undefined,
        }));
      });
    // Act, Assess
    await expect(walk(dl)).rejects.toMatchObject({ name: 'ConfigError', message: denied(dl) });
    await expect(walk(gone)).rejects.toMatchObject({
      name: 'ConfigError',
      message: `${gone} is not a directory this function can read: it does not exist (check the path, and that the file system is mounted)`,
    });
  });
});
