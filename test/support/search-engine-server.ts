/**
 * A stand-in for an Elasticsearch or OpenSearch cluster, for the search component's tests: no
 * real engine can run on this machine. It answers the snapshot/restore API the component uses,
 * built from the engines' documentation (elastic/elasticsearch rest-api-spec and reference docs,
 * opensearch-project/documentation-website `_api-reference/snapshots/*`, Amazon OpenSearch Service
 * developer guide):
 *
 *   GET /                                   cluster info (Elasticsearch: `x-elastic-product` header)
 *   GET /_cat/indices[/<pattern>]           ?format=json&h=...&expand_wildcards=...
 *   GET|PUT|POST /_snapshot/<repo>          repository_missing_exception when absent
 *   POST /_snapshot/<repo>/_verify
 *   PUT|POST /_snapshot/<repo>/<snap>       ?wait_for_completion=false → {"accepted": true};
 *                                           invalid_snapshot_name_exception, concurrent_snapshot_execution_exception
 *   GET /_snapshot/<repo>/<snap>            IN_PROGRESS → SUCCESS | PARTIAL | FAILED (scripted)
 *   GET /_snapshot/<repo>/<snap>/_status    (PARTIAL reported as SUCCESS, as Elasticsearch does)
 *   DELETE /_snapshot/<repo>/<snap>
 *   POST /_snapshot/<repo>/<snap>/_restore  rename_pattern/_replacement; snapshot_restore_exception
 *                                           when an open index has the target name
 *   GET /<indices>/_recovery                SNAPSHOT recoveries, INDEX → DONE (scripted), with
 *                                           start_time_in_millis and source.index/restoreUUID; an index
 *                                           whose primaries are all unassigned is left out
 *   GET /_cluster/state/routing_table/<indices>   shard copies: state, recovery_source,
 *                                           unassigned_info (NEW_INDEX_RESTORED, at)
 *   POST /<indices>/_close, DELETE /<indices>
 *
 * Error bodies have the engines' shape: {"error": {"root_cause": [...], "type", "reason"}, "status"}.
 * Authentication: HTTP basic or an Elasticsearch API key, or AWS SigV4 verified by recomputing the
 * signature from the AWS Signature Version 4 specification (not with the signer the client uses).
 * What it does not do: store documents, search, shard allocation, IAM authorization decisions.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Flavour = 'elasticsearch' | 'opensearch';

export type StandInAuth =
  | { readonly type: 'basic'; readonly username: string; readonly password: string }
  | { readonly type: 'apiKey'; readonly key: string }
  | {
      readonly type: 'sigv4';
      readonly accessKeyId: string;
      readonly secretAccessKey: string;
      readonly sessionToken?: string;
      readonly region: string;
      readonly service: string;
    };

export interface StandInIndexSeed {
  readonly docs: number;
  readonly status?: 'open' | 'close';
  readonly pri?: number;
}

export interface StandInOptions {
  readonly flavour: Flavour;
  /** e.g. 8.15.0, 7.17.21, 2.11.0, 3.1.0 */
  readonly version: string;
  readonly clusterName?: string;
  readonly auth?: StandInAuth;
  readonly indices?: Readonly<Record<string, StandInIndexSeed>>;
}

export interface RecordedRequest {
  readonly method: string;
  /** The path as sent (percent-encoded), without the query. */
  readonly rawPath: string;
  readonly segments: string[];
  readonly query: Record<string, string>;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly status: number;
}

/** How the next snapshot created behaves: GETs answered IN_PROGRESS, then the outcome. */
export interface SnapshotScript {
  readonly inProgressChecks: number;
  readonly outcome: 'SUCCESS' | 'PARTIAL' | 'FAILED';
}

interface StandInIndex {
  name: string;
  uuid: string;
  status: 'open' | 'close';
  docs: number;
  pri: number;
  health: 'green' | 'yellow' | 'red';
  /** When it was created: the start of its (EMPTY_STORE) recovery. */
  createdMillis: number;
  restore?: StandInRestore;
}

/** A restored index's recovery: unassigned (throttled), then INDEX, then DONE. */
interface StandInRestore {
  repository: string;
  snapshot: string;
  /** The index in the snapshot (before any rename). */
  index: string;
  /** GET _recovery calls still answered with the primaries unassigned (the index left out). */
  unassignedLeft: number;
  /** GET _recovery calls still answered with stage INDEX once allocated. */
  checksLeft: number;
  /** The restore request's UUID: one per request, shared by every index it restores. */
  uuid: string;
  /** When the engine accepted the restore (unassigned_info.at). */
  acceptedMillis: number;
  /** When the primaries' recovery began on the node (start_time_in_millis): set on allocation. */
  startMillis?: number;
  stopMillis?: number;
  /** Restored over a closed index of the same name (EXISTING_INDEX_RESTORED). */
  overExisting: boolean;
}

