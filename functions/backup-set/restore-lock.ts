import { createHash } from 'node:crypto';
import * as z from 'zod';
import { BackupAlreadyRunningError, CorruptBackupError, LiferayBackupError } from '#runtime/errors.ts';
import { processState } from '#runtime/host-process.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { type ContentStore, jsonBody } from '#store/content-store.ts';
import { sameStateMachine, siblingEndedStatus } from './executions.ts';
import { storeKeys } from './keys.ts';
import { acquireBackupLock, type HeldLock, readBackupLock, releaseBackupLock } from './lock.ts';
import { REPORT_RUN_HOURS } from './report-run.ts';

/**
 * One restore at a time per live target. Two restores into one Liferay Home (one of them
 * swapping), one search cluster or one named dump database overwrite each other's work and leave
 * a target that matches neither set. Validate takes one lock per target before it writes anything;
 * Report gives them back on every path, and the CLI when it is stopped (local/interrupt.ts). The
 * locks are the backup lock's (lock.ts): a retried Validate of the same execution finds its own
 * lock, and a lock whose execution or CLI process has ended is taken over.
 *
 * A restore lock is a lease: every writing step renews it (assertRestoreLocksHeld), and it goes
 * stale RESTORE_LOCK_TIMEOUT_MINUTES after its last renewal, not after the restore began. A run
 * redriven days later, or one that legitimately runs long, was otherwise taken over while a step
 * already past its check still wrote into the target beside the new owner. In a restore lock,
 * `acquiredAt` is therefore when the lease was last taken or renewed (what lock.ts counts
 * staleness from), and `about.startedAt` when the restore began (what people are told).
 *
 * What a target is named is each component's (ComponentModule.restoreTargets): a files target is
 * `folder <path>`, which foldersNestedWith compares with other restores' folders.
 */

export const RESTORE_LOCKS_PREFIX = storeKeys.restoreLocksPrefix;

/**
 * A restore's lock is stale this long after its last renewal: the Restore state machine's time-out,
 * which no run outlives, and far longer than any step between two renewals (a Lambda's 15 minutes).
 */
const RESTORE_LOCK_TIMEOUT_MINUTES = REPORT_RUN_HOURS * 60;

/**
 * A lock renewed less than this long ago is not renewed again, only read. The files restore's
 * shards check once each, dozens at once in a Distributed Map: without this every one writes
 * the same object, and all but one of the simultaneous conditional writes lose (and must read it
 * again). A minute is nothing against the stale window, and keeps a restore's lock writes to a
 * handful per lock per minute however many steps check it.
 */
export const RESTORE_LOCK_RENEW_INTERVAL_MS = 60_000;

export function restoreLockKey(target: string): string {
  return `${RESTORE_LOCKS_PREFIX}${createHash('sha256').update(target).digest('hex').slice(0, 40)}.json`;
}

/** The restore's own run, as its lock records it. */
export interface RestoreLockHolder {
  readonly restoreId: string;
  readonly backupId: string;
  readonly startedAt: Date;
  readonly executionId?: string | undefined;
  readonly requestedBy?: string | undefined;
}

/**
 * Takes the lock of every target, in one order (two restores racing for the same two targets
 * cannot each hold one), then the lock of every folder another restore locked inside or around
 * one of these folders (foldersNestedWith). A target held by another running restore refuses
 * the whole restore, naming it; the locks this call took are given back first. Returns the keys
 * held (to give back) and what a takeover should say in the report.
 */
