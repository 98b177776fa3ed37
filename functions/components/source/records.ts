import * as z from 'zod';
import { storeKeys } from '#backup-set/keys.ts';
import { backupIdSchema, readManifest } from '#backup-set/manifest.ts';
import { CorruptBackupError, describeIssues } from '#runtime/errors.ts';
import { type ContentStore, jsonBody, readJson } from '#store/content-store.ts';
import { fetchHttpClient } from './http-client.ts';
import type { SourceDeps } from './mirror.ts';
import { readSourceDetails } from './repository-list.ts';
import {
  type RepositoryDetails,
  type RepositoryRecord,
  repositoryRecordSchema,
  type SourceDetails,
  sourceDetailsSchema,
} from './settings.ts';
import { GitTransport } from './smart-http.ts';
import { SsmSecretReader } from './ssm-secrets.ts';

/**
 * What the source handlers share: the parts of the workflow context they read, where a
 * repository's record lives in the store, how the manifest's details are read back, and the
 * clients (built once per container).
 */

/** The parts of `$.backup` (BackupContext) the source handlers use. */
export const backupRefSchema = z.looseObject({
  backupId: backupIdSchema,
  previousBackupId: backupIdSchema.optional(),
});

/** The parts of `$.restore` (RestoreContext) the source handlers use. */
export const restoreRefSchema = z.looseObject({
  restoreId: z.string(),
  backupId: backupIdSchema,
});

export const AGENT = 'liferay-backup/0.1';
/** Lambda allows 15 minutes; one transfer may use nearly all of it (a first mirror of a large repository). */
const TRANSFER_TIMEOUT_MS = 14 * 60_000;
const DISCOVERY_TIMEOUT_MS = 60_000;

let shared: SourceDeps | undefined;

/** The transport and the SSM reader, built on first use and reused while the container is warm. */
export function sourceDeps(): SourceDeps {
  shared ??= {
    transport: new GitTransport({
      http: fetchHttpClient({ defaultTimeoutMs: DISCOVERY_TIMEOUT_MS, userAgent: `git/2.0 (${AGENT})` }),
      transferTimeoutMs: TRANSFER_TIMEOUT_MS,
      agent: AGENT,
    }),
    secrets: new SsmSecretReader(),
    env: process.env,
  };
  return shared;
}

/** `backups/<id>/source/<repository>.json`: the full record of one repository in one set. */
export function recordKey(backupId: string, repository: string): string {
  return `${storeKeys.backupPrefix(backupId)}source/${repository}.json`;
}

export async function writeRecord(
  store: ContentStore,
  backupId: string,
  record: RepositoryRecord,
): Promise<string> {
  const key = recordKey(backupId, record.name);
  await store.put(key, jsonBody(record), { contentType: 'application/json' });
  return key;
}

export async function readRecord(store: ContentStore, key: string): Promise<RepositoryRecord> {
  const parsed = repositoryRecordSchema.safeParse(await readJson(store, key));
  if (!parsed.success)
    throw new CorruptBackupError(
      `${key}: not a source repository record: ${describeIssues(parsed.error.issues)}`,
    );
  return parsed.data;
}

/**
 * The component's details in a manifest, validated, when they hold every entry inline (a set of a
 * few repositories, or one written before the entries could be stored). Readers of a set take
 * readSourceDetails (repository-list.ts), which reads a stored list back too.
 */
export function parseDetails(details: unknown, where: string): SourceDetails {
  // Not a fault of the set: a caller that cannot read a stored list (readSourceDetails can).
  const list = (details as { repositoryList?: { key?: unknown } } | null)?.repositoryList;
  if (list !== undefined) {
    throw new Error(
      `${where}: the source details keep the repositories' entries in ${String(list.key)}; parseDetails reads inline entries only: use readSourceDetails`,
    );
  }
  const parsed = sourceDetailsSchema.safeParse(details);
  if (!parsed.success)
    throw new CorruptBackupError(
      `${where}: unreadable source details: ${describeIssues(parsed.error.issues)}`,
    );
  return parsed.data;
}

/**
 * A repository's full record from its manifest entry: the entry itself when nothing of it was left
 * out, or the record in the store.
 */
export async function recordOf(store: ContentStore, entry: RepositoryDetails): Promise<RepositoryRecord> {
  if (entry.refs && !entry.fullLengths) {
    const { refCount: _count, recordKey: _key, fullLengths: _lengths, ...record } = entry;
    return { ...record, refs: entry.refs };
  }
  const record = await readRecord(store, entry.recordKey);
  if (Object.keys(record.refs).length !== entry.refCount) {
    throw new CorruptBackupError(
      `${entry.recordKey}: ${Object.keys(record.refs).length} refs, the manifest says ${entry.refCount}`,
    );
  }
  return record;
}

/** The source details of a backup set (undefined when its source result is missing or not complete). */
export async function sourceDetailsOf(
  store: ContentStore,
  backupId: string,
): Promise<SourceDetails | undefined> {
  const manifest = await readManifest(store, backupId);
  const result = manifest.results.source;
  if (result?.status !== 'complete') return undefined;
  return readSourceDetails(store, result.details, `backup set ${backupId}`);
}
