import * as z from 'zod';
import { CorruptBackupError, ObjectNotFoundError } from '#runtime/errors.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import { maskUrlUserInfo } from '#runtime/redact.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { clip } from '#runtime/text.ts';
import { parseInput } from '#runtime/validate.ts';
import { REUSE_MAX_AGE_MS, readJson } from '#store/content-store.ts';
import { backupIdTime, isRunId, runIdTime } from './backup-id.ts';
import { backupContextSchema } from './begin-backup.ts';
import { errorFromCatch, overallStatus, resultsFromBranches } from './branch-output.ts';
import { type HookOutcome, type HookPhase, hookOutcomeSchema } from './hooks.ts';
import { storeKeys } from './keys.ts';
import { readBackupLock, releaseBackupLock } from './lock.ts';
import {
  type BackupStatus,
  type Manifest,
  readLatest,
  readManifest,
  writeLatest,
  writeManifest,
} from './manifest.ts';
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
  if (committedBefore(manifest)) return commitRetried(rt, input, manifest, { workArea, latestNow });
  const results = resultsFromBranches(input.results ?? [], manifest.components, manifest.startedAt);
  let status: Exclude<BackupStatus, 'running'> = overallStatus(results, manifest.components);
  const warnings = [...manifest.warnings];
  if (input.failure) {
    status = 'failed';
    warnings.push(workflowFailed(input.failure));
  }
  if (status === 'complete') {
    const collected = await collectedSinceStart(rt, manifest.startedAt);
    if (collected) {
      status = 'failed';
      warnings.push(collected);
    }
  }
  // A run that finishes after a newer set was committed (an execution stopped or timed out and
  // then redriven, a local run given up for dead) must not move `latest` back to older data: a
  // restore of `latest` would silently bring back yesterday's database.
  // (A pointer that cannot be read is written again, as before.)
  const latest = status === 'complete' ? await latestNow.catch(() => undefined) : undefined;
  const newer = newerThan(latest, backup.backupId);
  if (newer)
    warnings.push(
      `a newer set, ${newer}, was already the latest: this set is complete but does not replace it`,
    );
  const movesLatest = status === 'complete' && newer === undefined;
  const now = rt.now();
  const pre = hookRecord('pre', backup.hookOutcomes.pre, now.toISOString());
  const post = hookRecord('post', backup.hookOutcomes.post, now.toISOString());
  warnings.push(...hookProblems({ pre, post }));
  const final: FinalManifest = {
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
  const output = commitOutput(
    final,
    input.failure,
    movesLatest ? backup.backupId : await latestNow.catch(asError),
  );
  rt.metrics.publish(backupMetricPoints(final));
  rt.logger.info('backup committed', { status, problems: output.problems });
  return output;
}

/**
 * Why content this run wrote may be gone, if a retention run collected, while this run was open,
 * unreferenced content written after it began (or reused by it: found in the store within the
 * hour, isReusable). Garbage collection spares what a running backup writes only for graceHours
 * from the plan: a run open longer than that (an execution redriven days after it timed out, a CLI
 * run of more than a day) cannot vouch for its content, and a set recorded complete whose objects
 * were collected fails its restore. Only retention runs planned after this run began can have done
 * it, so only their reports are read (usually none).
 */
async function collectedSinceStart(rt: Runtime, startedAt: string): Promise<string | undefined> {
  const started = Date.parse(startedAt);
  const exposedFrom = started - REUSE_MAX_AGE_MS;
  for await (const object of rt.store.list(storeKeys.retentionReportsPrefix)) {
    const runId = object.key.slice(storeKeys.retentionReportsPrefix.length).replace(/\.json$/, '');
    if (!isRunId(runId, 'g')) continue;
    const planned = runIdTime(runId).getTime();
    if (planned <= started) continue;
    let report: unknown;
    try {
      report = await readJson(rt.store, object.key);
    } catch (error) {
      // Gone since the listing: nothing to judge. A store that fails the read: Commit is retried.
      if (error instanceof ObjectNotFoundError) continue;
      if (!(error instanceof CorruptBackupError || error instanceof SyntaxError)) throw error;
    }
    const parsed = retentionReportFacts.safeParse(report);
    // A report that is not JSON or lacks these: that run may have collected anything younger than its plan.
    const graceHours = parsed.success ? parsed.data.graceHours : 0;
    if (parsed.success && parsed.data.dryRun) continue;
    const cutoff = planned - graceHours * 3_600_000;
    if (cutoff > exposedFrom)
      return `retention run ${runId} collected unreferenced content older than ${new Date(cutoff).toISOString()} (graceHours ${graceHours}) while this run, begun ${startedAt}, was still open: content it stored may be gone, so the set is not recorded complete; run the backup again`;
  }
  return undefined;
}

const retentionReportFacts = z.object({ dryRun: z.boolean(), graceHours: z.number() });

type FinalManifest = Manifest & { readonly status: Exclude<BackupStatus, 'running'> };

/**
 * This run's own Commit wrote the manifest already: only Commit records results, one for every
 * component (Begin writes none, and a run given up for dead is recorded failed with none:
 * abandoned-set.ts), and a set's id belongs to one run.
 */
function committedBefore(manifest: Manifest): manifest is FinalManifest {
  return (
    manifest.status !== 'running' && manifest.components.every((name) => manifest.results[name] !== undefined)
  );
}

/**
 * A Commit retried after it wrote the final manifest (Step Functions retries it also when it ran to
 * its end and only its answer was lost): building the manifest again would list this Commit's
 * warnings twice and publish the metrics twice. The manifest stands and the outcome is built from
 * it. When the lock is still this run's, the earlier attempt stopped between the manifest and the
 * lock: the rest is done from what it recorded (latest, the work area, the lock, then the metrics,
 * which follow the lock and so were not published).
 */