export async function acquireRestoreLocks(
  rt: Runtime,
  holder: RestoreLockHolder,
  targets: readonly string[],
): Promise<{ keys: string[]; warnings: string[] }> {
  const keys: string[] = [];
  const warnings: string[] = [];
  const { executionId } = holder;
  /** Refused while another restore holds it (whose lock is then named), taken over once it has ended. */
  const lock = async (target: string, overlap?: string): Promise<void> => {
    const key = restoreLockKey(target);
    try {
      const acquired = await acquireBackupLock(
        rt.store,
        key,
        holder.restoreId,
        holder.startedAt,
        RESTORE_LOCK_TIMEOUT_MINUTES,
        {
          ...(executionId ? { executionId } : {}),
          ...(rt.process ? { process: rt.process } : {}),
          ...(executionId ? { executionEnded: (other: string) => holderEnded(rt, executionId, other) } : {}),
          about: {
            backupId: holder.backupId,
            target,
            startedAt: holder.startedAt.toISOString(),
            ...(holder.requestedBy ? { requestedBy: holder.requestedBy } : {}),
          },
        },
      );
      keys.push(key);
      if (acquired.tookOverFrom)
        warnings.push(
          `took over the lock on ${target} from restore ${acquired.tookOverFrom}: ${
            acquired.holderEnded ??
            `its lock had not been renewed for more than ${REPORT_RUN_HOURS} hours (no step of it had checked it since)`
          } without giving it back`,
        );
    } catch (error) {
      if (error instanceof BackupAlreadyRunningError)
        throw await refusal(rt.store, key, target, holder, error, overlap);
      throw error;
    }
  };
  try {
    const own = [...new Set(targets)].sort();
    for (const target of own) await lock(target);
    for (const nested of await foldersNestedWith(rt.store, own, keys))
      await lock(nested.target, nested.overlap);
    return { keys, warnings };
  } catch (error) {
    // A refused restore, or one that could not look, holds nothing: the next one (or the retry) locks afresh.
    await releaseRestoreLocks(rt.store, keys, holder.restoreId).catch(() => undefined);
    throw error;
  }
}

const FOLDER = 'folder ';

/**
 * Folder targets other restores locked inside or around this restore's folders. In a DXP bundle
 * the app server lives inside the Liferay Home, and a swap of the home moves it: a restore of the
 * app server beside one of the home wrote into a tree the other was moving. Such a folder is
 * locked as this restore's own target too, so it is refused while that restore runs, and takes
 * the lock over once it has ended. Each restore writes its own locks before it looks for the
 * others' (S3 lists what was written before): of two that start together, at least the later one
 * sees the other (both may, and both are refused). Folders of one restore (the runbook's Liferay
 * Home and app server) are its own keys, never compared.
 */
async function foldersNestedWith(
  store: ContentStore,
  targets: readonly string[],
  ownKeys: readonly string[],
): Promise<{ target: string; overlap: string }[]> {
  const folders = targets
    .filter((target) => target.startsWith(FOLDER))
    .map((target) => target.slice(FOLDER.length));
  if (folders.length === 0) return [];
  const found = new Map<string, string>();
  for await (const { key } of store.list(RESTORE_LOCKS_PREFIX)) {
    if (ownKeys.includes(key)) continue;
    // A lock given back meanwhile, or one no restore can read (refused by its exact key), names
    // no folder to compare; a store that does not answer stops the restore (Validate is retried).
    const held = await readBackupLock(store, key).catch((error: unknown) => {
      if (error instanceof CorruptBackupError) return undefined;
      throw error;
    });
    const other = held?.about?.target;
    if (!other?.startsWith(FOLDER) || restoreLockKey(other) !== key) continue;
    const otherFolder = other.slice(FOLDER.length);
    const around = folders.find((folder) => isInside(folder, otherFolder));
    const inside = folders.find((folder) => isInside(otherFolder, folder));
    if (around !== undefined) found.set(other, `which holds ${FOLDER}${around} that this restore writes`);
    else if (inside !== undefined) found.set(other, `inside ${FOLDER}${inside} that this restore writes`);
  }
  return [...found].sort(([a], [b]) => (a < b ? -1 : 1)).map(([target, overlap]) => ({ target, overlap }));
}

/** `folder` lies strictly below `parent` (paths as the files restoreTargets names them: absolute, normalised). */
function isInside(folder: string, parent: string): boolean {
  return folder !== parent && folder.startsWith(parent === '/' ? '/' : `${parent}/`);
}

/** Gives back the locks this restore holds; one taken over by another restore is left alone. */
export async function releaseRestoreLocks(
  store: ContentStore,
  keys: readonly string[],
  restoreId: string,
): Promise<void> {
  for (const key of keys) await releaseBackupLock(store, key, restoreId);
}

