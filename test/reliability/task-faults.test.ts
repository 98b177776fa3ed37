import * as path from 'node:path';
import {
  CreateDBSnapshotCommand,
  type DBSnapshot,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  RDSServiceException,
} from '@aws-sdk/client-rds';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { readLatest, readManifest } from '#backup-set/manifest.ts';
import { copyShard } from '#components/files/copy-shard.ts';
import { restoreShard } from '#components/files/restore-shard.ts';
import { closeEngines } from '#components/search/connect.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { RdsWorld, SOURCE_KEY } from '../components/database/rds-world.ts';
import { diffTrees, readTree } from '../components/files/support/trees.ts';
import { richRepository } from '../components/source/git-fixtures.ts';
import { forEachRef, type GitHttpServer, startGitHttpServer } from '../support/git-http-server.ts';
import { liferayHomeReferences, tempDir } from '../support/local-runtime.ts';
import { SearchEngineStandIn } from '../support/search-engine-server.ts';
import {
  backup,
  backupIdOf,
  causeOf,
  expectNothingLost,
  homeSettings,
  makeHome,
  outputOf,
  restore,
  runtimeWith,
  storeSnapshot,
  verifySet,
  writeTree,
} from './support.ts';

/**
 * A task's fault in each component, through the Backup workflow as the CLI runs it: a shard cut off
 * by its timeout, RDS throttling, a search snapshot that ends FAILED, Git refusing the credentials.
 * Each run ends with a truthful manifest (never complete when something is missing), nothing
 * stored before is lost, and the run after the fault is gone converges: its set verifies.
 */

const work = tempDir('task-faults');
afterAll(() => work.cleanup());

function tinyHome(name: string): string {
  const home = path.join(work.dir, name);
  writeTree(home, { 'portal-ext.properties': 'a=1\n', 'osgi/configs/x.config': 'b=2\n' });
  return home;
}

/** An error as Lambda reports a function that ran out of time (Step Functions names it so). */
function timedOut(): Error {
  return Object.assign(new Error('RequestId: 1f3c Error: Task timed out after 900.00 seconds'), {
    name: 'Sandbox.Timedout',
  });
}

/**
 * Cuts one shard's Lambda off: wrapped around every call's store, the first call that makes a
 * content call (`put` for a backup shard, `get`/`getRange` for a restore shard) after `after` of
 * them throws the timeout, and from then on every store call of that invocation throws it too (a
 * Lambda that timed out does nothing more); every other call runs untouched. `stored` gets the
 * content keys the cut-off call handled before.
 */
class OneTimeout {
  cut = false;
  readonly stored: string[] = [];

  constructor(
    private readonly after: number,
    private readonly methods: readonly string[],
  ) {}

  wrap(runtime: Runtime): Runtime {
    const handled: string[] = [];
    let dead = false;
    const store = new Proxy(runtime.store, {
      get: (target, property, receiver) => {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        if (property === 'list') {
          return (prefix: string) =>
            dead ? failing() : (value as ContentStore['list']).call(target, prefix);
        }
        return async (key: string, ...rest: unknown[]) => {
          const content =
            typeof property === 'string' && this.methods.includes(property) && key.startsWith('objects/');
          if (content && !this.cut && handled.length >= this.after) {
            this.cut = true;
            dead = true;
            this.stored.push(...handled);
          }
          if (dead) throw timedOut();
          const result = await (value as (...args: unknown[]) => Promise<unknown>).call(target, key, ...rest);
          if (content) handled.push(key);
          return result;
        };
      },
    });
    return { ...runtime, store };
  }
}

async function* failing(): AsyncGenerator<never> {
  yield* [];
  throw timedOut();
}

