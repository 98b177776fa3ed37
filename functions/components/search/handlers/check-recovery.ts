import * as z from 'zod';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { restoredIndexListKey, storeRestoredIndexList } from '../index-list.ts';
import { type RestoreState, restoreStateSchema } from '../records.ts';
import { checkRecovery } from '../restore.ts';
import { restoreRefSchema, searchRuntime } from './context.ts';

const eventSchema = z.object({ restore: restoreRefSchema, search: restoreStateSchema });

/**
 * `search-check-recovery`: one status check of the restore loop. Returns the state with
 * `done: true` and the ComponentRestoreResult in `result` once every restored index recovered
 * (a long list of restored indexes stored beside the restore's report); throws
 * SearchTimeoutError after maxChecks. Event: `{restore, search: RestoreState}`.
 */
export async function checkSearchRecovery(event: unknown, rt: Runtime): Promise<RestoreState> {
  const input = parseInput(eventSchema, event, 'search check-recovery event');
  const { engine } = await searchRuntime(rt, 'restore');
  const { backupId, restoreId } = input.restore;
  const state = await checkRecovery(engine, input.search, rt.now(), (indexes) =>
    storeRestoredIndexList(rt.store, restoredIndexListKey(backupId, restoreId), indexes),
  );
  if (state.done)
    rt.logger.info('search restore complete', { snapshot: state.snapshot, checks: state.checks });
  else rt.progress(`search restore of ${state.snapshot}: recovering`);
  return state;
}

export const handler = lambdaHandler(checkSearchRecovery);
