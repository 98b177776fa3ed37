import * as z from 'zod';
import { errorFromCatch } from '#backup-set/branch-output.ts';
import { type ComponentRestoreResult, withinResultBudget } from '#components/component.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { SourceComponentError } from './errors.ts';
import { restoreRefSchema } from './records.ts';

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
const failureSchema = z.object({
  target: z.object({ url: z.string(), repository: z.string().optional() }).loose(),
  error: z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
});
const eventSchema = z.object({
  restore: restoreRefSchema,
  startedAt: z.iso.datetime({ offset: true }).optional(),
  targets: z.array(z.union([outcomeSchema, failureSchema])),
});

/**
 * `source-finish-restore`: the component's restore result from the Map's iterations; any failed
 * target fails the component, naming each. Event `{restore, targets}`.
 */
export async function finishSourceRestore(event: unknown, rt: Runtime): Promise<ComponentRestoreResult> {
  const { targets } = parseInput(eventSchema, event, 'source finish-restore event');
  const failures = targets.flatMap((item) => {
    if (!('error' in item)) return [];
    const { name, message } = errorFromCatch(item.error);
    return [`${item.target.repository ?? '(the repository)'} → ${item.target.url}: ${name}: ${message}`];
  });
  if (failures.length > 0) {
    throw new SourceComponentError(
      `${failures.length} of ${targets.length} restore target(s) failed: ${failures.join(' | ')}`,
    );
  }
  const outcomes = targets.filter((item): item is z.infer<typeof outcomeSchema> => !('error' in item));
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
      details: { targets: outcomes },
    },
    'details.targets[].warnings',
  );
}

export const handler = lambdaHandler(finishSourceRestore);
