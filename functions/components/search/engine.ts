/**
 * One interface over the two search engines the component supports. Each adapter
 * (elasticsearch-engine.ts, opensearch-engine.ts) maps it onto its own client and turns the
 * engine's error bodies into the named errors of errors.ts; the rest of the component never sees
 * a client.
 */

export type EngineKind = 'elasticsearch' | 'opensearch';

export interface EngineInfo {
  /** `elasticsearch` or `opensearch`, as the cluster reports it (`version.distribution`). */
  readonly distribution: string;
  readonly version: string;
  readonly clusterName: string;
}

export interface RepositoryDefinition {
  readonly type: string;
  /** Values as the engine returns them (strings, even for booleans and numbers). */
  readonly settings: Readonly<Record<string, unknown>>;
}

export interface IndexInfo {
  readonly name: string;
  readonly uuid?: string;
  readonly status: 'open' | 'close';
  /** green | yellow | red; absent when the engine does not report it (closed indexes). */
  readonly health?: string;
  /** Lucene documents (`docs.count` of _cat/indices); undefined for a closed index. */
  readonly docCount?: number;
  readonly primaryShards?: number;
  readonly storeBytes?: number;
}

/** States of GET _snapshot/<repository>/<snapshot> (SnapshotState). */
export type SnapshotState = 'IN_PROGRESS' | 'SUCCESS' | 'PARTIAL' | 'FAILED' | 'INCOMPATIBLE';

export interface ShardFailure {
  readonly index?: string;
  readonly shardId?: number;
  readonly reason?: string;
  readonly nodeId?: string;
  readonly status?: string;
}

export interface SnapshotInfo {
  readonly name: string;
  readonly uuid?: string;
  readonly state: SnapshotState | string;
  readonly indices: readonly string[];
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly startTime?: string;
  readonly endTime?: string;
  readonly shards?: { readonly total: number; readonly failed: number; readonly successful: number };
  readonly failures: readonly ShardFailure[];
  readonly version?: string;
}

export interface SnapshotProgress {
  readonly shardsDone: number;
  readonly shardsTotal: number;
  readonly shardsFailed: number;
  readonly bytesDone?: number;
  readonly bytesTotal?: number;
}

export interface ShardRecovery {
  readonly shard: number;
  readonly type: string;
  readonly stage: string;
  readonly primary: boolean;
  readonly snapshot?: string;
  readonly repository?: string;
  /** SNAPSHOT recoveries: the index in the snapshot (its name before any rename), `source.index`. */
  readonly sourceIndex?: string;
  /** SNAPSHOT recoveries: `source.restoreUUID`, one per restore request, shared by all its shards. */
  readonly restoreUuid?: string;
  /** When the shard's recovery began on its node (`start_time_in_millis`, the node's clock). */
  readonly startTimeMillis?: number;
}

/**
 * Where an unassigned or initializing shard copy gets its data (`recovery_source` in the routing
 * table): `SNAPSHOT` (with the snapshot and the index in it), `EXISTING_STORE`, `EMPTY_STORE`,
 * `PEER` (replicas), `LOCAL_SHARDS`.
 */
export interface RecoverySourceInfo {
  readonly type: string;
  readonly repository?: string;
  readonly snapshot?: string;
  readonly index?: string;
  readonly restoreUuid?: string;
}

/**
 * One shard copy of the routing table (`GET _cluster/state/routing_table/<indices>`). It knows
 * what `_recovery` cannot tell yet: a copy still UNASSIGNED (its node has not started recovering
 * it, e.g. throttled behind `cluster.routing.allocation.node_initial_primaries_recoveries`) has no
 * recovery state, and `_recovery` leaves its index out.
 */
export interface ShardCopy {
  readonly shard: number;
  readonly primary: boolean;
  /** UNASSIGNED | INITIALIZING | STARTED | RELOCATING */
  readonly state: string;
  /** Absent once the copy has started. */
  readonly recoverySource?: RecoverySourceInfo;
  /** Why and since when the copy was unassigned (`unassigned_info`), kept until it has started. */
  readonly unassigned?: { readonly reason: string; readonly atMillis?: number };
}

