import * as z from 'zod';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { preparedRepositorySchema, type SnapshotState } from '../records.ts';
import { startSnapshot } from '../snapshot.ts';
import { backupRefSchema, searchRuntime } from './context.ts';

const eventSchema = z.object({ backup: backupRefSchema, search: preparedRepositorySchema });

/**
 * `search-start-snapshot`: selects the indexes and starts the snapshot without waiting.
 * Event: `{backup, search: PreparedRepository}`. Returns the loop state (SnapshotState).
 */
export async function startSearchSnapshot(event: unknown, rt: Runtime): Promise<SnapshotState> {
  const input = parseInput(eventSchema, event, 'search start-snapshot event');
  const { settings, engine } = await searchRuntime(rt);
  const state = await startSnapshot(engine, {
    backupId: input.backup.backupId,
    environment: input.backup.environment,
    prepared: input.search,
    settings,
    now: rt.now(),
  });
  rt.logger.info('search snapshot started', {
    snapshot: state.snapshot,
    repository: state.repository.name,
    indexes: state.indexes.length,
    dxp: state.dxp.line,
  });
  return state;
}

export const handler = lambdaHandler(startSearchSnapshot);
