import * as z from 'zod';
import {
  type ComponentName,
  type ComponentResult,
  componentNameSchema,
  componentResultSchema,
  RESULT_ERROR_MESSAGE_CHARS,
} from '#components/component.ts';
import { describeIssues } from '#runtime/errors.ts';

/**
 * What a workflow branch ends with: either the component's own result, or the record its Catch
 * wrote (`{component, caught: {Error, Cause}}`), or `{component, status: "skipped"}` from the
 * Choice that skips an unselected component.
 */
const caughtSchema = z.object({
  component: componentNameSchema,
  caught: z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
});

/** Turns branch outputs into one result per component; anything unreadable becomes a failure. */
export function resultsFromBranches(
  outputs: readonly unknown[],
  expected: readonly ComponentName[],
  startedAt?: string,
): Map<ComponentName, ComponentResult> {
  const results = new Map<ComponentName, ComponentResult>();
  for (const output of outputs) {
    const caught = caughtSchema.safeParse(output);
    if (caught.success) {
      results.set(caught.data.component, {
        component: caught.data.component,
        status: 'failed',
        error: errorFromCatch(caught.data.caught),
        warnings: [],
        summary: {},
        details: {},
      });
      continue;
    }
    const parsed = componentResultSchema.safeParse(output);
    if (parsed.success) {
      results.set(parsed.data.component, parsed.data);
      continue;
    }
    const component = componentNameSchema.safeParse((output as { component?: unknown } | null)?.component);
    if (component.success) {
      results.set(component.data, {
        component: component.data,
        status: 'failed',
        error: {
          name: 'InvalidResultError',
          message: `the branch returned an invalid result: ${describeIssues(parsed.error.issues)}`,
        },
        warnings: [],
        summary: {},
        details: {},
      });
    }
  }
  for (const name of expected) {
    if (!results.has(name)) {
      results.set(name, {
        component: name,
        status: 'failed',
        ...(startedAt ? { startedAt } : {}),
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
  return results;
}

/**
 * Step Functions puts a Lambda error's JSON (`{"errorType","errorMessage",...}`) in Cause; a
 * States.* error has plain text. Either way the person reading the manifest gets name and message.
 */
export function errorFromCatch(caught: { Error?: string; Cause?: string }): {
  name: string;
  message: string;
} {
  const name = caught.Error ?? 'Error';
  const cause = caught.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown; errorType?: unknown };
    if (typeof parsed.errorMessage === 'string') {
      return {
        name: typeof parsed.errorType === 'string' ? parsed.errorType : name,
        message: parsed.errorMessage.slice(0, RESULT_ERROR_MESSAGE_CHARS),
      };
    }
  } catch {
    // plain-text cause
  }
  return { name, message: (cause || name).slice(0, RESULT_ERROR_MESSAGE_CHARS) };
}

/** complete when every requested component completed, failed when none did, partial otherwise. */
export function overallStatus(
  results: ReadonlyMap<ComponentName, { status: 'complete' | 'failed' | 'skipped' }>,
  requested: readonly ComponentName[],
): 'complete' | 'partial' | 'failed' {
  const statuses = requested.map((name) => results.get(name)?.status ?? 'failed');
  if (statuses.every((status) => status === 'complete')) return 'complete';
  if (statuses.some((status) => status === 'complete')) return 'partial';
  return 'failed';
}
