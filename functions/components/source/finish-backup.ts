import * as z from 'zod';
import { errorFromCatch } from '#backup-set/branch-output.ts';
import { type ComponentResult, withinResultBudget } from '#components/component.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { SourceComponentError } from './errors.ts';
import { backupRefSchema, readRecord } from './records.ts';
import { manifestDetails } from './repository-list.ts';
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
 * What the repositories' entries keep of their records (in the manifest, or in the list stored
 * beside it when they pass INLINE_REPOSITORY_ENTRIES_BYTES), in all repositories together: their refs, their lists
 * (keptOnMirror, deletedOnMirror, exclude, warnings; warnings count twice, as the component's
 * warnings repeat them) and the packs of their store copies. The result crosses Step Functions
 * states (256 KiB each, shared with the other components' results: a search cluster of 500
 * indexes alone takes about 90 KiB), so a repository that does not fit keeps only counts (and the
 * first few names) inline, and is read in full from the key of its record.
 */
export const INLINE_REFS_BUDGET = 48 * 1024;

/** Names a list cut short keeps inline (when even those do not fit, none). */
export const NAMES_WHEN_CUT = 10;

/** Repositories whose notes ("recorded in ...") are warnings of their own; the others share one. */
const NOTED_REPOSITORIES = 10;

type Lists = Pick<RepositoryDetails, 'keptOnMirror' | 'deletedOnMirror' | 'exclude' | 'warnings'>;
const LIST_NAMES = ['keptOnMirror', 'deletedOnMirror', 'exclude', 'warnings'] as const;
type Packs = NonNullable<RepositoryDetails['storeCopy']>['packs'];

/**
 * `source-finish-backup`: the component's result from the Map's iterations. Any failed
 * repository fails the component (the message names each and why); the others were mirrored.
 * Event `{backup, plan, repositories}`.
 */
export async function finishSourceBackup(event: unknown, rt: Runtime): Promise<ComponentResult> {
  const { backup, plan, repositories } = parseInput(eventSchema, event, 'source finish event');
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
  const notes: string[][] = [];
  let budget = INLINE_REFS_BUDGET;
  const totals = { refs: 0, created: 0, updated: 0, deleted: 0, packBytes: 0, storedBytes: 0 };
  for (const item of repositories) {
    if ('error' in item) continue;
    const record = await readRecord(rt.store, item.recordKey);
    const {
      refs,
      keptOnMirror,
      deletedOnMirror,
      exclude,
      warnings: recordWarnings,
      storeCopy,
      ...rest
    } = record;
    const refCount = Object.keys(refs).length;
    const lists: Lists = { keptOnMirror, deletedOnMirror, exclude, warnings: recordWarnings };
    const fit = fitInline(refs, lists, storeCopy?.packs ?? [], budget);
    budget = Math.max(0, budget - fit.size);
    notes.push(inlineNotes(record.name, item.recordKey, refCount, fit, lists));
    entries.push({
      ...rest,
      ...(fit.refs ? { refs } : {}),
      ...fit.lists,
      // Inline the whole chain, or its first packs with the length: readers take the record then.
      ...(storeCopy ? { storeCopy: { packs: fit.packs } } : {}),
      ...(Object.keys(fit.fullLengths).length > 0 ? { fullLengths: fit.fullLengths } : {}),
      refCount,
      recordKey: item.recordKey,
    });
    warnings.push(...fit.lists.warnings);
    totals.refs += refCount;
    totals.created += record.stats.created;
    totals.updated += record.stats.updated;
    totals.deleted += record.stats.deleted;
    totals.packBytes += record.stats.packBytes;
    totals.storedBytes += record.stats.storedBytes;
  }
  return withinResultBudget(
    {
      component: 'source',
      status: 'complete',
      startedAt: plan.startedAt,
      finishedAt: rt.now().toISOString(),
      warnings: [...summarizedNotes(notes, entries), ...warnings],
      summary: { repositories: entries.length, ...totals },
      // 200 repositories took about 120 KB of details: past a few, the entries are stored beside the set.
      details: await manifestDetails(rt.store, backup.backupId, entries),
    },
    "each repository's record (details.repositories[].recordKey), which keeps its warnings",
  );
}

