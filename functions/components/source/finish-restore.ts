import * as z from 'zod';
import { errorFromCatch } from '#backup-set/branch-output.ts';
import { readManifest } from '#backup-set/manifest.ts';
import {
  type ComponentRestoreResult,
  RESULT_ERROR_MESSAGE_CHARS,
  utf8JsonBytes,
  withinResultBudget,
} from '#components/component.ts';
import { asError } from '#runtime/errors.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { isRecord, parseInput } from '#runtime/validate.ts';
import { SourceComponentError } from './errors.ts';
import { restoreRefSchema } from './records.ts';
import { parseSourceRecord } from './repository-list.ts';
import { sourceRestoreRequestSchema } from './settings.ts';

const outcomeSchema = z.object({
  repository: z.string(),
  url: z.string(),
  from: z.enum(['mirror', 'store']),
  refs: z.number(),
  pushed: z.number(),
  packBytes: z.number(),
  seconds: z.number(),
  warnings: z.array(z.string()),
});
type Outcome = z.infer<typeof outcomeSchema>;
const failureSchema = z.object({
  target: z.object({ url: z.string(), repository: z.string().optional() }).loose(),
  error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
});
const eventSchema = z.object({
  restore: restoreRefSchema.extend({ requests: z.unknown().optional() }),
  startedAt: z.iso.datetime({ offset: true }).optional(),
  targets: z.array(z.union([outcomeSchema, failureSchema])),
});

/**
 * What the targets' outcomes may take of the result's details, as UTF-8 JSON. The Restore's
 * Parallel gathers every component's result into one Step Functions state (256 KiB), and details
 * are never cut by withinResultBudget: 50 targets whose pushes each warned made 43 KB here. Each
 * target keeps its first warnings and the count of the others (`moreWarnings`).
 */
export const RESTORE_DETAILS_BUDGET_BYTES = 24 * 1024;

/**
 * Where every warning is whole when the result shows only the first ones: each push logs its
 * outcome (restore-repository.ts), and the execution keeps each iteration's output. Not the store:
 * this function may not write there (its role has no store write grant).
 */
export const FULL_WARNINGS =
  "every one, whole, in the log of each target's push (source-restore-repository, 'repository restored') and in the Restore execution's history (each 'Source restore repository' iteration's output)";

/**
 * `source-finish-restore`: the component's restore result from the Map's iterations; any failed
 * target fails the component, naming each, and the failed result lists every target's outcome
 * (pushed, failed and why, not tried). Event `{restore, targets}`.
 */
export async function finishSourceRestore(event: unknown, rt: Runtime): Promise<ComponentRestoreResult> {
  const { restore, targets } = parseInput(eventSchema, event, 'source finish-restore event');
  const unnamed = targets.some((item) => 'error' in item && item.target.repository === undefined)
    ? await onlyRepository(rt, restore.backupId)
    : undefined;
  const outcomes = targets.filter((item): item is Outcome => !('error' in item));
  const failures = targets.flatMap((item) => {
    if (!('error' in item)) return [];
    const { name, message } = errorFromCatch(item.error);
    return [`${item.target.repository ?? unnamed} → ${item.target.url}: ${name}: ${message}`];
  });
  if (failures.length > 0) {
    // Thrown, this would reach the report as the Catch's name and message only: the SRE could not
    // tell which targets got their refs. Each push is its own Map iteration, already caught.
    const requested = requestedTargets(restore.requests);
    const notTried = requested.slice(targets.length).map((target) => ({
      ...(target.repository ? { repository: target.repository } : {}),
      url: target.url,
      status: 'not tried' as const,
    }));
    // Details are never cut (withinResultBudget): each failure's reason shares the details' budget.
    const reasonChars = Math.max(200, Math.floor(RESTORE_DETAILS_BUDGET_BYTES / targets.length) - 300);
    const error = new SourceComponentError(
      `${failures.length} of ${targets.length + notTried.length} restore target(s) failed: ${failures.join(' | ')}`,
    );
    rt.logger.error('source restore failed', { failed: failures.length, pushed: outcomes.length });
    return withinResultBudget(
      {
        component: 'source',
        status: 'failed',
        finishedAt: rt.now().toISOString(),
        error: { name: error.name, message: error.message.slice(0, RESULT_ERROR_MESSAGE_CHARS) },
        warnings: outcomes.flatMap((outcome) => outcome.warnings),
        summary: {
          targets: targets.length + notTried.length,
          pushed: outcomes.length,
          failed: failures.length,
        },
        details: {
          targets: [
            ...targets.map((item) => {
              if (!('error' in item))
                return {
                  repository: item.repository,
                  url: item.url,
                  status: 'pushed',
                  refs: item.refs,
                  pushed: item.pushed,
                  from: item.from,
                };
              const { name, message: reason } = errorFromCatch(item.error);
              return {
                repository: item.target.repository ?? unnamed,
                url: item.target.url,
                status: 'failed',
                error: `${name}: ${reason}`.slice(0, reasonChars),
              };
            }),
            ...notTried,
          ],
        },
      },
      FULL_WARNINGS,
    );
  }
  const shown = withFirstWarnings(outcomes);
  const leftOut = shown.some((target) => target.moreWarnings !== undefined);
  return withinResultBudget(
    {
      component: 'source',
      status: 'complete',
      finishedAt: rt.now().toISOString(),
      warnings: outcomes.flatMap((outcome) => outcome.warnings),
      summary: {
        targets: outcomes.length,
        refs: outcomes.reduce((sum, outcome) => sum + outcome.refs, 0),
        pushed: outcomes.reduce((sum, outcome) => sum + outcome.pushed, 0),
        packBytes: outcomes.reduce((sum, outcome) => sum + outcome.packBytes, 0),
      },
      details: { targets: shown },
    },
    leftOut ? FULL_WARNINGS : 'details.targets[].warnings',
  );
}

