import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { readLatest, readManifest } from '#backup-set/manifest.ts';
import { reportRestore } from '#backup-set/report-restore.ts';
import { copyShard } from '#components/files/copy-shard.ts';
import { restoreShard } from '#components/files/restore-shard.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';
import { diffTrees, readTree } from '../components/files/support/trees.ts';
import { tempDir } from '../support/local-runtime.ts';
import { processElsewhere } from '../support/processes.ts';
import { type LocalS3Server, startS3Server } from '../support/s3-server.ts';
import {
  backup,
  backupIdOf,
  causeOf,
  expectNothingLost,
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
 * The S3 server (s3rver, a real HTTP server in its own process) taken down in the middle of a
 * backup and of a restore, then started again on the same port over the same objects: the run
 * ends with a truthful manifest or report, nothing stored before is lost, and running again
 * converges (a later verify of the set passes).
 */

let server: LocalS3Server;
const work = tempDir('store-outage');

beforeAll(async () => {
  server = await startS3Server();
});
afterAll(async () => {
  await server?.stop();
  work.cleanup();
});

// contentSource: a restore's worker threads read what the store signed for them.
const CONTENT_CALLS = new Set(['put', 'get', 'getRange', 'contentSource']);

/**
 * A store that runs `onContent` once, right after the first content object (pack or blob) was
 * written or read through it: the outage then starts in the middle of the shard's work.
 */
function afterFirstContent(store: ContentStore, onContent: () => Promise<void>): ContentStore {
  let fired = false;
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || !CONTENT_CALLS.has(property)) return value;
      return async (key: string, ...rest: unknown[]) => {
        const result = await (value as (...args: unknown[]) => Promise<unknown>).call(target, key, ...rest);
        if (!fired && key.startsWith('objects/')) {
          fired = true;
          await onContent();
        }
        return result;
      };
    },
  });
}

/**
 * An outage driven by the test: it starts inside one task call (after its first content object)
 * and ends when the workflow reaches its last step (Commit or Report), so the run can still record
 * what happened. Calls still running when their Map failed (Lambda invocations are not stopped)
 * are awaited by `settle` before the store is inspected.
 */
function outage() {
  const events: string[] = [];
  const calls: Promise<unknown>[] = [];
  let pausing: Promise<void> | undefined;
  return {
    events,
    during(handler: Handler, healthy: number): Handler {
      let count = 0;
      return (event, rt: Runtime) => {
        count += 1;
        if (count !== healthy + 1) {
          const call = handler(event, rt);
          calls.push(call.catch(() => undefined));
          return call;
        }
        const store = afterFirstContent(rt.store, async () => {
          pausing = server.pause();
          await pausing;
          events.push('server stopped');
        });
        const call = handler(event, { ...rt, store });
        calls.push(call.catch(() => undefined));
        return call;
      };
    },
    endsBefore(handler: Handler): Handler {
      return async (event, rt) => {
        // The run can reach this step while the server is still shutting down (another task refused).
        await pausing;
        if (!server.running) {
          await server.restart();
          events.push('server restarted');
        }
        return handler(event, rt);
      };
    },
    settle: () => Promise.allSettled(calls),
  };
}

