import { mapLimit } from '#components/files/limit.ts';
import type { ContentStore } from '#store/content-store.ts';
import { isRunId } from './backup-id.ts';
import { howRunEnded, runReportsOf } from './report-run.ts';
import { lostFilesOf, type RestoreReport, readRestoreReport } from './restore-report.ts';
import { readVerificationReport, type VerificationReport } from './verify.ts';

/**
 * The restores and drills of one set, from the reports beside it (`backups/<id>/restores/`,
 * `verifications/`): what an SRE wants to know before restoring it at night (was it ever
 * drilled, did the last drill pass, what did earlier restores of it leave out).
 */
export interface SetRun {
  readonly kind: 'restore' | 'drill';
  readonly id: string;
  /** The report's status, or why a report still `running` belongs to a run that ended, or `unreadable`. */
  readonly status: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** What the one word does not say: components that failed, files a restore went on without. */
  readonly notes: string[];
}

const READ_CONCURRENCY = 16;

/** Every restore and drill recorded beside the set, newest first. */
export async function setRuns(store: ContentStore, backupId: string, now: Date): Promise<SetRun[]> {
  const found: Array<{ kind: SetRun['kind']; id: string }> = [];
  for await (const { kind, id } of runReportsOf(store, backupId))
    if (isRunId(id, kind === 'restore' ? 'r' : 'v')) found.push({ kind, id });
  const runs = await mapLimit(found, READ_CONCURRENCY, async ({ kind, id }): Promise<SetRun> => {
    try {
      return kind === 'restore'
        ? restoreRun(await readRestoreReport(store, backupId, id), now)
        : drillRun(await readVerificationReport(store, backupId, id), now);
    } catch (error) {
      return { kind, id, status: 'unreadable', notes: [(error as Error).message] };
    }
  });
  // Ids sort by the second they were made in; the reports know the millisecond.
  const started = (run: SetRun) => run.startedAt ?? '';
  return runs.sort((a, b) => started(b).localeCompare(started(a)) || b.id.localeCompare(a.id));
}

function restoreRun(report: RestoreReport, now: Date): SetRun {
  const notes: string[] = [];
  for (const result of Object.values(report.results)) {
    if (result.error) notes.push(`${result.component}: ${result.error.name}: ${result.error.message}`);
    const lost = lostFilesOf(result);
    if (lost > 0)
      notes.push(
        `${result.component}: ${lost === 1 ? '1 file' : `${lost} files`} not restored, their stored content lost (skipLost)`,
      );
  }
  return {
    kind: 'restore',
    id: report.restoreId,
    status: howRunEnded(report, now) ?? 'running',
    startedAt: report.startedAt,
    ...(report.finishedAt ? { finishedAt: report.finishedAt } : {}),
    notes,
  };
}

function drillRun(report: VerificationReport, now: Date): SetRun {
  const notes: string[] = [];
  for (const result of Object.values(report.results)) {
    const { problems } = result;
    if (problems.length > 0)
      notes.push(
        `${result.component}: ${problems.length === 1 ? '1 problem' : `${problems.length} problems`}, first: ${problems[0]}`,
      );
  }
  return {
    kind: 'drill',
    id: report.verifyId,
    status: howRunEnded(report, now) ?? 'running',
    startedAt: report.startedAt,
    ...(report.finishedAt ? { finishedAt: report.finishedAt } : {}),
    notes,
  };
}
