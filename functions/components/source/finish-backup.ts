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
 * What is kept inline in the manifest, in all repositories together: their refs and their lists
 * (keptOnMirror, deletedOnMirror, exclude, warnings; warnings count twice, as the component's
 * warnings repeat them). The result crosses Step Functions states (256 KB each, shared with the
 * other components' results), so a repository that does not fit keeps only counts (and the first
 * few names) inline, and is read in full from the key of its record.
 */
export const INLINE_REFS_BUDGET = 96 * 1024;

/** Names a list cut short keeps inline (when even those do not fit, none). */
export const NAMES_WHEN_CUT = 10;

type Lists = Pick<RepositoryDetails, 'keptOnMirror' | 'deletedOnMirror' | 'exclude' | 'warnings'>;
const LIST_NAMES = ['keptOnMirror', 'deletedOnMirror', 'exclude', 'warnings'] as const;

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
    const { refs, keptOnMirror, deletedOnMirror, exclude, warnings: recordWarnings, ...rest } = record;
    const refCount = Object.keys(refs).length;
    const lists: Lists = { keptOnMirror, deletedOnMirror, exclude, warnings: recordWarnings };
    const fit = fitInline(refs, lists, budget);
    budget = Math.max(0, budget - fit.size);
    const notes = inlineNotes(record.name, item.recordKey, refCount, fit, lists);
    entries.push({
      ...rest,
      ...(fit.refs ? { refs } : {}),
      ...fit.lists,
      ...(Object.keys(fit.fullLengths).length > 0 ? { fullLengths: fit.fullLengths } : {}),
      refCount,
      recordKey: item.recordKey,
    });
    warnings.push(...notes, ...fit.lists.warnings);
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

interface Fit {
  readonly refs: boolean;
  readonly lists: Lists;
  /** The full length of each list cut short inline. */
  readonly fullLengths: Partial<Record<(typeof LIST_NAMES)[number], number>>;
  /** What it costs of the budget. */
  readonly size: number;
}

/**
 * The most of one repository that fits the budget. Refs come first (Validate checks a restore's
 * patterns against inline refs, and a restore reads them without another request), then the
 * lists, whole, cut to their first names, or as counts only (always inline: a few bytes).
 */
function fitInline(refs: Record<string, string>, lists: Lists, budget: number): Fit {
  const refsSize = JSON.stringify(refs).length;
  const whole = { lists, fullLengths: {} };
  const named = cutLists(lists, NAMES_WHEN_CUT);
  const counts = cutLists(lists, 0);
  const candidates = [
    { refs: true, ...whole },
    { refs: true, ...named },
    { refs: true, ...counts },
    { refs: false, ...named },
  ].map((candidate) => ({
    ...candidate,
    size: (candidate.refs ? refsSize : 0) + listsSize(candidate.lists),
  }));
  return (
    candidates.find((candidate) => candidate.size <= budget) ?? {
      refs: false,
      ...counts,
      size: listsSize(counts.lists),
    }
  );
}

function cutLists(lists: Lists, keep: number): Pick<Fit, 'lists' | 'fullLengths'> {
  const fullLengths: Fit['fullLengths'] = {};
  const cut = { ...lists };
  for (const name of LIST_NAMES) {
    if (lists[name].length <= keep) continue;
    fullLengths[name] = lists[name].length;
    cut[name] = lists[name].slice(0, keep);
  }
  return { lists: cut, fullLengths };
}

function listsSize(lists: Lists): number {
  return JSON.stringify(lists).length + JSON.stringify(lists.warnings).length;
}

/** Says what is not inline, and where it is. */
function inlineNotes(name: string, key: string, refCount: number, fit: Fit, lists: Lists): string[] {
  const notes: string[] = [];
  if (!fit.refs) {
    notes.push(`${name}: ${refCount} refs are recorded in ${key} (too many to keep inline in the manifest)`);
  }
  const cut = LIST_NAMES.filter((list) => fit.fullLengths[list] !== undefined).map(
    (list) => `${list} (${lists[list].length}, ${fit.lists[list].length} inline)`,
  );
  if (cut.length > 0) {
    notes.push(
      `${name}: the full ${cut.join(', ')} ${cut.length === 1 ? 'is' : 'are'} recorded in ${key} (too long to keep inline in the manifest)`,
    );
  }
  return notes;
}

export const handler = lambdaHandler(finishSourceBackup);
