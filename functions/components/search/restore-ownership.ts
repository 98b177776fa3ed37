import type { IndexInfo, SearchEngine, ShardCopy, ShardRecovery } from './engine.ts';
import type { IndexRecord, SearchRestoreRequest } from './records.ts';

/**
 * Which existing indexes are this restore's own work in progress.
 *
 * `Search start restore` is retried by the state machine when POST _restore timed out or its
 * connection dropped (RetryableError) and on Lambda's transient errors. When the engine had
 * accepted the restore before the answer was lost, the retry finds the indexes its first attempt
 * is restoring. Planned as conflicts they would fail the restore ("exists"), or be deleted and
 * restored again with `replace`. The engine's answer (`{"accepted": true}`) names nothing a retry
 * could look for, so the indexes are recognised by what the engines report about each primary
 * shard (the same fields in Elasticsearch and OpenSearch):
 *
 * - `GET _cluster/state/routing_table/<indexes>`: a copy not yet started carries `recovery_source`
 *   (`type` SNAPSHOT with `repository`, `snapshot`, `index` — the name in the snapshot — and
 *   `restoreUUID`) and `unassigned_info.at`: when the restore was accepted.
 * - `GET <indexes>/_recovery`: per allocated copy the same `source` fields and
 *   `start_time_in_millis`, when its node began recovering it. It is all there is for a started
 *   copy, and it leaves out an index whose primaries are all unassigned (restores are throttled to
 *   a few primaries per node), so the routing table is read too, but only when `_recovery` alone
 *   does not already show that the index is someone else's.
 *
 * An index is this restore's when every primary is being (or was) recovered from this repository,
 * this snapshot and the same index in it, and that began after this restore did (the Restore
 * execution's start). A primary that was recovering before then proves the index was there before:
 * restored from the same snapshot earlier, by another restore or by hand, it stays a conflict.
 * What cannot be told apart (a copy recovered again since, by a restart or a relocation) is a
 * problem that stops the restore before anything is changed: never a conflict that `close` or
 * `replace` would act on.
 *
 * Limits: the engine's clock is compared with the Restore execution's start (clocks synchronised
 * within the seconds that Prepare takes); another restore of the same snapshot into the same names,
 * accepted before this one began but allocated and started only after, looks like this one's (its
 * data is then this snapshot's too, and nothing is deleted).
 */

/** What this restore restores from, and since when. */
export interface RestoreSource {
  readonly repository: string;
  readonly snapshot: string;
  /** When this restore began: its own recoveries began later. */
  readonly sinceMillis: number;
}

/** Where one existing index's primaries come from, as far as this restore is concerned. */
export type IndexOrigin =
  | { readonly kind: 'this-restore'; readonly restoreUuids: readonly string[] }
  | { readonly kind: 'other' }
  | { readonly kind: 'unknown'; readonly why: string };

/** One primary copy's recovery, from the routing table or from `_recovery`. */
interface PrimaryEvidence {
  readonly shard: number;
  readonly type: string;
  readonly repository?: string;
  readonly snapshot?: string;
  readonly sourceIndex?: string;
  readonly restoreUuid?: string;
  /** When the restore was accepted (routing table) or the node began recovering it (`_recovery`). */
  readonly atMillis?: number;
}

function fromRecovery(recovery: ShardRecovery): PrimaryEvidence {
  return {
    shard: recovery.shard,
    type: recovery.type,
    ...(recovery.repository !== undefined ? { repository: recovery.repository } : {}),
    ...(recovery.snapshot !== undefined ? { snapshot: recovery.snapshot } : {}),
    ...(recovery.sourceIndex !== undefined ? { sourceIndex: recovery.sourceIndex } : {}),
    ...(recovery.restoreUuid !== undefined ? { restoreUuid: recovery.restoreUuid } : {}),
    ...(recovery.startTimeMillis !== undefined ? { atMillis: recovery.startTimeMillis } : {}),
  };
}

function fromCopy(copy: ShardCopy): PrimaryEvidence | undefined {
  const source = copy.recoverySource;
  if (!source) return undefined;
  return {
    shard: copy.shard,
    type: source.type,
    ...(source.repository !== undefined ? { repository: source.repository } : {}),
    ...(source.snapshot !== undefined ? { snapshot: source.snapshot } : {}),
    ...(source.index !== undefined ? { sourceIndex: source.index } : {}),
    ...(source.restoreUuid !== undefined ? { restoreUuid: source.restoreUuid } : {}),
    ...(copy.unassigned?.atMillis !== undefined ? { atMillis: copy.unassigned.atMillis } : {}),
  };
}

const iso = (millis: number) => new Date(millis).toISOString();

/**
 * Decides from its primaries whether index `target` is this restore restoring `sourceIndex` of the
 * snapshot. `primaryShards` is the index's number of primaries (`_cat/indices` `pri`). For each
 * primary the routing table's copy is used while it has a recovery source (not yet started: its
 * time is the restore's acceptance), `_recovery` otherwise.
 */
