import { type ComponentRestoreResult, utf8JsonBytes, withinResultBudget } from '#components/component.ts';
import { InvalidInputError } from '#runtime/errors.ts';
import type { IndexInfo, SearchEngine } from './engine.ts';
import { SearchRestoreConflictError, SearchSnapshotFailedError, SearchTimeoutError } from './errors.ts';
import { globMatcher } from './liferay-indexes.ts';
import { namedFirst } from './names.ts';
import type {
  IndexListRef,
  IndexRecord,
  PreparedRepository,
  RestoredIndex,
  RestoreIndex,
  RestoreState,
  SearchRestoreRequest,
  SearchResultDetails,
} from './records.ts';
import { INDEX_LIST_FIRST_NAMES, loopExhausted, searchRecordSchema } from './records.ts';
import { findOwnRestores } from './restore-ownership.ts';
import { indexPatternMatcher, isEngineIndex } from './settings.ts';

/**
 * Restore of a search snapshot: which indexes, what happens to existing ones of the same name,
 * then the engine's restore, its recovery, and a document count check against the manifest.
 * `planRestore` decides everything before anything is changed; a conflict the request did not
 * allow stops the restore with every conflict named.
 */

/** Index names are at most 255 bytes (both engines). */
const MAX_INDEX_NAME_BYTES = 255;

/**
 * The restore loop's state (one record per index, about 200 bytes with Liferay's names, 620 with
 * names of 255 characters) at most: Step Functions passes 256 KiB between states, and the restore
 * context travels beside it (about 15 KB). 500 indexes with usual names take about 100 KB; a
 * restore that would take more is refused before it changes anything, instead of failing its
 * own state with States.DataLimitExceeded (which no Catch stops) once it has deleted indexes.
 */
export const RESTORE_LOOP_STATE_BUDGET_BYTES = 192 * 1024;

/** Restored index records kept in the result's details up to this (about 60 with Liferay's names). */
const INLINE_RESTORED_INDEXES_BYTES = 16 * 1024;

/** The indexes of the set that the request selects, or the problems with the request. */
export function selectForRestore(
  details: SearchResultDetails,
  request: SearchRestoreRequest,
): { indexes: IndexRecord[]; problems: string[] } {
  // Sets taken before configured patterns left the engine's own indexes out may hold some.
  if (request.indexes === 'all') {
    return { indexes: details.indexes.filter((index) => !isEngineIndex(index.name)), problems: [] };
  }
  if (request.indexes === 'primary') {
    const primary = details.indexes.filter((index) => index.primaryStorage);
    if (primary.length > 0) return { indexes: primary, problems: [] };
    return {
      indexes: [],
      problems: [
        `the set holds no primary-storage index (DXP ${details.dxp.line}: a reindex rebuilds every index it holds); ` +
          'ask for "indexes": "all" or a list to restore them anyway',
      ],
    };
  }
  const problems: string[] = [];
  const chosen = new Set<string>();
  for (const pattern of request.indexes) {
    const matches = details.indexes.filter((index) => indexPatternMatcher(pattern)(index.name));
    if (matches.length === 0) {
      const engineOnly = details.indexes.filter((index) => globMatcher(pattern)(index.name));
      problems.push(
        engineOnly.length > 0
          ? `index ${pattern} matches only the engine's own indexes (${namedFirst(engineOnly.map((index) => index.name))}), which a restore leaves alone`
          : `index ${pattern} is not in the set's snapshot`,
      );
    }
    for (const index of matches) chosen.add(index.name);
  }
  return { indexes: details.indexes.filter((index) => chosen.has(index.name)), problems };
}

/**
 * The Validate-time check (no I/O): the manifest's search record reads back, the request selects
 * something that is in it, and renamed names stay valid.
 */
export function checkSearchRestore(rawDetails: unknown, request: SearchRestoreRequest): string[] {
  const parsed = searchRecordSchema.safeParse(rawDetails);
  if (!parsed.success) {
    return [`the set's search record is not readable: ${parsed.error.issues[0]?.message ?? 'invalid'}`];
  }
  // A set that keeps its index list in the store: Start restore reads it and checks the same
  // before it changes anything.
  if (!('indexes' in parsed.data)) return [];
  const { indexes, problems } = selectForRestore(parsed.data, request);
  return [...problems, ...renameProblems(indexes, request)];
}

/** Renamed names the engines would refuse. */
function renameProblems(indexes: readonly IndexRecord[], request: SearchRestoreRequest): string[] {
  if (request.onConflict !== 'rename') return [];
  return indexes
    .filter((index) => Buffer.byteLength(request.renamePrefix + index.name) > MAX_INDEX_NAME_BYTES)
    .map(
      (index) => `${request.renamePrefix}${index.name} would be longer than ${MAX_INDEX_NAME_BYTES} bytes`,
    );
}

