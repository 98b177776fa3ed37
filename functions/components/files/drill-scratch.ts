import * as fs from 'node:fs/promises';
import * as z from 'zod';
import { isRunId, runIdTime } from '#backup-set/backup-id.ts';
import { REPORT_RUN_HOURS } from '#backup-set/report-run.ts';
import { readRestoreReport, restoreNamedIn } from '#backup-set/restore-report.ts';
import { verifyContextSchema } from '#backup-set/verify-context.ts';
import { ConfigError, InvalidInputError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { mapLimit } from './limit.ts';
import { filesComponentSchema } from './settings.ts';
import { LOST_CONTENT_REMEDY } from './verify.ts';

/**
 * The files part of a restore drill that restores for real (settings.verify.scratchRoot). The
 * Verify workflow runs the Restore workflow (every sha256 checked as it writes) into
 * `<scratchRoot>/<verifyId>/<component>`; then `files-drill-cleanup` removes what that restore
 * wrote, whether it succeeded or not, and turns its outcome into the component's verification.
 * Removal is time-boxed: a tree of millions of files on EFS takes longer than one Lambda may run,
 * so each call removes what it can and the workflow calls again until it is done.
 */

/** A call stops removing after this long and asks to be called again (Lambda's limit is 15 minutes). */
export const CLEANUP_BUDGET_MS = 10 * 60 * 1000;
/** Unlinks in flight: EFS answers each in a millisecond or more. */
const REMOVE_CONCURRENCY = 64;

/** What the Restore execution gave: its report's summary, or the Catch's `{Error, Cause}`. */
const restoreOutcomeSchema = z.union([
  z.object({
    restoreId: z.string().regex(/^r\d{8}t\d{6}z-[0-9a-f]{4}$/),
    status: z.string(),
    message: z.string().optional(),
  }),
  z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
]);

const cleanupInputSchema = z.object({
  verify: verifyContextSchema,
  component: filesComponentSchema,
  restore: restoreOutcomeSchema,
});

export type DrillCleanupOutput =
  | { readonly done: false; readonly removed: number }
  | {
      readonly done: true;
      readonly removed: number;
      readonly verification: {
        component: string;
        status: 'verified' | 'failed';
        checks: string[];
        problems: string[];
      };
    };

/**
 * The scratch folder of this drill, checked against this deployment's scratch root: the path
 * arrives in the workflow's state, and a wrong one must never lead to removing anything else.
 */
function scratchFolder(verify: z.infer<typeof verifyContextSchema>, rt: Runtime): string {
  const root = rt.settings.verify.scratchRoot;
  if (!root) throw new ConfigError('the restore drill has no scratch folder here (verify.scratchRoot)');
  if (!isRunId(verify.verifyId, 'v'))
    throw new InvalidInputError(`files drill-cleanup input: verifyId ${verify.verifyId} is not a drill id`);
  const folder = `${root}/${verify.verifyId}`;
  if (verify.scratch?.folder !== folder) {
    throw new InvalidInputError(
      `files drill-cleanup input: the scratch folder must be ${folder}, got ${String(verify.scratch?.folder)}`,
    );
  }
  return folder;
}

class Budget {
  removed = 0;
  constructor(
    private readonly rt: Runtime,
    private readonly deadline: number,
  ) {}
  get spent(): boolean {
    return this.rt.now().getTime() >= this.deadline;
  }
}

/** The call's result, or undefined when it failed with one of these codes (gone, or not ours yet). */
async function unless<T>(codes: readonly string[], call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (codes.includes((error as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw error;
  }
}

/**
 * Removes a tree without following symbolic links, until the budget is spent. True when it is
 * gone. A folder restored without write permission for its owner is made writable first (the
 * drill restores modes exactly, and an unwritable folder's entries cannot be unlinked).
 */
async function removeTree(dir: string, budget: Budget): Promise<boolean> {
  const entries = await unless(
    ['ENOENT'],
    fs.chmod(dir, 0o700).then(() => fs.readdir(dir, { withFileTypes: true })),
  );
  if (!entries) return true;
  const files = entries.filter((entry) => !entry.isDirectory());
  let complete = true;
  await mapLimit(files, REMOVE_CONCURRENCY, async (entry) => {
    if (budget.spent) {
      complete = false;
      return;
    }
    await fs.rm(`${dir}/${entry.name}`, { force: true });
    budget.removed += 1;
  });
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    if (budget.spent || !(await removeTree(`${dir}/${entry.name}`, budget))) return false;
  }
  if (!complete) return false;
  await unless(['ENOENT'], fs.rmdir(dir));
  budget.removed += 1;
  return true;
}

/** Removes `<folder>/<component>` and its restore's staging folders beside it. */
async function removeComponentScratch(folder: string, component: string, budget: Budget): Promise<boolean> {
  const names = await unless(['ENOENT'], fs.readdir(folder));
  if (!names) return true;
  const ours = names.filter((name) => name === component || name.startsWith(`${component}.restore-`));
  for (const name of ours) {
    const entry = `${folder}/${name}`;
    const stats = await fs.lstat(entry);
    if (!stats.isDirectory()) {
      await fs.rm(entry, { force: true });
      continue;
    }
    if (!(await removeTree(entry, budget))) return false;
  }
  // The other files component may still be restoring into the same folder: the last one removes it.
  await unless(['ENOENT', 'ENOTEMPTY', 'EEXIST'], fs.rmdir(folder));
  return true;
}

/** Restore failures that mean the store's copy is gone or damaged (not the disk, not the request). */
const LOST_CONTENT = new Set(['ObjectNotFoundError', 'VerificationError']);

/** The remedy, when the restore failed because the store's copy is gone or damaged. */
function remedyFor(result: { readonly error?: { readonly name: string } | undefined } | undefined): string {
  return result?.error && LOST_CONTENT.has(result.error.name) ? `; ${LOST_CONTENT_REMEDY}` : '';
}

/** A drill this much older than its id cannot still run: the Verify workflow times out after 24 hours. */
const ABANDONED_AFTER_MS = (REPORT_RUN_HOURS + 1) * 3_600_000;

/**
 * A drill whose Verify execution was stopped in the console, or timed out, never ran its cleanup:
 * its whole restored copy would stay on EFS (and be billed) for ever. Each drill's cleanup also
 * removes the scratch folders of other drills that cannot still run, judged by the time in their
 * ids; anything else under the scratch root is left alone. True once none is left.
 */
async function removeAbandonedDrills(rt: Runtime, own: string, budget: Budget): Promise<boolean> {
  const root = rt.settings.verify.scratchRoot as string;
  const names = (await unless(['ENOENT'], fs.readdir(root))) ?? [];
  const before = rt.now().getTime() - ABANDONED_AFTER_MS;
  for (const name of names) {
    if (name === own || !isRunId(name, 'v') || runIdTime(name).getTime() >= before) continue;
    if (!(await unless(['ENOENT'], fs.lstat(`${root}/${name}`)))?.isDirectory()) continue;
    if (!(await removeTree(`${root}/${name}`, budget))) return false;
    rt.logger.warn('removed the scratch copy of a drill that ended without removing it', {
      folder: `${root}/${name}`,
      startedAt: runIdTime(name).toISOString(),
    });
  }
  return true;
}

/** The child execution's own failure, out of the JSON that `.sync` puts in the Catch's Cause. */
function childFailure(outcome: { Error?: string | undefined; Cause?: string | undefined }): string {
  const cause = outcome.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { Error?: unknown; Cause?: unknown };
    if (parsed && typeof parsed === 'object' && (parsed.Error !== undefined || parsed.Cause !== undefined)) {
      return `${String(parsed.Error ?? 'Error')}: ${String(parsed.Cause ?? '')}`;
    }
  } catch {
    // Not JSON: the cause as given.
  }
  return `${outcome.Error ?? 'Error'}: ${cause}`;
}

/** `files-drill-cleanup`: removes the drill's scratch copy of one component; when done, its verification. */
export async function drillCleanup(event: unknown, rt: Runtime): Promise<DrillCleanupOutput> {
  const { verify, component, restore } = parseInput(cleanupInputSchema, event, 'files drill-cleanup input');
  const folder = scratchFolder(verify, rt);
  const target = `${folder}/${component}`;
  const budget = new Budget(rt, rt.now().getTime() + CLEANUP_BUDGET_MS);
  if (!(await removeComponentScratch(folder, component, budget))) {
    rt.logger.info('drill scratch removal goes on in the next call', { component, removed: budget.removed });
    return { done: false, removed: budget.removed };
  }
  if (!(await removeAbandonedDrills(rt, verify.verifyId, budget))) {
    rt.logger.info('removal of abandoned drill copies goes on in the next call', { removed: budget.removed });
    return { done: false, removed: budget.removed };
  }
  const removedCheck = `the scratch copy ${target} was removed`;
  const verification = (status: 'verified' | 'failed', checks: string[], problems: string[]) => ({
    done: true as const,
    removed: budget.removed,
    verification: { component, status, checks, problems },
  });
  if (!('restoreId' in restore)) {
    // A failed restore ends its execution red: its report (named in the failure) says what failed.
    const failure = childFailure(restore);
    const named = restoreNamedIn(failure);
    const failed = named
      ? await readRestoreReport(rt.store, verify.backupId, named.restoreId).catch(() => undefined)
      : undefined;
    return verification(
      'failed',
      [removedCheck],
      [`the restore into ${target} failed: ${failure}${remedyFor(failed?.results[component])}`],
    );
  }
  const report = await readRestoreReport(rt.store, verify.backupId, restore.restoreId);
  const result = report.results[component];
  if (report.status !== 'complete' || result?.status !== 'complete') {
    const why = result?.error
      ? `${result.error.name}: ${result.error.message}`
      : (restore.message ?? report.status);
    return verification(
      'failed',
      [removedCheck],
      [`restore ${restore.restoreId} into ${target}: ${why}${remedyFor(result)}`],
    );
  }
  const { files, bytes, verifiedFiles } = result.summary;
  return verification(
    'verified',
    [
      `restore ${restore.restoreId} wrote ${files} files, ${bytes} bytes into ${target} and checked the sha256 of ${verifiedFiles} files as it wrote them`,
      removedCheck,
    ],
    [],
  );
}
