import * as z from 'zod';
import { errorFromCatch } from '#backup-set/branch-output.ts';
import type { ComponentResult } from '#components/component.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { SourceComponentError } from './errors.ts';
import { backupRefSchema, readRecord } from './records.ts';
import type { RepositoryDetails } from './settings.ts';

const caughtSchema = z.object({ Error: z.string().optional(), Cause: z.string().optional() });
const iterationSchema = z.union([
  z.object({ repository: z.string(), recordKey: z.string(), refs: z.number(), seconds: z.number() }),
  z.object({ repository: z.string(), error: caughtSchema }),
]);
const eventSchema = z.object({
  backup: backupRefSchema,
  plan: z.object({ startedAt: z.iso.datetime({ offset: true }) }),
  repositories: z.array(iterationSchema),
});

/**
 * Refs kept inline in the manifest, in all repositories together. The result crosses Step
 * Functions states (256 KB each, shared with the other components' results), so a repository
 * whose refs do not fit is recorded by the key of its full record instead, with a warning.
 */
export const INLINE_REFS_BUDGET = 96 * 1024;

/**
 * `source-finish-backup`: the component's result from the Map's iterations. Any failed
 * repository fails the component (the message names each and why); the others were mirrored.
 * Event `{backup, plan, repositories}`.
 */
export async function finishSourceBackup(event: unknown, rt: Runtime): Promise<ComponentResult> {
  const { plan, repositories } = parseInput(eventSchema, event, 'source finish event');
  const failures = repositories.flatMap((item) => {
    if (!('error' in item)) return [];
    const { name, message } = errorFromCatch(item.error);
    return [`${item.repository}: ${name}: ${message}`];
  });
  if (failures.length > 0) {
    const succeeded = repositories.filter((item) => !('error' in item)).map((item) => item.repository);
    throw new SourceComponentError(
      `${failures.length} of ${repositories.length} repositories failed: ${failures.join(' | ')}${succeeded.length > 0 ? ` (mirrored: ${succeeded.join(', ')})` : ''}`,
    );
  }

  const entries: RepositoryDetails[] = [];
  const warnings: string[] = [];
  let budget = INLINE_REFS_BUDGET;
  const totals = { refs: 0, created: 0, updated: 0, deleted: 0, packBytes: 0, storedBytes: 0 };
  for (const item of repositories) {
    if ('error' in item) continue;
    const record = await readRecord(rt.store, item.recordKey);
    const refCount = Object.keys(record.refs).length;
    const size = JSON.stringify(record.refs).length;
    const inline = size <= budget;
    if (inline) budget -= size;
    else
      warnings.push(
        `${record.name}: ${refCount} refs are recorded in ${item.recordKey} (too many to keep inline in the manifest)`,
      );
    const { refs, ...rest } = record;
    entries.push({ ...rest, ...(inline ? { refs } : {}), refCount, recordKey: item.recordKey });
    warnings.push(...record.warnings);
    totals.refs += refCount;
    totals.created += record.stats.created;
    totals.updated += record.stats.updated;
    totals.deleted += record.stats.deleted;
    totals.packBytes += record.stats.packBytes;
    totals.storedBytes += record.stats.storedBytes;
  }
  return {
    component: 'source',
    status: 'complete',
    startedAt: plan.startedAt,
    finishedAt: rt.now().toISOString(),
    warnings,
    summary: { repositories: entries.length, ...totals },
    details: { repositories: entries },
  };
}

export const handler = lambdaHandler(finishSourceBackup);
