import { type ComponentResult, withinResultBudget } from '#components/component.ts';
import { ConfigError } from '#runtime/errors.ts';
import type { IndexInfo, SearchEngine, ShardFailure, SnapshotInfo } from './engine.ts';
import { SearchEngineError, SearchSnapshotFailedError, SearchTimeoutError } from './errors.ts';
import { indexRecordsFitInline } from './index-list.ts';
import {
  detectDxpVersion,
  indexKind,
  isPrimaryStorage,
  LEGACY_INDEX_PATTERNS,
  selectIndexes,
} from './liferay-indexes.ts';
import { namedFirst } from './names.ts';
import {
  type IndexListRef,
  type IndexRecord,
  loopExhausted,
  MAX_INDEXES,
  type PreparedRepository,
  type SearchRecord,
  type SnapshotState,
} from './records.ts';
import { indexPatternMatcher, type SearchSettings } from './settings.ts';

/** Metadata stored with every snapshot: who took it, for which set (checked when a start is retried). */
export const SNAPSHOT_METADATA = { takenBy: 'liferay-backup' } as const;

/**
 * The snapshot of a backup set is named after the set: backup ids are lower case, unique and
 * sort by time, which both engines accept as snapshot names and retention can map back.
 */
export function snapshotName(backupId: string): string {
  return backupId;
}

/** The index records for the selection: kind, primary storage, documents at the start. */
export function indexRecords(
  selected: readonly IndexInfo[],
  prefix: string,
  line: SnapshotState['dxp']['line'],
): IndexRecord[] {
  return selected.map((index) => {
    const kind = indexKind(index.name, prefix);
    return {
      name: index.name,
      kind,
      primaryStorage: isPrimaryStorage(kind, line),
      docCount: index.docCount ?? 0,
      ...(index.primaryShards !== undefined ? { primaryShards: index.primaryShards } : {}),
      ...(index.storeBytes !== undefined ? { storeBytes: index.storeBytes } : {}),
    };
  });
}

/**
 * What to list: the configured patterns (all indexes, then filtered), or only Liferay's names, so a
 * role limited to Liferay's indexes (e.g. OpenSearch fine-grained access control) can list them.
 */
export function listingPattern(settings: {
  indexNamePrefix: string;
  indices?: readonly string[] | undefined;
}): string {
  if (settings.indices) return '*';
  return [`${settings.indexNamePrefix}*`, ...LEGACY_INDEX_PATTERNS].join(',');
}

/** The indexes the configured patterns select (never the engine's own: see indexPatternMatcher). */
function selectByPatterns(available: readonly string[], patterns: readonly string[]): string[] {
  const matchers = patterns.map(indexPatternMatcher);
  return available.filter((name) => matchers.some((matches) => matches(name))).sort();
}

/**
 * What a create says when the name is taken (by a finished or a running snapshot): OpenSearch
 * `invalid_snapshot_name_exception`; Elasticsearch its subclass SnapshotNameAlreadyInUseException.
 */
const NAME_TAKEN = new Set(['invalid_snapshot_name_exception', 'snapshot_name_already_in_use_exception']);

export interface StartSnapshotInput {
  readonly backupId: string;
  readonly environment: string;
  readonly prepared: PreparedRepository;
  readonly settings: SearchSettings;
  readonly now: Date;
}

/**
 * Lists the cluster's indexes, selects Liferay's (or the configured patterns), records what each
 * one is and its document count, and starts the snapshot without waiting. A start that is retried
 * after the engine accepted it finds its own snapshot (by metadata) and goes on.
 */
