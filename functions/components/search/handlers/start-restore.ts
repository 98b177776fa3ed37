import * as z from 'zod';
import { readManifest } from '#backup-set/manifest.ts';
import { assertRestoreLocksHeld } from '#backup-set/restore-lock.ts';
import { CorruptBackupError } from '#runtime/errors.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { parseSearchRecord, searchDetailsOf } from '../index-list.ts';
import { preparedRepositorySchema, type RestoreState, searchRestoreRequestSchema } from '../records.ts';
import { startRestore } from '../restore.ts';
import { restoreRefSchema, searchRuntime } from './context.ts';

const eventSchema = z.object({
  // When the Restore execution began: a retry tells the restores it began itself from older ones.
  restore: restoreRefSchema.extend({ startedAt: z.iso.datetime({ offset: true }) }),
  search: preparedRepositorySchema,
});

/**
 * `search-start-restore`: reads the set's search record from its manifest (and its index list
 * from the store when the set keeps it there), checks the snapshot
 * and every conflict, then (only when nothing is in the way, or the request said how to deal with
 * it) closes/deletes/renames and starts the restore without waiting. A retry of this task goes on
 * with the indexes the engine is already restoring for it (see restore-ownership.ts).
 * Event: `{restore, search: PreparedRepository}`. Returns the loop state (RestoreState).
 */
export async function startSearchRestore(event: unknown, rt: Runtime): Promise<RestoreState> {
  const input = parseInput(eventSchema, event, 'search start-restore event');
  // A redriven execution starts here again, never at Validate: the cluster may be another
  // restore's by now. Before anything is closed, deleted or renamed.
  await assertRestoreLocksHeld(rt, input.restore);
  const request = parseInput(
    searchRestoreRequestSchema,
    input.restore.requests.search ?? {},
    'search restore request',
  );
  const manifest = await readManifest(rt.store, input.restore.backupId);
  const where = `backup set ${input.restore.backupId}`;
  const record = parseSearchRecord(manifest.results.search?.details);
  if (!record.ok) throw new CorruptBackupError(`${where}: the search record is not valid: ${record.problem}`);
  const details = await searchDetailsOf(rt.store, record.record, where);
  const { settings, engine } = await searchRuntime(rt, 'restore');
  const state = await startRestore(engine, {
    details,
    request,
    prepared: input.search,
    maxChecks: settings.maxChecks,
    waitSeconds: settings.waitSeconds,
    now: rt.now(),
    restoreStartedAt: new Date(input.restore.startedAt),
  });
  rt.logger.info('search restore started', {
    snapshot: state.snapshot,
    indexes: state.indexes.map((index) => index.target),
  });
  return state;
}

export const handler = lambdaHandler(startSearchRestore);
