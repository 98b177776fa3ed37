import * as z from 'zod';
import type { ComponentName } from '#components/component.ts';
import {
  componentRestoreResultSchema,
  RESULT_MAX_SUMMARY_TEXT,
  RESULT_MAX_TEXT,
  RESULT_MAX_WARNINGS,
} from '#components/component.ts';
import { asStepFunctionsError, describeIssues, RetryableError } from '#runtime/errors.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { isRecord, parseInput } from '#runtime/validate.ts';
import { errorFromCatch, overallStatus } from './branch-output.ts';
import { restoreMetricPoints } from './metrics.ts';
import { releaseRestoreLocks } from './restore-lock.ts';
import {
  lostFilesOf,
  readRestoreReport,
  restoredWhere,
  restoreNextSteps,
  writeRestoreReport,
} from './restore-report.ts';
import { type RestoreContext, restoreContextSchema } from './validate-restore.ts';

const reportInputSchema = z.object({
  restore: restoreContextSchema,
  /**
   * One item per branch of the Restore Parallel: a component's result, or the results of the
   * components restored in sequence in one branch (Liferay Home, then app server), as an array.
   */
  results: z.array(z.unknown()).optional(),
  failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
});

export interface ReportOutput {
  readonly restoreId: string;
  readonly backupId: string;
  readonly status: 'complete' | 'partial' | 'failed';
  readonly reportKey: string;
  readonly problems: string[];
  /** What the person must do next, in order (also in the report and at the head of the message). */
  readonly nextSteps: string[];
  /** One sentence for people: what was restored and what went wrong. */
  readonly message: string;
  readonly components: Record<
    string,
    { status: string; summary: Record<string, unknown>; warnings: string[] }
  >;
}

/** Writes the restore report next to the manifest and returns what the person needs to read. */
export async function reportRestore(event: unknown, rt: Runtime): Promise<ReportOutput> {
  const { restore, results: outputs, failure } = parseInput(reportInputSchema, event, 'report input');
  rt.logger.appendKeys({ backupId: restore.backupId });
  const results = new Map<ComponentName, z.infer<typeof componentRestoreResultSchema>>();
  for (const output of (outputs ?? []).flat(1)) {
    const caught = z
      .object({
        component: z.string(),
        caught: z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
      })
      .safeParse(output);
    if (caught.success) {
      const component = restore.components.find((name) => name === caught.data.component);
      if (component) {
        results.set(component, {
          component,
          status: 'failed',
          error: errorFromCatch(caught.data.caught),
          warnings: [],
          summary: {},
          details: {},
        });
      }
      continue;
    }
    const parsed = componentRestoreResultSchema.safeParse(output);
    if (parsed.success) {
      results.set(parsed.data.component, parsed.data);
      continue;
    }
    // A result that did restore but says more than a report keeps (a warning naming a hundred
    // indexes, thousands of warnings) is kept, shortened, not dropped as if the branch had
    // ended without one; anything else from a named component is a failure that says why.
    const shortened = componentRestoreResultSchema.safeParse(shortenedResult(output));
    const component = restore.components.find(
      (name) => name === (output as { component?: unknown } | null)?.component,
    );
    if (shortened.success) results.set(shortened.data.component, shortened.data);
    else if (component)
      results.set(component, {
        component,
        status: 'failed',
        error: {
          name: 'InvalidResultError',
          message: `the branch returned a result the report cannot read: ${describeIssues(parsed.error.issues)}`,
        },
        warnings: [],
        summary: {},
        details: {},
      });
  }
  for (const name of restore.components) {
    if (!results.has(name)) {
      results.set(name, {
        component: name,
        status: 'failed',
        error: {
          name: 'MissingResultError',
          message: 'the workflow ended without a result for this component',
        },
        warnings: [],
        summary: {},
        details: {},
      });
    }
  }
  const status = failure ? 'failed' : overallStatus(results, restore.components);
  const record = async () => {
    const previous = await readRestoreReport(rt.store, restore.backupId, restore.restoreId);
    const final = {
      ...previous,
      status,
      finishedAt: rt.now().toISOString(),
      results: Object.fromEntries(results),
      nextSteps: restoreNextSteps({
        ...restore,
        requests: withDefaultTargets(restore.requests, rt.settings.components),
        results: Object.fromEntries(results),
      }),
      ...(failure
        ? {
            warnings: [
              ...(previous.warnings ?? []),
              `the workflow failed: ${errorFromCatch(failure).message}`,
            ],
          }
        : {}),
    };
    return { final, reportKey: await writeRestoreReport(rt.store, final) };
  };
  const release = () => releaseRestoreLocks(rt.store, restore.locks ?? [], restore.restoreId);
  // After the report, on the success path and the failure path alike (both Report states of the
  // workflow come here): the next restore into these targets may start once this one is recorded.
  // A report that can never be read or written (a failure Step Functions does not retry: a report
  // deleted or unreadable, a store or key that refuses this function) still gives the locks back:
  // every branch has ended and nothing of this restore writes any more. Left behind, a lock
  // refused the next restore into the target for a day wherever that restore cannot ask whether
  // this run ended (a CLI restore, a CLI process on another host). A failure that is retried keeps
  // them until the retry has recorded how the restore ended. Only locks naming this restore go.
  const { final, reportKey } = await record().catch(async (error: unknown) => {
    if (!(asStepFunctionsError(error) instanceof RetryableError))
      await release().catch((releaseError: unknown) =>
        rt.logger.error('the restore locks could not be given back', { error: releaseError }),
      );
    throw error;
  });
  await release();
  rt.metrics.publish(restoreMetricPoints(final, rt.settings.environment));
  const problems = [...results.values()]
    .filter((result) => result.status === 'failed')
    .map(
      (result) =>
        `${result.component}: ${result.error?.name ?? 'Error'}: ${result.error?.message ?? 'failed'}`,
    );
  // The execution's message is all a console user may read (a red execution has no output): the
  // verdict, then what to do next, then where each component went; the report has the rest.
  const failureNote = failure ? [errorFromCatch(failure).message] : [];
  // A restore asked to go on without lost content (files skipLost) says so in its verdict: the
  // execution ends green, and a console user may read nothing else.
  const lost = [...results.values()].flatMap((result) => {
    const files = lostFilesOf(result);
    return files > 0 ? [`${result.component}: ${files}`] : [];
  });
  const lostNote =
    lost.length > 0
      ? `, without the files whose stored content is lost (${lost.join(', ')}; the report's warnings name them)`
      : '';
  const verdict =
    status === 'complete'
      ? `restore ${restore.restoreId} of ${restore.backupId} is complete${lostNote}`
      : `restore ${restore.restoreId} of ${restore.backupId} is ${status}: ${[...problems, ...failureNote].join('; ')}`;
  const restored = [...results.values()]
    .filter((result) => result.status === 'complete')
    .map((result) => `${result.component} → ${restoredWhere(result)}`);
  const nextSteps = final.nextSteps;
  rt.logger.info('restore reported', { status, reportKey });
  return {
    restoreId: restore.restoreId,
    backupId: restore.backupId,
    status,
    reportKey,
    problems,
    nextSteps,
    message: boundedMessage(
      [
        `${verdict}; report: ${reportKey}`,
        ...(nextSteps.length > 0
          ? [`next: ${nextSteps.map((step, i) => `${i + 1}) ${step}`).join(' ')}`]
          : []),
        ...(restored.length > 0 ? [`restored: ${restored.join(', ')}`] : []),
      ].join('. '),
    ),
    components: Object.fromEntries(
      [...results].map(([name, result]) => [
        name,
        { status: result.status, summary: result.summary, warnings: result.warnings },
      ]),
    ),
  };
}