interface StandInSnapshot {
  name: string;
  uuid: string;
  repository: string;
  indices: string[];
  contents: Map<string, { docs: number; pri: number }>;
  metadata: unknown;
  includeGlobalState: boolean;
  checksLeft: number;
  outcome: SnapshotScript['outcome'];
  startMillis: number;
  endMillis?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly reason: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(reason);
  }
}

function notFoundIndex(name: string): HttpError {
  return new HttpError(404, 'index_not_found_exception', `no such index [${name}]`, {
    'resource.type': 'index_or_alias',
    'resource.id': name,
    index: name,
  });
}

/** RFC 3986 encoding as SigV4 requires it (encodeURIComponent leaves !'()* alone). */
function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function globToRegExp(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

export class SearchEngineStandIn {
  readonly requests: RecordedRequest[] = [];
  readonly indices = new Map<string, StandInIndex>();
  readonly repositories = new Map<string, { type: string; settings: Record<string, string> }>();
  readonly snapshots = new Map<string, Map<string, StandInSnapshot>>();
  /** Scripts for the next snapshots created, in order; afterwards `defaultScript`. */
  readonly scripts: SnapshotScript[] = [];
  defaultScript: SnapshotScript = { inProgressChecks: 1, outcome: 'SUCCESS' };
  /** The next this many snapshot creations answer 503 concurrent_snapshot_execution_exception. */
  busyCreates = 0;
  /** GET _recovery calls that report a restored index still recovering (stage INDEX). */
  recoveryChecks = 1;
  /**
   * GET _recovery calls before a restored index's primaries are allocated: until then they are
   * UNASSIGNED (the engines throttle restores to a few primaries per node), `_recovery` leaves the
   * index out and only the routing table tells where they will come from.
   */
  restoreUnassignedChecks = 0;
  /** Repositories whose _verify fails (repository_verification_exception). */
  readonly unverifiable = new Set<string>();
  private readonly clusterUuid = randomUUID();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly options: StandInOptions,
  ) {}

  static async start(options: StandInOptions): Promise<SearchEngineStandIn> {
    let standIn: SearchEngineStandIn | undefined;
    const server = createServer((req, res) => {
      void standIn?.handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    standIn = new SearchEngineStandIn(server, `http://127.0.0.1:${port}`, options);
    for (const [name, seed] of Object.entries(options.indices ?? {})) standIn.addIndex(name, seed);
    return standIn;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  addIndex(name: string, seed: StandInIndexSeed): void {
    this.indices.set(name, {
      name,
      uuid: randomUUID().replace(/-/g, '').slice(0, 22),
      status: seed.status ?? 'open',
      docs: seed.docs,
      pri: seed.pri ?? 1,
      health: 'green',
      createdMillis: Date.now(),
    });
  }

  /** Simulates writes: the live document count of an index. */
  setDocs(name: string, docs: number): void {
    const index = this.indices.get(name);
    if (!index) throw new Error(`no index ${name}`);
    index.docs = docs;
  }

  /** Requests other than the ones matching `skip` (e.g. info), for assertions. */
  requestsTo(method: string, pathPrefix: string): RecordedRequest[] {
    return this.requests.filter(
      (request) => request.method === method && request.rawPath.startsWith(pathPrefix),
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const bodyBuffer = Buffer.concat(chunks);
    const body = bodyBuffer.toString('utf8');
    const [rawPath = '/', rawQuery = ''] = (req.url ?? '/').split('?', 2);
    const query = Object.fromEntries(new URLSearchParams(rawQuery));
    const segments = rawPath
      .split('/')
      .filter(Boolean)
      .map((segment) => decodeURIComponent(segment));
    const method = req.method ?? 'GET';
    let status = 200;
    let payload: unknown;
    const headers: Record<string, string> = {};
    if (this.options.flavour === 'elasticsearch') headers['x-elastic-product'] = 'Elasticsearch';
    try {
      this.checkMediaType(req);
      this.authenticate(req, method, rawPath, rawQuery, bodyBuffer);
      const parsed = body === '' ? {} : (JSON.parse(body) as Record<string, unknown>);
      payload = this.route(method, segments, query, parsed);
    } catch (error) {
      if (error instanceof HttpError) {
        status = error.status;
        if (error.type === 'aws_sigv4') {
          // Amazon OpenSearch Service's front end answers signature problems this way.
          payload = { message: error.reason };
        } else {
          const cause = { type: error.type, reason: error.reason, ...error.extra };
          payload = { error: { root_cause: [cause], ...cause }, status };
          if (status === 401) headers['www-authenticate'] = 'Basic realm="security" charset="UTF-8", ApiKey';
        }
      } else if (error instanceof SyntaxError) {
        status = 400;
        const cause = { type: 'parse_exception', reason: `request body is not JSON: ${error.message}` };
        payload = { error: { root_cause: [cause], ...cause }, status };
      } else {
        status = 500;
        const cause = { type: 'exception', reason: String(error) };
        payload = { error: { root_cause: [cause], ...cause }, status };
      }
    }
    this.requests.push({ method, rawPath, segments, query, headers: req.headers, body, status });
    const json = JSON.stringify(payload);
    res.writeHead(status, {
      ...headers,
      'content-type': 'application/json; charset=UTF-8',
      'content-length': String(Buffer.byteLength(json)),
    });
    res.end(json);
  }

  /**
   * Elasticsearch's versioned media types (`application/vnd.elasticsearch+json; compatible-with=N`):
   * a 7.x server accepts N=7 only, an 8.x server N=7 or 8. Plain application/json always works.
   */
  private checkMediaType(req: IncomingMessage): void {
    if (this.options.flavour !== 'elasticsearch') return;
    const major = Number.parseInt(this.options.version, 10);
    for (const header of [req.headers.accept, req.headers['content-type']]) {
      const match = /compatible-with=(\d+)/.exec(String(header ?? ''));
      if (!match) continue;
      const asked = Number(match[1]);
      const allowed = major >= 8 ? [major - 1, major] : [major];
      if (!allowed.includes(asked)) {
        throw new HttpError(
          400,
          'media_type_header_exception',
          'Invalid media-type value on headers [Accept, Content-Type]',
          {
            caused_by: {
              type: 'status_exception',
              reason: `Accept version must be either version ${allowed.join(' or ')}, but found ${asked}. Accept=${req.headers.accept}`,
            },
          },
        );
      }
    }
  }

  private authenticate(
    req: IncomingMessage,
    method: string,
    rawPath: string,
    rawQuery: string,
    body: Buffer,
  ): void {
    const auth = this.options.auth;
    if (!auth) return;
    const header = req.headers.authorization;
    if (auth.type === 'basic' || auth.type === 'apiKey') {
      const expected =
        auth.type === 'basic'
          ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`
          : `ApiKey ${auth.key}`;
      if (header === undefined) {
        throw new HttpError(
          401,
          'security_exception',
          `missing authentication credentials for REST request [${rawPath}]`,
        );
      }
      if (header !== expected) {
        throw new HttpError(
          401,
          'security_exception',
          `unable to authenticate user for REST request [${rawPath}]`,
        );
      }
      return;
    }
    const problem = verifySigV4(req, method, rawPath, rawQuery, body, auth);
    if (problem) throw new HttpError(403, 'aws_sigv4', problem);
  }

  private info(): unknown {
    const version: Record<string, unknown> = {
      number: this.options.version,
      build_type: 'tar',
      build_hash: '0000000000000000000000000000000000000000',
      build_date: '2024-01-01T00:00:00.000000000Z',
      build_snapshot: false,
      lucene_version: '9.0.0',
      minimum_wire_compatibility_version: '7.10.0',
      minimum_index_compatibility_version: '7.0.0',
    };
    if (this.options.flavour === 'opensearch')
      return {
        name: 'node-1',
        cluster_name: this.options.clusterName ?? 'stand-in',
        cluster_uuid: this.clusterUuid,
        version: { distribution: 'opensearch', ...version },
        tagline: 'The OpenSearch Project: https://opensearch.org/',
      };
    return {
      name: 'node-1',
      cluster_name: this.options.clusterName ?? 'stand-in',
      cluster_uuid: this.clusterUuid,
      version: { build_flavor: 'default', ...version },
      tagline: 'You Know, for Search',
    };
  }

  private route(
    method: string,
    segments: string[],
    query: Record<string, string>,
    body: Record<string, unknown>,
  ): unknown {
    const [first, second, third, fourth] = segments;
    if (segments.length === 0 && method === 'GET') return this.info();
    if (first === '_cat' && second === 'indices' && method === 'GET') return this.catIndices(third, query);
    if (first === '_cluster' && second === 'state' && method === 'GET')
      return this.clusterState(third, fourth);
    if (first === '_snapshot' && second !== undefined) {
      if (third === undefined) {
        if (method === 'GET') return this.getRepository(second);
        if (method === 'PUT' || method === 'POST') return this.putRepository(second, body);
      } else if (third === '_verify' && method === 'POST') {
        return this.verifyRepository(second);
      } else if (fourth === undefined) {
        if (method === 'PUT' || method === 'POST') return this.createSnapshot(second, third, query, body);
        if (method === 'GET') return this.getSnapshot(second, third);
        if (method === 'DELETE') return this.deleteSnapshot(second, third);
      } else if (fourth === '_status' && method === 'GET') {
        return this.snapshotStatus(second, third);
      } else if (fourth === '_restore' && method === 'POST') {
        return this.restore(second, third, body);
      }
    }
    if (first !== undefined && !first.startsWith('_')) {
      if (second === '_recovery' && method === 'GET') return this.recovery(first);
      if (second === '_close' && method === 'POST') return this.closeIndices(first);
      if (second === undefined && method === 'DELETE') return this.deleteIndices(first);
    }
    throw new HttpError(
      400,
      'illegal_argument_exception',
      `no handler found for uri [/${segments.join('/')}] and method [${method}]`,
    );
  }

  /** Expands a comma list of names and `*` patterns; a missing concrete name is an error. */
  private resolveIndices(expression: string, options: { includeClosed: boolean }): StandInIndex[] {
    const found = new Map<string, StandInIndex>();
    for (const part of expression.split(',')) {
      if (part.includes('*') || part === '_all') {
        const regex = globToRegExp(part === '_all' ? '*' : part);
        for (const index of this.indices.values()) {
          if (regex.test(index.name) && (options.includeClosed || index.status === 'open'))
            found.set(index.name, index);
        }
      } else {
        const index = this.indices.get(part);
        if (!index) throw notFoundIndex(part);
        found.set(index.name, index);
      }
    }
    return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  private catIndices(pattern: string | undefined, query: Record<string, string>): unknown {
    const expand = query.expand_wildcards ?? 'all';
    const indices = this.resolveIndices(pattern ?? '*', {
      includeClosed: expand.includes('all') || expand.includes('closed'),
    });
    const columns = (
      query.h ?? 'health,status,index,uuid,pri,rep,docs.count,docs.deleted,store.size,pri.store.size'
    ).split(',');
    const rows = indices.map((index) => {
      const size = index.status === 'open' ? String(index.docs * 100) : null;
      const all: Record<string, string | null> = {
        health: index.health,
        status: index.status,
        index: index.name,
        uuid: index.uuid,
        pri: String(index.pri),
        rep: '1',
        'docs.count': index.status === 'open' ? String(index.docs) : null,
        'docs.deleted': index.status === 'open' ? '0' : null,
        'store.size': size,
        'pri.store.size': size,
      };
      return Object.fromEntries(columns.map((column) => [column, all[column] ?? null]));
    });
    if (query.format === 'json') return rows;
    return rows.map((row) => Object.values(row).join(' ')).join('\n');
  }

  private getRepository(name: string): unknown {
    const repository = this.repositories.get(name);
    if (!repository) throw new HttpError(404, 'repository_missing_exception', `[${name}] missing`);
    return { [name]: repository };
  }

  private putRepository(name: string, body: Record<string, unknown>): unknown {
    const type = body.type;
    const settings = body.settings;
    if (typeof type !== 'string' || !settings || typeof settings !== 'object') {
      throw new HttpError(
        400,
        'action_request_validation_exception',
        'Validation Failed: 1: type is missing;',
      );
    }
    // The engines return every setting as a string.
    const asStrings = Object.fromEntries(
      Object.entries(settings).map(([key, value]) => [key, String(value)]),
    );
    this.repositories.set(name, { type, settings: asStrings });
    if (!this.snapshots.has(name)) this.snapshots.set(name, new Map());
    return { acknowledged: true };
  }

  private verifyRepository(name: string): unknown {
    if (!this.repositories.has(name))
      throw new HttpError(404, 'repository_missing_exception', `[${name}] missing`);
    if (this.unverifiable.has(name)) {
      throw new HttpError(
        500,
        'repository_verification_exception',
        `[${name}] path  is not accessible on master node`,
      );
    }
    return { nodes: { q5BvA1WvQ0y4q9a3X7Z1Bw: { name: 'node-1' } } };
  }

  private repositorySnapshots(repository: string): Map<string, StandInSnapshot> {
    const snapshots = this.snapshots.get(repository);
    if (!snapshots || !this.repositories.has(repository)) {
      throw new HttpError(404, 'repository_missing_exception', `[${repository}] missing`);
    }
    return snapshots;
  }

  private createSnapshot(
    repository: string,
    name: string,
    query: Record<string, string>,
    body: Record<string, unknown>,
  ): unknown {
    const snapshots = this.repositorySnapshots(repository);
    if (name !== name.toLowerCase()) {
      throw new HttpError(
        400,
        'invalid_snapshot_name_exception',
        `[${repository}:${name}] Invalid snapshot name [${name}], must be lowercase`,
      );
    }
    if (this.busyCreates > 0) {
      this.busyCreates -= 1;
      throw new HttpError(
        503,
        'concurrent_snapshot_execution_exception',
        `[${repository}:${name}] a snapshot is already running`,
      );
    }
    if (snapshots.has(name)) {
      throw new HttpError(
        400,
        'invalid_snapshot_name_exception',
        `[${repository}:${name}] Invalid snapshot name [${name}], snapshot with the same name already exists`,
      );
    }
    const requested = Array.isArray(body.indices)
      ? body.indices.join(',')
      : typeof body.indices === 'string'
        ? body.indices
        : '*';
    const indices = this.resolveIndices(requested, { includeClosed: false });
    const script = this.scripts.shift() ?? this.defaultScript;
    const snapshot: StandInSnapshot = {
      name,
      uuid: randomUUID().replace(/-/g, '').slice(0, 22),
      repository,
      indices: indices.map((index) => index.name),
      contents: new Map(indices.map((index) => [index.name, { docs: index.docs, pri: index.pri }])),
      metadata: body.metadata ?? null,
      includeGlobalState: body.include_global_state !== false,
      checksLeft: script.inProgressChecks,
      outcome: script.outcome,
      startMillis: Date.now(),
    };
    snapshots.set(name, snapshot);
    if (query.wait_for_completion === 'true') {
      snapshot.checksLeft = 0;
      return { snapshot: this.snapshotInfo(snapshot) };
    }
    return { accepted: true };
  }

  private state(snapshot: StandInSnapshot): 'IN_PROGRESS' | SnapshotScript['outcome'] {
    return snapshot.checksLeft > 0 ? 'IN_PROGRESS' : snapshot.outcome;
  }

  private snapshotInfo(snapshot: StandInSnapshot): Record<string, unknown> {
    const state = this.state(snapshot);
    const total = [...snapshot.contents.values()].reduce((sum, index) => sum + index.pri, 0);
    const failures =
      state === 'PARTIAL'
        ? [snapshot.indices[0]].map((index) => ({
            index,
            index_uuid: index,
            shard_id: 0,
            reason:
              'IndexShardSnapshotFailedException[Failed to snapshot]; nested: IOException[Unable to upload object]',
            node_id: 'q5BvA1WvQ0y4q9a3X7Z1Bw',
            status: 'INTERNAL_SERVER_ERROR',
          }))
        : state === 'FAILED'
          ? snapshot.indices.map((index) => ({
              index,
              index_uuid: index,
              shard_id: 0,
              reason:
                'IndexShardSnapshotFailedException[Failed to snapshot]; nested: AccessDeniedException[Access Denied]',
              node_id: 'q5BvA1WvQ0y4q9a3X7Z1Bw',
              status: 'INTERNAL_SERVER_ERROR',
            }))
          : [];
    if (state !== 'IN_PROGRESS' && snapshot.endMillis === undefined) snapshot.endMillis = Date.now();
    return {
      snapshot: snapshot.name,
      uuid: snapshot.uuid,
      ...(this.options.flavour === 'elasticsearch' && Number.parseInt(this.options.version, 10) >= 8
        ? { repository: snapshot.repository }
        : {}),
      version_id: 8_000_099,
      version: this.options.version,
      indices: snapshot.indices,
      data_streams: [],
      include_global_state: snapshot.includeGlobalState,
      ...(snapshot.metadata ? { metadata: snapshot.metadata } : {}),
      state,
      start_time: new Date(snapshot.startMillis).toISOString(),
      start_time_in_millis: snapshot.startMillis,
      ...(snapshot.endMillis !== undefined
        ? {
            end_time: new Date(snapshot.endMillis).toISOString(),
            end_time_in_millis: snapshot.endMillis,
            duration_in_millis: snapshot.endMillis - snapshot.startMillis,
          }
        : {}),
      failures,
      shards:
        state === 'IN_PROGRESS'
          ? { total: 0, failed: 0, successful: 0 }
          : { total, failed: failures.length, successful: total - failures.length },
    };
  }

  private findSnapshot(repository: string, name: string): StandInSnapshot {
    const snapshot = this.repositorySnapshots(repository).get(name);
    if (!snapshot)
      throw new HttpError(404, 'snapshot_missing_exception', `[${repository}:${name}] is missing`);
    return snapshot;
  }

  private getSnapshot(repository: string, name: string): unknown {
    const snapshot = this.findSnapshot(repository, name);
    const info = this.snapshotInfo(snapshot);
    if (snapshot.checksLeft > 0) snapshot.checksLeft -= 1;
    return { snapshots: [info], total: 1, remaining: 0 };
  }

  private snapshotStatus(repository: string, name: string): unknown {
    const snapshot = this.findSnapshot(repository, name);
    const state = this.state(snapshot);
    const total = [...snapshot.contents.values()].reduce((sum, index) => sum + index.pri, 0);
    const failed = state === 'FAILED' ? total : state === 'PARTIAL' ? 1 : 0;
    const done = state === 'IN_PROGRESS' ? Math.floor(total / 2) : total - failed;
    return {
      snapshots: [
        {
          snapshot: snapshot.name,
          repository,
          uuid: snapshot.uuid,
          // Elasticsearch reports a finished PARTIAL snapshot as SUCCESS here.
          state: state === 'IN_PROGRESS' ? 'STARTED' : state === 'FAILED' ? 'FAILED' : 'SUCCESS',
          include_global_state: snapshot.includeGlobalState,
          shards_stats: {
            initializing: 0,
            started: state === 'IN_PROGRESS' ? total - done : 0,
            finalizing: 0,
            done,
            failed,
            total,
          },
          stats: {
            incremental: { file_count: total, size_in_bytes: total * 1000 },
            processed: { file_count: done, size_in_bytes: done * 1000 },
            total: { file_count: total, size_in_bytes: total * 1000 },
            start_time_in_millis: snapshot.startMillis,
            time_in_millis: Date.now() - snapshot.startMillis,
          },
          indices: {},
        },
      ],
    };
  }

  private deleteSnapshot(repository: string, name: string): unknown {
    this.findSnapshot(repository, name);
    this.repositorySnapshots(repository).delete(name);
    return { acknowledged: true };
  }

  private restore(repository: string, name: string, body: Record<string, unknown>): unknown {
    const snapshot = this.findSnapshot(repository, name);
    const state = this.state(snapshot);
    if (state !== 'SUCCESS') {
      throw new HttpError(
        500,
        'snapshot_restore_exception',
        `[${repository}:${name}/${snapshot.uuid}] cannot restore snapshot in state [${state}]`,
      );
    }
    if (body.include_global_state === true) this.restoredGlobalState = true;
    const requested = Array.isArray(body.indices)
      ? body.indices.map(String)
      : typeof body.indices === 'string'
        ? body.indices.split(',')
        : snapshot.indices;
    const missing = requested.filter((index) => !snapshot.contents.has(index));
    if (missing.length > 0) {
      throw new HttpError(404, 'index_not_found_exception', `no such index [${missing[0]}]`, {
        index: missing[0],
      });
    }
    const pattern =
      typeof body.rename_pattern === 'string' ? new RegExp(body.rename_pattern, 'g') : undefined;
    const replacement = typeof body.rename_replacement === 'string' ? body.rename_replacement : '';
    const targets = requested.map((index) => ({
      index,
      target: pattern ? index.replace(pattern, replacement) : index,
    }));
    // Every check before any change: a refused restore changes nothing.
    for (const { index, target } of targets) {
      const existing = this.indices.get(target);
      const contents = snapshot.contents.get(index);
      if (existing?.status === 'open') {
        throw new HttpError(
          500,
          'snapshot_restore_exception',
          `[${repository}:${name}/${snapshot.uuid}] cannot restore index [${target}] because an open index with same name already exists in the cluster. ` +
            'Either close or delete the existing index or restore the index under a different name by providing a rename pattern and replacement name',
        );
      }
      if (existing && contents && existing.pri !== contents.pri) {
        throw new HttpError(
          500,
          'snapshot_restore_exception',
          `[${repository}:${name}/${snapshot.uuid}] cannot restore index [${target}] with [${existing.pri}] shards from a snapshot of index [${index}] with [${contents.pri}] shards`,
        );
      }
    }
    this.lastRestore = { repository, snapshot: name, body };
    const restoreUuid = randomUUID().replace(/-/g, '').slice(0, 22);
    const acceptedMillis = Date.now();
    for (const { index, target } of targets) {
      const contents = snapshot.contents.get(index) ?? { docs: 0, pri: 1 };
      this.indices.set(target, {
        name: target,
        uuid: randomUUID().replace(/-/g, '').slice(0, 22),
        status: 'open',
        docs: contents.docs,
        pri: contents.pri,
        health: 'red',
        createdMillis: acceptedMillis,
        restore: {
          repository,
          snapshot: name,
          index,
          unassignedLeft: this.restoreUnassignedChecks,
          checksLeft: this.recoveryChecks,
          uuid: restoreUuid,
          acceptedMillis,
          // Allocated at once unless throttled: then its node begins recovering it later.
          ...(this.restoreUnassignedChecks > 0 ? {} : { startMillis: acceptedMillis }),
          overExisting: this.indices.has(target),
        },
      });
    }
    return { accepted: true };
  }

  /** The last restore request accepted (for assertions on rename and alias settings). */
  lastRestore: { repository: string; snapshot: string; body: Record<string, unknown> } | undefined;
  restoredGlobalState = false;

  private recovery(expression: string): unknown {
    const indices = this.resolveIndices(expression, { includeClosed: false });
    const result: Record<string, unknown> = {};
    for (const index of indices) {
      const restore = index.restore;
      if (restore && restore.unassignedLeft > 0) {
        // No node is recovering its primaries yet: no recovery state, so the engines leave it out.
        restore.unassignedLeft -= 1;
        continue;
      }
      if (restore && restore.startMillis === undefined) restore.startMillis = Date.now();
      const stage = restore && restore.checksLeft > 0 ? 'INDEX' : 'DONE';
      if (restore && restore.checksLeft > 0) restore.checksLeft -= 1;
      if (stage === 'DONE') index.health = 'green';
      if (restore && stage === 'DONE' && restore.stopMillis === undefined) restore.stopMillis = Date.now();
      const startMillis = restore?.startMillis ?? index.createdMillis;
      result[index.name] = {
        shards: Array.from({ length: index.pri }, (_, id) => ({
          id,
          type: restore ? 'SNAPSHOT' : 'EMPTY_STORE',
          stage,
          primary: true,
          start_time_in_millis: startMillis,
          ...(restore?.stopMillis !== undefined
            ? {
                stop_time_in_millis: restore.stopMillis,
                total_time_in_millis: restore.stopMillis - startMillis,
              }
            : {}),
          ...(restore
            ? {
                source: {
                  repository: restore.repository,
                  snapshot: restore.snapshot,
                  version: this.options.version,
                  index: restore.index,
                  restoreUUID: restore.uuid,
                },
              }
            : {}),
          target: {
            id: 'q5BvA1WvQ0y4q9a3X7Z1Bw',
            host: '127.0.0.1',
            transport_address: '127.0.0.1:9300',
            ip: '127.0.0.1',
            name: 'node-1',
          },
          index: { size: { percent: stage === 'DONE' ? '100.0%' : '50.0%' } },
        })),
      };
    }
    return result;
  }

  /**
   * GET _cluster/state/<metrics>/<indices>, as far as `routing_table` goes: every copy of each
   * primary shard as ShardRouting writes it. Missing names are ignored (the request is lenient).
   * A restored primary carries `recovery_source` and `unassigned_info` until it has started.
   */
  private clusterState(metrics: string | undefined, expression: string | undefined): unknown {
    const wanted = (metrics ?? '_all').split(',');
    const names = (expression ?? '*').split(',');
    const indices = names.flatMap((name) => {
      try {
        return this.resolveIndices(name, { includeClosed: false });
      } catch (error) {
        if (error instanceof HttpError && error.type === 'index_not_found_exception') return [];
        throw error;
      }
    });
    const state: Record<string, unknown> = {
      cluster_name: this.options.clusterName ?? 'stand-in',
      cluster_uuid: this.clusterUuid,
    };
    if (!wanted.includes('routing_table') && !wanted.includes('_all')) return state;
    const routed: Record<string, unknown> = {};
    for (const index of indices) {
      const restore = index.restore;
      const shardState = !restore
        ? 'STARTED'
        : restore.unassignedLeft > 0
          ? 'UNASSIGNED'
          : restore.checksLeft > 0
            ? 'INITIALIZING'
            : 'STARTED';
      const shards: Record<string, unknown[]> = {};
      for (let id = 0; id < index.pri; id += 1) {
        shards[String(id)] = [
          {
            state: shardState,
            primary: true,
            node: shardState === 'UNASSIGNED' ? null : 'q5BvA1WvQ0y4q9a3X7Z1Bw',
            relocating_node: null,
            shard: id,
            index: index.name,
            ...(restore && shardState !== 'STARTED'
              ? {
                  recovery_source: {
                    type: 'SNAPSHOT',
                    repository: restore.repository,
                    snapshot: restore.snapshot,
                    version: this.options.version,
                    index: restore.index,
                    restoreUUID: restore.uuid,
                  },
                  unassigned_info: {
                    reason: restore.overExisting ? 'EXISTING_INDEX_RESTORED' : 'NEW_INDEX_RESTORED',
                    at: new Date(restore.acceptedMillis).toISOString(),
                    delayed: false,
                    details: `restore_source[${restore.repository}/${restore.snapshot}]`,
                    allocation_status: shardState === 'UNASSIGNED' ? 'deciders_throttled' : 'no_attempt',
                  },
                }
              : {}),
          },
        ];
      }
      routed[index.name] = { shards };
    }
    return { ...state, routing_table: { indices: routed } };
  }

  private closeIndices(expression: string): unknown {
    const indices = this.resolveIndices(expression, { includeClosed: true });
    for (const index of indices) {
      index.status = 'close';
      index.restore = undefined;
    }
    return {
      acknowledged: true,
      shards_acknowledged: true,
      indices: Object.fromEntries(indices.map((index) => [index.name, { closed: true }])),
    };
  }

  private deleteIndices(expression: string): unknown {
    for (const index of this.resolveIndices(expression, { includeClosed: true }))
      this.indices.delete(index.name);
    return { acknowledged: true };
  }
}

/**
 * AWS Signature Version 4 verification, from the specification ("Create a canonical request",
 * "Create a string to sign", "Calculate the signature"): each path segment URI-encoded (again,
 * for services other than S3), query parameters sorted, signed headers lower-cased with trimmed
 * values, the payload hash from `x-amz-content-sha256`. Returns what is wrong, or undefined.
 */
export function verifySigV4(
  req: IncomingMessage,
  method: string,
  rawPath: string,
  rawQuery: string,
  body: Buffer,
  auth: Extract<StandInAuth, { type: 'sigv4' }>,
): string | undefined {
  const header = req.headers.authorization;
  if (!header) return 'Missing Authentication Token';
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      header,
    );
  if (!match) return `Authorization header is not AWS4-HMAC-SHA256: ${header.slice(0, 40)}`;
  const [, accessKeyId, date, region, service, signedHeaderList = '', signature] = match;
  if (accessKeyId !== auth.accessKeyId) return 'The security token included in the request is invalid.';
  if (region !== auth.region || service !== auth.service)
    return `Credential should be scoped to ${auth.region}/${auth.service}`;
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || !amzDate.startsWith(date ?? ''))
    return 'x-amz-date is missing or does not match the credential scope';
  const signedAt = Date.parse(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  if (Math.abs(Date.now() - signedAt) > 15 * 60_000) return 'Signature expired';
  const signedHeaders = signedHeaderList.split(';');
  for (const required of ['host', 'x-amz-date']) {
    if (!signedHeaders.includes(required)) return `${required} is not a signed header`;
  }
  const payloadHash = String(req.headers['x-amz-content-sha256'] ?? sha256Hex(body));
  if (payloadHash !== sha256Hex(body)) return 'x-amz-content-sha256 does not match the payload';
  if (auth.sessionToken !== undefined) {
    if (req.headers['x-amz-security-token'] !== auth.sessionToken)
      return 'The security token included in the request is invalid.';
    if (!signedHeaders.includes('x-amz-security-token')) return 'x-amz-security-token is not a signed header';
  }
  const canonicalUri =
    rawPath === '/'
      ? '/'
      : rawPath
          .replace(/\/{2,}/g, '/')
          .split('/')
          .map((segment) => encodeRfc3986(segment))
          .join('/');
  const params: [string, string][] = [];
  for (const pair of rawQuery.split('&').filter(Boolean)) {
    const [key = '', value = ''] = pair.split('=', 2);
    const decode = (text: string) => decodeURIComponent(text.replace(/\+/g, ' '));
    params.push([encodeRfc3986(decode(key)), encodeRfc3986(decode(value))]);
  }
  params.sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1));
  const canonicalQuery = params.map(([key, value]) => `${key}=${value}`).join('&');
  const canonicalHeaders = signedHeaders
    .map(
      (name) =>
        `${name}:${String(req.headers[name] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  const canonicalRequest = [
    method,
    canonicalUri,
    canonicalQuery,
    canonicalHeaders,
    signedHeaderList,
    payloadHash,
  ].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = hmac(
    hmac(hmac(hmac(`AWS4${auth.secretAccessKey}`, date ?? ''), region ?? ''), service ?? ''),
    'aws4_request',
  );
  const expected = createHmac('sha256', key).update(stringToSign).digest('hex');
  if (expected !== signature) {
    return 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
  }
  return undefined;
}