export interface CreateSnapshotOptions {
  readonly indices: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
}

export interface RestoreOptions {
  readonly indices: readonly string[];
  /** A Java regular expression over index names and its replacement (`$1`), applied by the engine. */
  readonly rename?: { readonly pattern: string; readonly replacement: string };
  readonly includeAliases: boolean;
}

export interface SearchEngine {
  readonly kind: EngineKind;
  info(): Promise<EngineInfo>;
  getRepository(name: string): Promise<RepositoryDefinition | undefined>;
  putRepository(name: string, definition: RepositoryDefinition): Promise<void>;
  /** The names of the nodes that could read and write the repository. */
  verifyRepository(name: string): Promise<string[]>;
  /** Every index (open and closed) matching the pattern (`*` for all). */
  listIndices(pattern: string): Promise<IndexInfo[]>;
  /** The indexes (open and closed) with exactly these names; a name that does not exist is left out. */
  findIndices(names: readonly string[]): Promise<IndexInfo[]>;
  /** Starts a snapshot without waiting (`wait_for_completion=false`, `include_global_state=false`). */
  createSnapshot(repository: string, snapshot: string, options: CreateSnapshotOptions): Promise<void>;
  getSnapshot(repository: string, snapshot: string): Promise<SnapshotInfo | undefined>;
  snapshotProgress(repository: string, snapshot: string): Promise<SnapshotProgress | undefined>;
  /** Deletes a snapshot (aborts it when it is running); false when it does not exist. */
  deleteSnapshot(repository: string, snapshot: string): Promise<boolean>;
  /** Starts a restore without waiting (`wait_for_completion=false`, `include_global_state=false`). */
  restoreSnapshot(repository: string, snapshot: string, options: RestoreOptions): Promise<void>;
  /** Shard recoveries of these indexes, by index; an index the engine does not list is absent. */
  recovery(indices: readonly string[]): Promise<Map<string, ShardRecovery[]>>;
  /** The routing table's shard copies of these indexes, by index; a name that does not exist is absent. */
  routing(indices: readonly string[]): Promise<Map<string, ShardCopy[]>>;
  closeIndices(indices: readonly string[]): Promise<void>;
  deleteIndices(indices: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** What both adapters need from a failed request, whichever client threw it. */
export interface EngineFailure {
  readonly status?: number;
  readonly type?: string;
  readonly reason?: string;
  /** Connection refused, timeout, DNS: the request may not have reached the engine. */
  readonly transport: boolean;
  readonly message: string;
}

/** Reads `{error: {type, reason, root_cause}}` (or the plain-string `error` of old engines). */
export function errorFromBody(body: unknown): { type?: string; reason?: string } {
  if (body === null || typeof body !== 'object')
    return typeof body === 'string' ? { reason: body.slice(0, 2000) } : {};
  const error = (body as { error?: unknown; message?: unknown }).error;
  if (typeof error === 'string') return { reason: error };
  if (error && typeof error === 'object') {
    const record = error as { type?: unknown; reason?: unknown; root_cause?: unknown };
    const rootCause = Array.isArray(record.root_cause)
      ? (record.root_cause[0] as { reason?: unknown } | undefined)
      : undefined;
    const reason =
      typeof record.reason === 'string'
        ? record.reason
        : typeof rootCause?.reason === 'string'
          ? rootCause.reason
          : undefined;
    return {
      ...(typeof record.type === 'string' ? { type: record.type } : {}),
      ...(reason !== undefined ? { reason } : {}),
    };
  }
  // Amazon OpenSearch Service's own front end answers IAM/SigV4 refusals as {"message": "..."}.
  const message = (body as { message?: unknown }).message;
  return typeof message === 'string' ? { reason: message } : {};
}

function parseNumber(value: unknown): number | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  const number = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(number) ? number : undefined;
}

/** The `_cat/indices?format=json` rows both engines return (every value a string). */
export function indicesFromCat(rows: unknown): IndexInfo[] {
  if (!Array.isArray(rows)) return [];
  return rows.flatMap((raw): IndexInfo[] => {
    const row = raw as Record<string, unknown>;
    if (typeof row.index !== 'string') return [];
    const docCount = parseNumber(row['docs.count']);
    const primaryShards = parseNumber(row.pri);
    const storeBytes = parseNumber(row['store.size']);
    return [
      {
        name: row.index,
        status: row.status === 'close' ? 'close' : 'open',
        ...(typeof row.uuid === 'string' ? { uuid: row.uuid } : {}),
        ...(typeof row.health === 'string' && row.health !== '' ? { health: row.health } : {}),
        ...(docCount !== undefined ? { docCount } : {}),
        ...(primaryShards !== undefined ? { primaryShards } : {}),
        ...(storeBytes !== undefined ? { storeBytes } : {}),
      },
    ];
  });
}

/** The first entry of GET _snapshot/<repo>/<snap>'s `snapshots` array, in our shape. */
export function snapshotFromBody(body: unknown): SnapshotInfo | undefined {
  const snapshots = (body as { snapshots?: unknown } | null)?.snapshots;
  if (!Array.isArray(snapshots) || snapshots.length === 0) return undefined;
  const raw = snapshots[0] as Record<string, unknown>;
  const shards = raw.shards as { total?: unknown; failed?: unknown; successful?: unknown } | undefined;
  const failures = Array.isArray(raw.failures) ? (raw.failures as Record<string, unknown>[]) : [];
  return {
    name: String(raw.snapshot),
    state: String(raw.state),
    indices: Array.isArray(raw.indices) ? raw.indices.map(String) : [],
    failures: failures.map((failure) => ({
      ...(typeof failure.index === 'string' ? { index: failure.index } : {}),
      ...(parseNumber(failure.shard_id) !== undefined ? { shardId: parseNumber(failure.shard_id) } : {}),
      ...(typeof failure.reason === 'string' ? { reason: failure.reason } : {}),
      ...(typeof failure.node_id === 'string' ? { nodeId: failure.node_id } : {}),
      ...(typeof failure.status === 'string' ? { status: failure.status } : {}),
    })),
    ...(typeof raw.uuid === 'string' ? { uuid: raw.uuid } : {}),
    ...(raw.metadata && typeof raw.metadata === 'object'
      ? { metadata: raw.metadata as Record<string, unknown> }
      : {}),
    ...(typeof raw.start_time === 'string' ? { startTime: raw.start_time } : {}),
    ...(typeof raw.end_time === 'string' ? { endTime: raw.end_time } : {}),
    ...(typeof raw.version === 'string' ? { version: raw.version } : {}),
    ...(shards
      ? {
          shards: {
            total: parseNumber(shards.total) ?? 0,
            failed: parseNumber(shards.failed) ?? 0,
            successful: parseNumber(shards.successful) ?? 0,
          },
        }
      : {}),
  };
}

/** GET _snapshot/<repo>/<snap>/_status: shard counts and bytes (progress while IN_PROGRESS only). */
export function progressFromStatusBody(body: unknown): SnapshotProgress | undefined {
  const snapshots = (body as { snapshots?: unknown } | null)?.snapshots;
  if (!Array.isArray(snapshots) || snapshots.length === 0) return undefined;
  const raw = snapshots[0] as {
    shards_stats?: Record<string, unknown>;
    stats?: {
      total?: { size_in_bytes?: unknown };
      processed?: { size_in_bytes?: unknown };
      incremental?: { size_in_bytes?: unknown };
    };
  };
  const bytesTotal = parseNumber(raw.stats?.total?.size_in_bytes);
  const bytesDone = parseNumber(raw.stats?.processed?.size_in_bytes);
  return {
    shardsDone: parseNumber(raw.shards_stats?.done) ?? 0,
    shardsTotal: parseNumber(raw.shards_stats?.total) ?? 0,
    shardsFailed: parseNumber(raw.shards_stats?.failed) ?? 0,
    ...(bytesTotal !== undefined ? { bytesTotal } : {}),
    ...(bytesDone !== undefined ? { bytesDone } : {}),
  };
}

/** GET <indices>/_recovery: `{index: {shards: [...]}}`. */
export function recoveryFromBody(body: unknown): Map<string, ShardRecovery[]> {
  const result = new Map<string, ShardRecovery[]>();
  if (!body || typeof body !== 'object') return result;
  for (const [index, value] of Object.entries(body as Record<string, unknown>)) {
    const shards = (value as { shards?: unknown } | null)?.shards;
    if (!Array.isArray(shards)) continue;
    result.set(
      index,
      shards.map((raw) => {
        const shard = raw as Record<string, unknown>;
        const source = (shard.source ?? {}) as Record<string, unknown>;
        const startTimeMillis = parseNumber(shard.start_time_in_millis);
        return {
          shard: parseNumber(shard.id) ?? 0,
          type: String(shard.type ?? ''),
          stage: String(shard.stage ?? ''),
          primary: shard.primary === true,
          ...(typeof source.snapshot === 'string' ? { snapshot: source.snapshot } : {}),
          ...(typeof source.repository === 'string' ? { repository: source.repository } : {}),
          ...(typeof source.index === 'string' ? { sourceIndex: source.index } : {}),
          ...(typeof source.restoreUUID === 'string' ? { restoreUuid: source.restoreUUID } : {}),
          ...(startTimeMillis !== undefined ? { startTimeMillis } : {}),
        };
      }),
    );
  }
  return result;
}

/**
 * GET _cluster/state/routing_table/<indices>: `{routing_table: {indices: {<index>: {shards:
 * {"<id>": [copy, ...]}}}}}`, each copy as ShardRouting writes it (`state`, `primary`, `shard`,
 * `recovery_source` until started, `unassigned_info` with `reason` and `at`).
 */
export function routingFromClusterState(body: unknown): Map<string, ShardCopy[]> {
  const result = new Map<string, ShardCopy[]>();
  const indices = (body as { routing_table?: { indices?: unknown } } | null)?.routing_table?.indices;
  if (!indices || typeof indices !== 'object') return result;
  for (const [index, value] of Object.entries(indices as Record<string, unknown>)) {
    const shards = (value as { shards?: unknown } | null)?.shards;
    if (!shards || typeof shards !== 'object') continue;
    const copies: ShardCopy[] = [];
    for (const [id, list] of Object.entries(shards as Record<string, unknown>)) {
      if (!Array.isArray(list)) continue;
      for (const raw of list as Record<string, unknown>[]) {
        const source = raw.recovery_source as Record<string, unknown> | undefined;
        const unassigned = raw.unassigned_info as Record<string, unknown> | undefined;
        const at = typeof unassigned?.at === 'string' ? Date.parse(unassigned.at) : Number.NaN;
        copies.push({
          shard: parseNumber(raw.shard) ?? parseNumber(id) ?? 0,
          primary: raw.primary === true,
          state: String(raw.state ?? ''),
          ...(source && typeof source.type === 'string'
            ? {
                recoverySource: {
                  type: source.type,
                  ...(typeof source.repository === 'string' ? { repository: source.repository } : {}),
                  ...(typeof source.snapshot === 'string' ? { snapshot: source.snapshot } : {}),
                  ...(typeof source.index === 'string' ? { index: source.index } : {}),
                  ...(typeof source.restoreUUID === 'string' ? { restoreUuid: source.restoreUUID } : {}),
                },
              }
            : {}),
          ...(unassigned && typeof unassigned.reason === 'string'
            ? {
                unassigned: {
                  reason: unassigned.reason,
                  ...(Number.isFinite(at) ? { atMillis: at } : {}),
                },
              }
            : {}),
        });
      }
    }
    result.set(index, copies);
  }
  return result;
}

/** The `_cat/indices` columns both adapters request. */
export const CAT_INDICES_COLUMNS = [
  'health',
  'status',
  'index',
  'uuid',
  'pri',
  'docs.count',
  'store.size',
] as const;