export function indexOrigin(
  source: RestoreSource,
  target: string,
  sourceIndex: string,
  primaryShards: number | undefined,
  recoveries: readonly ShardRecovery[],
  copies: readonly ShardCopy[],
): IndexOrigin {
  const routed = copies.filter((copy) => copy.primary).flatMap((copy) => fromCopy(copy) ?? []);
  const recovered = recoveries
    .filter((shard) => shard.primary && !routed.some((item) => item.shard === shard.shard))
    .map(fromRecovery);
  const evidence = [...routed, ...recovered];
  const shardIds = new Set<number>(Array.from({ length: primaryShards ?? 1 }, (_, id) => id));
  for (const item of evidence) shardIds.add(item.shard);
  const silent = [...shardIds].filter((id) => !evidence.some((item) => item.shard === id));
  if (silent.length > 0) {
    return {
      kind: 'unknown',
      why: `neither GET ${target}/_recovery nor the routing table says where primary shard ${silent.join(', ')} comes from`,
    };
  }
  // A primary that was recovering before this restore began proves the index was there before it.
  if (evidence.some((item) => item.atMillis !== undefined && item.atMillis <= source.sinceMillis)) {
    return { kind: 'other' };
  }
  const fromThisSnapshot = (item: PrimaryEvidence) =>
    item.type === 'SNAPSHOT' &&
    item.repository === source.repository &&
    item.snapshot === source.snapshot &&
    item.sourceIndex === sourceIndex;
  const ours = (item: PrimaryEvidence) => fromThisSnapshot(item) && item.atMillis !== undefined;
  // Since this restore began, the index was created empty or restored from something else: not ours.
  const foreign = (item: PrimaryEvidence) =>
    item.atMillis !== undefined &&
    (item.type === 'EMPTY_STORE' ||
      (item.type === 'SNAPSHOT' &&
        item.repository !== undefined &&
        item.snapshot !== undefined &&
        item.sourceIndex !== undefined &&
        !fromThisSnapshot(item)));
  if (evidence.every(ours)) {
    const uuids = new Set(evidence.flatMap((item) => (item.restoreUuid ? [item.restoreUuid] : [])));
    return { kind: 'this-restore', restoreUuids: [...uuids] };
  }
  if (evidence.every(foreign)) return { kind: 'other' };
  // A restart or relocation since this restore began (EXISTING_STORE, PEER) hides where a copy came from.
  const unclear = evidence.find((item) => !ours(item) && !foreign(item));
  if (!unclear) {
    return {
      kind: 'unknown',
      why: `some primaries come from this restore's snapshot since it began (${iso(source.sinceMillis)}), others not`,
    };
  }
  const when =
    unclear.atMillis !== undefined ? ` since ${iso(unclear.atMillis)}` : ' (the engine gives no start time)';
  return {
    kind: 'unknown',
    why:
      `primary shard ${unclear.shard} is recovering from ${unclear.type || 'an unknown source'}${when}: ` +
      `whether this restore (begun ${iso(source.sinceMillis)}) put it there cannot be told`,
  };
}

/** An index this restore is already restoring: `name` in the snapshot, restored as `target`. */
export interface ResumedIndex {
  readonly name: string;
  readonly target: string;
}

export interface Ownership {
  readonly resumed: ResumedIndex[];
  /** What could not be told apart: the restore must stop before changing anything. */
  readonly problems: string[];
}

/**
 * Looks at the existing indexes a restore of `selected` would restore into (each index's own name,
 * and its renamed name with `rename`) and returns those this restore is already restoring. Only
 * open indexes are examined: a restore opens the index it restores into, so a closed one is not a
 * restore in progress. No request is made when none of them exists.
 */
export async function findOwnRestores(
  engine: SearchEngine,
  input: {
    readonly selected: readonly IndexRecord[];
    readonly existing: readonly IndexInfo[];
    readonly request: SearchRestoreRequest;
    readonly source: RestoreSource;
  },
): Promise<Ownership> {
  const { selected, request, source } = input;
  const open = new Map(
    input.existing.filter((index) => index.status === 'open').map((index) => [index.name, index]),
  );
  const candidates = selected.flatMap((index) =>
    [index.name, ...(request.onConflict === 'rename' ? [`${request.renamePrefix}${index.name}`] : [])]
      .map((name) => open.get(name))
      .filter((target): target is IndexInfo => target !== undefined)
      .map((target) => ({ name: index.name, target })),
  );
  if (candidates.length === 0) return { resumed: [], problems: [] };

  const recoveries = await engine.recovery(candidates.map((candidate) => candidate.target.name));
  const originOf = (candidate: (typeof candidates)[number], copies: readonly ShardCopy[]) =>
    indexOrigin(
      source,
      candidate.target.name,
      candidate.name,
      candidate.target.primaryShards,
      recoveries.get(candidate.target.name) ?? [],
      copies,
    );
  // The routing table only for what `_recovery` does not already show to be someone else's.
  const undecided = candidates.filter((candidate) => originOf(candidate, []).kind !== 'other');
  const routing =
    undecided.length > 0
      ? await engine.routing(undecided.map((candidate) => candidate.target.name))
      : new Map<string, ShardCopy[]>();

  const mine = new Map<string, string[]>();
  const problems: string[] = [];
  const uuids = new Map<string, string[]>();
  for (const candidate of candidates) {
    const origin = originOf(candidate, routing.get(candidate.target.name) ?? []);
    if (origin.kind === 'unknown') problems.push(`index ${candidate.target.name}: ${origin.why}`);
    if (origin.kind !== 'this-restore') continue;
    mine.set(candidate.name, [...(mine.get(candidate.name) ?? []), candidate.target.name]);
    for (const uuid of origin.restoreUuids) {
      uuids.set(uuid, [...(uuids.get(uuid) ?? []), candidate.target.name]);
    }
  }
  const resumed: ResumedIndex[] = [];
  for (const [name, targets] of mine) {
    const [target, ...more] = targets;
    if (more.length > 0)
      problems.push(`${name} is being restored from this snapshot as both ${targets.join(' and ')}`);
    else if (target !== undefined) resumed.push({ name, target });
  }
  // One restore request restores every index it names under one restore UUID.
  if (uuids.size > 1) {
    problems.push(
      `${uuids.size} restores of snapshot ${source.snapshot} began after this one did (` +
        [...uuids.values()].map((names) => names.join(', ')).join(' / ') +
        '): which of them is this restore cannot be told',
    );
  }
  return { resumed, problems };
}
