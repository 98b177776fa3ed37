import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sweepPrefix } from '#backup-set/garbage-collection.ts';
import { listBackupIds, readManifest } from '#backup-set/manifest.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import { thisProcess } from '#runtime/host-process.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { diffTrees, readTree } from '../components/files/support/trees.ts';
import { allKeys, liferayHomeReferences, tempDir } from '../support/local-runtime.ts';
import { killedProcess } from '../support/processes.ts';

const DAY = 86_400_000;

function runtimeFor(store: ContentStore, settings: Record<string, unknown>, now: () => Date): Runtime {
  return localRuntime({
    store,
    settings: parseSettings({ environment: 'test-env', ...settings }, 'test'),
    now,
  });
}

function home(root: string, files: Record<string, Buffer | string>): void {
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  }
}

function backupRuntime(store: ContentStore, root: string, now: () => Date): Runtime {
  const components = { liferayHome: { root, blobThresholdBytes: 64 * 1024 } };
  return runtimeFor(store, { configuredComponents: ['liferayHome'], components }, now);
}

function retentionRuntime(
  store: ContentStore,
  now: () => Date,
  policy: Record<string, number>,
  graceHours = 48,
): Runtime {
  return runtimeFor(store, { retention: { policy, graceHours } }, now);
}

function succeeded(outcome: WorkflowOutcome): unknown {
  if (outcome.status !== 'SUCCEEDED') throw new Error(`workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output;
}

async function backup(rt: Runtime, overrides?: Record<string, Handler>): Promise<string> {
  const output = succeeded(
    await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt, { taskOverrides: overrides ?? {} }),
  ) as {
    backup: { backupId: string };
  };
  return output.backup.backupId;
}

/** A store holding two complete sets, taken ten and nine days ago. */
async function twoSetsTenDaysOld(name: string) {
  const { dir } = tempDir(name);
  const store = new LocalFolderStore(path.join(dir, 'store'));
  const root = path.join(dir, 'home');
  home(root, { 'portal-ext.properties': 'a' });
  const start = Date.now() - 10 * DAY;
  const older = await backup(backupRuntime(store, root, () => new Date(start)));
  const newer = await backup(backupRuntime(store, root, () => new Date(start + DAY)));
  return { dir, store, older, newer };
}

/** A retention run (not a dry run) at the real time; the sets it deleted. */
async function collect(store: ContentStore, policy: Record<string, number>): Promise<string[]> {
  const outcome = succeeded(
    await runWorkflow(
      WORKFLOWS.retention,
      { dryRun: false },
      retentionRuntime(store, () => new Date(), policy),
    ),
  ) as { outcome: { deletedSets: string[] } };
  return outcome.outcome.deletedSets;
}

async function restore(store: ContentStore, backupId: string, target: string): Promise<WorkflowOutcome> {
  const rt = runtimeFor(
    store,
    { configuredComponents: ['liferayHome'], components: { liferayHome: { root: target } } },
    () => new Date(),
  );
  return runWorkflow(WORKFLOWS.restore, { backupId, requestedBy: 'cli' }, rt);
}

describe('retention', () => {
  it('lists what would go in a dry run and changes nothing; then deletes expired sets and collects only their content', async () => {
    const { dir } = tempDir('retention');
    const store = new LocalFolderStore(path.join(dir, 'store'));
    const root = path.join(dir, 'home');
    const start = Date.now() - 10 * DAY;
    const versions = [randomBytes(200_000), randomBytes(200_000), randomBytes(200_000)];
    const ids: string[] = [];
    for (const [day, version] of versions.entries()) {
      home(root, {
        'data/document_library/1/2/doc/1.0': version,
        'portal-ext.properties': `v${day}`,
        'license/x.xml': 'same',
      });
      ids.push(await backup(backupRuntime(store, root, () => new Date(start + day * DAY))));
    }
    const oldOnly = new Set([
      ...(await liferayHomeReferences(store, ids[0] ?? '')),
      ...(await liferayHomeReferences(store, ids[1] ?? '')),
    ]);
    const kept = await liferayHomeReferences(store, ids[2] ?? '');
    for (const key of kept) oldOnly.delete(key);
    expect(oldOnly.size).toBeGreaterThan(0);

    const later = () => new Date(Date.now() + 3 * DAY); // every object is older than the grace period then
    const policy = { daily: 1, weekly: 0, monthly: 0, minComplete: 1 };
    const before = await allKeys(store);
    const dry = succeeded(
      await runWorkflow(WORKFLOWS.retention, { dryRun: true }, retentionRuntime(store, later, policy)),
    ) as {
      plan: { toDelete: number; reportKey: string };
    };
    expect(dry.plan.toDelete).toBe(2);
    expect((await allKeys(store)).filter((key) => !key.startsWith('reports/'))).toEqual(before);
    const report = JSON.parse((await store.read(dry.plan.reportKey)).toString()) as {
      decisions: { backupId: string; keep: boolean; reasons: string[] }[];
    };
    expect(report.decisions.find((d) => d.backupId === ids[0])).toMatchObject({
      keep: false,
      reasons: [expect.stringContaining('neither among the newest')],
    });
    expect(report.decisions.find((d) => d.backupId === ids[2])?.reasons).toContain('the latest complete set');

    const real = succeeded(
      await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retentionRuntime(store, later, policy)),
    ) as {
      outcome: { deletedSets: string[]; sweptObjects: number };
    };
    expect(real.outcome.deletedSets.sort()).toEqual([ids[0], ids[1]].sort());
    expect(real.outcome.sweptObjects).toBe(oldOnly.size);
    expect(await listBackupIds(store)).toEqual([ids[2]]);
    const remaining = new Set(await allKeys(store));
    for (const key of oldOnly) expect(remaining.has(key), key).toBe(false);
    for (const key of kept) expect(remaining.has(key), key).toBe(true);
    expect(
      [...remaining].filter(
        (key) => key.startsWith(`backups/${ids[0]}/`) || key.startsWith('work/') || key.startsWith('locks/'),
      ),
    ).toEqual([]);

    const target = path.join(dir, 'restored');
    succeeded(await restore(store, ids[2] ?? '', target));
    expect(diffTrees(readTree(root), readTree(target))).toEqual([]);
  });

  it('leaves content Object Lock still holds, and says how much in the report', async () => {
    const { dir } = tempDir('retention-locked');
    const inner = new LocalFolderStore(path.join(dir, 'store'));
    const root = path.join(dir, 'home');
    const start = Date.now() - 10 * DAY;
    const ids: string[] = [];
    for (const day of [0, 1]) {
      home(root, {
        'data/document_library/1/2/doc/1.0': randomBytes(200_000),
        'portal-ext.properties': `v${day}`,
      });
      ids.push(await backup(backupRuntime(inner, root, () => new Date(start + day * DAY))));
    }
    const oldOnly = new Set(await liferayHomeReferences(inner, ids[0] ?? ''));
    for (const key of await liferayHomeReferences(inner, ids[1] ?? '')) oldOnly.delete(key);
    expect(oldOnly.size).toBeGreaterThan(0);
    const later = new Date(Date.now() + 3 * DAY);
    // Every content object answers HEAD as a version under retention until after the run.
    const store = new Proxy(inner, {
      get(target, property, receiver) {
        if (property !== 'stat') return Reflect.get(target, property, receiver);
        return async (key: string) => {
          const info = await target.stat(key);
          return info && key.startsWith('objects/')
            ? { ...info, lockedUntil: new Date(later.getTime() + DAY) }
            : info;
        };
      },
    }) as ContentStore;

    const run = succeeded(
      await runWorkflow(
        WORKFLOWS.retention,
        { dryRun: false },
        retentionRuntime(store, () => later, { daily: 1, weekly: 0, monthly: 0, minComplete: 1 }),
      ),
    ) as { outcome: { deletedSets: string[]; sweptObjects: number }; plan: { reportKey: string } };

    expect(run.outcome.deletedSets).toEqual([ids[0]]);
    expect(run.outcome.sweptObjects).toBe(0);
    const report = JSON.parse((await inner.read(run.plan.reportKey)).toString()) as {
      garbageCollection: { sweptObjects: number; heldByObjectLock: number };
    };
    expect(report.garbageCollection).toMatchObject({ sweptObjects: 0, heldByObjectLock: oldOnly.size });
    const remaining = new Set(await allKeys(inner));
    for (const key of oldOnly) expect(remaining.has(key), key).toBe(true);
  });

  it('collects garbage during a running backup without losing anything that backup references', async () => {
    const { dir } = tempDir('retention-race');
    const store = new LocalFolderStore(path.join(dir, 'store'));
    const root = path.join(dir, 'home');
    home(root, { 'data/document_library/1/2/a/1.0': randomBytes(100_000), 'portal-ext.properties': 'a' });
    const first = await backup(backupRuntime(store, root, () => new Date()));
    home(root, {
      'data/document_library/1/2/b/1.0': randomBytes(300_000),
      'data/document_library/1/2/c/1.0': 'small new file',
    });

    const policy = { daily: 0, weekly: 0, monthly: 0, minComplete: 1 };
    const run = async (now: () => Date, allowFailure = false): Promise<string> => {
      let collectedDuringBackup = -1;
      const rt = backupRuntime(store, root, () => new Date());
      const { allHandlers } = await import('#local/handlers.ts');
      const finalize = allHandlers().get('files-finalize-backup') as Handler;
      // The shards have uploaded the new content; no set references it yet. Collect now.
      const interleaved: Handler = async (event, runtime) => {
        const outcome = succeeded(
          await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retentionRuntime(store, now, policy)),
        ) as {
          outcome: { sweptObjects: number };
        };
        collectedDuringBackup = outcome.outcome.sweptObjects;
        return finalize(event, runtime);
      };
      const before = new Set(await listBackupIds(store));
      const outcome = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt, {
        taskOverrides: { 'Liferay Home copy finalize': interleaved },
      });
      if (!allowFailure) succeeded(outcome);
      expect(collectedDuringBackup).toBeGreaterThanOrEqual(0);
      // The set this run made (not the last id: two sets of one second sort by their random suffix).
      const made = (await listBackupIds(store)).filter((id) => !before.has(id));
      expect(made).toHaveLength(1);
      return made[0] as string;
    };

    // With the grace period, the running backup's fresh content survives the collection.
    const second = await run(() => new Date());
    expect((await readManifest(store, second)).status).toBe('complete');
    const target = path.join(dir, 'restored');
    succeeded(await restore(store, second, target));
    expect(diffTrees(readTree(root), readTree(target))).toEqual([]);
    expect(await listBackupIds(store)).toContain(first);

    // Control: a collection that ignores how young the content is (its clock far ahead) takes the
    // running backup's new objects: the set it then commits cannot be restored, so Commit, seeing
    // that retention run's report, records it failed instead of complete (commit-backup.ts).
    home(root, { 'data/document_library/1/2/d/1.0': randomBytes(300_000) });
    const third = await run(() => new Date(Date.now() + 100 * 3_600_000), true);
    const manifest = await readManifest(store, third);
    expect(manifest.status).toBe('failed');
    expect(manifest.warnings.join('\n')).toMatch(/retention run g\S+ collected unreferenced content/);
    const broken = await restore(store, third, path.join(dir, 'restored-broken'));
    expect(broken.status).toBe('FAILED');
  });
});

describe('retention racing a backup that reuses old content', () => {
  // A large file's chunk found by a HEAD on its blob (storeChunk, functions/components/files/
  // content.ts) may be a blob left by a set that retention is deleting: old and unreferenced, the
  // sweep takes it while the running backup goes on to commit a set that references it. The blob
  // is reused only if written within the last hour (isReusable), otherwise written again.
  it('a backup that finds an old unreferenced blob by HEAD and reuses it keeps it through a collection run meanwhile', async () => {
    const { dir } = tempDir('retention-reuse');
    const storeDir = path.join(dir, 'store');
    const store = new LocalFolderStore(storeDir);
    const root = path.join(dir, 'home');
    const big = randomBytes(300_000);
    const start = Date.now() - 10 * DAY;
    home(root, { 'data/document_library/1/2/x/1.0': big, 'portal-ext.properties': 'a' });
    const first = await backup(backupRuntime(store, root, () => new Date(start)));
    fs.rmSync(path.join(root, 'data/document_library/1/2/x'), { recursive: true });
    const second = await backup(backupRuntime(store, root, () => new Date(start + DAY)));
    // Everything stored so far is older than the grace period.
    const old = new Date(Date.now() - 3 * DAY);
    const age = (folder: string) => {
      for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
        const full = path.join(folder, entry.name);
        if (entry.isDirectory()) age(full);
        else fs.utimesSync(full, old, old);
      }
    };
    age(path.join(storeDir, 'objects'));
    // The same document comes back: its blob is still in the store (the first set holds it).
    home(root, { 'data/document_library/1/2/x/1.0': big });

    const policy = { daily: 0, weekly: 0, monthly: 0, minComplete: 1 };
    const { allHandlers } = await import('#local/handlers.ts');
    const finalize = allHandlers().get('files-finalize-backup') as Handler;
    let deleted: string[] = [];
    const interleaved: Handler = async (event, runtime) => {
      deleted = await collect(store, policy);
      return finalize(event, runtime);
    };
    const third = await backup(
      backupRuntime(store, root, () => new Date()),
      {
        'Liferay Home copy finalize': interleaved,
      },
    );

    expect(deleted).toEqual([first]);
    expect(await listBackupIds(store)).toEqual([second, third].sort());
    const target = path.join(dir, 'restored');
    succeeded(await restore(store, third, target));
    expect(diffTrees(readTree(root), readTree(target))).toEqual([]);
  });
});

describe('retention keeps what is in use or locked', () => {
  it('keeps the sets through which the next backup of a component finds its previous copy', async () => {
    const { dir } = tempDir('retention-chain');
    const store = new LocalFolderStore(path.join(dir, 'store'));
    const root = path.join(dir, 'home');
    const tomcat = path.join(dir, 'tomcat');
    home(root, { 'portal-ext.properties': 'a', 'data/document_library/1/2/x/1.0': randomBytes(1000) });
    home(tomcat, { 'conf/server.xml': '<Server/>' });
    const rtAt = (at: number) =>
      runtimeFor(
        store,
        {
          configuredComponents: ['liferayHome', 'appServer'],
          components: { liferayHome: { root }, appServer: { root: tomcat } },
        },
        () => new Date(at),
      );
    const start = Date.now() - 5 * 3_600_000;
    const run = async (at: number, components?: string[]) => {
      const outcome = succeeded(
        await runWorkflow(
          WORKFLOWS.backup,
          { requestedBy: 'cli', ...(components ? { components } : {}) },
          rtAt(at),
        ),
      ) as { backup: { backupId: string } };
      return outcome.backup.backupId;
    };
    // A full set, then three sets of the app server only (as hourly database sets sit between nightly full ones).
    const full = await run(start);
    const between = [
      await run(start + 3_600_000, ['appServer']),
      await run(start + 7_200_000, ['appServer']),
    ];
    await run(start + 10_800_000, ['appServer']);
    const policy = { daily: 0, weekly: 0, monthly: 0, minComplete: 1 };
    expect(await collect(store, policy)).toEqual([]);
    expect(await listBackupIds(store)).toEqual(expect.arrayContaining([full, ...between]));
    // The next full backup finds the Liferay Home's previous copy and uploads nothing again.
    const next = await run(Date.now());
    const manifest = await readManifest(store, next);
    expect(manifest.warnings.concat(manifest.results.liferayHome?.warnings ?? []).join('\n')).not.toMatch(
      /is gone/,
    );
    expect(manifest.results.liferayHome?.summary).toMatchObject({ uploadedFiles: 0 });
  });

  it('liferay-backup retention --dry-run lists every set with what would happen to it and why, and changes nothing', async () => {
    const { main } = await import('#local/cli.ts');
    await import('#local/retention-command.ts');
    const { dir } = tempDir('retention-cli');
    const storeDir = path.join(dir, 'store');
    const store = new LocalFolderStore(storeDir);
    const root = path.join(dir, 'home');
    home(root, { 'portal-ext.properties': 'a' });
    const start = Date.now() - 10 * DAY;
    const first = await backup(backupRuntime(store, root, () => new Date(start)));
    const second = await backup(backupRuntime(store, root, () => new Date(start + DAY)));
    const before = await allKeys(store);
    const lines: string[] = [];
    const flags = ['--daily', '0', '--weekly', '0', '--monthly', '0', '--min-complete', '1'];
    const code = await main(['retention', '--dry-run', ...flags, '--store', storeDir, '--quiet'], {
      out: (line) => lines.push(line),
      err: process.stderr,
    });
    expect(code).toBe(0);
    expect(lines[0]).toMatch(/^retention \(dry run\) complete: reports\/retention\/g\S+\.json$/);
    expect(lines).toContain(
      `  would delete ${first} (complete): complete, but neither among the newest nor the newest of a kept day, week or month`,
    );
    expect(lines.find((line) => line.includes(second))).toMatch(
      /^ {2}keep {3}\S+ \(complete\): .*the latest complete set/,
    );
    expect((await allKeys(store)).filter((key) => !key.startsWith('reports/'))).toEqual(before);
  });

  it('a set a restore is reading, or younger than its Object Lock retention, is kept with that reason', async () => {
    const { store, older: first } = await twoSetsTenDaysOld('retention-in-use');
    const policy = { daily: 0, weekly: 0, monthly: 0, minComplete: 1 };
    const decision = async (settings: Record<string, unknown> = {}) => {
      const rt = runtimeFor(store, { retention: { policy, graceHours: 48, ...settings } }, () => new Date());
      const dry = succeeded(await runWorkflow(WORKFLOWS.retention, { dryRun: true }, rt)) as {
        plan: { reportKey: string };
      };
      const report = JSON.parse((await store.read(dry.plan.reportKey)).toString()) as {
        decisions: { backupId: string; keep: boolean; reasons: string[] }[];
      };
      return report.decisions.find((d) => d.backupId === first);
    };
    expect(await decision()).toMatchObject({ keep: false });
    expect(await decision({ objectLockDays: 30 })).toMatchObject({
      keep: true,
      reasons: [expect.stringMatching(/^under Object Lock until /)],
    });
    const reportKey = `backups/${first}/restores/r20261127t000000z-0001.json`;
    await store.put(reportKey, JSON.stringify({ status: 'running', startedAt: new Date().toISOString() }));
    expect(await decision()).toMatchObject({ keep: true, reasons: ['a restore or drill is reading it'] });
    // A restore that ended, died more than a day ago, or whose CLI process is gone, no longer holds the set.
    await store.put(reportKey, JSON.stringify({ status: 'failed', startedAt: new Date().toISOString() }));
    expect(await decision()).toMatchObject({ keep: false });
    await store.put(
      reportKey,
      JSON.stringify({ status: 'running', startedAt: new Date(Date.now() - DAY).toISOString() }),
    );
    expect(await decision()).toMatchObject({ keep: false });
    const running = { status: 'running', startedAt: new Date().toISOString() };
    await store.put(reportKey, JSON.stringify({ ...running, process: thisProcess() }));
    expect(await decision()).toMatchObject({ keep: true, reasons: ['a restore or drill is reading it'] });
    await store.put(reportKey, JSON.stringify({ ...running, process: await killedProcess() }));
    expect(await decision()).toMatchObject({ keep: false });
  });
});

describe('the sweep', () => {
  it('looks at each candidate again before deleting it: an object written again since it was listed stays', async () => {
    const { dir } = tempDir('retention-sweep-recheck');
    const inner = new LocalFolderStore(path.join(dir, 'store'));
    const old = new Date(Date.now() - 3 * DAY);
    const keys = ['objects/blobs/aa/aa01', 'objects/blobs/aa/aa02', 'objects/blobs/aa/aa03'] as const;
    for (const key of keys) {
      await inner.put(key, `content of ${key}`);
      fs.utimesSync(path.join(dir, 'store', ...key.split('/')), old, old);
    }
    const runId = 'g20261127t050000z-0001';
    await inner.put(`work/${runId}/retention/keep.json`, '[]');
    // A backup writes the second object again (it found it in the store but it was old) while the sweep lists.
    const store = new Proxy(inner, {
      get(target, property, receiver) {
        if (property !== 'list') return Reflect.get(target, property, receiver);
        return async function* (prefix: string) {
          for await (const object of target.list(prefix)) {
            yield object;
            if (object.key === keys[1]) await target.put(keys[1], `content of ${keys[1]}`);
          }
        };
      },
    }) as ContentStore;
    const rt = retentionRuntime(store, () => new Date(), { daily: 0, weekly: 0, monthly: 0, minComplete: 1 });
    const outcome = await sweepPrefix({ runId, prefix: 'objects/blobs/aa/', index: 0 }, rt);
    expect(outcome.deleted).toBe(2);
    expect(await inner.stat(keys[0])).toBeUndefined();
    expect((await inner.read(keys[1])).toString()).toBe(`content of ${keys[1]}`);
    expect(await inner.stat(keys[2])).toBeUndefined();
  });
});

describe('the retention lock', () => {
  const lockOf = (runId: string, process: unknown) =>
    JSON.stringify({ backupId: runId, acquiredAt: new Date().toISOString(), process });

  it('is taken over at once from a CLI run whose process is gone, saying so in the report; refused while it runs', async () => {
    const { dir } = tempDir('retention-lock-process');
    const store = new LocalFolderStore(path.join(dir, 'store'));
    const root = path.join(dir, 'home');
    home(root, { 'portal-ext.properties': 'a' });
    await backup(backupRuntime(store, root, () => new Date()));
    const policy = { daily: 7, weekly: 0, monthly: 0, minComplete: 1 };
    const run = () =>
      runWorkflow(
        WORKFLOWS.retention,
        { dryRun: false },
        retentionRuntime(store, () => new Date(), policy),
      );

    await store.put('locks/retention.json', lockOf('g20261127t010000z-aaaa', thisProcess()));
    const refused = await run();
    expect(refused.status === 'FAILED' && refused.cause).toMatch(
      /^a retention run is already running: g20261127t010000z-aaaa/,
    );

    const dead = await killedProcess();
    await store.put('locks/retention.json', lockOf('g20261127t010000z-aaaa', dead));
    const output = succeeded(await run()) as { plan: { reportKey: string } };
    const report = JSON.parse((await store.read(output.plan.reportKey)).toString()) as {
      status: string;
      warnings: string[];
    };
    expect(report.status).toBe('complete');
    expect(report.warnings).toEqual([
      `took over the lock of retention run g20261127t010000z-aaaa: its process (pid ${dead.pid} on ${dead.host}) had ended without giving the lock back (this run finishes any deletion it began)`,
    ]);
    expect(fs.existsSync(path.join(dir, 'store/locks/retention.json'))).toBe(false);
  });
});

describe('retention with a damaged latest pointer', () => {
  it('keeps the newest complete set as the latest, says so, and deletes what the policy lets go', async () => {
    const { store, older: old, newer: newest } = await twoSetsTenDaysOld('retention-damaged-latest');
    await store.put('pointers/latest.json', 'not json');
    const policy = { daily: 0, weekly: 0, monthly: 0, minComplete: 1 };
    const output = succeeded(
      await runWorkflow(
        WORKFLOWS.retention,
        { dryRun: false },
        retentionRuntime(store, () => new Date(), policy),
      ),
    ) as { plan: { reportKey: string }; outcome: { deletedSets: string[] } };
    expect(output.outcome.deletedSets).toEqual([old]);
    const report = JSON.parse((await store.read(output.plan.reportKey)).toString()) as {
      warnings: string[];
      decisions: { backupId: string; keep: boolean; reasons: string[] }[];
    };
    expect(report.warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `^pointers/latest\\.json is not valid JSON: .+: "latest" is taken as the newest complete set, ${newest}$`,
        ),
      ),
    ]);
    expect(report.decisions.find((d) => d.backupId === newest)).toMatchObject({ keep: true });
    expect(await listBackupIds(store)).toEqual([newest]);
  });
});
