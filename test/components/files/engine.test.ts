import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComponentResult } from '#components/component.ts';
import { locationKey } from '#components/files/content.ts';
import { copyShard } from '#components/files/copy-shard.ts';
import { IncompleteShardsError } from '#components/files/errors.ts';
import { readIndex, readPart } from '#components/files/index-format.ts';
import { filesResultDetailsSchema } from '#components/files/settings.ts';
import type { Runtime } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { type LocalS3Server, startS3Server } from '../../support/s3-server.ts';
import { CountingStore } from './support/counting-store.ts';
import {
  backupContext,
  commitSet,
  driveBackup,
  driveRestore,
  homeRuntime,
  restoreContext,
} from './support/drive.ts';
import { bytesFor, diffTrees, makeTrickyHome, readTree } from './support/trees.ts';

const work = fs.mkdtempSync(path.join(tmpdir(), 'files-engine-'));
let server: LocalS3Server;
beforeAll(async () => {
  server = await startS3Server();
});
afterAll(async () => {
  await server?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

let counter = 0;
function nextId(): string {
  counter += 1;
  return `b20261127t02${String(counter).padStart(4, '0')}z-${counter.toString(16).padStart(4, '0')}`;
}

function settingsFor(root: string, extra: Record<string, unknown> = {}) {
  return {
    root,
    // Small limits so that a small tree still fans out into several shards, packs and blobs.
    shard: { maxFiles: 25, maxBytes: 64 * 1024 * 1024, timeBudgetSeconds: 600 },
    blobThresholdBytes: 256 * 1024,
    chunkBytes: 256 * 1024,
    packBytes: 1024 * 1024,
    ...extra,
  };
}

function runtime(store: ContentStore, root: string, extra: Record<string, unknown> = {}): Runtime {
  return homeRuntime(store, settingsFor(root, extra), path.join(work, 'scratch'));
}

async function backupAndCommit(
  rt: Runtime,
  previous?: string,
  options: Parameters<typeof driveBackup>[3] = {},
) {
  const id = nextId();
  const result = await driveBackup(rt, backupContext(id, previous), 'liferayHome', options);
  await commitSet(rt.store, id, [result], previous);
  return { id, result };
}

function freshDir(name: string): string {
  const dir = path.join(work, `${name}-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** The third reads on the restore's main thread (a store without content sources: the path taken over EFS too). */
const stores: Array<[string, () => ContentStore, { contentSources?: boolean }]> = [
  ['local folder', () => new LocalFolderStore(freshDir('store')), {}],
  ['S3 (s3rver)', () => server.store(), {}],
  [
    'local folder, read on the main thread,',
    () => new LocalFolderStore(freshDir('store')),
    { contentSources: false },
  ],
];

/** A Liferay Home whose document library is configured outside it (discovery warns). */
function homeWithOutsideLibrary(): { home: string; dl: string } {
  const home = freshDir('home');
  const dl = freshDir('dl-outside');
  fs.mkdirSync(path.join(home, 'osgi/configs'), { recursive: true });
  fs.writeFileSync(
    path.join(
      home,
      'osgi/configs/com.liferay.portal.store.file.system.configuration.FileSystemStoreConfiguration.config',
    ),
    `rootDir="${dl}"\n`,
  );
  fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'company.default.web.id=liferay.com\n');
  fs.mkdirSync(path.join(dl, '20101/20125/1234/'), { recursive: true });
  fs.writeFileSync(path.join(dl, '20101/20125/1234/1.0'), bytesFor('outside', 3000));
  return { home, dl };
}

describe('files engine: the Liferay Home as discovery finds it', () => {
  it('backs up a document library kept outside the Liferay Home as .external/document_library, and says so', async () => {
    const store = new LocalFolderStore(freshDir('store'));
    const { home, dl } = homeWithOutsideLibrary();
    const { id, result } = await backupAndCommit(runtime(store, home));
    expect(result.warnings.join('\n')).toMatch(/outside the Liferay Home .*\.external\/document_library/);
    const details = filesResultDetailsSchema.parse(result.details);
    expect(details.sources.map((source) => source.mount)).toEqual(['', '.external/document_library']);
    const target = path.join(freshDir('restore'), 'home');
    const restored = await driveRestore(runtime(store, target), restoreContext(id, {}));
    expect(restored.warnings.join('\n')).toMatch(/move it to its configured root/);
    expect(diffTrees(readTree(dl), readTree(path.join(target, '.external/document_library')))).toEqual([]);
  });

  it("warns of an earlier set that is gone after discovery's warnings (Plan reads it while discovering)", async () => {
    // Prepare: the run names an earlier set whose manifest is not in the store.
    const store = new LocalFolderStore(freshDir('store'));
    const { home } = homeWithOutsideLibrary();

    // Act
    const { result } = await backupAndCommit(runtime(store, home), 'b20261126t020000z-dead');

    // Assess
    const outside = result.warnings.findIndex((warning) => /outside the Liferay Home/.test(warning));
    const gone = result.warnings.findIndex((warning) =>
      warning.startsWith('the earlier backup set b20261126t020000z-dead is gone'),
    );
    expect(outside).toBeGreaterThanOrEqual(0);
    expect(gone).toBeGreaterThan(outside);
  });

  it('keeps mtimes before 1970 and in the far future', async () => {
    const store = new LocalFolderStore(freshDir('store'));
    const home = freshDir('home');
    fs.mkdirSync(path.join(home, 'data'));
    for (const [name, when] of [
      ['old', new Date('1969-07-20T20:17:40.123Z')],
      ['future', new Date('2200-01-01T00:00:00.456Z')],
    ] as const) {
      fs.writeFileSync(path.join(home, `data/${name}`), name);
      fs.utimesSync(path.join(home, `data/${name}`), when, when);
    }
    const first = await backupAndCommit(runtime(store, home));
    // The next backup reads the index back (the times are validated) and finds nothing changed.
    const second = await backupAndCommit(runtime(store, home), first.id);
    expect(second.result.summary.changedFiles).toBe(0);
    const target = path.join(freshDir('restore'), 'home');
    await driveRestore(runtime(store, target), restoreContext(second.id, {}));
    expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
  });
});

describe.each(stores)('files engine on the %s store', (_name, openStore, storeOptions) => {
  let store: CountingStore;
  let home: string;
  let first: { id: string; result: ComponentResult };

  beforeAll(async () => {
    store = new CountingStore(openStore(), storeOptions);
    home = freshDir('home');
    makeTrickyHome(home);
    first = await backupAndCommit(runtime(store, home));
  });

  it('backs up a tree and restores it identical: links, empty files and folders, unicode, deep paths, modes, mtimes', async () => {
    expect(first.result.status).toBe('complete');
    expect(Number(first.result.summary.shards)).toBeGreaterThan(2);
    // Two large files of about 600 KB: three chunks of at most 256 KiB each.
    expect(Number(first.result.summary.blobs)).toBe(6);
    const target = path.join(freshDir('restore'), 'home');
    const restored = await driveRestore(runtime(store, target), restoreContext(first.id, {}));
    expect(restored.status).toBe('complete');
    expect(restored.summary.location).toBe(target);
    expect(restored.summary.verifiedFiles).toBe(restored.summary.files);
    // The Liferay rules leave out nothing in this tree but the link to /etc is kept as a link.
    expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
  });

  it('records the index: parts in path order, totals, and a catalog of exactly what it references', async () => {
    const details = filesResultDetailsSchema.parse(first.result.details);
    const index = await readIndex(store, details.index.key, details.index);
    expect(index.parts.length).toBe(Number(first.result.summary.shards));
    let entries = 0;
    const pairs = new Set<string>();
    for (const part of index.parts) {
      for await (const entry of readPart(store, part)) {
        entries += 1;
        if (entry.type === 'file' && entry.data) pairs.add(`${entry.sha256} ${locationKey(entry.data)}`);
      }
    }
    expect(entries).toBe(index.totals.entries);
    expect(index.catalog.entries).toBe(pairs.size);
  });

  it('stores the same content once within a shard: a document uploaded twice, a copied large file', async () => {
    const tree = freshDir('home');
    fs.mkdirSync(path.join(tree, 'data/a'), { recursive: true });
    fs.mkdirSync(path.join(tree, 'data/b'), { recursive: true });
    for (const dir of ['a', 'b']) {
      fs.writeFileSync(path.join(tree, `data/${dir}/doc.pdf`), bytesFor('same small', 5000));
      fs.writeFileSync(path.join(tree, `data/${dir}/big.lpkg`), bytesFor('same large', 300_000));
    }
    store.reset();
    const { result } = await backupAndCommit(
      runtime(store, tree, { shard: { maxFiles: 1000, maxBytes: 1e9, timeBudgetSeconds: 600 } }),
    );
    expect(result.summary).toMatchObject({ files: 4, uploadedFiles: 2, dedupedFiles: 2, blobs: 2 });
    expect(store.keys(['put'], 'objects/blobs/')).toHaveLength(2); // the large file's two chunks, once
    expect(store.keys(['put'], 'objects/packs/')).toHaveLength(1);
  });

  it('incremental: unchanged files cost no request; renamed and copied content is not stored again', async () => {
    store.reset();
    const again = await backupAndCommit(runtime(store, home), first.id);
    expect(again.result.summary.changedFiles).toBe(0);
    expect(store.count(['put', 'get', 'getRange', 'stat', 'read'], 'objects/')).toBe(0);
    // The number of requests does not grow with the number of files: plan, parts, catalog, results.
    const requests = store.calls.length;
    expect(requests).toBeLessThan(20 * Number(again.result.summary.shards) + 30);

    fs.renameSync(
      path.join(home, 'osgi/marketplace/app-0.lpkg'),
      path.join(home, 'osgi/marketplace/renamed.lpkg'),
    );
    fs.copyFileSync(
      path.join(home, 'data/document_library/20101/20001/1001.pdf/1.0'),
      path.join(home, 'data/document_library/20101/20001/1001.pdf/1.1'),
    );
    fs.writeFileSync(path.join(home, 'data/new-file.txt'), 'new content');
    store.reset();
    const third = await backupAndCommit(runtime(store, home), again.id);
    expect(third.result.summary.changedFiles).toBe(3);
    expect(third.result.summary.dedupedFiles).toBe(2);
    expect(third.result.summary.uploadedFiles).toBe(1);
    expect(store.keys(['put'], 'objects/blobs/')).toEqual([]);
    expect(store.keys(['put'], 'objects/packs/')).toHaveLength(1); // the one new small file

    const target = path.join(freshDir('restore'), 'home');
    await driveRestore(runtime(store, target), restoreContext(third.id, {}));
    expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
    first = third;
  });

  it('restores one folder by glob, reading only the parts and pack ranges it needs', async () => {
    const details = filesResultDetailsSchema.parse(first.result.details);
    const index = await readIndex(store, details.index.key, details.index);
    const target = path.join(freshDir('restore'), 'home');
    store.reset();
    const glob = 'data/document_library/20101/20003/**';
    const restored = await driveRestore(runtime(store, target), restoreContext(first.id, { path: glob }));
    expect(restored.status).toBe('complete');
    const wanted = [...readTree(home).keys()].filter((rel) =>
      rel.startsWith('data/document_library/20101/20003/'),
    );
    const got = [...readTree(target).keys()].filter((rel) =>
      rel.startsWith('data/document_library/20101/20003/'),
    );
    expect(got).toEqual(wanted);
    expect(fs.existsSync(path.join(target, 'portal-ext.properties'))).toBe(false);
    const partsRead = new Set(store.keys(['get'], details.index.key.replace('index.json', 'part-')));
    expect(partsRead.size).toBeLessThan(index.parts.length);
    // The folder's files sit next to each other in one pack: few ranged reads, no blob.
    expect(store.count(['getRange'], 'objects/packs/')).toBeLessThanOrEqual(2);
    expect(store.count(['get'], 'objects/')).toBe(0);
  });

  it('a shard run twice converges and uploads nothing the first run stored', async () => {
    const tree = freshDir('home');
    makeTrickyHome(tree, { documents: 20, largeFiles: 1 });
    const rt = runtime(store, tree);
    const id = nextId();
    const firstRuns: string[] = [];
    const secondRuns: string[] = [];
    const result = await driveBackup(rt, backupContext(id), 'liferayHome', {
      beforeShard: async (item) => {
        // What the previous shard's second run stored, then this shard's first run ("crashes" after its result).
        secondRuns.push(...store.keys(['put'], 'objects/'));
        store.reset();
        await copyShard({ backup: backupContext(id), component: 'liferayHome', shard: item }, rt);
        firstRuns.push(...store.keys(['put'], 'objects/'));
        store.reset();
        return true;
      },
    });
    secondRuns.push(...store.keys(['put'], 'objects/'));
    expect(result.status).toBe('complete');
    expect(firstRuns.length).toBeGreaterThan(0);
    expect(secondRuns).toEqual([]);
    await commitSet(store, id, [result]);
    const target = path.join(freshDir('restore'), 'home');
    await driveRestore(runtime(store, target), restoreContext(id, {}));
    expect(diffTrees(readTree(tree), readTree(target))).toEqual([]);
  });

  it('a shard that failed half-way is re-run without uploading its finished packs again', async () => {
    const tree = freshDir('home');
    for (let i = 0; i < 30; i += 1) {
      fs.mkdirSync(path.join(tree, 'data'), { recursive: true });
      fs.writeFileSync(
        path.join(tree, `data/f${String(i).padStart(2, '0')}`),
        bytesFor(`half-${i}`, 200_000),
      );
    }
    const rt = runtime(store, tree, {
      shard: { maxFiles: 1000, maxBytes: 1e9, timeBudgetSeconds: 600 },
      storeConcurrency: 1,
    });
    const id = nextId();
    let packsBefore: string[] = [];
    const result = await driveBackup(rt, backupContext(id), 'liferayHome', {
      beforeShard: async (item) => {
        store.reset();
        // From the 3rd pack on, uploads fail (retries too): the shard dies with two packs stored and checkpointed.
        let packPuts = 0;
        store.failWhen = (call) =>
          call.method === 'put' && call.key.startsWith('objects/packs/') && ++packPuts >= 3;
        await expect(
          copyShard({ backup: backupContext(id), component: 'liferayHome', shard: item }, rt),
        ).rejects.toThrow(/injected failure/);
        store.failWhen = undefined;
        packsBefore = store.keys(['put'], 'objects/packs/').slice(0, 2);
        store.reset();
        return true;
      },
    });
    expect(result.status).toBe('complete');
    expect(packsBefore).toHaveLength(2);
    const packsAfter = store.keys(['put'], 'objects/packs/');
    for (const key of packsBefore) expect(packsAfter).not.toContain(key);
    // The finished packs of the failed attempt are what the index references for their files.
    const details = filesResultDetailsSchema.parse(result.details);
    const index = await readIndex(store, details.index.key, details.index);
    const referenced = new Set<string>();
    for (const part of index.parts)
      for await (const entry of readPart(store, part))
        if (entry.type === 'file' && entry.data && 'pack' in entry.data) referenced.add(entry.data.pack);
    for (const key of packsBefore) expect(referenced.has(key)).toBe(true);
    await commitSet(store, id, [result]);
    const target = path.join(freshDir('restore'), 'home');
    await driveRestore(runtime(store, target), restoreContext(id, {}));
    expect(diffTrees(readTree(tree), readTree(target))).toEqual([]);
  });

  it('a set whose shards did not all finish is never complete', async () => {
    const rt = runtime(store, home);
    const id = nextId();
    await expect(
      driveBackup(rt, backupContext(id), 'liferayHome', { beforeShard: (item) => item.id !== '00-00001' }),
    ).rejects.toThrow(IncompleteShardsError);
    await expect(
      driveBackup(rt, backupContext(id), 'liferayHome', { beforeShard: (item) => item.id !== '00-00001' }),
    ).rejects.toThrow(/1 of \d+ shards of the liferayHome backup did not finish \(00-00001\)/);
  });

  it('continues shards that reach their time budget in further rounds, with the same result', async () => {
    const tree = freshDir('home');
    for (let i = 0; i < 6; i += 1) {
      fs.mkdirSync(path.join(tree, `data/d${i}`), { recursive: true });
      fs.writeFileSync(path.join(tree, `data/d${i}/f`), bytesFor(`round-${i}`, i === 3 ? 300_000 : 1000));
    }
    const rt = runtime(store, tree, { shard: { maxFiles: 1000, maxBytes: 1e9, timeBudgetSeconds: 0 } });
    const id = nextId();
    const result = await driveBackup(rt, backupContext(id));
    expect(Number(result.summary.rounds)).toBeGreaterThan(3);
    await commitSet(store, id, [result]);
    const target = path.join(freshDir('restore'), 'home');
    const restored = await driveRestore(
      runtime(store, target, { shard: { maxFiles: 1000, maxBytes: 1e9, timeBudgetSeconds: 0 } }),
      restoreContext(id, {}),
    );
    expect(restored.status).toBe('complete');
    expect(diffTrees(readTree(tree), readTree(target))).toEqual([]);
  });
});

describe('files engine: a restore checks every byte', () => {
  /** Flips one byte in the middle of every stored object under `prefix` (a damaged store). */
  async function damage(store: LocalFolderStore, root: string, prefix: string): Promise<number> {
    let damaged = 0;
    for await (const object of store.list(prefix)) {
      const file = path.join(root, object.key);
      const bytes = fs.readFileSync(file);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = (bytes[at] as number) ^ 0xff;
      fs.writeFileSync(file, bytes);
      damaged += 1;
    }
    return damaged;
  }

  it.each([
    ['a pack (small files)', 'objects/packs/'],
    ['a blob (chunks of large files)', 'objects/blobs/'],
  ])('refuses %s whose bytes changed in the store, naming the file', async (_what, prefix) => {
    const root = freshDir('store');
    const store = new LocalFolderStore(root);
    const home = freshDir('home');
    fs.mkdirSync(path.join(home, 'data/document_library'), { recursive: true });
    for (let i = 0; i < 20; i += 1)
      fs.writeFileSync(path.join(home, `data/document_library/small-${i}`), bytesFor(`small ${i}`, 20_000));
    fs.writeFileSync(path.join(home, 'data/document_library/large'), bytesFor('large', 700 * 1024));
    const { id } = await backupAndCommit(runtime(store, home));
    expect(await damage(store, root, prefix)).toBeGreaterThan(0);
    const target = path.join(freshDir('restore'), 'home');
    await expect(driveRestore(runtime(store, target), restoreContext(id, {}))).rejects.toThrow(
      /data\/document_library\/(small-\d+|large).*(do not match|damaged)/,
    );
  });
});
