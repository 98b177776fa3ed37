import {
  CAT_INDICES_COLUMNS,
  type CreateSnapshotOptions,
  type EngineFailure,
  type EngineInfo,
  type EngineKind,
  errorFromBody,
  type IndexInfo,
  indicesFromCat,
  progressFromStatusBody,
  type RepositoryDefinition,
  type RestoreOptions,
  recoveryFromBody,
  routingFromClusterState,
  type SearchEngine,
  type ShardCopy,
  type ShardRecovery,
  type SnapshotInfo,
  type SnapshotProgress,
  snapshotFromBody,
} from './engine.ts';
import { engineError, isMissing } from './engine-errors.ts';

/** Query parameters of a `_cat/indices` request: every index, open or closed, sizes in bytes. */
export const CAT_INDICES_QUERY = {
  format: 'json',
  h: [...CAT_INDICES_COLUMNS],
  expand_wildcards: 'all',
  bytes: 'b',
} as const;

/** The body of a snapshot creation (both engines): explicit indices, no cluster state, all or nothing. */
export interface SnapshotBody {
  readonly indices: string[];
  readonly include_global_state: false;
  readonly ignore_unavailable: false;
  readonly partial: false;
  readonly metadata: Record<string, string>;
}

/** The body of a restore (both engines). */
export interface RestoreBody {
  readonly indices: string[];
  readonly include_global_state: false;
  readonly include_aliases: boolean;
  readonly ignore_unavailable: false;
  readonly partial: false;
  readonly rename_pattern?: string;
  readonly rename_replacement?: string;
}

/**
 * The requests one client makes, each resolving to the response body. The two adapters differ
 * only here (parameter shapes: @elastic/elasticsearch takes body fields at the top level and
 * returns the body, @opensearch-project/opensearch takes `body` and returns `{body}`) and in how
 * their errors look; ClientEngine does the rest once.
 */
export interface RawSearchApi {
  info(): Promise<unknown>;
  getRepository(name: string): Promise<unknown>;
  putRepository(name: string, definition: RepositoryDefinition): Promise<unknown>;
  verifyRepository(name: string): Promise<unknown>;
  catIndices(pattern: string): Promise<unknown>;
  createSnapshot(repository: string, snapshot: string, body: SnapshotBody): Promise<unknown>;
  getSnapshot(repository: string, snapshot: string): Promise<unknown>;
  snapshotStatus(repository: string, snapshot: string): Promise<unknown>;
  deleteSnapshot(repository: string, snapshot: string): Promise<unknown>;
  restore(repository: string, snapshot: string, body: RestoreBody): Promise<unknown>;
  recovery(indices: string[]): Promise<unknown>;
  /** GET _cluster/state/routing_table/<indices>?ignore_unavailable=true */
  routingTable(indices: string[]): Promise<unknown>;
  closeIndices(indices: string[]): Promise<unknown>;
  deleteIndices(indices: string[]): Promise<unknown>;
  shutdown(): Promise<void>;
}

/**
 * Index lists that travel in the URL path, in groups that keep the request line well under the
 * engines' 4 KB limit (http.max_initial_line_length).
 */