export async function startSnapshot(engine: SearchEngine, input: StartSnapshotInput): Promise<SnapshotState> {
  const { settings, prepared } = input;
  const prefix = settings.indexNamePrefix;
  const all = await engine.listIndices(listingPattern(settings));
  const available = all.map((index) => index.name);
  const names = settings.indices
    ? selectByPatterns(available, settings.indices)
    : selectIndexes(available, { prefix });
  const byName = new Map(all.map((index) => [index.name, index]));
  const warnings = [...prepared.warnings];
  const closed = names.filter((name) => byName.get(name)?.status === 'close');
  if (closed.length > 0) {
    warnings.push(
      `closed indexes are not in the snapshot (open them to back them up): ${namedFirst(closed)}`,
    );
  }
  const open = names.filter((name) => byName.get(name)?.status !== 'close');
  if (open.length === 0) {
    const what = settings.indices
      ? `the configured patterns ${settings.indices.join(', ')}`
      : `prefix ${prefix}`;
    throw new ConfigError(
      `no open index on ${prepared.engine.endpoint} matches ${what}: nothing to snapshot`,
    );
  }
  if (open.length > MAX_INDEXES) {
    throw new ConfigError(
      `${open.length} indexes match, more than ${MAX_INDEXES}: list the ones to back up in the search component's indices setting`,
    );
  }
  const dxp = detectDxpVersion(
    settings.dxpVersion,
    all.map((index) => index.name),
    prefix,
  );
  if (dxp.line === 'unknown') {
    warnings.push(
      'DXP version unknown (set dxpVersion in the search configuration, CLI: --search-dxp-version): search tuning indexes are treated as primary storage',
    );
  }
  const indexes = indexRecords(
    open.map((name) => byName.get(name) as IndexInfo),
    prefix,
    dxp.line,
  );
  const snapshot = snapshotName(input.backupId);
  const repository = prepared.repository.name;
  try {
    await engine.createSnapshot(repository, snapshot, {
      indices: open,
      metadata: {
        taken_by: SNAPSHOT_METADATA.takenBy,
        backup_id: input.backupId,
        environment: input.environment,
      },
    });
  } catch (error) {
    if (!(error instanceof SearchEngineError && NAME_TAKEN.has(error.type ?? ''))) throw error;
    const existing = await engine.getSnapshot(repository, snapshot);
    if (existing?.metadata?.backup_id !== input.backupId) throw error;
    // Our own snapshot: an earlier attempt of this task started it.
  }
  return {
    phase: 'snapshot',
    engine: prepared.engine,
    repository: prepared.repository,
    snapshot,
    dxp,
    indexNamePrefix: prefix,
    indexes,
    startedAt: input.now.toISOString(),
    checks: 0,
    maxChecks: settings.maxChecks,
    waitSeconds: settings.waitSeconds,
    warnings,
    done: false,
  };
}

/** One line per shard failure, as the engine reported it. */
export function describeFailures(failures: readonly ShardFailure[], limit = 20): string {
  const lines = failures.slice(0, limit).map((failure) => {
    const where = `${failure.index ?? '?'}[${failure.shardId ?? '?'}]`;
    return `${where}${failure.nodeId ? ` on ${failure.nodeId}` : ''}: ${failure.status ? `${failure.status} ` : ''}${failure.reason ?? 'no reason given'}`;
  });
  if (failures.length > limit) lines.push(`... and ${failures.length - limit} more`);
  return lines.join('; ');
}

function completedResult(
  state: SnapshotState,
  info: SnapshotInfo,
  indexes: IndexRecord[],
  indexList: IndexListRef | undefined,
  now: Date,
): ComponentResult {
  const details: SearchRecord = {
    engine: state.engine,
    repository: state.repository,
    snapshot: {
      name: state.snapshot,
      state: 'SUCCESS',
      ...(info.uuid ? { uuid: info.uuid } : {}),
      ...(info.startTime ? { startTime: info.startTime } : {}),
      ...(info.endTime ? { endTime: info.endTime } : {}),
      ...(info.shards ? { shards: info.shards } : {}),
    },
    dxp: state.dxp,
    indexNamePrefix: state.indexNamePrefix,
    ...(indexList ? { indexList } : { indexes }),
  };
  return withinResultBudget({
    component: 'search',
    status: 'complete',
    startedAt: state.startedAt,
    finishedAt: now.toISOString(),
    warnings: state.warnings,
    summary: {
      engine: `${state.engine.distribution} ${state.engine.version}`,
      snapshot: state.snapshot,
      indexes: indexes.length,
      primaryStorageIndexes: indexes.filter((index) => index.primaryStorage).length,
      documents: indexes.reduce((sum, index) => sum + index.docCount, 0),
      dxp: state.dxp.line,
    },
    details,
  });
}

