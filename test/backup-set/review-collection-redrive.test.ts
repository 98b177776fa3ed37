import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readManifest } from '#backup-set/manifest.ts';
import { allHandlers } from '#local/handlers.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * Garbage collection spares content no set references only while it is younger than graceHours,
 * which the configuration keeps longer than backupTimeoutHours: a backup is assumed to commit
 * within that time. A Backup execution that timed out can be redriven by hand for 14 days (Step
 * Functions keeps the results of its successful steps, the shards' among them, and runs the rest:
 * Finalize, Commit), and the README names that case ("a late commit"). Meanwhile its set was
 * `running` (or `failed`, after a takeover) with no results, so retention marked nothing of it,
 * and the content its shards wrote, older than the grace period, was collected. The redriven
 * Commit records the set `complete` all the same: a complete set whose restore fails.
 * Commit guards against it (commit-backup.ts, collectedSinceStart).
 */

const work = tempDir('review-collection-redrive');
afterAll(() => work.cleanup());
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

function succeeded(outcome: WorkflowOutcome): unknown {
  if (outcome.status !== 'SUCCEEDED') throw new Error(`workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output;
}

describe('a Backup execution redriven after the grace period', () => {
  // Found in review: the set was recorded complete and its restore ended "not found in the backup
  // store: objects/blobs/...". Commit now reads the reports of retention runs planned since the
  // run began, and records it failed when one may have collected its content.
  it('does not commit as complete a set whose content retention collected meanwhile', async () => {
    // Prepare: a first set; then a backup with new documents whose shards ran, and whose
    // execution then timed out before Finalize.
    const dir = path.join(work.dir, 'redriven');
    const store = new LocalFolderStore(path.join(dir, 'store'));
    const root = path.join(dir, 'home');
    const components = { liferayHome: { root, blobThresholdBytes: 64 * 1024 } };
    let offset = 0;
    const backupRuntime = () =>
      runtimeFor(
        store,
        { configuredComponents: ['liferayHome'], components },
        () => new Date(Date.now() + offset),
      );
    home(root, { 'data/document_library/1/2/a/1.0': randomBytes(100_000), 'portal-ext.properties': 'a' });
    succeeded(await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, backupRuntime()));
    home(root, { 'data/document_library/1/2/b/1.0': randomBytes(300_000) });
    const finalize = allHandlers().get('files-finalize-backup') as Handler;
    const redriven: Handler = async (event, rt) => {
      // Three days pass before someone redrives the execution; the daily retention runs meanwhile.
      offset = 3 * DAY;
      succeeded(
        await runWorkflow(
          WORKFLOWS.retention,
          { dryRun: false },
          runtimeFor(
            store,
            { retention: { policy: { daily: 7, weekly: 0, monthly: 0, minComplete: 1 }, graceHours: 48 } },
            () => new Date(Date.now() + offset),
          ),
        ),
      );
      return finalize(event, rt);
    };

    // Act: the redriven execution runs Finalize and Commit.
    const outcome = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, backupRuntime(), {
      taskOverrides: { 'Liferay Home copy finalize': redriven },
    });
    const backupId = (
      outcome.status === 'SUCCEEDED'
        ? (outcome.output as { backup: { backupId: string } }).backup.backupId
        : /b\d{8}t\d{6}z-[0-9a-f]{4}/.exec(outcome.cause)?.[0]
    ) as string;

    // Assess: either the set restores, or it is not recorded complete.
    const status = (await readManifest(store, backupId)).status;
    const restored = await runWorkflow(
      WORKFLOWS.restore,
      { backupId, requestedBy: 'cli', allowPartial: true },
      runtimeFor(
        store,
        {
          configuredComponents: ['liferayHome'],
          components: { liferayHome: { root: path.join(dir, 'restored') } },
        },
        () => new Date(),
      ),
    );
    if (status === 'complete')
      expect(restored.status === 'FAILED' ? restored.cause : restored.status).toBe('SUCCEEDED');
    // What Commit records: failed, saying which retention run may have taken its content.
    const manifest = await readManifest(store, backupId);
    expect(manifest.status).toBe('failed');
    expect(manifest.warnings.join('\n')).toMatch(
      /retention run g\d{8}t\d{6}z-[0-9a-f]{4} collected unreferenced content older than .* run the backup again/,
    );
  });
});
