import * as z from 'zod';
import { DEFAULT_INDEX_NAME_PREFIX, globMatcher } from './liferay-indexes.ts';

/** Snapshot repository names: what both engines accept, kept conservative. */
export const repositoryNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, 'lower-case letters, digits, ".", "_" and "-", up to 100 characters');

/** An index name or a `*` pattern (lower case, no spaces or commas; the engines' rules). */
export const indexPatternSchema = z
  .string()
  .regex(/^[a-z0-9*][a-z0-9*._+-]{0,254}$/, 'a lower-case index name or * pattern, without spaces or commas');

/**
 * Whether an index belongs to the engine or its plugins: hidden and system indexes are named with
 * a leading "." (.security*, .kibana*, .tasks, .geoip_databases, .opendistro*, .plugins-*). Backing
 * them up with Liferay's data, or restoring over them, would put back another time's users, roles
 * and plugin state (Elasticsearch snapshots and restores its system indexes as feature states).
 */
export function isEngineIndex(name: string): boolean {
  return name.startsWith('.');
}

/**
 * A configured or requested index pattern as a matcher. `*` and the like never select the
 * engine's own indexes (the listing that feeds the snapshot includes hidden ones): only a pattern
 * that itself starts with "." names them.
 */
export function indexPatternMatcher(pattern: string): (name: string) => boolean {
  const matches = globMatcher(pattern);
  const namesEngineIndexes = isEngineIndex(pattern);
  return (name) => matches(name) && (namesEngineIndexes || !isEngineIndex(name));
}

/**
 * Why an "@" is refused wherever the URL parser did not take it for the end of the user info. A
 * password with an unencoded "/", "?" or "#" ends the URL's authority early: in
 * `http://elastic:2024/S3cret@host:9200` the parser finds no user info, takes `elastic:2024` for
 * host and port and the rest for the path, and requests would go to that host. Never quotes the URL.
 */
export const AT_OUTSIDE_USER_INFO =
  'an "@" outside the user info (a password with an unencoded "/", "?" or "#" turns part of itself into the host or path): ' +
  'percent-encode those characters in the user name and password (%2F, %3F, %23, %40), or keep the credentials out of the URL ' +
  '(an SSM parameter in the credentials setting; locally LIFERAY_BACKUP_SEARCH_USERNAME/_PASSWORD)';

const endpointSchema = z
  .url({ protocol: /^https?$/, error: 'an http(s) URL like https://search.example.com:9200' })
  // Credentials never belong in the endpoint: an "@" anywhere in it is a misread password.
  .refine((value) => !value.includes('@'), { error: AT_OUTSIDE_USER_INFO, abort: true })
  .refine((value) => {
    const url = new URL(value);
    return url.username === '' && url.password === '' && url.search === '' && url.hash === '';
  }, 'no user info, query or fragment in the URL (credentials come from the credentials setting)');

/**
 * How the component authenticates. On AWS: `ssm` (an SSM SecureString holding
 * `{"username": ..., "password": ...}` or `{"apiKey": ...}`) for Elasticsearch, `sigv4` (the Lambda
 * role) for Amazon OpenSearch Service. Locally also `env` (LIFERAY_BACKUP_SEARCH_USERNAME /
 * _PASSWORD or _API_KEY) and `basic` (the user info of --search-url; held in memory only, never
 * written to the Lambda environment or the store).
 */
export const credentialsSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('none') }),
  z.strictObject({
    type: z.literal('ssm'),
    parameterName: z.string().regex(/^[a-zA-Z0-9_.\-/]{1,2048}$/, 'an SSM parameter name'),
  }),
  z.strictObject({ type: z.literal('env') }),
  z.strictObject({
    type: z.literal('basic'),
    username: z.string().min(1).max(1024),
    password: z.string().max(1024),
  }),
  z.strictObject({
    type: z.literal('sigv4'),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region'),
  }),
]);
export type SearchCredentials = z.infer<typeof credentialsSchema>;

/**
 * An S3 repository that the component registers itself (Amazon OpenSearch Service manual
 * snapshots): the backup bucket's `search/` prefix, written by the service through the snapshot
 * role, encrypted with the store's KMS key.
 */
export const s3RepositorySchema = z.strictObject({
  /** @default STORE_BUCKET (the backup bucket) */
  bucket: z.string().min(3).max(63).optional(),
  basePath: z.string().max(512),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region'),
  /** @default SEARCH_SNAPSHOT_ROLE_ARN (the stack's snapshot role) */
  roleArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'an IAM role ARN')
    .optional(),
  /** @default STORE_KMS_KEY_ARN (the store's key) */
  kmsKeyArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:kms:/, 'a KMS key ARN')
    .optional(),
});

/** An S3 repository with every value known (the defaults read from the environment). */
export interface S3RepositorySettings {
  readonly bucket: string;
  readonly basePath: string;
  readonly region: string;
  readonly roleArn: string;
  readonly kmsKeyArn?: string;
}

/** What the search component's Lambdas (or the CLI) run with. */
export const searchSettingsSchema = z.strictObject({
  engine: z.enum(['elasticsearch', 'opensearch']),
  endpoint: endpointSchema,
  credentials: credentialsSchema,
  /**
   * What the restore tasks (start restore, check recovery) authenticate with when it differs: a
   * restore closes, deletes and creates indexes, which the backup user need not be allowed to.
   * @default credentials
   */
  restoreCredentials: credentialsSchema.optional(),
  repository: z.strictObject({
    name: repositoryNameSchema,
    /** Register (idempotently) this S3 repository; absent = an existing repository, verified by name. */
    s3: s3RepositorySchema.optional(),
  }),
  /** The Liferay connector's `indexNamePrefix`. */
  indexNamePrefix: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,99}$/)
    .default(DEFAULT_INDEX_NAME_PREFIX),
  /** Index names or `*` patterns to snapshot instead of Liferay's indexes. */
  indices: z.array(indexPatternSchema).min(1).max(100).optional(),
  /** The DXP/Portal version (`7.3`, `7.4.13-u92`, `2024.q1.1`); without it the index names decide. */
  dxpVersion: z.string().max(64).optional(),
  /** Status checks of a snapshot or a restore before the component gives up. */
  maxChecks: z.number().int().min(1).max(100_000).default(720),
  /**
   * The state machine's wait between checks. The component gives up only after maxChecks checks
   * *and* maxChecks × waitSeconds, so a runner that does not wait (local mode) does not give up early.
   */
  waitSeconds: z.number().int().min(0).max(3600).default(60),
  requestTimeoutSeconds: z.number().int().min(1).max(600).default(30),
});
export type SearchSettings = z.infer<typeof searchSettingsSchema>;