/**
 * One status check of the capture loop. IN_PROGRESS: counts the check (and gives up, aborting the
 * snapshot, after maxChecks). SUCCESS: re-reads the document counts and returns the result.
 * PARTIAL, FAILED or anything else: deletes the unusable snapshot (nothing else would: a failed
 * component is never restored) and fails with the shard failures.
 *
 * The state comes from GET _snapshot/<repo>/<snapshot>, not from `_status`: the status API reports
 * a finished PARTIAL snapshot as SUCCESS (Elasticsearch's TransportSnapshotsStatusAction maps
 * both to SUCCESS); `_status` only adds the shard progress while the snapshot runs.
 */
export async function checkSnapshot(
  engine: SearchEngine,
  state: SnapshotState,
  now: Date,
  /** What to list for the counts at the end (listingPattern of the settings). */
  listing: string,
  /**
   * Stores the records that would not fit the result (storeIndexList for the set); without it they
   * stay inline whatever their size.
   */
  storeIndexes?: (indexes: readonly IndexRecord[]) => Promise<IndexListRef>,
): Promise<SnapshotState> {
  const repository = state.repository.name;
  const info = await engine.getSnapshot(repository, state.snapshot);
  if (!info) {
    throw new SearchSnapshotFailedError(
      `snapshot ${repository}/${state.snapshot} is gone from the repository (deleted while it ran?)`,
    );
  }
  const checks = state.checks + 1;
  if (info.state === 'IN_PROGRESS') {
    if (loopExhausted(state, checks, now)) {
      const aborted = await engine.deleteSnapshot(repository, state.snapshot).catch(() => false);
      throw new SearchTimeoutError(
        `snapshot ${repository}/${state.snapshot} still running after ${checks} checks since ${state.startedAt}; ` +
          `${aborted ? 'it was aborted' : 'aborting it failed: delete it by hand'}. Raise the search component's maxChecks or waitSeconds`,
      );
    }
    const progress = await engine.snapshotProgress(repository, state.snapshot);
    return {
      ...state,
      checks,
      ...(progress
        ? { progress: { shardsDone: progress.shardsDone, shardsTotal: progress.shardsTotal } }
        : {}),
    };
  }
  if (info.state !== 'SUCCESS') {
    const deleted = await engine.deleteSnapshot(repository, state.snapshot).catch(() => false);
    const shards = info.shards ? ` (${info.shards.failed} of ${info.shards.total} shards failed)` : '';
    const failures = info.failures.length > 0 ? `: ${describeFailures(info.failures)}` : '';
    throw new SearchSnapshotFailedError(
      `snapshot ${repository}/${state.snapshot} ended ${info.state}${shards}${failures}; ` +
        `${deleted ? 'the snapshot was deleted' : 'deleting the snapshot failed: delete it by hand'}`,
    );
  }
  const missing = state.indexes
    .filter((index) => !info.indices.includes(index.name))
    .map((index) => index.name);
  if (missing.length > 0) {
    throw new SearchSnapshotFailedError(
      `snapshot ${repository}/${state.snapshot} succeeded without ${namedFirst(missing)} (deleted during the snapshot?)`,
    );
  }
  // Writes during the snapshot make the counts at the start approximate: record the end too.
  const after = new Map((await engine.listIndices(listing)).map((index) => [index.name, index.docCount]));
  const indexes = state.indexes.map((index) => {
    const atEnd = after.get(index.name);
    return atEnd !== undefined && atEnd !== index.docCount ? { ...index, docCountAtEnd: atEnd } : index;
  });
  const indexList = storeIndexes && !indexRecordsFitInline(indexes) ? await storeIndexes(indexes) : undefined;
  // The index list and the warnings travel once, in the result: Step Functions passes at most 256 KB between states.
  return {
    ...state,
    checks,
    indexes: [],
    warnings: [],
    done: true,
    result: completedResult(state, info, indexes, indexList, now),
  };
}