/**
 * The engine's own indexes in the set that the request would have taken but the selection left
 * out (a set taken with `*` before they were excluded): named in a warning.
 */
function engineIndexesLeftOut(details: SearchResultDetails, request: SearchRestoreRequest): string[] {
  const { indexes: requested } = request;
  if (requested === 'primary') return [];
  const asked = (name: string) =>
    requested === 'all' || requested.some((pattern) => globMatcher(pattern)(name));
  const selected = new Set(selectForRestore(details, request).indexes.map((index) => index.name));
  return details.indexes
    .map((index) => index.name)
    .filter((name) => isEngineIndex(name) && asked(name) && !selected.has(name));
}

/** A Java regular expression (the engines' rename_pattern) that matches exactly these names. */
export function exactNamesPattern(names: readonly string[]): string {
  return `^(${names.map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`;
}

/** What the report needs of an index whatever happens to it: the documents the manifest recorded. */
function restoreIndexBase(
  index: IndexRecord,
): Pick<RestoreIndex, 'name' | 'expectedDocs' | 'primaryStorage'> {
  return {
    name: index.name,
    expectedDocs: {
      min: Math.min(index.docCount, index.docCountAtEnd ?? index.docCount),
      max: Math.max(index.docCount, index.docCountAtEnd ?? index.docCount),
    },
    primaryStorage: index.primaryStorage,
  };
}

/**
 * The CLI's flags for the request's fields: Validate's message reaches the SRE both as the
 * Restore execution's error (who edits the request JSON) and on the command line (who edits flags).
 */
export const CLI_FLAGS = {
  onConflict: '--search-on-conflict',
  renamePrefix: '--search-rename-prefix',
} as const;

export interface RestorePlan {
  readonly indexes: RestoreIndex[];
  readonly close: string[];
  readonly delete: string[];
  readonly rename?: { readonly pattern: string; readonly replacement: string };
  readonly problems: string[];
}

/**
 * Decides, per selected index, where it goes and what happens to an existing index of the same
 * name. Nothing is changed by this function; problems mean nothing may be changed at all.
 */
export function planRestore(
  selected: readonly IndexRecord[],
  existing: readonly IndexInfo[],
  request: SearchRestoreRequest,
): RestorePlan {
  const present = new Map(existing.map((index) => [index.name, index]));
  const problems: string[] = [];
  const close: string[] = [];
  const remove: string[] = [];
  const renamed: string[] = [];
  const indexes = selected.map((index): RestoreIndex => {
    const base = restoreIndexBase(index);
    const current = present.get(index.name);
    if (!current) return { ...base, target: index.name, conflict: 'none' };
    const state = current.status === 'close' ? 'closed' : 'open';
    if (isEngineIndex(index.name) && (request.onConflict === 'close' || request.onConflict === 'replace')) {
      // The cluster's security, Kibana/Dashboards or plugin state: never taken down for a restore.
      problems.push(
        `index ${index.name} exists (${state}) and belongs to the engine (a hidden or system index): it is never closed or deleted by a restore; ` +
          `restore it beside it with "onConflict": "rename" (CLI: ${CLI_FLAGS.onConflict} rename), or by hand`,
      );
      return { ...base, target: index.name, conflict: 'none' };
    }
    switch (request.onConflict) {
      case 'fail':
        problems.push(`index ${index.name} exists (${state})`);
        return { ...base, target: index.name, conflict: 'none' };
      case 'rename': {
        const target = `${request.renamePrefix}${index.name}`;
        if (present.has(target))
          problems.push(
            `index ${index.name} would be restored as ${target}, which exists too; choose another "renamePrefix" (CLI: ${CLI_FLAGS.renamePrefix})`,
          );
        renamed.push(index.name);
        return { ...base, target, conflict: 'renamed' };
      }
      case 'close':
        // The engines restore over a closed index only when the shard counts agree.
        if (
          current.primaryShards !== undefined &&
          index.primaryShards !== undefined &&
          current.primaryShards !== index.primaryShards
        ) {
          problems.push(
            `index ${index.name} has ${current.primaryShards} primary shards and its snapshot ${index.primaryShards}: ` +
              `it cannot be restored over; choose "onConflict": "rename" or "replace" (CLI: ${CLI_FLAGS.onConflict})`,
          );
        }
        if (current.status !== 'close') close.push(index.name);
        return { ...base, target: index.name, conflict: 'closed' };
      default:
        // replace
        remove.push(index.name);
        return { ...base, target: index.name, conflict: 'replaced' };
    }
  });
  if (request.onConflict === 'fail' && problems.length > 0) {
    problems.push(
      `nothing was changed; choose "onConflict" (CLI: ${CLI_FLAGS.onConflict}): "rename" (restore beside them), "close" or "replace"`,
    );
  }
  return {
    indexes,
    close,
    delete: remove,
    ...(renamed.length > 0
      ? { rename: { pattern: exactNamesPattern(renamed), replacement: `${request.renamePrefix}$1` } }
      : {}),
    problems,
  };
}

