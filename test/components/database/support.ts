import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { writeManifest } from '#backup-set/manifest.ts';
import type { ComponentResult } from '#components/component.ts';
import { localRuntime } from '#local/local-runtime.ts';
import type { WorkflowOutcome } from '#local/run-workflow.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';

/** A runtime over a fresh local folder store, with only the database component configured. */
export function databaseRuntime(
  database: Record<string, unknown>,
  now = new Date('2026-11-27T02:00:00Z'),
): Runtime {
  const dir = mkdtempSync(path.join(tmpdir(), 'db-test-store-'));
  return localRuntime({
    store: new LocalFolderStore(dir),
    settings: parseSettings(
      { environment: 'liferay-prod', configuredComponents: ['database'], components: { database } },
      'test',
    ),
    now: () => now,
    scratchDir: dir,
  });
}

/** Begins a backup set (running manifest, lock) as the Backup workflow's first step does. */
export async function begin(rt: Runtime, schedule = 'nightly-full') {
  return beginBackup({ schedule, requestedBy: 'schedule' }, rt);
}

/** A committed set whose database result is `result` (what a restore reads). */
export async function committedSet(rt: Runtime, backupId: string, result: ComponentResult): Promise<void> {
  await writeManifest(rt.store, {
    schemaVersion: 1,
    backupId,
    environment: 'liferay-prod',
    status: 'complete',
    trigger: { source: 'schedule', schedule: 'nightly-full' },
    components: ['database'],
    startedAt: '2026-11-27T02:00:00.000Z',
    finishedAt: '2026-11-27T02:30:00.000Z',
    tool: { name: 'liferay-backup', version: '0.1.0' },
    results: { database: result },
    warnings: [],
  });
}

/** The error a promise rejects with; fails the test when it resolves. */
export async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a failure, the call succeeded');
    },
    (error: unknown) => error as Error,
  );
}

/** A succeeded workflow's output; a failed one fails the test with its error and cause. */
export function outputOf(outcome: WorkflowOutcome): unknown {
  if (outcome.status !== 'SUCCEEDED')
    throw new Error(`the workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output;
}

/** A failed workflow's cause; a succeeded one fails the test. */
export function causeOf(outcome: WorkflowOutcome): string {
  if (outcome.status !== 'FAILED') throw new Error('expected the workflow to fail, it succeeded');
  return outcome.cause;
}
