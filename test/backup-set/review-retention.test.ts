import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { storeKeys } from '#backup-set/keys.ts';
import { listBackupIds } from '#backup-set/manifest.ts';
import { deletePrefix } from '#backup-set/retention.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import { readJson } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';

const DAY = 86_400_000;

function runtimeFor(store: LocalFolderStore, settings: Record<string, unknown>, now: () => Date): Runtime {
  return localRuntime({
    store,
    settings: parseSettings({ environment: 'test-env', ...settings }, 'test'),
    now,
  });
}

function succeeded(outcome: WorkflowOutcome): unknown {
  if (outcome.status !== 'SUCCEEDED') throw new Error(`workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output;
}

/** Three complete liferayHome sets, taken 10, 9 and 8 days ago (oldest first). */
async function threeSets(name: string) {
  const { dir } = tempDir(name);
  const store = new LocalFolderStore(path.join(dir, 'store'));
  const root = path.join(dir, 'home');
  const ids: string[] = [];
  for (const day of [10, 9, 8]) {
    fs.mkdirSync(root, { recursive: true });
    fs.writeFileSync(path.join(root, 'portal-ext.properties'), `v${day}`);
    const rt = runtimeFor(
      store,
      { configuredComponents: ['liferayHome'], components: { liferayHome: { root } } },
      () => new Date(Date.now() - day * DAY),
    );
    const output = succeeded(await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt)) as {
      backup: { backupId: string };
    };
    ids.push(output.backup.backupId);
  }
  return { store, ids };
}

function retention(store: LocalFolderStore, policy: Record<string, number>, overrides = {}) {
  return runWorkflow(
    WORKFLOWS.retention,
    { dryRun: false },
    runtimeFor(store, { retention: { policy } }, () => new Date()),
    { taskOverrides: overrides },
  );
}

describe('a deletion interrupted midway', () => {
  it('is finished by the next run even when that run would keep the set (the policy was raised meanwhile)', async () => {
    const { store, ids } = await threeSets('review-interrupted');
    const [oldest] = ids as [string, string, string];
    // Run 1 (keep only the latest): the deletion of the oldest set stops after it removed the set's
    // objects and before its manifest (a Lambda cut off): marker there, index gone, manifest there.
    const cut = await retention(
      store,
      { daily: 0, weekly: 0, monthly: 0, minComplete: 1 },
      {
        'Delete expired sets item': async (event: unknown) => {
          const { runId, backupId } = event as { runId: string; backupId: string };
          if (backupId !== oldest) return { backupId, deleted: [], objects: 0 };
          await store.put(storeKeys.deletionMarker(backupId), JSON.stringify({ runId }));
          await deletePrefix(
            store,
            storeKeys.backupPrefix(backupId),
            (key) => key !== storeKeys.manifest(backupId) && key !== storeKeys.deletionMarker(backupId),
          );
          throw Object.assign(new Error('cut off'), { name: 'Sandbox.Timedout' });
        },
      },
    );
    expect(cut.status).toBe('FAILED');
    expect(await store.stat(storeKeys.deletionMarker(oldest))).toBeDefined();

    // The SRE raises minComplete to 3 after the failed run: by the dates the oldest set is kept now.
    const next = await retention(store, { daily: 0, weekly: 0, monthly: 0, minComplete: 3 });

    // The set half deleted (no index, refused by every restore) is not kept as a good copy: its
    // deletion is finished, and the run (and every later one) does not fail on it.
    const outcome = succeeded(next) as { outcome: { deletedSets: string[]; reportKey: string } };
    expect(outcome.outcome.deletedSets).toEqual([oldest]);
    expect(await listBackupIds(store)).toEqual(ids.slice(1));
    expect(await store.stat(storeKeys.deletionMarker(oldest))).toBeUndefined();
    const report = (await readJson(store, outcome.outcome.reportKey)) as {
      decisions: { backupId: string; keep: boolean; reasons: string[] }[];
    };
    expect(report.decisions.find((decision) => decision.backupId === oldest)).toMatchObject({
      keep: false,
      reasons: expect.arrayContaining([
        expect.stringMatching(/^its deletion was started by an earlier run$/),
      ]),
    });
  });
});
