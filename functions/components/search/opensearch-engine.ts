import { Client, errors } from '@opensearch-project/opensearch';
import { AwsSigv4Signer } from '@opensearch-project/opensearch/aws-v3';
import {
  CAT_INDICES_QUERY,
  ClientEngine,
  type EngineOptions,
  failureFromClientError,
  type RawSearchApi,
} from './client-engine.ts';
import { redactEndpoint } from './engine-errors.ts';

/** What an AWS SDK credential provider returns (fromNodeProviderChain, fromTemporaryCredentials, ...). */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}
export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

export type OpenSearchAuth =
  | { readonly type: 'none' }
  | { readonly type: 'basic'; readonly username: string; readonly password: string }
  /** Amazon OpenSearch Service: every request signed with the caller's AWS credentials (service `es`). */
  | { readonly type: 'sigv4'; readonly region: string; readonly credentials: AwsCredentialsProvider };

export type OpenSearchEngineOptions = EngineOptions<OpenSearchAuth>;

const ERROR_CLASSES = {
  ResponseError: errors.ResponseError,
  transport: [errors.ConnectionError, errors.TimeoutError, errors.NoLivingConnectionsError],
};

/**
 * OpenSearch (Amazon OpenSearch Service or self-managed) through @opensearch-project/opensearch,
 * which needs no product header. On Amazon OpenSearch Service requests are signed with SigV4
 * (AwsSigv4Signer, service `es`) using the Lambda role's credentials.
 */
export function openSearchEngine(options: OpenSearchEngineOptions): ClientEngine {
  const { auth } = options;
  const client = new Client({
    node: options.endpoint,
    ...(auth.type === 'sigv4'
      ? AwsSigv4Signer({ region: auth.region, service: 'es', getCredentials: auth.credentials })
      : {}),
    ...(auth.type === 'basic' ? { auth: { username: auth.username, password: auth.password } } : {}),
    maxRetries: 0,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
  });
  const body = async (request: Promise<{ body: unknown }>) => (await request).body;
  const api: RawSearchApi = {
    info: () => body(client.info()),
    getRepository: (name) => body(client.snapshot.getRepository({ repository: name })),
    putRepository: (name, definition) =>
      body(
        client.snapshot.createRepository({
          repository: name,
          body: { type: definition.type, settings: definition.settings } as never,
        }),
      ),
    verifyRepository: (name) => body(client.snapshot.verifyRepository({ repository: name })),
    catIndices: (pattern) =>
      body(
        client.cat.indices({ index: pattern, ...CAT_INDICES_QUERY, h: [...CAT_INDICES_QUERY.h] } as never),
      ),
    createSnapshot: (repository, snapshot, request) =>
      body(client.snapshot.create({ repository, snapshot, wait_for_completion: false, body: request })),
    getSnapshot: (repository, snapshot) => body(client.snapshot.get({ repository, snapshot })),
    snapshotStatus: (repository, snapshot) => body(client.snapshot.status({ repository, snapshot })),
    deleteSnapshot: (repository, snapshot) => body(client.snapshot.delete({ repository, snapshot })),
    restore: (repository, snapshot, request) =>
      body(client.snapshot.restore({ repository, snapshot, wait_for_completion: false, body: request })),
    recovery: (indices) => body(client.indices.recovery({ index: indices })),
    routingTable: (indices) =>
      body(client.cluster.state({ metric: ['routing_table'], index: indices, ignore_unavailable: true })),
    closeIndices: (indices) => body(client.indices.close({ index: indices })),
    deleteIndices: (indices) => body(client.indices.delete({ index: indices })),
    shutdown: () => client.close(),
  };
  return new ClientEngine('opensearch', api, redactEndpoint(options.endpoint), (error) =>
    failureFromClientError(error, ERROR_CLASSES),
  );
}