describe('the S3 store stops and comes back', () => {
  it('mid-backup: the set is recorded failed with the reason, nothing stored is lost, the re-run is complete and verifies', async () => {
    const store = server.store();
    const home = path.join(work.dir, 'home-backup');
    makeHome(home, 24);
    const rt = runtimeWith(store, { liferayHome: homeSettings(home) });
    const first = backupIdOf(await backup(rt));
    expect((await readManifest(store, first)).status).toBe('complete');
    const before = await storeSnapshot(store);

    makeHome(home, 36, 'v2');
    const down = outage();
    const broken = await backup(rt, {
      taskOverrides: {
        'Liferay Home copy shard': down.during(copyShard, 2),
        Commit: down.endsBefore(commitBackup),
        'Commit after failure': down.endsBefore(commitBackup),
      },
    });
    await down.settle();
    expect(down.events).toEqual(['server stopped', 'server restarted']);
    const cause = causeOf(broken);
    const second = backupIdOf(broken);
    expect(cause).toMatch(/is failed: liferayHome: .*ECONNREFUSED/);
    const manifest = await readManifest(store, second);
    expect(manifest.status).toBe('failed');
    expect(manifest.results.liferayHome?.status).toBe('failed');
    expect(manifest.results.liferayHome?.error?.message).toMatch(/ECONNREFUSED/);
    // The failed set references no index, so none of the packs its shards left can be read as its content.
    expect(manifest.results.liferayHome?.details).toEqual({});
    expect(await readLatest(store)).toBe(first);
    const after = await storeSnapshot(store);
    expectNothingLost(before, after);
    expect([...after.keys()].filter((key) => key.startsWith('locks/'))).toEqual([]);
    expect((await verifySet(rt, first)).status).toBe('verified');

    const rerun = backupIdOf(await backup(rt));
    const converged = await readManifest(store, rerun);
    expect(converged.status).toBe('complete');
    expect(converged.previousBackupId).toBe(first);
    expect(await verifySet(rt, rerun)).toMatchObject({ status: 'verified' });
    const target = path.join(work.dir, 'restored-after-backup-outage');
    const restored = outputOf<{ report: { status: string } }>(
      await restore(rt, { backupId: rerun, liferayHome: { target } }),
    );
    expect(restored.report.status).toBe('complete');
    expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
  });

  it('mid-backup, down until the run ends: the manifest stays "running" (never complete), latest is untouched, and a later run takes over the stale lock, records the dead set failed and completes', async () => {
    const store = server.store();
    const home = path.join(work.dir, 'home-long-outage');
    makeHome(home, 20);
    const rt = runtimeWith(store, { liferayHome: homeSettings(home) }, { lockTimeoutMinutes: 5 });
    const first = backupIdOf(await backup(rt));
    const before = await storeSnapshot(store);

    let shards = 0;
    let paused: Promise<void> | undefined;
    const stopAndStayDown: Handler = async (event, runtime) => {
      shards += 1;
      if (shards === 2) {
        paused = server.pause();
        await paused;
      }
      return copyShard(event, runtime);
    };
    // A run on another machine (a CLI run here would be seen running, and never taken over).
    const elsewhere = runtimeWith(
      store,
      { liferayHome: homeSettings(home) },
      { lockTimeoutMinutes: 5, process: processElsewhere() },
    );
    const broken = await backup(elsewhere, {
      taskOverrides: { 'Liferay Home copy shard': stopAndStayDown },
    });
    expect(broken.status).toBe('FAILED');
    expect(causeOf(broken)).toMatch(/ECONNREFUSED/);
    // The run can end (another shard refused) before the server process has exited.
    await paused;
    await server.restart();

    // What the store says once it is back: the set that was cut short is still "running".
    const ids = [];
    for await (const object of store.list('backups/'))
      if (object.key.endsWith('/manifest.json')) ids.push(object.key);
    // The manifest that was not there before (not `id > first`: two sets started within the same
    // second sort by their random suffix).
    const cutShort = ids.filter((key) => !before.has(key)).map((key) => key.split('/')[1] ?? '')[0] ?? '';
    expect((await readManifest(store, cutShort)).status).toBe('running');
    expect(await readLatest(store)).toBe(first);
    expectNothingLost(before, await storeSnapshot(store));

    // The next run finds the lock of the run that died and says so, until the lock is stale.
    const refused = await backup(rt);
    // ... and how to go on if it knows that run is dead: delete the lock, or wait until it is stale.
    expect(refused.status === 'FAILED' ? `${refused.error}: ${refused.cause}` : '').toMatch(
      new RegExp(
        `^BackupAlreadyRunningError: a backup is already running: ${cutShort} .*delete locks/backup\\.json from the backup store to start now; otherwise the lock counts as stale from `,
      ),
    );
    const later = runtimeWith(
      store,
      { liferayHome: homeSettings(home) },
      { lockTimeoutMinutes: 5, now: () => new Date(Date.now() + 10 * 60_000) },
    );
    const rerun = backupIdOf(await backup(later));
    const converged = await readManifest(store, rerun);
    expect(converged.status).toBe('complete');
    expect(converged.warnings).toContain(`took over the lock of ${cutShort}: it ran longer than 5 minutes`);
    // The set cut short is no longer "running": failed, saying why (retention handles it from here).
    expect(await readManifest(store, cutShort)).toMatchObject({
      status: 'failed',
      warnings: [
        `the run ended without committing: it ran longer than 5 minutes, and ${rerun} took over its lock`,
      ],
    });
    expect((await verifySet(rt, rerun)).status).toBe('verified');
  });

  it('mid-restore: the report says failed with the reason, the target is untouched, nothing stored is lost, the re-run restores the tree', async () => {
    const store = server.store();
    const home = path.join(work.dir, 'home-restore');
    makeHome(home, 24);
    const rt = runtimeWith(store, { liferayHome: homeSettings(home) });
    const backupId = backupIdOf(await backup(rt));
    const target = path.join(work.dir, 'restore-target');
    fs.mkdirSync(target);
    // A file the rules select but the backup lacks: a swap leaves it in the previous tree (one no
    // rule reaches, like the bundle's, would be carried into the restored tree: restore-swap.ts).
    fs.writeFileSync(path.join(target, 'portal-keep-me.properties'), 'the live tree');
    const before = await storeSnapshot(store);

    const down = outage();
    const broken = await restore(
      rt,
      { backupId, liferayHome: { target, swap: true } },
      {
        taskOverrides: {
          'Liferay Home restore shard': down.during(restoreShard, 1),
          Report: down.endsBefore(reportRestore),
          'Report after failure': down.endsBefore(reportRestore),
        },
      },
    );
    await down.settle();
    expect(down.events).toEqual(['server stopped', 'server restarted']);
    expect(causeOf(broken)).toMatch(/is failed: liferayHome: .*ECONNREFUSED/);
    const report = await restoreReport(store, restoreIdsOf(broken));
    expect(report.status).toBe('failed');
    expect(report.results.liferayHome?.error?.message).toMatch(/ECONNREFUSED/);
    expect(listTree(target)).toEqual(['portal-keep-me.properties']);
    const staging = `${target}.restore-${restoreIdsOf(broken).restoreId}`;
    expect(fs.existsSync(staging)).toBe(true);
    expectNothingLost(before, await storeSnapshot(store));

    const again = outputOf<{
      report: { status: string; restoreId: string; components: Record<string, { warnings: string[] }> };
    }>(await restore(rt, { backupId, liferayHome: { target, swap: true } }));
    expect(again.report.status).toBe('complete');
    expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
    // The live tree was kept beside it, and the failed attempt's partial tree is gone.
    expect(listTree(`${target}.before-${again.report.restoreId}`)).toEqual(['portal-keep-me.properties']);
    expect(fs.existsSync(staging)).toBe(false);
    expect(again.report.components.liferayHome?.warnings).toContain(
      `removed ${staging}, the partial tree of restore ${restoreIdsOf(broken).restoreId} (failed)`,
    );
    expect((await verifySet(rt, backupId)).status).toBe('verified');
  });
});
