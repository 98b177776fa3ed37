import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitRemoteError, RestoreTargetNotEmptyError } from '#components/source/errors.ts';
import { mirrorRepository } from '#components/source/mirror.ts';
import { restoreRepository } from '#components/source/restore.ts';
import { sourceRetention, verifySource } from '#components/source/retention.ts';
import {
  type RepositoryRecord,
  type RepositorySettings,
  type RestoreTarget,
  restoreTargetSchema,
} from '#components/source/settings.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { forEachRef, type GitHttpServer, git, startGitHttpServer } from '../../support/git-http-server.ts';
import { testRuntime } from '../../support/local-runtime.ts';
import { richRepository } from './git-fixtures.ts';
import { PASSWORD_ENV, sourceAndMirror, testDeps, type WorkRepo } from './source-test-kit.ts';

let hosts: GitHttpServer;
let targets: GitHttpServer;
beforeAll(async () => {
  hosts = await startGitHttpServer();
  targets = await startGitHttpServer({ users: { restorer: 'r-secret' } });
});
afterAll(async () => {
  await hosts.close();
  await targets.close();
});

const TARGET_ENV = { [PASSWORD_ENV]: 'secret', LIFERAY_BACKUP_GIT_TARGET_PASSWORD: 'r-secret' };
const targetCredentials = { passwordEnv: 'LIFERAY_BACKUP_GIT_TARGET_PASSWORD', username: 'restorer' };
let targetCounter = 0;

/** An empty target repository that checks every object it receives (as hosting services do). */
async function emptyTarget(): Promise<{ path: string; url: string }> {
  targetCounter += 1;
  const name = `target-${targetCounter}.git`;
  const dir = await targets.createBareRepo(name);
  await git(['config', 'receive.fsckObjects', 'true'], dir);
  return { path: dir, url: targets.repoUrl(name) };
}

function target(url: string, extra: Partial<RestoreTarget> = {}): RestoreTarget {
  return restoreTargetSchema.parse({ url, credentials: targetCredentials, ...extra });
}

async function backup(
  repository: RepositorySettings,
  store: LocalFolderStore,
  previous?: RepositoryRecord,
  progress?: (message: string) => void,
): Promise<RepositoryRecord> {
  return mirrorRepository(
    {
      repository,
      defaultCredentials: undefined,
      previous,
      store,
      scratchDir: tmpdir(),
      now: () => new Date(),
      progress,
    },
    testDeps(),
  );
}

function restoreInput(record: RepositoryRecord, restoreTarget: RestoreTarget, store: LocalFolderStore) {
  return {
    record,
    target: restoreTarget,
    mirrorCredentials: { passwordEnv: PASSWORD_ENV, username: 'git' },
    store,
    scratchDir: tmpdir(),
  };
}

function rt(store: LocalFolderStore) {
  return testRuntime({ store });
}

/** A set whose source component holds this one repository, as the restore drill receives it. */
function drillSet(record: RepositoryRecord) {
  return {
    backupId: 'b20260101t000000z-0abc',
    result: {
      component: 'source' as const,
      status: 'complete' as const,
      warnings: [],
      summary: {},
      details: {
        repositories: [{ ...record, refCount: Object.keys(record.refs).length, recordKey: 'unused' }],
      },
    },
  };
}

/** A runtime configured with the repository (the drill reads the mirror's credentials from it). */
function configured(store: LocalFolderStore, settings: RepositorySettings) {
  return testRuntime({ store, components: { source: { repositories: [settings] } } });
}

function newStore(): LocalFolderStore {
  return new LocalFolderStore(mkdtempSync(path.join(tmpdir(), 'source-store-')));
}

async function backedUp(overrides: Partial<RepositorySettings> = {}) {
  const work = await richRepository();
  const repo = await sourceAndMirror(hosts, work, { exclude: ['refs/pull/*'], ...overrides });
  const store = newStore();
  const record = await backup(repo.settings, store);
  return { work, store, record, ...repo };
}