describe('a shard times out in the middle of its work', () => {
  it('the shard is run again and resumes from the packs it checkpointed: the set is complete and verifies', async () => {
    const store = new LocalFolderStore(path.join(work.dir, 'store-timeout'));
    const home = path.join(work.dir, 'home-timeout');
    makeHome(home, 30);
    const rt = runtimeWith(store, { liferayHome: homeSettings(home, { packBytes: 1024 * 1024 }) });
    let calls = 0;
    // The first shard with two content objects stores one (a pack and its checkpoint, or a blob),
    // then its Lambda is cut off.
    const timeout = new OneTimeout(1, ['put']);
    const timesOutOnce: Handler = (event, runtime) => {
      calls += 1;
      return copyShard(event, timeout.wrap(runtime));
    };
    const outcome = await backup(rt, { taskOverrides: { 'Liferay Home copy shard': timesOutOnce } });
    const backupId = backupIdOf(outcome);
    const manifest = await readManifest(store, backupId);
    expect(manifest.status, outcome.status === 'FAILED' ? outcome.cause : '').toBe('complete');
    expect(calls).toBe(Number(manifest.results.liferayHome?.summary.shards) + 1);
    // The retried shard used the pack its first attempt stored instead of uploading its files again.
    expect(timeout.cut).toBe(true);
    expect(timeout.stored.length).toBeGreaterThan(0);
    const referenced = await liferayHomeReferences(store, backupId);
    for (const key of timeout.stored) expect(referenced, key).toContain(key);
    expect(await verifySet(rt, backupId)).toMatchObject({ status: 'verified' });

    // A restore shard cut off at its first content read (its folders made, files begun) runs again too.
    let restoreCalls = 0;
    const restoreTimeout = new OneTimeout(0, ['get', 'getRange', 'contentSource']);
    const restoreTimesOutOnce: Handler = (event, runtime) => {
      restoreCalls += 1;
      return restoreShard(event, restoreTimeout.wrap(runtime));
    };
    const target = path.join(work.dir, 'restored-timeout');
    const restored = await restore(
      rt,
      { backupId, liferayHome: { target } },
      { taskOverrides: { 'Liferay Home restore shard': restoreTimesOutOnce } },
    );
    const report = outputOf<{
      report: { status: string; components: Record<string, { summary: Record<string, unknown> }> };
    }>(restored).report;
    expect(report.status).toBe('complete');
    expect(restoreCalls).toBe(Number(report.components.liferayHome?.summary.shards) + 1);
    expect(restoreTimeout.cut).toBe(true);
    expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
  });

  it('a shard that times out every time fails the set with the reason; nothing is lost; the next run completes', async () => {
    const store = new LocalFolderStore(path.join(work.dir, 'store-timeout-always'));
    const home = path.join(work.dir, 'home-timeout-always');
    makeHome(home, 20);
    const rt = runtimeWith(store, { liferayHome: homeSettings(home) });
    const first = backupIdOf(await backup(rt));
    makeHome(home, 30, 'v2');
    const before = await storeSnapshot(store);
    const alwaysTimesOut: Handler = (event, runtime) =>
      copyShard(event, new OneTimeout(0, ['put']).wrap(runtime));
    const outcome = await backup(rt, { taskOverrides: { 'Liferay Home copy shard': alwaysTimesOut } });
    expect(causeOf(outcome)).toMatch(/is failed: liferayHome: Sandbox\.Timedout: .*Task timed out/);
    const manifest = await readManifest(store, backupIdOf(outcome));
    expect(manifest.status).toBe('failed');
    expect(await readLatest(store)).toBe(first);
    expectNothingLost(before, await storeSnapshot(store));

    const rerun = backupIdOf(await backup(rt));
    expect((await readManifest(store, rerun)).status).toBe('complete');
    expect((await verifySet(rt, rerun)).status).toBe('verified');
  });
});

