import * as z from 'zod';
import { ConfigError } from '#runtime/errors.ts';
import { cleartextToNetwork } from '#runtime/transport.ts';
import type { ElasticsearchAuth } from './elasticsearch-engine.ts';
import type { SearchEngine } from './engine.ts';
import { redactEndpoint } from './engine-errors.ts';
import type { OpenSearchAuth } from './opensearch-engine.ts';
import type { SearchCredentials, SearchSettings } from './settings.ts';

/** Environment variables the `env` credentials read (local mode). */
export const CREDENTIAL_ENV = {
  username: 'LIFERAY_BACKUP_SEARCH_USERNAME',
  password: 'LIFERAY_BACKUP_SEARCH_PASSWORD',
  apiKey: 'LIFERAY_BACKUP_SEARCH_API_KEY',
} as const;

/** The SecureString's value: basic-auth user and password, or an Elasticsearch API key (encoded form). */
const secretSchema = z.union([
  z.strictObject({ username: z.string().min(1), password: z.string() }),
  z.strictObject({ apiKey: z.string().min(1) }),
]);

type Secret = { username: string; password: string } | { apiKey: string } | undefined;

async function readSecret(credentials: SearchCredentials): Promise<Secret> {
  switch (credentials.type) {
    case 'none':
    case 'sigv4':
      return undefined;
    case 'basic':
      return { username: credentials.username, password: credentials.password };
    case 'env': {
      const apiKey = process.env[CREDENTIAL_ENV.apiKey];
      if (apiKey) return { apiKey };
      const username = process.env[CREDENTIAL_ENV.username];
      if (username) return { username, password: process.env[CREDENTIAL_ENV.password] ?? '' };
      return undefined;
    }
    case 'ssm': {
      // Cached for five minutes per container, so a rotated secret is picked up without a redeploy.
      // Loaded on demand, like the engines' clients below: a CLI run without search never loads them.
      const { getParameter } = await import('@aws-lambda-powertools/parameters/ssm');
      const value = await getParameter(credentials.parameterName, { decrypt: true, maxAge: 300 });
      if (typeof value !== 'string') {
        throw new ConfigError(`SSM parameter ${credentials.parameterName} does not exist or is empty`);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        // The value itself is never quoted in an error.
        throw new ConfigError(`SSM parameter ${credentials.parameterName} is not JSON`);
      }
      const secret = secretSchema.safeParse(parsed);
      if (!secret.success) {
        throw new ConfigError(
          `SSM parameter ${credentials.parameterName} must hold {"username": ..., "password": ...} or {"apiKey": ...}`,
        );
      }
      return secret.data;
    }
  }
}

/** Builds the adapter for the configured engine with its credentials. */
export async function createEngine(settings: SearchSettings): Promise<SearchEngine> {
  const requestTimeoutMs = settings.requestTimeoutSeconds * 1000;
  if (settings.credentials.type === 'ssm' && cleartextToNetwork(settings.endpoint)) {
    // Basic auth and API keys travel in a header on every request: never in clear text.
    throw new ConfigError(
      `${redactEndpoint(settings.endpoint)}: credentials from SSM are sent over https:// only (plain http:// would carry them in clear text)`,
    );
  }
  const secret = await readSecret(settings.credentials);
  if (settings.engine === 'elasticsearch') {
    if (settings.credentials.type === 'sigv4') {
      throw new ConfigError('SigV4 signing is for Amazon OpenSearch Service: set the engine to "opensearch"');
    }
    const auth: ElasticsearchAuth =
      secret === undefined
        ? { type: 'none' }
        : 'apiKey' in secret
          ? { type: 'apiKey', apiKey: secret.apiKey }
          : { type: 'basic', username: secret.username, password: secret.password };
    const { elasticsearchEngine } = await import('./elasticsearch-engine.ts');
    return elasticsearchEngine({ endpoint: settings.endpoint, auth, requestTimeoutMs });
  }
  let auth: OpenSearchAuth;
  if (settings.credentials.type === 'sigv4') {
    // The Lambda role's credentials (or the local AWS profile), refreshed before they expire.
    const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
    auth = { type: 'sigv4', region: settings.credentials.region, credentials: fromNodeProviderChain() };
  } else if (secret === undefined) {
    auth = { type: 'none' };
  } else if ('apiKey' in secret) {
    throw new ConfigError(
      `API keys are an Elasticsearch feature; ${redactEndpoint(settings.endpoint)} is OpenSearch`,
    );
  } else {
    auth = { type: 'basic', username: secret.username, password: secret.password };
  }
  const { openSearchEngine } = await import('./opensearch-engine.ts');
  return openSearchEngine({ endpoint: settings.endpoint, auth, requestTimeoutMs });
}

const engines = new Map<string, Promise<SearchEngine>>();

/**
 * The engine for these settings, built once per container (warm Lambdas reuse the client and its
 * connections). A failed build is not cached.
 */
export function engineFor(settings: SearchSettings): Promise<SearchEngine> {
  const key = JSON.stringify([
    settings.engine,
    settings.endpoint,
    settings.credentials,
    settings.requestTimeoutSeconds,
  ]);
  let engine = engines.get(key);
  if (!engine) {
    engine = createEngine(settings);
    engines.set(key, engine);
    engine.catch(() => engines.delete(key));
  }
  return engine;
}

/** Closes every cached client (tests; a CLI run that is done). */
export async function closeEngines(): Promise<void> {
  const all = [...engines.values()];
  engines.clear();
  await Promise.all(all.map(async (engine) => (await engine.catch(() => undefined))?.close()));
}
