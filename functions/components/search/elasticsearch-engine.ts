import { Client, errors } from '@elastic/elasticsearch';
import { ConfigError } from '#runtime/errors.ts';
import {
  CAT_INDICES_QUERY,
  ClientEngine,
  type EngineOptions,
  failureFromClientError,
  type RawSearchApi,
} from './client-engine.ts';
import type { EngineFailure } from './engine.ts';
import { redactEndpoint } from './engine-errors.ts';

export type ElasticsearchAuth =
  | { readonly type: 'none' }
  | { readonly type: 'basic'; readonly username: string; readonly password: string }
  | { readonly type: 'apiKey'; readonly apiKey: string };

export type ElasticsearchEngineOptions = EngineOptions<ElasticsearchAuth>;

const ERROR_CLASSES = {
  ResponseError: errors.ResponseError,
  transport: [errors.ConnectionError, errors.TimeoutError, errors.NoLivingConnectionsError],
};

function failureOf(where: string, error: unknown): EngineFailure {
  if (error instanceof errors.ProductNotSupportedError) {
    throw new ConfigError(
      `${where} did not identify itself as Elasticsearch (no x-elastic-product header): if it is OpenSearch, configure the engine as "opensearch"`,
    );
  }
  return failureFromClientError(error, ERROR_CLASSES);
}

/**
 * Elasticsearch 7.x/8.x through @elastic/elasticsearch 8. The client checks the
 * `x-elastic-product: Elasticsearch` response header and refuses other servers (OpenSearch): that
 * refusal becomes a ConfigError that says which engine to configure.
 *
 * Every request carries `Accept`/`Content-Type: application/json` instead of the client's default
 * `application/vnd.elasticsearch+json; compatible-with=8`: Elasticsearch 7.x answers that media
 * type with media_type_header_exception, and plain JSON is accepted by 7.x, 8.x and 9.x servers.
 * (The product header exists since 7.14, so older 7.x clusters are refused by the client.)
 */
export function elasticsearchEngine(options: ElasticsearchEngineOptions): ClientEngine {
  const where = redactEndpoint(options.endpoint);
  const { auth } = options;
  const client = new Client({
    node: options.endpoint,
    ...(auth.type === 'basic' ? { auth: { username: auth.username, password: auth.password } } : {}),
    ...(auth.type === 'apiKey' ? { auth: { apiKey: auth.apiKey } } : {}),
    headers: { accept: 'application/json', 'content-type': 'application/json' },
    // Retries belong to the state machine (it sees RetryableError).
    maxRetries: 0,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    redaction: { type: 'replace' },
  });
  const api: RawSearchApi = {
    info: () => client.info(),
    getRepository: (name) => client.snapshot.getRepository({ name }),
    putRepository: (name, definition) =>
      client.snapshot.createRepository({
        name,
        repository: { type: definition.type, settings: definition.settings } as never,
      }),
    verifyRepository: (name) => client.snapshot.verifyRepository({ name }),
    catIndices: (pattern) =>
      client.cat.indices({ index: pattern, ...CAT_INDICES_QUERY, h: [...CAT_INDICES_QUERY.h] }),
    createSnapshot: (repository, snapshot, body) =>
      client.snapshot.create({ repository, snapshot, wait_for_completion: false, ...body }),
    getSnapshot: (repository, snapshot) => client.snapshot.get({ repository, snapshot }),
    snapshotStatus: (repository, snapshot) => client.snapshot.status({ repository, snapshot }),
    deleteSnapshot: (repository, snapshot) => client.snapshot.delete({ repository, snapshot }),
    restore: (repository, snapshot, body) =>
      client.snapshot.restore({ repository, snapshot, wait_for_completion: false, ...body }),
    recovery: (indices) => client.indices.recovery({ index: indices }),
    routingTable: (indices) =>
      client.cluster.state({ metric: 'routing_table', index: indices, ignore_unavailable: true }),
    closeIndices: (indices) => client.indices.close({ index: indices }),
    deleteIndices: (indices) => client.indices.delete({ index: indices }),
    shutdown: () => client.close(),
  };
  return new ClientEngine('elasticsearch', api, where, (error) => failureOf(where, error));
}