export interface StartRestoreInput {
  readonly details: SearchResultDetails;
  readonly request: SearchRestoreRequest;
  readonly prepared: PreparedRepository;
  readonly maxChecks: number;
  readonly waitSeconds: number;
  readonly now: Date;
  /**
   * When this restore began (the Restore execution's `startedAt`). A restore of an index from this
   * snapshot that began later is this restore's own, started by an earlier attempt of this task
   * whose answer was lost: the attempt waits for it instead of taking it for a conflict.
   * @default now (nothing already there is taken for this restore's)
   */
  readonly restoreStartedAt?: Date;
}

/**
 * Checks the snapshot and the conflicts, applies close/delete, starts the restore without waiting.
 * A retried attempt (the state machine retries lost answers and Lambda's transient errors) first
 * recognises the indexes the engine is already restoring for this restore and only waits for them.
 */
export async function startRestore(engine: SearchEngine, input: StartRestoreInput): Promise<RestoreState> {
  const { details, request, prepared } = input;
  const repository = prepared.repository;
  if (repository.location !== details.repository.location) {
    throw new SearchRestoreConflictError(
      `the set's snapshot ${details.snapshot.name} was written to ${details.repository.location}, ` +
        `but repository ${repository.name} on ${prepared.engine.endpoint} reads ${repository.location}`,
    );
  }
  const snapshot = await engine.getSnapshot(repository.name, details.snapshot.name);
  if (!snapshot) {
    throw new SearchSnapshotFailedError(
      `snapshot ${details.snapshot.name} is not in repository ${repository.name} (${repository.location})`,
    );
  }
  if (snapshot.state !== 'SUCCESS') {
    throw new SearchSnapshotFailedError(
      `snapshot ${repository.name}/${details.snapshot.name} is ${snapshot.state}`,
    );
  }
  const { indexes: selected, problems: selectedProblems } = selectForRestore(details, request);
  const selectionProblems = [...selectedProblems, ...renameProblems(selected, request)];
  const notInSnapshot = selected
    .filter((index) => !snapshot.indices.includes(index.name))
    .map((index) => index.name);
  if (selectionProblems.length > 0 || notInSnapshot.length > 0) {
    throw new SearchRestoreConflictError(
      [
        ...selectionProblems,
        ...(notInSnapshot.length > 0 ? [`not in the snapshot: ${namedFirst(notInSnapshot)}`] : []),
      ].join('; '),
    );
  }
  const existing = await engine.findIndices([
    ...selected.map((index) => index.name),
    ...(request.onConflict === 'rename'
      ? selected.map((index) => `${request.renamePrefix}${index.name}`)
      : []),
  ]);
  // Before any conflict is planned: an index this restore is already restoring is not one.
  const own = await findOwnRestores(engine, {
    selected,
    existing,
    request,
    source: {
      repository: repository.name,
      snapshot: details.snapshot.name,
      sinceMillis: (input.restoreStartedAt ?? input.now).getTime(),
    },
  });
  if (own.problems.length > 0) {
    throw new SearchRestoreConflictError(
      [
        ...own.problems,
        'nothing was changed: check GET <index>/_recovery and start the restore again once the engine is done with those indexes',
      ].join('; '),
    );
  }
  const resumed = new Map(own.resumed.map((index) => [index.name, index.target]));
  const ownTargets = new Set(resumed.values());
  const plan = planRestore(
    selected.filter((index) => !resumed.has(index.name)),
    existing.filter((index) => !ownTargets.has(index.name)),
    request,
  );
  if (plan.problems.length > 0) throw new SearchRestoreConflictError(plan.problems.join('; '));

  const planned = new Map(plan.indexes.map((index) => [index.name, index]));
  const indexes = selected.flatMap((index): RestoreIndex[] => {
    const target = resumed.get(index.name);
    if (target === undefined) {
      const next = planned.get(index.name);
      return next ? [next] : [];
    }
    // A renamed target says the name was taken when the first attempt planned it.
    return [{ ...restoreIndexBase(index), target, conflict: target === index.name ? 'none' : 'renamed' }];
  });
  const leftOut = engineIndexesLeftOut(details, request);
  const warnings = [
    ...prepared.warnings,
    ...(leftOut.length > 0
      ? [
          `the set holds indexes of the engine itself, not restored (a restore never touches hidden or system indexes; ` +
            `restore them by hand if you need them): ${namedFirst(leftOut)}`,
        ]
      : []),
    ...(resumed.size > 0
      ? [
          `already being restored from ${details.snapshot.name} by an earlier attempt of this step (the engine accepted ` +
            `its request, the answer was lost): ${namedFirst([...ownTargets])}; this attempt waits for them ` +
            '(what that attempt closed or deleted first is not known here)',
        ]
      : []),
    ...(plan.close.length > 0 ? [`closed before restoring over them: ${namedFirst(plan.close)}`] : []),
    ...(plan.delete.length > 0 ? [`deleted before restoring them: ${namedFirst(plan.delete)}`] : []),
    ...renamedWarning(plan.indexes, request.renamePrefix),
  ];
  const state: RestoreState = {
    phase: 'restore',
    engine: prepared.engine,
    repository,
    snapshot: details.snapshot.name,
    indexes,
    startedAt: input.now.toISOString(),
    checks: 0,
    maxChecks: input.maxChecks,
    waitSeconds: input.waitSeconds,
    warnings,
    done: false,
  };
  refuseLoopStateOverBudget(state);

  if (plan.close.length > 0) await engine.closeIndices(plan.close);
  if (plan.delete.length > 0) await engine.deleteIndices(plan.delete);
  if (plan.indexes.length > 0) {
    await engine.restoreSnapshot(repository.name, details.snapshot.name, {
      indices: plan.indexes.map((index) => index.name),
      // Aliases would follow a renamed copy and then point at two indexes.
      includeAliases: plan.rename === undefined,
      ...(plan.rename ? { rename: plan.rename } : {}),
    });
  }
  return state;
}