describe('restoreRepository from the mirror', () => {
  it('pushes every recorded ref into an empty target and checks it', async () => {
    const { record, store } = await backedUp();
    const { path: targetPath, url } = await emptyTarget();
    const outcome = await restoreRepository(restoreInput(record, target(url), store), testDeps(TARGET_ENV));
    expect(outcome).toMatchObject({ from: 'mirror', refs: 5, pushed: 5 });
    expect(await forEachRef(targetPath)).toEqual(record.refs);
    await git(['fsck', '--strict', '--no-dangling'], targetPath);
  });

  it('refuses a target that already has refs, unless told to overwrite (then only recorded refs change)', async () => {
    const { record, store } = await backedUp();
    const { path: targetPath, url } = await emptyTarget();
    const other = await richRepository();
    await other.git('branch', 'unrelated');
    await other.pushMirror(targetPath);

    await expect(
      restoreRepository(restoreInput(record, target(url), store), testDeps(TARGET_ENV)),
    ).rejects.toThrow(RestoreTargetNotEmptyError);
    const unrelated = (await forEachRef(targetPath))['refs/heads/unrelated'];

    await restoreRepository(
      restoreInput(record, target(url, { overwrite: true }), store),
      testDeps(TARGET_ENV),
    );
    const after = await forEachRef(targetPath);
    expect(after).toMatchObject(record.refs);
    expect(after['refs/heads/unrelated']).toBe(unrelated);
  });

  it('restores only the refs matching the patterns', async () => {
    const { record, store } = await backedUp();
    const { path: targetPath, url } = await emptyTarget();
    await restoreRepository(
      restoreInput(record, target(url, { refs: ['refs/tags/*'] }), store),
      testDeps(TARGET_ENV),
    );
    expect(Object.keys(await forEachRef(targetPath))).toEqual(['refs/tags/v1.0', 'refs/tags/v1.1']);
  });

  it('restores the recorded state after the mirror moved on, while the old commits are reachable', async () => {
    const { record, store, work, sourcePath, settings } = await backedUp();
    await work.commit('after the backup');
    await work.pushMirror(sourcePath);
    await backup(settings, newStore());
    const { path: targetPath, url } = await emptyTarget();
    await restoreRepository(restoreInput(record, target(url), store), testDeps(TARGET_ENV));
    expect(await forEachRef(targetPath)).toEqual(record.refs);
  });

  it('says so and points at the store copy when the mirror no longer has a recorded commit', async () => {
    const { record, store, work, sourcePath, mirrorPath, settings } = await backedUp();
    await rewriteMain(work);
    await work.pushMirror(sourcePath);
    await backup(settings, newStore());
    await git(['reflog', 'expire', '--expire=now', '--all'], mirrorPath);
    await git(['gc', '--quiet', '--prune=now'], mirrorPath);
    const { url } = await emptyTarget();
    const attempt = restoreRepository(
      restoreInput(record, target(url, { from: 'mirror' }), store),
      testDeps(TARGET_ENV),
    );
    await expect(attempt).rejects.toBeInstanceOf(GitRemoteError);
    await expect(attempt).rejects.toThrow(/no longer has 1 recorded object.*"from": "store"/);
  });
});

async function rewriteMain(work: WorkRepo): Promise<void> {
  await work.git('reset', '--quiet', '--hard', 'HEAD~1');
  await work.commit('rewritten');
}

