import * as z from 'zod';
import { storeKeys } from '#backup-set/keys.ts';
import { CorruptBackupError, describeIssues, ObjectNotFoundError } from '#runtime/errors.ts';
import { type ContentStore, jsonBody, readJson } from '#store/content-store.ts';

/**
 * The refs a mirror run deletes with `prune`, noted in the store before the push deletes them.
 * Step Functions runs the task again after a transient error, also one raised after the push went
 * through; the retried attempt then plans against a mirror that no longer has those refs, and
 * without this note the record would say nothing was deleted (the record is the only trace of a
 * pruned ref).
 */

const journalSchema = z.strictObject({ deleted: z.array(z.string().max(1024)) });

/**
 * Inside a workflow run the journal belongs to the set being written (under `backups/<id>/source/`,
 * where the mirror function may write), so no other run ever reads it. A caller outside a run
 * (tests, the benchmark) gets one journal per repository at the store's root, emptied after each
 * run that ends. In a folder of its own: a repository name has no `/`, so it never meets a record
 * (`source/<name>.json`), whatever the name.
 */
export function deletionsJournalKey(repository: string, backupId: string | undefined): string {
  const folder = backupId ? `${storeKeys.backupPrefix(backupId)}source/deletions/` : 'source/deletions/';
  return `${folder}${repository}.json`;
}

/** The refs an earlier attempt noted (none when it noted nothing). */
export async function readDeletions(store: ContentStore, key: string): Promise<string[]> {
  let raw: unknown;
  try {
    raw = await readJson(store, key);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return [];
    throw error;
  }
  const parsed = journalSchema.safeParse(raw);
  if (!parsed.success)
    throw new CorruptBackupError(`${key}: not a deletions journal: ${describeIssues(parsed.error.issues)}`);
  return parsed.data.deleted;
}

export async function writeDeletions(
  store: ContentStore,
  key: string,
  deleted: readonly string[],
): Promise<void> {
  await store.put(key, jsonBody({ deleted }), { contentType: 'application/json' });
}
