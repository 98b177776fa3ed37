import * as z from 'zod';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { storeIndexList } from '../index-list.ts';
import { type SnapshotState, snapshotStateSchema } from '../records.ts';
import { checkSnapshot, listingPattern } from '../snapshot.ts';
import { backupRefSchema, searchRuntime } from './context.ts';

const eventSchema = z.object({ backup: backupRefSchema, search: snapshotStateSchema });

/**
 * `search-check-snapshot`: one status check of the capture loop. Returns the state with
 * `done: true` and the ComponentResult in `result` once the snapshot succeeded; throws
 * SearchSnapshotFailedError (PARTIAL/FAILED, with the shard failures) or SearchTimeoutError.
 * Event: `{backup, search: SnapshotState}`.
 */
export async function checkSearchSnapshot(event: unknown, rt: Runtime): Promise<SnapshotState> {
  const input = parseInput(eventSchema, event, 'search check-snapshot event');
  const { settings, engine } = await searchRuntime(rt);
  const state = await checkSnapshot(engine, input.search, rt.now(), listingPattern(settings), (indexes) =>
    storeIndexList(rt.store, input.backup.backupId, indexes),
  );
  if (state.done)
    rt.logger.info('search snapshot complete', { snapshot: state.snapshot, checks: state.checks });
  else
    rt.progress(
      `search snapshot ${state.snapshot}: ${state.progress ? `${state.progress.shardsDone}/${state.progress.shardsTotal} shards` : 'running'}`,
    );
  return state;
}

export const handler = lambdaHandler(checkSearchSnapshot);
