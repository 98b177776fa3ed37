import * as z from 'zod';
import {
  BackupAlreadyRunningError,
  CorruptBackupError,
  describeIssues,
  ObjectNotFoundError,
} from '#runtime/errors.ts';
import { type HostProcess, hostProcessSchema, processState } from '#runtime/host-process.ts';
import { type ContentStore, jsonBody } from '#store/content-store.ts';
import { RUN_ID_PATTERN } from './backup-id.ts';

/** Holders are runs: backups (`b…`), retention runs (`g…`); the field keeps its first name. */
const runIdSchema = z.string().regex(RUN_ID_PATTERN, 'a run id like b20261127t020000z-7f3a');
const lockSchema = z.object({
  backupId: runIdSchema,
  acquiredAt: z.iso.datetime({ offset: true }),
  /** The Step Functions execution that took it: a retried Begin of that execution resumes its run. */
  executionId: z.string().min(1).max(2048).optional(),
  /**
   * The process of a CLI run (host-process.ts): a lock whose process has ended is taken over. One
   * this version cannot read is left out (the lock then waits to go stale), never "corrupt".
   */
  process: hostProcessSchema.optional().catch(undefined),
  /**
   * What the holder works on, for the message that refuses another run (a restore: the set it
   * restores and the target it writes). One this version cannot read is left out.
   */
  about: z.record(z.string().max(64), z.string().max(4096)).optional().catch(undefined),
});
type LockBody = z.infer<typeof lockSchema>;
/** A lock as another run finds it. */
export type HeldLock = Readonly<LockBody>;

/** Who asks for the lock, and how it tells that the execution holding it has ended. */
export interface LockHolder {
  /** The Step Functions execution taking it: a retried Begin of that execution resumes its run. */
  readonly executionId?: string;
  /** Recorded by a CLI run, whose process is the run. */
  readonly process?: HostProcess;
  /** Why the execution holding the lock has certainly ended (it is then taken over), or undefined. */
  readonly executionEnded?: (holderExecutionId: string) => Promise<string | undefined>;
  /** Recorded in the lock for the run it refuses (HeldLock.about). */
  readonly about?: Readonly<Record<string, string>>;
}

export interface AcquiredLock {
  /** Set when the lock was taken over from a run that died without releasing it. */
  readonly tookOverFrom?: string;
  /** Why the holder had ended, when the lock was taken over before it went stale. */
  readonly holderEnded?: string;
  /**
   * Set when this execution already holds the lock (its Begin was retried after taking it): the
   * run goes on under that id.
   */
  readonly resumed?: { readonly backupId: string; readonly acquiredAt: string };
}

/**
 * One backup at a time per environment, with an object created only if absent (S3 conditional
 * write, or link() locally). A lock older than the timeout belongs to a run that died, and so does
 * one whose recorded process has ended (host-process.ts) or whose execution `executionEnded` says
 * has ended; either is replaced only if it is still the same object (conditional write on its
 * ETag), so two runs cannot both take it over.
 */
export async function acquireBackupLock(
  store: ContentStore,
  key: string,
  backupId: string,
  now: Date,
  timeoutMinutes: number,
  holder: LockHolder = {},
): Promise<AcquiredLock> {
  const { executionId } = holder;
  const body = jsonBody({
    backupId,
    acquiredAt: now.toISOString(),
    ...(executionId ? { executionId } : {}),
    ...(holder.process ? { process: holder.process } : {}),
    ...(holder.about ? { about: { ...holder.about } } : {}),
  } satisfies LockBody);
  if (await store.createIfAbsent(key, body)) return {};

  const info = await store.stat(key);
  if (!info) {
    // Released between our attempt and the stat: try once more, then report the race plainly.
    if (await store.createIfAbsent(key, body)) return {};
    throw new BackupAlreadyRunningError('(another run took the lock at the same moment)');
  }
  const held = await readLock(store, key);
  if (executionId !== undefined && held.executionId === executionId) {
    return { resumed: { backupId: held.backupId, acquiredAt: held.acquiredAt } };
  }
  const staleAt = new Date(Date.parse(held.acquiredAt) + timeoutMinutes * 60_000);
  const seen = held.process ? processState(held.process, new Date(held.acquiredAt)) : 'unknown';
  let ended = typeof seen === 'object' ? seen.ended : undefined;
  if (ended === undefined && held.executionId !== undefined && (now < staleAt || seen === 'running'))
    ended = await holder.executionEnded?.(held.executionId);
  if (ended === undefined && seen === 'running' && held.process)
    // A process seen running here is alive, however long it runs (a first full backup over a slow
    // link): taken over once stale, it would run beside the next backup with its set marked failed.
    throw new BackupAlreadyRunningError(held.backupId, {
      lockKey: key,
      acquiredAt: held.acquiredAt,
      staleAt,
      runsHere: `pid ${held.process.pid} on ${held.process.host}`,
    });
  if (ended === undefined && now < staleAt)
    throw new BackupAlreadyRunningError(held.backupId, {
      lockKey: key,
      acquiredAt: held.acquiredAt,
      staleAt,
    });
  if (await store.replaceIfMatch(key, info.etag, body))
    return { tookOverFrom: held.backupId, ...(ended !== undefined ? { holderEnded: ended } : {}) };
  throw new BackupAlreadyRunningError(held.backupId);
}

/** The lock as it is now, or undefined when no run holds it. */
export async function readBackupLock(store: ContentStore, key: string): Promise<HeldLock | undefined> {
  try {
    return await readLock(store, key);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return undefined;
    throw error;
  }
}

/**
 * Releases the lock if this backup holds it; a lock held by another run is left alone. The lock is
 * read without a stat first: a lock that is gone reads as ObjectNotFoundError, and every Commit
 * makes one request less in a row.
 */
export async function releaseBackupLock(
  store: ContentStore,
  key: string,
  backupId: string,
): Promise<boolean> {
  const held = await readBackupLock(store, key);
  if (held?.backupId !== backupId) return false;
  await store.delete([key]);
  return true;
}

async function readLock(store: ContentStore, key: string): Promise<LockBody> {
  const raw = (await store.read(key, 4096)).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new CorruptBackupError(`the lock ${key} is not JSON; delete it if no backup is running`);
  }
  const parsed = lockSchema.safeParse(json);
  if (!parsed.success) {
    throw new CorruptBackupError(
      `the lock ${key} is not valid (${describeIssues(parsed.error.issues)}); delete it if no backup is running`,
    );
  }
  return parsed.data;
}
