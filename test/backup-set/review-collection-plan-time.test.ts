import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markSet } from '#backup-set/garbage-collection.ts';
import { readLatest, readManifest } from '#backup-set/manifest.ts';
import { planRetention } from '#backup-set/retention.ts';
import { allHandlers } from '#local/handlers.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { diffTrees, readTree } from '../components/files/support/trees.ts';
import { tempDir } from '../support/local-runtime.ts';
import { type LocalS3Server, startS3Server } from '../support/s3-server.ts';

/**
 * The grace period protects content that no kept set references yet: what a backup running when
 * retention planned wrote (its set is kept as "still running", but not marked), and what a backup
 * that began after the plan wrote (its set is in no list at all). The configuration keeps
 * `graceHours` > `backupTimeoutHours` on the reasoning that such content "outlives the backup".
 * But the sweep measured the grace period from its own clock, and the sweep runs after Delete and
 * Mark, up to 12 hours after the plan (the Retention workflow's time-out): the content of a backup
 * that committed meanwhile (the latest set!) could be older than the grace period by then, and was
 * collected although its set references it.
 */

const work = tempDir('review-collection-plan-time');
let server: LocalS3Server | undefined;
beforeAll(async () => {
  server = await startS3Server();
});
afterAll(async () => {
  await server?.stop();
  work.cleanup();
});
const HOUR = 3_600_000;

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

function backupRuntime(store: ContentStore, root: string): Runtime {
  const components = { liferayHome: { root, blobThresholdBytes: 64 * 1024 } };
  return runtimeFor(store, { configuredComponents: ['liferayHome'], components }, () => new Date());
}

function succeeded(outcome: WorkflowOutcome): unknown {
  if (outcome.status !== 'SUCCEEDED') throw new Error(`workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output;
}

async function backup(rt: Runtime, overrides: Record<string, Handler> = {}): Promise<string> {
  const output = succeeded(
    await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt, { taskOverrides: overrides }),
  ) as { backup: { backupId: string } };
  return output.backup.backupId;
}

async function restore(store: ContentStore, backupId: string, target: string): Promise<WorkflowOutcome> {
  const rt = runtimeFor(
    store,
    { configuredComponents: ['liferayHome'], components: { liferayHome: { root: target } } },
    () => new Date(),
  );
  return runWorkflow(WORKFLOWS.restore, { backupId, requestedBy: 'cli' }, rt);
}

/** A retention run whose clock is `offset()` hours ahead of the real one (the store's mtimes). */
function retentionRuntime(store: ContentStore, graceHours: number, offset: () => number): Runtime {
  return runtimeFor(
    store,
    { retention: { policy: { daily: 0, weekly: 0, monthly: 0, minComplete: 1 }, graceHours } },
    () => new Date(Date.now() + offset() * HOUR),
  );
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

describe('the grace period is counted from the plan, not from the sweep', () => {
  it.each([
    ['a folder store', (dir: string): ContentStore => new LocalFolderStore(path.join(dir, 'store'))],
    ['s3rver', (): ContentStore => (server as LocalS3Server).store()],
  ])(
    'a backup running when retention planned, committed before the sweep, keeps its new content (graceHours 24, backupTimeoutHours 23; %s)',
    async (name, storeIn) => {
      // Prepare: a first set, then new documents for the second backup.
      const dir = path.join(work.dir, `running-at-plan-${name.replaceAll(' ', '-')}`);
      const store = storeIn(dir);
      const root = path.join(dir, 'home');
      home(root, { 'data/document_library/1/2/a/1.0': randomBytes(100_000), 'portal-ext.properties': 'a' });
      await backup(backupRuntime(store, root));
      home(root, {
        'data/document_library/1/2/b/1.0': randomBytes(300_000),
        'data/document_library/1/2/c/1.0': 'small new file',
      });
      // The second backup began 20 hours before retention planned (within backupTimeoutHours 23);
      // the sweep runs 6 hours after the plan (Delete and Mark took that long; the workflow may last 12).
      let offset = 20;
      const planned = deferred();
      const sweepMayStart = deferred();
      const handlers = allHandlers();
      const finalize = handlers.get('files-finalize-backup') as Handler;
      let retention: Promise<WorkflowOutcome> | undefined;
      const planWhileRunning: Handler = async (event, runtime) => {
        retention = runWorkflow(
          WORKFLOWS.retention,
          { dryRun: false },
          retentionRuntime(store, 24, () => offset),
          {
            taskOverrides: {
              'Plan retention': async (input, rt) => {
                const plan = await planRetention(input, rt);
                planned.resolve();
                return plan;
              },
              'Mark kept sets item': async (input, rt) => {
                await sweepMayStart.promise;
                return markSet(input, rt);
              },
            },
          },
        );
        await planned.promise;
        return finalize(event, runtime);
      };

      // Act: the backup commits (the latest set) while retention is between Plan and Mark; then the sweep.
      const second = await backup(backupRuntime(store, root), {
        'Liferay Home copy finalize': planWhileRunning,
      });
      expect((await readManifest(store, second)).status).toBe('complete');
      expect(await readLatest(store)).toBe(second);
      offset = 26;
      sweepMayStart.resolve();
      succeeded(await (retention as Promise<WorkflowOutcome>));

      // Assess: the latest set restores byte for byte.
      const restored = await restore(store, second, path.join(dir, 'restored'));
      expect(restored.status === 'FAILED' ? restored.cause : restored.status).toBe('SUCCEEDED');
      expect(diffTrees(readTree(root), readTree(path.join(dir, 'restored')))).toEqual([]);
    },
  );

  it('a backup that began after the plan and committed before the sweep keeps its new content (graceHours 2, backupTimeoutHours 1)', async () => {
    // Prepare
    const dir = path.join(work.dir, 'began-after-plan');
    const store = new LocalFolderStore(path.join(dir, 'store'));
    const root = path.join(dir, 'home');
    home(root, { 'data/document_library/1/2/a/1.0': randomBytes(100_000), 'portal-ext.properties': 'a' });
    await backup(backupRuntime(store, root));
    home(root, { 'data/document_library/1/2/b/1.0': randomBytes(300_000) });
    // Retention plans now; a one-hour backup runs while it deletes; the sweep comes 3 hours later.
    let offset = 0;
    let second = '';
    const run = await runWorkflow(
      WORKFLOWS.retention,
      { dryRun: false },
      retentionRuntime(store, 2, () => offset),
      {
        taskOverrides: {
          'Mark kept sets item': async (input, rt) => {
            if (!second) {
              second = await backup(backupRuntime(store, root));
              offset = 3;
            }
            return markSet(input, rt);
          },
        },
      },
    );
    succeeded(run);
    expect(await readLatest(store)).toBe(second);

    // Assess
    const restored = await restore(store, second, path.join(dir, 'restored'));
    expect(restored.status === 'FAILED' ? restored.cause : restored.status).toBe('SUCCEEDED');
  });
});