async function commitRetried(
  rt: Runtime,
  input: z.infer<typeof commitInputSchema>,
  manifest: FinalManifest,
  pending: { workArea: Promise<string[]>; latestNow: Promise<string | undefined> },
): Promise<CommitOutput> {
  const { backupId } = input.backup;
  const held = await readBackupLock(rt.store, storeKeys.backupLock);
  const stoppedShort = held?.backupId === backupId;
  if (stoppedShort) {
    const latest =
      manifest.status === 'complete' ? await pending.latestNow.catch(() => undefined) : undefined;
    if (manifest.status === 'complete' && newerThan(latest, backupId) === undefined)
      await writeLatest(rt.store, backupId, new Date(manifest.finishedAt ?? rt.now()));
    await rt.store.delete(await pending.workArea);
    await releaseBackupLock(rt.store, storeKeys.backupLock, backupId);
    rt.metrics.publish(backupMetricPoints(manifest));
  }
  rt.logger.info('Commit retried: the set was already committed', { status: manifest.status, stoppedShort });
  // Only a complete set moves `latest`: for any other, the pointer read beside the manifest stands.
  const latest = manifest.status === 'complete' ? undefined : await pending.latestNow.catch(asError);
  return commitOutput(manifest, input.failure, latest);
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/**
 * Step Functions refuses a failure cause longer than 32,768 characters, and a component's error may
 * hold 16,000 (errorFromCatch): the message keeps each problem's first line, cut to this length, and
 * the full text stays in the manifest (`liferay-backup show`).
 */
const PROBLEM_CHARS = 1000;
/** Well under Step Functions' 32,768-character cause, whatever the number of components and hooks. */
const MESSAGE_CHARS = 16_000;

/**
 * The first line of one problem, cut, with any user info of a URL masked: this text leaves the
 * account (email, SMS), and an error that quoted a URL with a password must not carry it there.
 */
function problemLine(problem: string): string {
  const first = problem.split(/\r?\n/, 1)[0] ?? '';
  return clip(maskUrlUserInfo(first), PROBLEM_CHARS);
}

/**
 * What a restore of `latest` brings back now: the first thing an SRE woken by a set that is not
 * complete needs to know (Commit never moves `latest` to such a set).
 */
function latestSentence(latest: string | Error | undefined): string {
  if (latest instanceof Error)
    return `The latest pointer could not be read (${problemLine(latest.message)}): run 'liferay-backup list' to see the newest complete set.`;
  if (latest === undefined) return 'There is no complete set yet: a restore of "latest" is refused.';
  return `A restore of "latest" still uses ${latest}, the newest complete set (taken ${backupIdTime(latest).toISOString()}).`;
}

/** The run's answer, from its final manifest: the same whether Commit wrote it now or earlier. */
function commitOutput(
  final: FinalManifest,
  failure: { Error?: string; Cause?: string } | undefined,
  latest: string | Error | undefined,
): CommitOutput {
  const results = Object.values(final.results).flatMap((result) => (result ? [result] : []));
  const problems = results
    .filter((result) => result.status === 'failed')
    // Masked here too: the problems are Commit's output (the execution's history) and are logged.
    .map((result) =>
      maskUrlUserInfo(
        `${result.component}: ${result.error?.name ?? 'Error'}: ${result.error?.message ?? 'failed'}`,
      ),
    );
  const hooks = hookProblems(final.hooks ?? {});
  // What Commit added to the warnings that says why the set is not complete.
  const why = [...(failure ? [workflowFailed(failure)] : []), ...hooks];
  const details = `Details: 'liferay-backup show ${final.backupId}' (with the store's --bucket or --store), or ${storeKeys.manifest(final.backupId)} in the store.`;
  const complete = `backup set ${final.backupId} is complete${hooks.length > 0 ? `, but ${hooks.map(problemLine).join('; ')}` : ''}`;
  const notComplete = () => {
    const what = [...problems, ...why].map(problemLine).join('; ');
    const after = ` ${latestSentence(latest)} ${details}`;
    const head = `backup set ${final.backupId} is ${final.status}: `;
    const room = MESSAGE_CHARS - head.length - after.length - 1;
    return `${head}${what.length > room ? `${what.slice(0, room)}…` : `${what}.`}${after}`;
  };
  return {
    backupId: final.backupId,
    status: final.status,
    components: Object.fromEntries(results.map((result) => [result.component, result.status])),
    problems,
    message: final.status === 'complete' ? complete : notComplete(),
    hooksFailed: hooks.length > 0,
  };
}

function workflowFailed(failure: { Error?: string; Cause?: string }): string {
  const error = errorFromCatch(failure);
  return `the workflow failed before all components finished: ${error.name}: ${error.message}`;
}

function hookProblems(hooks: { pre?: HookOutcome | undefined; post?: HookOutcome | undefined }): string[] {
  return [hooks.pre, hooks.post]
    .filter((hook): hook is HookOutcome => hook !== undefined && hook.status !== 'succeeded')
    .map((hook) => `${hook.phase} hook (${hook.target}) ${hook.status}: ${hook.message ?? ''}`);
}

/**
 * `latest` when it is a newer set than this one. By the second in the ids: two runs of the same
 * second (a fast local run) follow each other.
 */
function newerThan(latest: string | undefined, backupId: string): string | undefined {
  return latest !== undefined && backupIdTime(latest).getTime() > backupIdTime(backupId).getTime()
    ? latest
    : undefined;
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
