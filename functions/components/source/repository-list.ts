import { createHash } from 'node:crypto';
import * as z from 'zod';
import { storeKeys } from '#backup-set/keys.ts';
import { utf8JsonBytes } from '#components/component.ts';
import { CorruptBackupError, describeIssues } from '#runtime/errors.ts';
import type { ContentStore } from '#store/content-store.ts';
import { readRecordedObject } from '#store/recorded-object.ts';
import {
  MAX_REPOSITORIES,
  type RepositoryDetails,
  repositoryDetailsSchema,
  type SourceDetails,
  type SourceRecord,
  sourceRecordSchema,
} from './settings.ts';

/**
 * The repositories' entries, inline in the details or stored beside the manifest. The five results
 * travel together between states (256 KiB), and each keeps to 32 KiB (RESULT_BUDGET_BYTES): 200
 * repositories with long URLs took about 120 KB inline, and the Backup failed with
 * States.DataLimitExceeded before Commit. A few repositories stay inline, where `show --json` and
 * older versions read them. The same design as search's index list (search/index-list.ts).
 */

/** Entries kept inline up to this (about 20 repositories with their stats and a few refs each). */
export const INLINE_REPOSITORY_ENTRIES_BYTES = 16 * 1024;

/**
 * `backups/<id>/source/_repositories.json`: every repository's entry of the set. Not
 * `repositories.json`: that is the record of a repository named `repositories`
 * (`source/<name>.json`), and a repository name never starts with `_`.
 */
export function repositoryListKey(backupId: string): string {
  return `${storeKeys.backupPrefix(backupId)}source/_repositories.json`;
}

/**
 * The details the manifest keeps of these entries: the entries themselves when they fit, else
 * each repository's name (and whether it has a store copy: what Validate checks a request
 * against) and the reference of the list, stored first.
 */
export async function manifestDetails(
  store: ContentStore,
  backupId: string,
  entries: readonly RepositoryDetails[],
): Promise<SourceRecord> {
  if (entries.length === 0 || utf8JsonBytes(entries) <= INLINE_REPOSITORY_ENTRIES_BYTES) {
    return { repositories: [...entries] };
  }
  const key = repositoryListKey(backupId);
  const body = Buffer.from(JSON.stringify(entries), 'utf8');
  await store.put(key, body, { contentType: 'application/json' });
  return {
    repositories: entries.map((entry) => ({
      name: entry.name,
      ...(entry.storeCopy ? { storeCopy: true as const } : {}),
    })),
    repositoryList: {
      key,
      size: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      count: entries.length,
    },
  };
}

/** The component's details as the manifest holds them, validated; `where` names the set. */
export function parseSourceRecord(details: unknown, where: string): SourceRecord {
  const parsed = sourceRecordSchema.safeParse(details);
  if (!parsed.success)
    throw new CorruptBackupError(
      `${where}: unreadable source details: ${describeIssues(parsed.error.issues)}`,
    );
  return parsed.data;
}

const repositoryListSchema = z.array(repositoryDetailsSchema).min(1).max(MAX_REPOSITORIES);

/**
 * The details with every repository's entry: inline ones as they are, a stored list read back and
 * checked (size, sha256, entries, count, the names the manifest keeps) like anything read from the
 * store. A list that does not match is a CorruptBackupError naming its key. `where` names the set.
 */
export async function readSourceDetails(
  store: ContentStore,
  details: unknown,
  where: string,
): Promise<SourceDetails> {
  const record = parseSourceRecord(details, where);
  if (!('repositoryList' in record)) return record;
  const { repositoryList: list, repositories: names } = record;
  const what = `the list of the ${list.count} repositories in the set`;
  const bytes = await readRecordedObject(store, list.key, list, {
    missing: () => `${where}: ${list.key} (${what}) is missing from the store: restore another set`,
    changed: (found) =>
      `${where}: ${list.key} does not match the size and sha256 its manifest recorded (${list.size} bytes, ${found} found); ` +
      `${what} cannot be trusted: restore another set`,
  });
  let parsed: ReturnType<typeof repositoryListSchema.safeParse>;
  try {
    parsed = repositoryListSchema.safeParse(JSON.parse(bytes.toString('utf8')));
  } catch (error) {
    throw new CorruptBackupError(`${where}: ${list.key} is not JSON: ${(error as Error).message}`);
  }
  if (!parsed.success) {
    throw new CorruptBackupError(
      `${where}: ${list.key} is not a list of repository entries: ${describeIssues(parsed.error.issues)}`,
    );
  }
  // The names are what Validate checked the request against: the list must be about the same ones.
  const listed = parsed.data.map((entry) => `${entry.name}${entry.storeCopy ? '+store' : ''}`);
  const recorded = names.map((entry) => `${entry.name}${entry.storeCopy ? '+store' : ''}`);
  if (listed.length !== list.count || listed.join('\n') !== recorded.join('\n')) {
    throw new CorruptBackupError(
      `${where}: ${list.key} holds ${listed.length} repositories that are not the ${list.count} its manifest names: restore another set`,
    );
  }
  return { repositories: parsed.data };
}