interface Fit {
  readonly refs: boolean;
  readonly lists: Lists;
  /** The store copy's packs inline: all of them, or the first ones (fullLengths.packs says how many there are). */
  readonly packs: Packs;
  /** The full length of each list cut short inline. */
  readonly fullLengths: NonNullable<RepositoryDetails['fullLengths']>;
  /** What it costs of the budget. */
  readonly size: number;
}

/**
 * The most of one repository that fits the budget. Refs come first (Validate checks a restore's
 * patterns against inline refs, and a restore reads them without another request), then the
 * lists and the packs, whole, cut to their first names, or as counts only (always inline: a few
 * bytes).
 */
function fitInline(refs: Record<string, string>, lists: Lists, packs: Packs, budget: number): Fit {
  const refsSize = JSON.stringify(refs).length;
  const whole = { lists, packs, fullLengths: {} };
  const named = cutLists(lists, packs, NAMES_WHEN_CUT);
  const counts = cutLists(lists, packs, 0);
  const candidates = [
    { refs: true, ...whole },
    { refs: true, ...named },
    { refs: true, ...counts },
    { refs: false, ...named },
  ].map((candidate) => ({
    ...candidate,
    size: (candidate.refs ? refsSize : 0) + listsSize(candidate.lists, candidate.packs),
  }));
  return (
    candidates.find((candidate) => candidate.size <= budget) ?? {
      refs: false,
      ...counts,
      size: listsSize(counts.lists, counts.packs),
    }
  );
}

function cutLists(lists: Lists, packs: Packs, keep: number): Pick<Fit, 'lists' | 'packs' | 'fullLengths'> {
  const fullLengths: Record<string, number> = {};
  const cut = { ...lists };
  for (const name of LIST_NAMES) {
    if (lists[name].length <= keep) continue;
    fullLengths[name] = lists[name].length;
    cut[name] = lists[name].slice(0, keep);
  }
  if (packs.length > keep) fullLengths.packs = packs.length;
  return { lists: cut, packs: packs.slice(0, keep), fullLengths };
}

function listsSize(lists: Lists, packs: Packs): number {
  return JSON.stringify(lists).length + JSON.stringify(lists.warnings).length + JSON.stringify(packs).length;
}

/** Says what is not inline, and where it is. */
function inlineNotes(name: string, key: string, refCount: number, fit: Fit, lists: Lists): string[] {
  const notes: string[] = [];
  if (!fit.refs) {
    notes.push(`${name}: ${refCount} refs are recorded in ${key} (too many to keep inline in the manifest)`);
  }
  // The store copy's packs are not for people: their count is in fullLengths, no note.
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

/**
 * The notes of the first repositories, and one line for the others: 200 repositories that do not
 * fit would otherwise make 200 warnings that say the same (and cost the budget they describe).
 */
function summarizedNotes(notes: readonly string[][], entries: readonly RepositoryDetails[]): string[] {
  const noted = notes.flatMap((lines, index) => (lines.length > 0 ? [index] : []));
  const shown = noted.slice(0, NOTED_REPOSITORIES).flatMap((index) => notes[index] ?? []);
  const rest = noted.slice(NOTED_REPOSITORIES).map((index) => entries[index]?.name ?? '');
  if (rest.length === 0) return shown;
  return [
    ...shown,
    `${rest.length} more repositories keep only counts of their refs and lists inline (the full records are at their recordKey): ${rest.slice(0, NAMES_WHEN_CUT).join(', ')}${rest.length > NAMES_WHEN_CUT ? ', ...' : ''}`,
  ];
}

export const handler = lambdaHandler(finishSourceBackup);
