import * as z from 'zod';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { backupIdTime } from './backup-id.ts';
import { backupContextSchema } from './begin-backup.ts';
import { errorFromCatch, overallStatus, resultsFromBranches } from './branch-output.ts';
import { type HookOutcome, type HookPhase, hookOutcomeSchema } from './hooks.ts';
import { storeKeys } from './keys.ts';
import { releaseBackupLock } from './lock.ts';
import { type BackupStatus, readLatest, readManifest, writeLatest, writeManifest } from './manifest.ts';
import { backupMetricPoints } from './metrics.ts';

const commitInputSchema = z.object({
  backup: backupContextSchema,
  /** The Parallel state's output: one entry per branch. Absent when the workflow itself failed. */
  results: z.array(z.unknown()).optional(),
  /** Set by the workflow-level Catch: the capture could not run to its end. */
  failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
});

export interface CommitOutput {
  readonly backupId: string;
  readonly status: Exclude<BackupStatus, 'running'>;
  readonly components: Record<string, string>;
  /** One line per component that did not complete, for the execution's failure cause. */
  readonly problems: string[];
  /** One sentence for people: what the set is and what went wrong. */
  readonly message: string;
  /** A capture hook failed (the set's status says what the data is; this makes the run fail loudly). */
  readonly hooksFailed: boolean;
}

/** A hook state's output, or the `{Error, Cause}` its Catch recorded, as a manifest entry. */
function hookRecord(phase: HookPhase, raw: unknown, now: string): HookOutcome | undefined {
  if (raw === undefined || raw === null) return undefined;
  const parsed = hookOutcomeSchema.safeParse(raw);
  if (parsed.success) {
    // Still "running" here means the poll loop was cut short (e.g. the workflow failed meanwhile).
    return parsed.data.status === 'running'
      ? {
          ...parsed.data,
          status: 'failed',
          finishedAt: now,
          message: 'the hook was still running when the workflow moved on',
        }
      : parsed.data;
  }
  const error = errorFromCatch(raw as { Error?: string; Cause?: string });
  return {
    phase,
    type: 'command',
    target: 'unknown (the hook step itself failed)',
    status: 'failed',
    startedAt: now,
    finishedAt: now,
    polls: 0,
    message: `${error.name}: ${error.message}`.slice(0, 2048),
  };
}

/**
 * Writes the final manifest (complete / partial with each failure / failed), moves `latest` only
 * on complete, and releases the lock. The Backup state machine fails after Commit when the set is
 * not complete, so a partial run is red in the console and alarms, but is still recorded.
 */
export async function commitBackup(event: unknown, rt: Runtime): Promise<CommitOutput> {
  const input = parseInput(commitInputSchema, event, 'commit input');
  const { backup } = input;
  rt.logger.appendKeys({ backupId: backup.backupId });
  // The work area is listed beside the manifest's read, not after the manifest is final (one request
  // less in a row): the steps before Commit wrote it. It is still deleted only once the set is final.
  const workArea = listWorkArea(rt, backup.workPrefix);
  workArea.catch(() => undefined);
  // `latest` is read beside the manifest for the same reason (below: it never moves back).
  const latestNow = readLatest(rt.store);
  latestNow.catch(() => undefined);
  const manifest = await readManifest(rt.store, backup.backupId);
  const results = resultsFromBranches(input.results ?? [], manifest.components, manifest.startedAt);
  let status: Exclude<BackupStatus, 'running'> = overallStatus(results, manifest.components);
  const warnings = [...manifest.warnings];
  if (input.failure) {
    status = 'failed';
    const error = errorFromCatch(input.failure);
    warnings.push(`the workflow failed before all components finished: ${error.name}: ${error.message}`);
  }
  // A run that finishes after a newer set was committed (an execution stopped or timed out and
  // then redriven, a local run given up for dead) must not move `latest` back to older data: a
  // restore of `latest` would silently bring back yesterday's database.
  // (A pointer that cannot be read is written again, as before.)
  const latest = status === 'complete' ? await latestNow.catch(() => undefined) : undefined;
  // By the second in the ids: two runs of the same second (a fast local run) follow each other.
  const newer =
    latest !== undefined && backupIdTime(latest).getTime() > backupIdTime(backup.backupId).getTime()
      ? latest
      : undefined;
  if (newer)
    warnings.push(
      `a newer set, ${newer}, was already the latest: this set is complete but does not replace it`,
    );
  const movesLatest = status === 'complete' && newer === undefined;
  const now = rt.now();
  const pre = hookRecord('pre', backup.hookOutcomes.pre, now.toISOString());
  const post = hookRecord('post', backup.hookOutcomes.post, now.toISOString());
  const hookProblems = [pre, post]
    .filter((hook): hook is HookOutcome => hook !== undefined && hook.status !== 'succeeded')
    .map((hook) => `${hook.phase} hook (${hook.target}) ${hook.status}: ${hook.message ?? ''}`);
  warnings.push(...hookProblems);
  const final = {
    ...manifest,
    status,
    finishedAt: now.toISOString(),
    results: Object.fromEntries(results),
    ...(pre || post ? { hooks: { ...(pre ? { pre } : {}), ...(post ? { post } : {}) } } : {}),
    warnings,
  };
  await writeManifest(rt.store, final);
  if (movesLatest) await writeLatest(rt.store, backup.backupId, now);
  await rt.store.delete(await workArea);
  await releaseBackupLock(rt.store, storeKeys.backupLock, backup.backupId);

  const problems = [...results.values()]
    .filter((result) => result.status === 'failed')
    .map(
      (result) =>
        `${result.component}: ${result.error?.name ?? 'Error'}: ${result.error?.message ?? 'failed'}`,
    );
  rt.metrics.publish(backupMetricPoints(final));
  rt.logger.info('backup committed', { status, problems });
  return {
    backupId: backup.backupId,
    status,
    components: Object.fromEntries([...results].map(([name, result]) => [name, result.status])),
    problems,
    message:
      status === 'complete'
        ? `backup set ${backup.backupId} is complete${hookProblems.length > 0 ? `, but ${hookProblems.join('; ')}` : ''}`
        : `backup set ${backup.backupId} is ${status}: ${[...problems, ...warnings.slice(manifest.warnings.length)].join('; ')}`,
    hooksFailed: hookProblems.length > 0,
  };
}

/**
 * The run's scratch objects (shard lists, shard results), useless once the manifest is final. A
 * shard still running when its Map failed may write after this listing: retention removes what it
 * leaves (test/reliability/work-areas.test.ts).
 */
async function listWorkArea(rt: Runtime, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of rt.store.list(prefix)) keys.push(object.key);
  return keys;
}

export const handler = lambdaHandler(commitBackup);