/** Refuses, before anything is changed, a restore whose loop state would not fit between its steps. */
function refuseLoopStateOverBudget(state: RestoreState): void {
  const bytes = utf8JsonBytes(state);
  if (bytes <= RESTORE_LOOP_STATE_BUDGET_BYTES) return;
  const count = state.indexes.length;
  const perPart = Math.max(1, Math.floor((count * RESTORE_LOOP_STATE_BUDGET_BYTES) / bytes) - 10);
  throw new InvalidInputError(
    `the restore of ${count} indexes would carry ${bytes} bytes between its steps (a record per index, ` +
      `with its names), more than the ${RESTORE_LOOP_STATE_BUDGET_BYTES} it may (Step Functions passes at most 256 KiB ` +
      'between states, the restore context included): nothing was changed; restore them in parts, one restore ' +
      `per list of index patterns in the request ("search": {"indexes": ["liferay-20097*"]}), of at most about ${perPart} indexes each`,
  );
}

/** Whether every restored index has recovered all its primary shards from our snapshot. */
export function recoveryComplete(
  state: RestoreState,
  recoveries: Map<string, { type: string; stage: string; primary: boolean; snapshot?: string }[]>,
  current: Map<string, IndexInfo>,
): { done: boolean; pending: string[] } {
  const pending: string[] = [];
  for (const index of state.indexes) {
    const shards = (recoveries.get(index.target) ?? []).filter(
      (shard) => shard.type === 'SNAPSHOT' && shard.snapshot === state.snapshot,
    );
    const info = current.get(index.target);
    const expectedPrimaries = info?.primaryShards ?? 1;
    const donePrimaries = shards.filter((shard) => shard.primary && shard.stage === 'DONE').length;
    const allDone = shards.length > 0 && shards.every((shard) => shard.stage === 'DONE');
    if (
      !allDone ||
      donePrimaries < expectedPrimaries ||
      !info ||
      info.health === 'red' ||
      info.status !== 'open'
    ) {
      pending.push(index.target);
    }
  }
  return { done: pending.length === 0, pending };
}

/**
 * One status check of the restore loop: waits for recovery, then compares the document counts
 * with the manifest (within the range seen while the snapshot ran) and reports mismatches.
 */
