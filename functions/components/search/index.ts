import { type CliCommand, type ComponentModule, targetUrl } from '#components/component.ts';
import { InvalidInputError } from '#runtime/errors.ts';
import { splitAtUserInfo } from '#runtime/redact.ts';
import { nonEmptyString } from '#runtime/validate.ts';
import { searchRetention, verifySearchSnapshot } from './artifacts.ts';
import { checkSearchRecovery } from './handlers/check-recovery.ts';
import { checkSearchSnapshot } from './handlers/check-snapshot.ts';
import { prepareSearchRepository } from './handlers/prepare-repository.ts';
import { startSearchRestore } from './handlers/start-restore.ts';
import { startSearchSnapshot } from './handlers/start-snapshot.ts';
import { DEFAULT_REPOSITORY_NAME, SEARCH_HANDLER_IDS } from './ids.ts';
import { type SearchRestoreRequest, searchRestoreRequestSchema } from './records.ts';
import { checkSearchRestore } from './restore.ts';
import { AT_OUTSIDE_USER_INFO, type SearchCredentials, searchSettingsSchema } from './settings.ts';

export { DEFAULT_REPOSITORY_NAME, SEARCH_HANDLER_IDS } from './ids.ts';

function stringFlag(values: Readonly<Record<string, unknown>>, name: string): string | undefined {
  return nonEmptyString(values[name]);
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/**
 * The cluster from `--search-url` (backup, restore, and verify, whose drill asks the cluster for
 * the set's snapshot): user info becomes basic-auth credentials held in memory (never
 * echoed or written); without it, LIFERAY_BACKUP_SEARCH_* variables are read at connect time, or
 * `--search-aws-region` signs requests with the local AWS credentials.
 */
export function clusterFromUrl(
  raw: string,
  awsRegion: string | undefined,
): { endpoint: string; credentials: SearchCredentials } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // The flag's value may carry a password: it is not repeated.
    // `http://elastic:S3/cret@host`: the "/" ends the authority and `S3` is no port.
    if (/[/?#]/.test(splitAtUserInfo(raw)?.userInfo ?? '')) {
      throw new InvalidInputError(`--search-url: ${AT_OUTSIDE_USER_INFO}`);
    }
    throw new InvalidInputError('--search-url: not a URL (expected http(s)://[user:password@]host:port)');
  }
  const username = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  const endpoint = url.toString().replace(/\/$/, '');
  // What is left of a password the parser did not read as user info: refused before any request.
  if (endpoint.includes('@')) throw new InvalidInputError(`--search-url: ${AT_OUTSIDE_USER_INFO}`);
  if (username !== '') {
    if (awsRegion)
      throw new InvalidInputError('--search-url with user info and --search-aws-region: choose one');
    return { endpoint, credentials: { type: 'basic', username, password } };
  }
  if (awsRegion) return { endpoint, credentials: { type: 'sigv4', region: awsRegion } };
  return { endpoint, credentials: { type: 'env' } };
}

function settingsFromOptions(
  values: Readonly<Record<string, unknown>>,
  command: CliCommand,
): unknown | undefined {
  const url = stringFlag(values, 'search-url');
  if (url === undefined) return undefined;
  const { endpoint, credentials } = clusterFromUrl(url, stringFlag(values, 'search-aws-region'));
  const indices = stringFlag(values, 'search-indices');
  const prefix = stringFlag(values, 'search-index-prefix');
  const dxpVersion = stringFlag(values, 'search-dxp-version');
  const maxChecks = stringFlag(values, 'search-max-checks');
  return {
    engine: stringFlag(values, 'search-engine') ?? 'elasticsearch',
    endpoint,
    credentials,
    repository: { name: stringFlag(values, 'search-repository') ?? DEFAULT_REPOSITORY_NAME },
    ...(command === 'backup' && prefix ? { indexNamePrefix: prefix } : {}),
    ...(command === 'backup' && indices ? { indices: list(indices) } : {}),
    ...(command === 'backup' && dxpVersion ? { dxpVersion } : {}),
    ...(maxChecks ? { maxChecks: Number(maxChecks) } : {}),
  };
}

