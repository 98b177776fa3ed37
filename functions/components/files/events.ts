import * as z from 'zod';
import { backupIdSchema } from '#backup-set/manifest.ts';
import { SHARD_ID_PATTERN } from './keys.ts';
import type { PathRange } from './paths.ts';
import { filesComponentSchema } from './settings.ts';

/**
 * The events of the files engine's workflow tasks. The branch keeps its state at `$.files`:
 * Plan writes it, the Distributed Map reads the round's item list from `$.files.shardListKey`,
 * Finalize either schedules another round (`next: true`) or ends with the component's result.
 */
export const roundStateSchema = z.strictObject({
  component: filesComponentSchema,
  planKey: z.string().min(1),
  round: z.number().int().min(0).max(99),
  shardListKey: z.string().min(1),
  shards: z.number().int().min(0),
  /** true: the Map runs (again) over shardListKey; false: `result` holds the component's result. */
  next: z.boolean(),
  result: z.unknown().optional(),
});
export type RoundState = z.infer<typeof roundStateSchema>;

/**
 * The parts of the workflow's BackupContext (`$.backup`) and RestoreContext (`$.restore`) the
 * engine reads; the rest passes through untouched, so the frame can grow without breaking it.
 */
export const backupRefSchema = z.looseObject({
  backupId: backupIdSchema,
  previousBackupId: backupIdSchema.optional(),
  /** Asked to build on no earlier set: content already in the store is written again too. */
  full: z.boolean().optional(),
});
export const restoreRefSchema = z.looseObject({
  restoreId: z.string().regex(/^r\d{8}t\d{6}z-[0-9a-f]{4}$/),
  backupId: backupIdSchema,
  requests: z.record(z.string(), z.unknown()),
});

/** One Distributed Map item: a path range of the tree (backup) or of a part (restore). */
export const shardItemSchema = z.strictObject({
  id: z.string().regex(SHARD_ID_PATTERN),
  after: z.string().optional(),
  through: z.string().optional(),
  /** Restore only: the index part the shard reads. */
  part: z.number().int().min(0).optional(),
});
export type ShardItem = z.infer<typeof shardItemSchema>;

/**
 * The paths a shard covers. `after: ''` (a round that goes on before the tree's first entry, when
 * that entry is a large file whose read stopped) is the open start, as no `after`.
 */
export function shardRange(shard: ShardItem): PathRange {
  return { after: shard.after === '' ? undefined : shard.after, through: shard.through };
}

export const planBackupEventSchema = z.object({ backup: backupRefSchema, component: filesComponentSchema });
export const copyShardEventSchema = z.object({
  backup: backupRefSchema,
  component: filesComponentSchema,
  shard: shardItemSchema,
});
export const finalizeBackupEventSchema = z.object({
  backup: backupRefSchema,
  component: filesComponentSchema,
  files: roundStateSchema,
});

export const planRestoreEventSchema = z.object({
  restore: restoreRefSchema,
  component: filesComponentSchema,
  /** The Restore execution (`$$.Execution.Id`): a later restore asks whether it has ended. */
  executionId: z.string().max(2048).optional(),
});
export const restoreShardEventSchema = z.object({
  restore: restoreRefSchema,
  component: filesComponentSchema,
  shard: shardItemSchema,
});
export const finalizeRestoreEventSchema = z.object({
  restore: restoreRefSchema,
  component: filesComponentSchema,
  files: roundStateSchema,
});

/** Rounds of continuation a run may take before it is considered stuck. */
export const MAX_ROUNDS = 50;