describe('the store copy', () => {
  it('adds one small pack per backup and restores from the store alone, with neither Git host running', async () => {
    const hostsOnly = await startGitHttpServer();
    const work = await richRepository();
    const repo = await sourceAndMirror(hostsOnly, work, { exclude: ['refs/pull/*'], storeCopy: true });
    const store = newStore();
    const first = await backup(repo.settings, store);
    expect(first.storeCopy?.packs).toHaveLength(1);
    await work.commit('next day');
    await work.git('tag', '-a', 'v2.0', '-m', 'release 2.0');
    await work.pushMirror(repo.sourcePath);
    const second = await backup(repo.settings, store, first);
    expect(second.storeCopy?.packs).toHaveLength(2);
    expect(second.storeCopy?.packs[0]).toEqual(first.storeCopy?.packs[0]);
    expect(second.storeCopy?.packs[1]?.objects).toBe(4); // commit, tree, blob, tag
    const unchanged = await backup(repo.settings, store, second);
    expect(unchanged.storeCopy).toEqual(second.storeCopy);
    await hostsOnly.close();

    const { path: targetPath, url } = await emptyTarget();
    const outcome = await restoreRepository(restoreInput(second, target(url), store), testDeps(TARGET_ENV));
    expect(outcome.from).toBe('store');
    expect(await forEachRef(targetPath)).toEqual(second.refs);
    await git(['fsck', '--strict', '--no-dangling'], targetPath);
  });

  it('starts a new chain with a full pack when a ref comes back (a pack must not repeat objects)', async () => {
    const work = await richRepository();
    const repo = await sourceAndMirror(hosts, work, {
      exclude: ['refs/pull/*'],
      storeCopy: true,
      prune: true,
    });
    const store = newStore();
    await work.git('checkout', '--quiet', 'feature');
    for (let i = 0; i < 3; i++) await work.commit(`feature ${i}`);
    await work.git('checkout', '--quiet', 'main');
    await work.pushMirror(repo.sourcePath);
    const first = await backup(repo.settings, store);
    const feature = await work.git('rev-parse', 'feature');
    await work.git('branch', '--quiet', '-D', 'feature');
    await work.pushMirror(repo.sourcePath);
    const second = await backup(repo.settings, store, first);
    expect(second.storeCopy?.packs).toEqual(first.storeCopy?.packs);
    await work.git('branch', 'feature', feature.trim());
    await work.pushMirror(repo.sourcePath);
    const messages: string[] = [];
    const third = await backup(repo.settings, store, second, (message) => messages.push(message));
    expect(messages.join('\n')).toMatch(/already in the store chain; starting a new chain/);
    // One full pack, not a third link: here the same objects as the first backup's, so the same
    // bytes and the same content-addressed key.
    expect(third.storeCopy?.packs).toHaveLength(1);
    expect(third.storeCopy?.packs[0]?.objects).toBe(first.storeCopy?.packs[0]?.objects);

    const { path: targetPath, url } = await emptyTarget();
    await restoreRepository(restoreInput(third, target(url, { from: 'store' }), store), testDeps(TARGET_ENV));
    expect(await forEachRef(targetPath)).toEqual(third.refs);
  });

  it('lists its packs for garbage collection, and the restore drill checks every one of them', async () => {
    const { record, store } = await backedUp({ storeCopy: true });
    const pack = record.storeCopy?.packs[0];
    if (!pack) throw new Error('no pack recorded');
    const set = drillSet(record);
    const { result } = set;
    expect(sourceRetention.sweepPrefixes?.()).toEqual(['objects/git/']);
    const keys: string[] = [];
    for await (const key of sourceRetention.references?.(set, rt(store)) ?? []) keys.push(key);
    expect(keys).toEqual([pack.key, pack.key.replace(/\.pack$/, '.idx')]);

    const verified = await verifySource(set, rt(store));
    expect(verified).toMatchObject({ status: 'verified', problems: [] });
    expect(verified.checks).toContain(
      `${record.name}: ${pack.key} sha256 and ${pack.objects} objects as recorded`,
    );
    expect(verified.checks).toContain(
      `${record.name}: the store copy holds the objects of all ${Object.keys(record.refs).length} recorded refs`,
    );
    // A recorded ref whose object the chain does not hold: a restore from the store could not push it.
    const ghost = 'f'.repeat(40);
    const refs = { ...record.refs, 'refs/heads/ghost': ghost };
    const unbacked = {
      ...set,
      result: {
        ...result,
        details: {
          repositories: [{ ...record, refs, refCount: Object.keys(refs).length, recordKey: 'unused' }],
        },
      },
    };
    const lacking = await verifySource(unbacked, rt(store));
    expect(lacking.status).toBe('failed');
    expect(lacking.problems).toEqual([
      `${record.name}: the store copy lacks the object of 1 recorded ref(s): refs/heads/ghost (${ghost})`,
    ]);
    const bytes = await store.read(pack.key);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await store.put(pack.key, bytes);
    const broken = await verifySource(set, rt(store));
    expect(broken.status).toBe('failed');
    expect(broken.problems[0]).toMatch(
      new RegExp(`${pack.key} has sha256 [0-9a-f]{64} \\(\\d+ bytes\\), recorded ${pack.sha256}`),
    );
  });

  it('the restore drill lists the mirror: every recorded ref must be there, unless the store copy holds it', async () => {
    const { record, store, settings, mirrorPath, work } = await backedUp();
    const refCount = Object.keys(record.refs).length;
    const verified = await verifySource(drillSet(record), configured(store, settings), testDeps());
    expect(verified).toMatchObject({ status: 'verified', problems: [] });
    expect(verified.checks).toContain(
      `${record.name}: the mirror ${settings.mirrorUrl} has ${refCount} of the ${refCount} recorded refs`,
    );

    // The mirror moved on (a new commit on main): noted, not a failure.
    await work.commit('after the backup');
    await git(['push', '--quiet', '--force', mirrorPath, 'main:refs/heads/main'], work.dir);
    const moved = await verifySource(drillSet(record), configured(store, settings), testDeps());
    expect(moved.status).toBe('verified');
    expect(moved.checks.join('\n')).toMatch(/1 of them moved on since the backup/);

    // A recorded branch deleted on the mirror: the set could not be restored from it.
    const branch = Object.keys(record.refs).find(
      (ref) => ref.startsWith('refs/heads/') && ref !== 'refs/heads/main',
    );
    if (!branch) throw new Error('the fixture has no second branch');
    await git(['update-ref', '-d', branch], mirrorPath);
    const lacking = await verifySource(drillSet(record), configured(store, settings), testDeps());
    expect(lacking.status).toBe('failed');
    expect(lacking.problems).toEqual([
      `${record.name}: the mirror ${settings.mirrorUrl} lacks 1 recorded ref(s): ${branch} (and the set has no store copy of it)`,
    ]);

    // Credentials the mirror refuses: named, and the password appears nowhere.
    const refused = await verifySource(
      drillSet(record),
      configured(store, settings),
      testDeps({ [PASSWORD_ENV]: 'wrong-pw' }),
    );
    expect(refused.status).toBe('failed');
    expect(refused.problems[0]).toMatch(new RegExp(`^${record.name}: the mirror could not be listed: `));
    expect(JSON.stringify(refused)).not.toContain('wrong-pw');
  });

  it('the restore drill passes a ref the mirror lost when the store copy holds it', async () => {
    const { record, store, settings, mirrorPath } = await backedUp({ storeCopy: true });
    const branch = Object.keys(record.refs).find(
      (ref) => ref.startsWith('refs/heads/') && ref !== 'refs/heads/main',
    );
    if (!branch) throw new Error('the fixture has no second branch');
    await git(['update-ref', '-d', branch], mirrorPath);
    const outcome = await verifySource(drillSet(record), configured(store, settings), testDeps());
    expect(outcome).toMatchObject({ status: 'verified', problems: [] });
    expect(outcome.checks).toContain(
      `${record.name}: the mirror ${settings.mirrorUrl} lacks 1 recorded ref(s): ${branch}; the store copy is checked instead`,
    );
  });

  it('refuses a stored pack whose bytes are not the recorded ones', async () => {
    const { record, store } = await backedUp({ storeCopy: true });
    const pack = record.storeCopy?.packs[0];
    if (!pack) throw new Error('no pack recorded');
    const bytes = await store.read(pack.key);
    bytes[bytes.length - 30] = (bytes[bytes.length - 30] ?? 0) ^ 0xff;
    await store.put(pack.key, bytes);
    const { url } = await emptyTarget();
    await expect(
      restoreRepository(restoreInput(record, target(url), store), testDeps(TARGET_ENV)),
    ).rejects.toThrow(/does not match its record/);
  });
});