/** The request's targets, in the order the Map took them (as Validate parsed and kept them). */
function requestedTargets(requests: unknown): { url: string; repository?: string | undefined }[] {
  const source = isRecord(requests) ? requests.source : undefined;
  const parsed = sourceRestoreRequestSchema.safeParse(source);
  return parsed.success ? parsed.data.targets : [];
}

/**
 * What a failed target that names no repository restores: a request may leave `repository` out
 * when the set holds one (restore-repository.ts, pickRepository), and the SRE reading which push
 * failed needs its name. Read from the manifest, which keeps every repository's name inline.
 */
async function onlyRepository(rt: Runtime, backupId: string): Promise<string> {
  try {
    const result = (await readManifest(rt.store, backupId)).results.source;
    const names =
      result?.status === 'complete'
        ? parseSourceRecord(result.details, `backup set ${backupId}`).repositories.map((entry) => entry.name)
        : [];
    if (names.length === 1 && names[0] !== undefined) return names[0];
    // pickRepository's own error (the failure's message) lists them.
    return '(no repository named)';
  } catch (error) {
    // The name only labels the failure: an unreadable manifest must not hide the push's own error.
    rt.logger.warn('source repository name not read for a failed target', {
      backupId,
      error: asError(error).message,
    });
    return '(the repository)';
  }
}

/**
 * Each outcome with its first warnings within RESTORE_DETAILS_BUDGET_BYTES (what is left after
 * every outcome's own fields), and how many were left out (`moreWarnings`). Taken round by round,
 * every target's first warning before any target's second, so that a target that warned much
 * leaves room for the first warning of the others.
 */
function withFirstWarnings(outcomes: readonly Outcome[]): (Outcome & { moreWarnings?: number })[] {
  const fixed = utf8JsonBytes({
    targets: outcomes.map((outcome) => ({ ...outcome, warnings: [], moreWarnings: 0 })),
  });
  let room = RESTORE_DETAILS_BUDGET_BYTES - fixed;
  const kept = outcomes.map(() => 0);
  const full = outcomes.map(() => false);
  const rounds = Math.max(0, ...outcomes.map((outcome) => outcome.warnings.length));
  for (let round = 0; round < rounds; round += 1) {
    outcomes.forEach((outcome, index) => {
      const warning = outcome.warnings[round];
      if (warning === undefined || full[index]) return;
      const bytes = utf8JsonBytes(warning) + 1;
      // A target stops at its first warning that does not fit: it keeps its first ones, in order.
      if (bytes > room) full[index] = true;
      else {
        kept[index] = round + 1;
        room -= bytes;
      }
    });
  }
  return outcomes.map((outcome, index) => {
    const count = kept[index] ?? 0;
    if (count === outcome.warnings.length) return outcome;
    return {
      ...outcome,
      warnings: outcome.warnings.slice(0, count),
      moreWarnings: outcome.warnings.length - count,
    };
  });
}

export const handler = lambdaHandler(finishSourceRestore);