export async function checkRecovery(
  engine: SearchEngine,
  state: RestoreState,
  now: Date,
  /**
   * Stores the records that would not fit the result beside the restore's report
   * (storeRestoredIndexList); without it they stay inline whatever their size.
   */
  storeIndexes?: (indexes: readonly RestoredIndex[]) => Promise<IndexListRef>,
): Promise<RestoreState> {
  const checks = state.checks + 1;
  const targets = state.indexes.map((index) => index.target);
  const recoveries = await engine.recovery(targets);
  const current = new Map((await engine.findIndices(targets)).map((index) => [index.name, index]));
  const { done, pending } = recoveryComplete(state, recoveries, current);
  if (!done) {
    if (loopExhausted(state, checks, now)) {
      throw new SearchTimeoutError(
        `the restore of ${state.snapshot} has not recovered after ${checks} checks since ${state.startedAt}: ` +
          `${namedFirst(pending)} (the restore goes on in the cluster; check GET ${pending[0] ?? ''}/_recovery)`,
      );
    }
    return { ...state, checks };
  }
  const warnings = [...state.warnings];
  const restored = state.indexes.map((index): RestoredIndex => {
    const docCount = current.get(index.target)?.docCount ?? 0;
    const matches = docCount >= index.expectedDocs.min && docCount <= index.expectedDocs.max;
    if (!matches) {
      const expected =
        index.expectedDocs.min === index.expectedDocs.max
          ? `${index.expectedDocs.min}`
          : `${index.expectedDocs.min}-${index.expectedDocs.max}`;
      warnings.push(`${index.target}: ${docCount} documents restored, the manifest recorded ${expected}`);
    }
    return {
      name: index.name,
      restoredAs: index.target,
      conflict: index.conflict,
      primaryStorage: index.primaryStorage,
      docCount,
      expectedDocs: index.expectedDocs,
      docCountMatches: matches,
    };
  });
  const mismatches = restored.filter((index) => !index.docCountMatches).length;
  const list = await restoredIndexList(restored, storeIndexes);
  if (list.problem) warnings.unshift(list.problem);
  const result: ComponentRestoreResult = {
    component: 'search',
    status: 'complete',
    startedAt: state.startedAt,
    finishedAt: now.toISOString(),
    warnings,
    summary: {
      snapshot: state.snapshot,
      indexes: restored.length,
      renamed: restored.filter((index) => index.conflict === 'renamed').length,
      documents: restored.reduce((sum, index) => sum + index.docCount, 0),
      docCountMismatches: mismatches,
      ...(list.stored ? { indexList: list.stored } : {}),
    },
    details: {
      engine: state.engine,
      repository: state.repository,
      snapshot: state.snapshot,
      ...list.details,
    },
  };
  // The index list and the warnings travel once, in the result: Step Functions passes at most 256 KB between states.
  return {
    ...state,
    checks,
    indexes: [],
    warnings: [],
    done: true,
    // Most are counts that differ, also in the index records (which are never cut).
    result: withinResultBudget(
      result,
      list.problem === undefined
        ? `${list.stored ? `${list.stored} (gzip JSON)` : 'details.indexes'} for what each index was restored as and whether its document count matches`
        : undefined,
    ),
  };
}

/**
 * The restored index records as the result's details keep them: inline when they are few, else
 * stored beside the report and named. The indexes are restored by now: a list that cannot be
 * stored costs the report its per-index records (its first warning says so), not the restore.
 */
async function restoredIndexList(
  restored: readonly RestoredIndex[],
  storeIndexes: ((indexes: readonly RestoredIndex[]) => Promise<IndexListRef>) | undefined,
): Promise<{ details: Record<string, unknown>; stored?: string; problem?: string }> {
  if (!storeIndexes || utf8JsonBytes(restored) <= INLINE_RESTORED_INDEXES_BYTES)
    return { details: { indexes: restored } };
  const names = restored.map((index) => index.restoredAs);
  try {
    const indexList = await storeIndexes(restored);
    return { details: { indexList }, stored: indexList.key };
  } catch (error) {
    const problem =
      `the list of what each of the ${restored.length} indexes was restored as could not be stored ` +
      `(${(error as Error).message.slice(0, 512)}): this report keeps their counts and first names only; they are ${namedFirst(names)}`;
    return {
      details: {
        indexesNotStored: { count: restored.length, firstNames: names.slice(0, INDEX_LIST_FIRST_NAMES) },
      },
      problem,
    };
  }
}

/**
 * One line for every index restored beside an existing one: the loop state keeps 100 warnings,
 * and a restore may rename all 500 indexes.
 */
function renamedWarning(indexes: readonly RestoreIndex[], renamePrefix: string): string[] {
  const renamed = indexes.filter((index) => index.conflict === 'renamed');
  const [only] = renamed;
  if (only === undefined) return [];
  if (renamed.length === 1) return [`${only.name} exists: restored beside it as ${only.target}`];
  return [
    `${renamed.length} indexes exist: restored beside them as ${renamePrefix}<name>: ${namedFirst(renamed.map((index) => index.name))}`,
  ];
}
