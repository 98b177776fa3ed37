import * as z from 'zod';
import { componentRestoreResultSchema, componentResultSchema } from '#components/component.ts';
import { clusterSourceSchema, instanceSourceSchema, regionSchema } from './schemas.ts';

/**
 * What the workflow's Wait + describe loop carries at `$.database` between two calls: enough to
 * take the next step without remembering anything in the Lambda. `done` with `result` ends the loop.
 */
const loopFields = {
  done: z.boolean(),
  /** Describe calls made so far (the check handler gives up after the configured maximum). */
  attempt: z.number().int().nonnegative(),
  /** The Wait state's SecondsPath. */
  waitSeconds: z.number().int().min(1),
  startedAt: z.iso.datetime({ offset: true }),
  warnings: z.array(z.string()).default([]),
};

const trackedSnapshotSchema = z.object({
  identifier: z.string(),
  arn: z.string(),
  region: regionSchema,
  status: z.string().optional(),
  percent: z.number().optional(),
  kmsKeyId: z.string().optional(),
  encrypted: z.boolean().optional(),
  createdAt: z.string().optional(),
  sizeGiB: z.number().optional(),
});
export type TrackedSnapshot = z.infer<typeof trackedSnapshotSchema>;

export const backupProgressSchema = z.object({
  ...loopFields,
  mode: z.enum(['rds-instance', 'aurora-cluster', 'dump']),
  phase: z.enum(['snapshot', 'copy', 'share', 'done']),
  source: z.union([instanceSourceSchema, clusterSourceSchema]).optional(),
  snapshot: trackedSnapshotSchema.optional(),
  drCopy: trackedSnapshotSchema.optional(),
  sharedWith: z.array(z.object({ account: z.string(), snapshotArn: z.string() })).default([]),
  result: componentResultSchema.optional(),
});
export type BackupProgress = z.infer<typeof backupProgressSchema>;

export const restoreProgressSchema = z.object({
  ...loopFields,
  mode: z.enum(['rds-instance', 'aurora-cluster', 'dump']),
  region: regionSchema.optional(),
  /** The new instance (rds-instance) or cluster (aurora-cluster). */
  target: z.string().optional(),
  writer: z
    .object({ identifier: z.string(), created: z.boolean(), input: z.record(z.string(), z.unknown()) })
    .optional(),
  snapshot: z.string().optional(),
  result: componentRestoreResultSchema.optional(),
});
export type RestoreProgress = z.infer<typeof restoreProgressSchema>;
