import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { planRetention, retentionKeys, sweepPrefixes } from '#backup-set/retention.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { allKeys, tempDir } from '../support/local-runtime.ts';

/**
 * Each Lambda of the Retention workflow runs the code deployed when it is invoked, and a run lasts
 * up to 12 hours: a deploy may land between Plan and Mark. Plan numbers the sweep prefixes (the
 * Sweep items get `{prefix, index}`), Mark files each kept set's references under an index, and
 * Sweep reads the references filed under its item's index. A deploy that adds or removes a
 * component's sweep prefix shifts the numbering: Mark, numbering them again, filed the references
 * of one prefix under the index Plan gave another, and Sweep took the content every kept set
 * references under that prefix for unreferenced.
 */

const work = tempDir('review-sweep-plan-prefixes');
afterAll(() => work.cleanup());
const DAY = 86_400_000;

function runtimeFor(store: ContentStore, settings: Record<string, unknown>, now: () => Date): Runtime {
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

describe('a Retention run whose Mark runs code deployed after its Plan', () => {
  it('collects nothing a kept set references when the deploy changed the sweep prefixes', async () => {
    // Prepare: two sets of small files (packs) and large ones (blobs), both kept by the policy
    const store = new LocalFolderStore(path.join(work.dir, 'store'));
    const root = path.join(work.dir, 'home');
    for (const day of [10, 9]) {
      fs.mkdirSync(path.join(root, 'data'), { recursive: true });
      fs.writeFileSync(path.join(root, 'data', `small-${day}.txt`), `small file of day ${day}`);
      fs.writeFileSync(path.join(root, 'data', `large-${day}.bin`), `large ${day} ${'x'.repeat(70_000)}`);
      succeeded(
        await runWorkflow(
          WORKFLOWS.backup,
          { requestedBy: 'cli' },
          runtimeFor(
            store,
            {
              configuredComponents: ['liferayHome'],
              components: { liferayHome: { root, blobThresholdBytes: 64 * 1024 } },
            },
            () => new Date(Date.now() - day * DAY),
          ),
        ),
      );
    }
    const content = (await allKeys(store)).filter((key) => key.startsWith('objects/'));
    expect(content.some((key) => key.startsWith('objects/packs/'))).toBe(true);
    expect(content.some((key) => key.startsWith('objects/blobs/'))).toBe(true);
    // The Plan of the version deployed before the source component (and its objects/git/) existed.
    const current = sweepPrefixes();
    expect(current).toContain('objects/git/');
    const before = current.filter((prefix) => prefix !== 'objects/git/');
    const planOfPreviousVersion = async (event: unknown, rt: Runtime) => {
      const plan = await planRetention(event, rt);
      await rt.store.put(
        retentionKeys.prefixes(plan.runId),
        JSON.stringify(before.map((prefix, index) => ({ prefix, index }))),
      );
      return plan;
    };
    // Act: three days on, every object is older than the grace period
    const output = succeeded(
      await runWorkflow(
        WORKFLOWS.retention,
        { dryRun: false },
        runtimeFor(
          store,
          { retention: { policy: { daily: 0, weekly: 0, monthly: 0, minComplete: 2 }, graceHours: 48 } },
          () => new Date(Date.now() + 3 * DAY),
        ),
        { taskOverrides: { 'Plan retention': planOfPreviousVersion } },
      ),
    ) as { outcome: { deletedSets: string[]; sweptObjects: number } };
    // Assess: both sets kept, and every object they reference still there
    expect(output.outcome.deletedSets).toEqual([]);
    expect((await allKeys(store)).filter((key) => key.startsWith('objects/'))).toEqual(content);
    expect(output.outcome.sweptObjects).toBe(0);
  });
});
