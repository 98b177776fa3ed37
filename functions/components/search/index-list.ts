import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import * as z from 'zod';
import { storeKeys } from '#backup-set/keys.ts';
import { utf8JsonBytes } from '#components/component.ts';
import { CorruptBackupError, describeIssues } from '#runtime/errors.ts';
import type { ContentStore } from '#store/content-store.ts';
import { readRecordedObject } from '#store/recorded-object.ts';
import {
  INDEX_LIST_FIRST_NAMES,
  type IndexListRef,
  type IndexRecord,
  indexRecordSchema,
  MAX_INDEXES,
  type RestoredIndex,
  type SearchRecord,
  type SearchResultDetails,
  searchRecordSchema,
} from './records.ts';

/**
 * The set's index records, inline in the details or stored beside the manifest. The five results
 * travel together between states (256 KiB), and each keeps to 32 KiB (RESULT_BUDGET_BYTES): 500
 * records take 87 KB with Liferay's names and 217 KB with names of 255 characters. A usual
 * deployment's records stay inline, where `show` and older versions read them.
 */

/** Records kept inline up to this (about 90 of them with Liferay's names). */
const INLINE_INDEX_RECORDS_BYTES = 16 * 1024;

/** `backups/<id>/search/indexes.json`: every index record of the set's snapshot. */
export function indexListKey(backupId: string): string {
  return `${storeKeys.backupPrefix(backupId)}search/indexes.json`;
}

/** Whether the records would make the details larger than a result may be. */
export function indexRecordsFitInline(indexes: readonly IndexRecord[]): boolean {
  return utf8JsonBytes(indexes) <= INLINE_INDEX_RECORDS_BYTES;
}

/** Stores the records as an object of the set; returns what the details keep of them. */
export async function storeIndexList(
  store: ContentStore,
  backupId: string,
  indexes: readonly IndexRecord[],
): Promise<IndexListRef> {
  const body = Buffer.from(JSON.stringify(indexes), 'utf8');
  return storedList(
    store,
    indexListKey(backupId),
    body,
    'application/json',
    indexes.map((index) => index.name),
  );
}

/** Puts a list's bytes; returns what the details keep of it: where, its digest, its count and first names. */
async function storedList(
  store: ContentStore,
  key: string,
  body: Buffer,
  contentType: string,
  names: readonly string[],
): Promise<IndexListRef> {
  await store.put(key, body, { contentType });
  return {
    key,
    size: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
    count: names.length,
    firstNames: names.slice(0, INDEX_LIST_FIRST_NAMES),
  };
}

/**
 * `backups/<id>/restores/<restoreId>-search-indexes.json.gz`: what a restore did with each index,
 * beside its report. Not `.json`: every `.json` there is taken for a report (runReportsOf).
 */
export function restoredIndexListKey(backupId: string, restoreId: string): string {
  return `${storeKeys.restoresPrefix(backupId)}${restoreId}-search-indexes.json.gz`;
}

/**
 * Stores a restore's records (gzip JSON, a few hundred KB at most: 500 records) beside its report;
 * returns what the result's details keep of them, naming the first indexes as they are now called.
 */
export async function storeRestoredIndexList(
  store: ContentStore,
  key: string,
  indexes: readonly RestoredIndex[],
): Promise<IndexListRef> {
  const body = await promisify(gzip)(Buffer.from(JSON.stringify(indexes), 'utf8'));
  return storedList(
    store,
    key,
    body,
    'application/gzip',
    indexes.map((index) => index.restoredAs),
  );
}

const indexListSchema = z.array(indexRecordSchema).min(1).max(MAX_INDEXES);

/**
 * The set's details with every index record: inline ones as they are, a stored list read back and
 * checked (size, sha256, records, count) like anything read from the store. `where` names the set.
 */
export async function searchDetailsOf(
  store: ContentStore,
  record: SearchRecord,
  where: string,
): Promise<SearchResultDetails> {
  if ('indexes' in record) return record;
  const { indexList, ...rest } = record;
  const bytes = await readRecordedObject(store, indexList.key, indexList, {
    missing: () =>
      `${where}: ${indexList.key} (the list of the ${indexList.count} indexes in the snapshot) is missing from the store: restore another set`,
    changed: () =>
      `${where}: ${indexList.key} does not match the size and sha256 its manifest recorded (${indexList.size} bytes); ` +
      'the list of indexes in the snapshot cannot be trusted: restore another set',
  });
  let parsed: ReturnType<typeof indexListSchema.safeParse>;
  try {
    parsed = indexListSchema.safeParse(JSON.parse(bytes.toString('utf8')));
  } catch (error) {
    throw new CorruptBackupError(`${where}: ${indexList.key} is not JSON: ${(error as Error).message}`);
  }
  if (!parsed.success) {
    throw new CorruptBackupError(
      `${where}: ${indexList.key} is not a list of index records: ${describeIssues(parsed.error.issues)}`,
    );
  }
  if (parsed.data.length !== indexList.count) {
    throw new CorruptBackupError(
      `${where}: ${indexList.key} holds ${parsed.data.length} index records, the manifest recorded ${indexList.count}`,
    );
  }
  return { ...rest, indexes: parsed.data };
}

/** The set's search record as its manifest holds it, or what is wrong with it. */
export function parseSearchRecord(
  raw: unknown,
): { ok: true; record: SearchRecord } | { ok: false; problem: string } {
  const parsed = searchRecordSchema.safeParse(raw);
  if (parsed.success) return { ok: true, record: parsed.data };
  return { ok: false, problem: describeIssues(parsed.error.issues) };
}