export function chunkNames(names: readonly string[], maxChars = 2000): string[][] {
  const chunks: string[][] = [];
  let current: string[] = [];
  let length = 0;
  for (const name of names) {
    if (current.length > 0 && length + name.length + 1 > maxChars) {
      chunks.push(current);
      current = [];
      length = 0;
    }
    current.push(name);
    length += name.length + 1;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** How an adapter reaches its cluster. */
export interface EngineOptions<Auth> {
  /** Cluster URL without user info. */
  readonly endpoint: string;
  readonly auth: Auth;
  /** @default 30 000 */
  readonly requestTimeoutMs?: number;
}

/** The error classes of a client (both clients descend from the same transport and name them alike). */
export interface ClientErrorClasses {
  readonly ResponseError: abstract new (
    ...args: never[]
  ) => { meta: { statusCode?: number | null; body?: unknown } };
  readonly transport: ReadonlyArray<abstract new (...args: never[]) => Error>;
}

/** What a client's thrown error says: the engine's status and error body, or a transport failure. */
export function failureFromClientError(error: unknown, classes: ClientErrorClasses): EngineFailure {
  if (error instanceof classes.ResponseError) {
    const { type, reason } = errorFromBody(error.meta.body);
    return {
      ...(typeof error.meta.statusCode === 'number' ? { status: error.meta.statusCode } : {}),
      ...(type !== undefined ? { type } : {}),
      ...(reason !== undefined ? { reason } : {}),
      transport: false,
      message: error instanceof Error ? error.message : 'response error',
    };
  }
  const transport = classes.transport.some((kind) => error instanceof kind);
  return { transport, message: error instanceof Error ? error.message : String(error) };
}

/** SearchEngine over a client's raw requests: response parsing and error translation in one place. */
export class ClientEngine implements SearchEngine {
  constructor(
    readonly kind: EngineKind,
    private readonly api: RawSearchApi,
    /** The endpoint without credentials, for messages. */
    private readonly where: string,
    /** What a thrown client error means; may throw a more specific error itself. */
    private readonly failureOf: (error: unknown) => EngineFailure,
  ) {}

  private async call(action: string, run: () => Promise<unknown>, missing?: string[]): Promise<unknown> {
    try {
      return await run();
    } catch (error) {
      const failure = this.failureOf(error);
      if (missing && isMissing(failure, ...missing)) return undefined;
      throw engineError(failure, action, this.where);
    }
  }

  async info(): Promise<EngineInfo> {
    const body = (await this.call('reading the cluster information', () => this.api.info())) as {
      cluster_name?: unknown;
      version?: { distribution?: unknown; number?: unknown };
    };
    return {
      // Elasticsearch, and Amazon OpenSearch Service domains that run Elasticsearch 7.10, report no distribution.
      distribution:
        typeof body.version?.distribution === 'string' ? body.version.distribution : 'elasticsearch',
      version: String(body.version?.number),
      clusterName: String(body.cluster_name),
    };
  }

  async getRepository(name: string): Promise<RepositoryDefinition | undefined> {
    const body = await this.call(`reading snapshot repository ${name}`, () => this.api.getRepository(name), [
      'repository_missing_exception',
    ]);
    const repository = (
      body as Record<string, { type?: unknown; settings?: Record<string, unknown> }> | undefined
    )?.[name];
    if (!repository) return undefined;
    return { type: String(repository.type), settings: repository.settings ?? {} };
  }

  async putRepository(name: string, definition: RepositoryDefinition): Promise<void> {
    await this.call(`registering snapshot repository ${name}`, () =>
      this.api.putRepository(name, definition),
    );
  }

  async verifyRepository(name: string): Promise<string[]> {
    const body = (await this.call(`verifying snapshot repository ${name}`, () =>
      this.api.verifyRepository(name),
    )) as {
      nodes?: Record<string, { name?: unknown }>;
    };
    return Object.values(body.nodes ?? {}).map((node) => String(node.name));
  }

  async listIndices(pattern: string): Promise<IndexInfo[]> {
    const rows = await this.call(`listing indexes ${pattern}`, () => this.api.catIndices(pattern), [
      'index_not_found_exception',
    ]);
    return indicesFromCat(rows ?? []);
  }

  async findIndices(names: readonly string[]): Promise<IndexInfo[]> {
    const wanted = new Set(names);
    const found = new Map<string, IndexInfo>();
    // `name*` instead of `name`: a pattern that matches nothing is an empty answer, while one missing
    // concrete name would make the whole request a 404.
    for (const chunk of chunkNames(names.map((name) => `${name}*`))) {
      for (const index of await this.listIndices(chunk.join(','))) {
        if (wanted.has(index.name)) found.set(index.name, index);
      }
    }
    return [...found.values()];
  }

  async createSnapshot(repository: string, snapshot: string, options: CreateSnapshotOptions): Promise<void> {
    await this.call(`starting snapshot ${repository}/${snapshot}`, () =>
      this.api.createSnapshot(repository, snapshot, {
        indices: [...options.indices],
        include_global_state: false,
        ignore_unavailable: false,
        partial: false,
        metadata: { ...options.metadata },
      }),
    );
  }

  async getSnapshot(repository: string, snapshot: string): Promise<SnapshotInfo | undefined> {
    const body = await this.call(
      `reading snapshot ${repository}/${snapshot}`,
      () => this.api.getSnapshot(repository, snapshot),
      ['snapshot_missing_exception'],
    );
    return body ? snapshotFromBody(body) : undefined;
  }

  async snapshotProgress(repository: string, snapshot: string): Promise<SnapshotProgress | undefined> {
    const body = await this.call(
      `reading the status of snapshot ${repository}/${snapshot}`,
      () => this.api.snapshotStatus(repository, snapshot),
      ['snapshot_missing_exception'],
    );
    return body ? progressFromStatusBody(body) : undefined;
  }

  async deleteSnapshot(repository: string, snapshot: string): Promise<boolean> {
    const body = await this.call(
      `deleting snapshot ${repository}/${snapshot}`,
      () => this.api.deleteSnapshot(repository, snapshot),
      ['snapshot_missing_exception'],
    );
    return body !== undefined;
  }

  async restoreSnapshot(repository: string, snapshot: string, options: RestoreOptions): Promise<void> {
    await this.call(`restoring snapshot ${repository}/${snapshot}`, () =>
      this.api.restore(repository, snapshot, {
        indices: [...options.indices],
        include_global_state: false,
        include_aliases: options.includeAliases,
        ignore_unavailable: false,
        partial: false,
        ...(options.rename
          ? { rename_pattern: options.rename.pattern, rename_replacement: options.rename.replacement }
          : {}),
      }),
    );
  }

  async recovery(indices: readonly string[]): Promise<Map<string, ShardRecovery[]>> {
    const result = new Map<string, ShardRecovery[]>();
    for (const chunk of chunkNames(indices)) {
      const body = await this.call(
        `reading the recovery of ${chunk.join(',')}`,
        () => this.api.recovery(chunk),
        ['index_not_found_exception'],
      );
      for (const [index, shards] of recoveryFromBody(body ?? {})) result.set(index, shards);
    }
    return result;
  }

  async routing(indices: readonly string[]): Promise<Map<string, ShardCopy[]>> {
    const result = new Map<string, ShardCopy[]>();
    for (const chunk of chunkNames(indices)) {
      const body = await this.call(`reading the routing table of ${chunk.join(',')}`, () =>
        this.api.routingTable(chunk),
      );
      for (const [index, copies] of routingFromClusterState(body)) result.set(index, copies);
    }
    return result;
  }

  async closeIndices(indices: readonly string[]): Promise<void> {
    for (const chunk of chunkNames(indices)) {
      await this.call(`closing ${chunk.join(',')}`, () => this.api.closeIndices(chunk));
    }
  }

  async deleteIndices(indices: readonly string[]): Promise<void> {
    for (const chunk of chunkNames(indices)) {
      await this.call(`deleting ${chunk.join(',')}`, () => this.api.deleteIndices(chunk));
    }
  }

  async close(): Promise<void> {
    await this.api.shutdown();
  }
}