/**
 * The message is a red execution's cause, and Step Functions refuses a cause longer than 32,768
 * characters; 200 Git targets or a long error could pass that. The report keeps everything.
 */
const MESSAGE_CHARS = 16_000;

function boundedMessage(message: string): string {
  if (message.length <= MESSAGE_CHARS) return message;
  const more = ` … (${message.length - MESSAGE_CHARS} characters more: the report has them all)`;
  return `${message.slice(0, MESSAGE_CHARS - more.length)}${more}`;
}

/**
 * The requests with each files component's target as its restore takes it (request.target, else
 * the configured root: files/restore-plan.ts), so that a failure's next step names the folder.
 */
function withDefaultTargets(
  requests: RestoreContext['requests'],
  settings: Partial<Record<ComponentName, unknown>>,
): RestoreContext['requests'] {
  const filled = { ...requests };
  for (const name of ['liferayHome', 'appServer'] as const) {
    const request = requests[name];
    const root = (settings[name] as { root?: unknown } | undefined)?.root;
    if (request === undefined || typeof root !== 'string') continue;
    const own = isRecord(request) ? request : {};
    if (own.target === undefined) filled[name] = { ...own, target: root };
  }
  return filled;
}

/** A branch's result cut to what componentRestoreResultSchema keeps: warnings and summary texts. */
function shortenedResult(output: unknown): unknown {
  if (!isRecord(output)) return output;
  const result = { ...output };
  const cut = (text: string, max: number) =>
    text.length > max ? `${text.slice(0, max - 40)}… (${text.length - max + 40} characters more)` : text;
  if (Array.isArray(result.warnings)) {
    const warnings = result.warnings.map((warning) =>
      typeof warning === 'string' ? cut(warning, RESULT_MAX_TEXT) : warning,
    );
    result.warnings =
      warnings.length > RESULT_MAX_WARNINGS
        ? [
            ...warnings.slice(0, RESULT_MAX_WARNINGS - 1),
            `and ${warnings.length - RESULT_MAX_WARNINGS + 1} more warnings (not kept in the report)`,
          ]
        : warnings;
  }
  if (isRecord(result.summary)) {
    result.summary = Object.fromEntries(
      Object.entries(result.summary).map(([key, value]) => [
        key,
        typeof value === 'string' ? cut(value, RESULT_MAX_SUMMARY_TEXT) : value,
      ]),
    );
  }
  return result;
}

export const handler = lambdaHandler(reportRestore);