function restoreRequestFromOptions(values: Readonly<Record<string, unknown>>): unknown | undefined {
  const indexes = stringFlag(values, 'search-indexes');
  const onConflict = stringFlag(values, 'search-on-conflict');
  const renamePrefix = stringFlag(values, 'search-rename-prefix');
  if (indexes === undefined && onConflict === undefined && renamePrefix === undefined) return undefined;
  return {
    ...(indexes ? { indexes: indexes === 'primary' || indexes === 'all' ? indexes : list(indexes) } : {}),
    ...(onConflict ? { onConflict } : {}),
    ...(renamePrefix ? { renamePrefix } : {}),
  };
}

/** The search component: Elasticsearch/OpenSearch snapshots of Liferay's indexes, and their restore. */
export const searchComponent: ComponentModule = {
  name: 'search',
  settings: searchSettingsSchema,
  restoreRequest: searchRestoreRequestSchema,
  checkRestore: ({ backup, request }) => checkSearchRestore(backup.details, request as SearchRestoreRequest),
  // The cluster: its endpoint when Validate has it; on AWS a deployment has one cluster.
  restoreTargets: ({ settings }) => {
    const endpoint = targetUrl((settings as { endpoint?: unknown } | undefined)?.endpoint);
    return [endpoint ? `search cluster ${endpoint}` : 'the search cluster of this deployment'];
  },
  retention: searchRetention,
  verify: verifySearchSnapshot,
  handlers: {
    [SEARCH_HANDLER_IDS.prepareRepository]: prepareSearchRepository,
    [SEARCH_HANDLER_IDS.startSnapshot]: startSearchSnapshot,
    [SEARCH_HANDLER_IDS.checkSnapshot]: checkSearchSnapshot,
    [SEARCH_HANDLER_IDS.startRestore]: startSearchRestore,
    [SEARCH_HANDLER_IDS.checkRecovery]: checkSearchRecovery,
  },
  local: {
    options: {
      'search-url': {
        type: 'string',
        description:
          'Elasticsearch/OpenSearch URL; user:password@ in it, or LIFERAY_BACKUP_SEARCH_USERNAME/_PASSWORD/_API_KEY',
        commands: ['backup', 'restore', 'verify'],
      },
      'search-engine': {
        type: 'string',
        description: 'elasticsearch (default) or opensearch',
        commands: ['backup', 'restore', 'verify'],
      },
      'search-repository': {
        type: 'string',
        description: `registered snapshot repository (default ${DEFAULT_REPOSITORY_NAME})`,
        commands: ['backup', 'restore', 'verify'],
      },
      'search-aws-region': {
        type: 'string',
        description: 'sign requests with SigV4 for Amazon OpenSearch Service (local AWS credentials)',
        commands: ['backup', 'restore', 'verify'],
      },
      'search-index-prefix': {
        type: 'string',
        description: "Liferay's indexNamePrefix (default liferay-)",
        commands: ['backup'],
      },
      'search-indices': {
        type: 'string',
        description: "comma-separated index names or * patterns instead of Liferay's indexes",
        commands: ['backup'],
      },
      'search-dxp-version': {
        type: 'string',
        description:
          'DXP version (7.2, 7.3, 7.4.13-u92, 2024.q1.1): decides which indexes are primary storage',
        commands: ['backup'],
      },
      'search-max-checks': {
        type: 'string',
        description: 'status checks before a snapshot or restore is given up (default 720)',
        commands: ['backup', 'restore'],
      },
      'search-indexes': {
        type: 'string',
        description: 'restore: primary (default), all, or comma-separated index names',
        commands: ['restore'],
      },
      'search-on-conflict': {
        type: 'string',
        description: 'restore over an existing index: fail (default), rename, close or replace',
        commands: ['restore'],
      },
      'search-rename-prefix': {
        type: 'string',
        description: 'prefix of renamed restored indexes (default restored-)',
        commands: ['restore'],
      },
    },
    settingsFromOptions,
    restoreRequestFromOptions,
  },
};