/**
 * A restore's steps after Validate that write (a files plan, shard or swap) first check that it
 * still holds every lock Validate took, and renew it. A failed or stopped Restore execution can be
 * redriven for 14 days: Step Functions re-runs the failed steps, never Validate, and meanwhile the
 * next restore of the same target may have taken the lock over (the execution had ended, or the
 * lock had gone stale). That run then owns the target; the redriven one stops before it writes.
 * A check that finds its own lock renews the lease (at most once a minute), so that no other
 * restore can take it over as stale while this step writes. A restore whose Validate took no lock
 * (called with a request alone, or a run of an earlier version) has nothing to check.
 */
export async function assertRestoreLocksHeld(
  rt: Pick<Runtime, 'store' | 'now'>,
  restore: { readonly restoreId: string; readonly locks?: unknown },
): Promise<void> {
  const locks = parseInput(restoreLockKeysSchema, restore.locks, 'the restore locks ($.restore.locks)');
  for (const key of locks ?? []) {
    const now = rt.now();
    const held = await ownLock(rt.store, key, restore.restoreId);
    if (!renewalDue(held, now)) continue;
    await renewRestoreLock(rt.store, key, restore.restoreId, now);
  }
}

function renewalDue(held: HeldLock, now: Date): boolean {
  const renewed = Date.parse(held.acquiredAt);
  return Number.isNaN(renewed) || now.getTime() - renewed >= RESTORE_LOCK_RENEW_INTERVAL_MS;
}

/**
 * Rewrites the lock with `acquiredAt` now, only if it is still the object read (conditional
 * write on its ETag): of this renewal and another restore's takeover of the same lock, exactly one
 * wins, and the loser sees the winner's lock (lock.ts replaces with the same condition). The stat
 * comes before the read, so the ETag is never newer than the content judged. A write lost to a
 * sibling step of this restore (two shards renewing at once) finds its own, fresh lock: held.
 */
async function renewRestoreLock(
  store: ContentStore,
  key: string,
  restoreId: string,
  now: Date,
): Promise<void> {
  const seen = await store.stat(key);
  const held = await ownLock(store, key, restoreId);
  // Written again between the two reads: by this restore (it is its own), and renewed meanwhile.
  if (!seen || !renewalDue(held, now)) return;
  const about = held.about ?? {};
  const body = jsonBody({
    ...held,
    acquiredAt: now.toISOString(),
    // A lock taken before leases were renewed recorded the restore's start only as acquiredAt.
    about: { ...about, startedAt: about.startedAt ?? held.acquiredAt },
  } satisfies HeldLock);
  if (await store.replaceIfMatch(key, seen.etag, body)) return;
  // Changed since the stat: whoever holds it now says (a sibling step's renewal leaves it this restore's).
  await ownLock(store, key, restoreId);
}

/** The lock at `key` when it names this restore; RestoreLockLostError naming who holds it otherwise. */
async function ownLock(store: ContentStore, key: string, restoreId: string): Promise<HeldLock> {
  let held: HeldLock | undefined;
  try {
    held = await readBackupLock(store, key);
  } catch (error) {
    if (!(error instanceof CorruptBackupError)) throw error; // a store that does not answer: retried
    throw new RestoreLockLostError(
      `restore ${restoreId} cannot tell whether it still holds its lock ${key}: ${error.message}. ${STOPPED}`,
    );
  }
  if (held?.backupId === restoreId) return held;
  if (!held)
    throw new RestoreLockLostError(
      `restore ${restoreId} no longer holds its lock ${key}: the lock is gone (another restore took it over and gave it back when it ended, or it was deleted by hand). ${STOPPED}`,
    );
  const target = held.about?.target ?? key;
  const set = held.about?.backupId ? ` of ${held.about.backupId}` : '';
  const by = held.about?.requestedBy ? `, requested by ${held.about.requestedBy}` : '';
  throw new RestoreLockLostError(
    `restore ${restoreId} no longer holds the lock on ${target}: restore ${held.backupId}${set} (started at ${restoreStartedAt(held)}, ${runOf(held)}${by}) took it over (this restore's run had ended, or its lock had not been renewed for ${REPORT_RUN_HOURS} hours) and now owns ${target}. ${STOPPED}`,
  );
}

/** When the restore holding a lock began (a lock taken before leases: when it was taken). */
export function restoreStartedAt(held: HeldLock): string {
  return held.about?.startedAt ?? held.acquiredAt;
}

