import * as path from 'node:path';
import { type HostProcess, processEnded } from '#runtime/host-process.ts';
import type { ContentStore } from '#store/content-store.ts';
import { storeKeys } from './keys.ts';

/**
 * Whether the restore or drill behind a report still `running` has ended. A run that dies before
 * its Report state (an execution stopped in the console, a CLI killed or interrupted) leaves its
 * report `running`: retention would keep its set as in use, and the next restore into the same
 * target would leave its partial staging tree in place, which a full disk makes fatal.
 */

/** The Restore and Verify state machines' time-out (cdk/workflows.ts): no run outlives it. */
export const REPORT_RUN_HOURS = 24;

/**
 * How the run of a restore's or drill's report ended (its final status, or why a report still
 * `running` belongs to a run that has ended), or undefined while it may still run.
 */
export function howRunEnded(
  report: { readonly status: string; readonly startedAt: string; readonly process?: HostProcess | undefined },
  now: Date,
): string | undefined {
  if (report.status !== 'running') return report.status;
  const ended = runningReportEnded(report, now);
  return ended === undefined ? undefined : `still recorded running, but ${ended}`;
}

function runningReportEnded(
  report: { readonly startedAt: string; readonly process?: HostProcess | undefined },
  now: Date,
): string | undefined {
  const started = new Date(report.startedAt);
  const ended = report.process ? processEnded(report.process, started) : undefined;
  if (ended !== undefined) return ended;
  // An unreadable start counts as long ago: a report that cannot say when it began holds nothing.
  if (!(now.getTime() - started.getTime() < REPORT_RUN_HOURS * 3_600_000))
    return `it started more than ${REPORT_RUN_HOURS} hours ago (the workflows' time-out)`;
  return undefined;
}

/**
 * The restore and drill reports beside a set (`backups/<id>/restores/`, `verifications/`): every
 * `.json` object there, with the run id its name gives. Beside the reports lie the lists of files
 * a restore went on without (files/keys.ts restoreLost), which are not reports.
 */
export async function* runReportsOf(
  store: ContentStore,
  backupId: string,
): AsyncGenerator<{ kind: 'restore' | 'drill'; id: string; key: string }> {
  for (const [kind, prefix] of [
    ['restore', storeKeys.restoresPrefix(backupId)],
    ['drill', storeKeys.verificationsPrefix(backupId)],
  ] as const) {
    for await (const { key } of store.list(prefix))
      if (key.endsWith('.json')) yield { kind, id: path.posix.basename(key, '.json'), key };
  }
}