describe('RDS throttles the snapshot calls (SDK mocked)', () => {
  const world = new RdsWorld();
  const settings = {
    mode: 'rds-instance',
    identifier: 'liferay-db',
    region: 'eu-west-1',
    waitIntervalSeconds: 30,
    maxWaitAttempts: 10,
  };
  const instance = {
    DBInstanceIdentifier: 'liferay-db',
    DBInstanceArn: 'arn:aws:rds:eu-west-1:111111111111:db:liferay-db',
    DBInstanceStatus: 'available',
    Engine: 'mysql',
    EngineVersion: '8.0.39',
    DBInstanceClass: 'db.r6g.large',
    DBSubnetGroup: { DBSubnetGroupName: 'liferay-subnets' },
    VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0a1b2c3d4e5f60718' }],
    MultiAZ: false,
    Endpoint: { Address: 'liferay-db.x.rds.amazonaws.com', Port: 3306 },
    StorageEncrypted: true,
    KmsKeyId: SOURCE_KEY,
  };
  let throttle = { creates: 0, describes: 0 };
  const throttling = () =>
    new RDSServiceException({
      name: 'Throttling',
      $fault: 'client',
      message: 'Rate exceeded',
      $metadata: {},
    });

  beforeEach(() => {
    world.reset();
    world.keys.set(SOURCE_KEY, 'Enabled');
    world.rds.on(DescribeDBInstancesCommand).resolves({ DBInstances: [instance] });
    world.rds
      .on(CreateDBSnapshotCommand)
      .callsFake((input: { DBSnapshotIdentifier: string; Tags?: { Key: string; Value: string }[] }) => {
        if (throttle.creates > 0) {
          throttle.creates -= 1;
          throw throttling();
        }
        const tags = Object.fromEntries((input.Tags ?? []).map((tag) => [tag.Key, tag.Value]));
        world.put('eu-west-1', input.DBSnapshotIdentifier, {
          status: 'available',
          tags,
          engine: 'mysql',
          engineVersion: '8.0.39',
          encrypted: true,
          kmsKeyId: SOURCE_KEY,
          restoreAccounts: [],
        });
        const created: DBSnapshot = {
          DBSnapshotIdentifier: input.DBSnapshotIdentifier,
          DBSnapshotArn: `arn:aws:rds:eu-west-1:111111111111:snapshot:${input.DBSnapshotIdentifier}`,
          Status: 'creating',
          Encrypted: true,
          KmsKeyId: SOURCE_KEY,
        };
        return { DBSnapshot: created };
      });
    const describe = world.rds.commandCalls(DescribeDBSnapshotsCommand);
    expect(describe).toEqual([]);
  });
  afterEach(() => {
    throttle = { creates: 0, describes: 0 };
  });

  function runtime(store: ContentStore, home: string): Runtime {
    return runtimeWith(store, { database: settings, liferayHome: homeSettings(home) });
  }

  it('throttled calls are retried with backoff and the set is complete', async () => {
    const store = new LocalFolderStore(path.join(work.dir, 'store-rds-retried'));
    const rt = runtime(store, tinyHome('home-rds-retried'));
    throttle = { creates: 3, describes: 0 };
    const backupId = backupIdOf(await backup(rt));
    const manifest = await readManifest(store, backupId);
    expect(manifest.status).toBe('complete');
    expect(world.rds.commandCalls(CreateDBSnapshotCommand)).toHaveLength(4);
    expect((await verifySet(rt, backupId)).status).toBe('verified');
  });

  it('throttling that outlasts the retries leaves the set partial with the reason; the run after it completes and verifies', async () => {
    const store = new LocalFolderStore(path.join(work.dir, 'store-rds-throttled'));
    const rt = runtime(store, tinyHome('home-rds-throttled'));
    throttle = { creates: 100, describes: 0 };
    const outcome = await backup(rt);
    expect(causeOf(outcome)).toMatch(
      /is partial: database: RetryableError: .*throttled by RDS \(Throttling\)/,
    );
    const manifest = await readManifest(store, backupIdOf(outcome));
    expect(manifest.status).toBe('partial');
    expect(manifest.results.liferayHome?.status).toBe('complete');
    expect(world.snapshots.size).toBe(0);
    const before = await storeSnapshot(store);

    throttle = { creates: 0, describes: 0 };
    const rerun = backupIdOf(await backup(rt));
    expect((await readManifest(store, rerun)).status).toBe('complete');
    expectNothingLost(before, await storeSnapshot(store));
    expect((await verifySet(rt, rerun)).status).toBe('verified');
  });
});