const STOPPED =
  'This run (most likely an execution redriven after it failed or was stopped) stopped here and wrote nothing more into the target. To restore this set, start a new restore once the target is free';

const restoreLockKeysSchema = z.array(z.string().startsWith(RESTORE_LOCKS_PREFIX)).optional();

/** A restore went on after another one took its target's lock over. Not retried: the target is the other's. */
export class RestoreLockLostError extends LiferayBackupError {
  constructor(message: string) {
    super('RestoreLockLostError', message);
  }
}

/** Another restore writes a target this one would write. Not retried: the person decides. */
export class RestoreAlreadyRunningError extends LiferayBackupError {
  constructor(message: string) {
    super('RestoreAlreadyRunningError', message);
  }
}

async function refusal(
  store: ContentStore,
  key: string,
  target: string,
  holder: RestoreLockHolder,
  error: BackupAlreadyRunningError,
  overlap?: string,
): Promise<RestoreAlreadyRunningError> {
  const writing = overlap ? `${target}, ${overlap}` : target;
  const held = await readBackupLock(store, key).catch(() => undefined);
  if (!held)
    return new RestoreAlreadyRunningError(
      `another restore took the lock on ${writing} at the same moment (${error.runningBackupId}); nothing was changed: start this restore again once it has ended`,
    );
  const set = held.about?.backupId ? ` of ${held.about.backupId}` : '';
  const by = held.about?.requestedBy ? `, requested by ${held.about.requestedBy}` : '';
  // What acquireBackupLock judged: a process seen running here is never taken over, however old.
  const runsHere =
    held.process !== undefined && processState(held.process, new Date(held.acquiredAt)) === 'running';
  const otherwise = runsHere
    ? 'Its process runs on this machine, so its lock is never taken over while that process runs; once it has ended, the next restore takes the lock over at once'
    : `If it no longer runs, delete ${key} from the backup store; otherwise its lock counts as stale from ${staleAt(held, holder.startedAt)}, unless a step of it renews the lock before then`;
  return new RestoreAlreadyRunningError(
    `another restore is writing ${writing}: restore ${held.backupId}${set} (started at ${restoreStartedAt(held)}${by}, ${runOf(held)}). Two restores into one target overwrite each other; nothing was changed. Wait for it to end, or stop it: ${howToStop(held, holder.executionId, runsHere)}. ${otherwise}`,
  );
}

function runOf(held: HeldLock): string {
  if (held.executionId && !held.executionId.includes(':execution:local:'))
    return `execution ${held.executionId}`;
  if (held.process) return `CLI process ${held.process.pid} on ${held.process.host}`;
  return held.executionId ? `local execution ${held.executionId}` : 'its run is not recorded';
}

function howToStop(held: HeldLock, own: string | undefined, runsHere: boolean): string {
  if (held.executionId && !held.executionId.includes(':execution:local:')) {
    const stop = `Step Functions console, the Restore state machine, execution ${held.executionId.split(':').pop()}, "Stop execution"`;
    // Only a restore of the same state machine asks Step Functions whether the holder has ended
    // (executions.ts); a CLI run's execution is local, and waits for the lock to be deleted.
    return own !== undefined && sameStateMachine(own, held.executionId)
      ? `${stop} (the next restore then takes its lock over at once)`
      : stop;
  }
  if (held.process)
    return `press Ctrl-C in the terminal of that restore${runsHere ? ` (or: kill -INT ${held.process.pid})` : ` on ${held.process.host}`}`;
  return 'stop the run that started it';
}

function staleAt(held: HeldLock, now: Date): string {
  const at = new Date(Date.parse(held.acquiredAt) + RESTORE_LOCK_TIMEOUT_MINUTES * 60_000);
  return Number.isNaN(at.getTime()) ? now.toISOString() : at.toISOString();
}

/** Why the Restore execution holding a lock has ended, when Step Functions says so (executions.ts). */
async function holderEnded(rt: Runtime, own: string, holder: string): Promise<string | undefined> {
  const status = await siblingEndedStatus(rt.logger, own, holder, 'the restore holding the lock');
  return status === undefined ? undefined : `its execution had ended (${status})`;
}
