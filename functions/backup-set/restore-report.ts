import * as z from 'zod';
import {
  type ComponentRestoreResult,
  componentNameSchema,
  componentRestoreResultSchema,
} from '#components/component.ts';
import { CorruptBackupError, describeIssues } from '#runtime/errors.ts';
import { hostProcessSchema } from '#runtime/host-process.ts';
import { type ContentStore, jsonBody, readJson } from '#store/content-store.ts';
import { storeKeys } from './keys.ts';
import { backupIdSchema } from './manifest.ts';

/** backups/<id>/restores/<restoreId>.json: what a restore did, for the person who started it. */
export const restoreReportSchema = z.object({
  restoreId: z.string(),
  backupId: backupIdSchema,
  status: z.enum(['running', 'complete', 'partial', 'failed']),
  startedAt: z.iso.datetime({ offset: true }),
  finishedAt: z.iso.datetime({ offset: true }).optional(),
  components: z.array(componentNameSchema),
  requests: z.partialRecord(componentNameSchema, z.unknown()),
  results: z.partialRecord(componentNameSchema, componentRestoreResultSchema),
  warnings: z.array(z.string()).optional(),
  /** The Restore execution that runs it: a retried Validate of that execution finds its own report. */
  executionId: z.string().max(2048).optional(),
  /** The CLI's process while it runs (report-run.ts). */
  process: hostProcessSchema.optional().catch(undefined),
});
export type RestoreReport = z.infer<typeof restoreReportSchema>;

/** Files a component's restore went on without because their stored content is lost (files skipLost). */
export function lostFilesOf(result: ComponentRestoreResult): number {
  const files = result.summary.lostFiles;
  return typeof files === 'number' ? files : 0;
}

/**
 * The restore a failure's message names: Report's message starts `restore <restoreId> of
 * <backupId> is …` (report-restore.ts), and it reaches the CLI or the drill as the cause.
 */
export function restoreNamedIn(text: string): { restoreId: string; backupId: string } | undefined {
  const [, restoreId, backupId] =
    // "… is": Report's own form only. A refusal naming another restore ("another restore is
    // writing …: restore <id> of <set> (started …)") must not be taken for this run's report.
    /restore (r\d{8}t\d{6}z-[0-9a-f]{4}) of (b\d{8}t\d{6}z-[0-9a-f]{4}) is /.exec(text) ?? [];
  return restoreId && backupId ? { restoreId, backupId } : undefined;
}

export async function writeRestoreReport(store: ContentStore, report: RestoreReport): Promise<string> {
  const key = storeKeys.restoreReport(report.backupId, report.restoreId);
  await store.put(key, jsonBody(report), { contentType: 'application/json' });
  return key;
}

export async function readRestoreReport(
  store: ContentStore,
  backupId: string,
  restoreId: string,
): Promise<RestoreReport> {
  const key = storeKeys.restoreReport(backupId, restoreId);
  const parsed = restoreReportSchema.safeParse(await readJson(store, key));
  if (!parsed.success)
    throw new CorruptBackupError(`${key} is not valid: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}