describe('the search snapshot ends FAILED (stand-in cluster)', () => {
  let server: SearchEngineStandIn;
  beforeAll(async () => {
    server = await SearchEngineStandIn.start({
      flavour: 'elasticsearch',
      version: '8.15.0',
      auth: { type: 'basic', username: 'elastic', password: 'search-pw' },
      indices: {
        'liferay-20097': { docs: 40 },
        'liferay-20097-search-tuning-rankings': { docs: 3 },
      },
    });
    server.repositories.set('liferay-backup', { type: 's3', settings: { bucket: 'b', base_path: 'p' } });
    server.snapshots.set('liferay-backup', new Map());
  });
  afterAll(async () => {
    await closeEngines();
    await server.stop();
  });

  it('the set is partial naming the failure, the unusable snapshot is deleted, the next run completes and verifies', async () => {
    const store = new LocalFolderStore(path.join(work.dir, 'store-search'));
    const rt = runtimeWith(store, {
      liferayHome: homeSettings(tinyHome('home-search')),
      search: {
        engine: 'elasticsearch',
        endpoint: server.url,
        credentials: { type: 'basic', username: 'elastic', password: 'search-pw' },
        repository: { name: 'liferay-backup' },
        waitSeconds: 0,
        maxChecks: 5,
      },
    });
    server.scripts.push({ inProgressChecks: 1, outcome: 'FAILED' });
    const outcome = await backup(rt);
    const failedId = backupIdOf(outcome);
    expect(causeOf(outcome)).toMatch(/is partial: search: SearchSnapshotFailedError: .*FAILED/);
    const manifest = await readManifest(store, failedId);
    expect(manifest.status).toBe('partial');
    expect(manifest.results.search?.status).toBe('failed');
    expect(server.snapshots.get('liferay-backup')?.has(failedId)).toBe(false);
    const before = await storeSnapshot(store);

    const rerun = backupIdOf(await backup(rt));
    expect((await readManifest(store, rerun)).status).toBe('complete');
    expect(server.snapshots.get('liferay-backup')?.has(rerun)).toBe(true);
    expectNothingLost(before, await storeSnapshot(store));
    expect((await verifySet(rt, rerun)).status).toBe('verified');
  });
});

describe('Git refuses the credentials', () => {
  let git: GitHttpServer;
  beforeAll(async () => {
    git = await startGitHttpServer({ users: { git: 'right-password' } });
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await git.close();
  });

  it('the set is partial naming the repository and the credentials (never their value); with the right password the next run completes and verifies', async () => {
    const sourcePath = await git.createBareRepo('auth-source.git');
    const mirrorPath = await git.createBareRepo('auth-mirror.git');
    await (await richRepository()).pushMirror(sourcePath);
    const store = new LocalFolderStore(path.join(work.dir, 'store-git'));
    const credentials = { passwordEnv: 'RELIABILITY_GIT_PASSWORD', username: 'git' };
    const rt = runtimeWith(store, {
      liferayHome: homeSettings(tinyHome('home-git')),
      source: {
        repositories: [
          {
            name: 'workspace',
            sourceUrl: git.repoUrl('auth-source.git'),
            mirrorUrl: git.repoUrl('auth-mirror.git'),
            sourceCredentials: credentials,
            mirrorCredentials: credentials,
          },
        ],
      },
    });
    vi.stubEnv('RELIABILITY_GIT_PASSWORD', 'wrong-password');
    const outcome = await backup(rt);
    const cause = causeOf(outcome);
    expect(cause).toMatch(/is partial: source: .*workspace: .*(401|authenticat|credentials)/i);
    expect(cause).toContain('RELIABILITY_GIT_PASSWORD');
    expect(cause).not.toContain('wrong-password');
    const manifest = await readManifest(store, backupIdOf(outcome));
    expect(manifest.status).toBe('partial');
    expect(manifest.results.source?.status).toBe('failed');
    expect(JSON.stringify(manifest)).not.toContain('wrong-password');
    expect(await forEachRef(mirrorPath)).toEqual({});
    const before = await storeSnapshot(store);

    vi.stubEnv('RELIABILITY_GIT_PASSWORD', 'right-password');
    const rerun = backupIdOf(await backup(rt));
    expect((await readManifest(store, rerun)).status).toBe('complete');
    expect(await forEachRef(mirrorPath)).toEqual(await forEachRef(sourcePath));
    expectNothingLost(before, await storeSnapshot(store));
    expect((await verifySet(rt, rerun)).status).toBe('verified');
  });
});
