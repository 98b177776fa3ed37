import * as z from 'zod';
import { CorruptBackupError, describeIssues, ObjectNotFoundError } from '#runtime/errors.ts';
import { type ContentStore, jsonBody, readJson } from '#store/content-store.ts';
import { IncompleteShardsError } from './errors.ts';
import { MAX_ROUNDS, type RoundState, type ShardItem, shardItemSchema } from './events.ts';
import { filesKeys, shardId } from './keys.ts';
import { mapLimit } from './limit.ts';
import type { FilesComponentName } from './settings.ts';

/**
 * Rounds of a fan-out. Round 0 is Plan's shard list; a shard that reaches its time budget ends
 * with `resumeAfter`, and the next round holds one item per such shard, for the rest of its range.
 * The Map runs once per round; the run ends when a round leaves nothing to continue.
 */

export async function readRound(store: ContentStore, key: string): Promise<ShardItem[]> {
  const parsed = z.array(shardItemSchema).safeParse(await readJson(store, key));
  if (!parsed.success)
    throw new CorruptBackupError(`${key} is not a valid shard list: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}

/** A JSON object, or undefined when there is none (one request, not a HEAD and a GET). */
export async function readJsonIfPresent(store: ContentStore, key: string): Promise<unknown | undefined> {
  try {
    return await readJson(store, key);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return undefined;
    throw error;
  }
}

/** Shard results read at once (hundreds of shards: one request each, about 20 ms on S3). */
const RESULT_READS_IN_FLIGHT = 16;

/** The result of every item of a round; throws IncompleteShardsError naming the shards that have none. */
export async function roundResults<R>(
  items: readonly ShardItem[],
  read: (item: ShardItem) => Promise<R | undefined>,
  what: string,
): Promise<R[]> {
  const found = await mapLimit(items, RESULT_READS_IN_FLIGHT, (item) => read(item));
  const results: R[] = [];
  const missing: string[] = [];
  found.forEach((result, index) => {
    if (result === undefined) missing.push((items[index] as ShardItem).id);
    else results.push(result);
  });
  if (missing.length > 0) {
    throw new IncompleteShardsError(
      `${missing.length} of ${items.length} shards of ${what} did not finish (${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', ...' : ''}): it cannot be complete; run it again`,
    );
  }
  return results;
}

/** Writes the next round for the shards that stopped early; returns the new state, or undefined when none did. */
export async function nextRound(
  store: ContentStore,
  runId: string,
  component: FilesComponentName,
  state: RoundState,
  continuing: ReadonlyArray<{ item: ShardItem; resumeAfter: string }>,
): Promise<RoundState | undefined> {
  if (continuing.length === 0) return undefined;
  const round = state.round + 1;
  if (round > MAX_ROUNDS) {
    throw new IncompleteShardsError(
      `${component}: still ${continuing.length} shards to continue after ${MAX_ROUNDS} rounds; raise the shard time budget`,
    );
  }
  const items: ShardItem[] = continuing.map(({ item, resumeAfter }, index) => ({
    id: shardId(round, index),
    after: resumeAfter,
    ...(item.through !== undefined ? { through: item.through } : {}),
    ...(item.part !== undefined ? { part: item.part } : {}),
  }));
  const shardListKey = filesKeys.round(runId, component, round);
  await store.put(shardListKey, jsonBody(items), { contentType: 'application/json' });
  return { ...state, round, shardListKey, shards: items.length, next: true, result: undefined };
}

/** Every item of rounds 0..last, in round order. */
export async function allRoundItems(
  store: ContentStore,
  runId: string,
  component: FilesComponentName,
  lastRound: number,
): Promise<ShardItem[]> {
  const items: ShardItem[] = [];
  for (let round = 0; round <= lastRound; round += 1)
    items.push(...(await readRound(store, filesKeys.round(runId, component, round))));
  return items;
}
