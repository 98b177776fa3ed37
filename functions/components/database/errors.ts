import { LiferayBackupError, RetryableError } from '#runtime/errors.ts';

/**
 * The database component's named errors. Step Functions matches `name`: the workflow retries
 * DatabaseNotAvailableError within the configured window (cdk/components/database.ts) and
 * RetryableError (throttling) with backoff; every other one fails the component with its message.
 */

/** The instance or cluster is not `available` (backing up, modifying, stopped, ...). */
export class DatabaseNotAvailableError extends LiferayBackupError {
  constructor(message: string) {
    super('DatabaseNotAvailableError', message);
  }
}

/** The account's manual snapshot quota is reached: retrying cannot help. */
export class SnapshotQuotaExceededError extends LiferayBackupError {
  constructor(message: string) {
    super('SnapshotQuotaExceededError', message);
  }
}

/** A snapshot (or restored instance/cluster) with our name exists but was not made by this run. */
export class DatabaseNameConflictError extends LiferayBackupError {
  constructor(message: string) {
    super('DatabaseNameConflictError', message);
  }
}

/** A snapshot, copy or restored resource reached a state it cannot leave (failed, incompatible-*). */
export class DatabaseOperationFailedError extends LiferayBackupError {
  constructor(message: string) {
    super('DatabaseOperationFailedError', message);
  }
}

/** The Wait + describe loop used up its attempts. Nothing was deleted. */
export class DatabaseWaitTimeoutError extends LiferayBackupError {
  constructor(message: string) {
    super('DatabaseWaitTimeoutError', message);
  }
}

/** The dump tool failed (exit status, signal or an error on stderr); nothing was recorded. */
export class DumpFailedError extends LiferayBackupError {
  constructor(message: string) {
    super('DumpFailedError', message);
  }
}

/** Loading a dump into the target database failed; the message says what was left of the target. */
export class DumpRestoreFailedError extends LiferayBackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DumpRestoreFailedError', message, options);
  }
}

/**
 * A retried dump restore found the database its earlier run created still in use by other sessions
 * (that run may still be loading it: Step Functions retries on a lost answer, not only on a run
 * that ended). Nothing was changed.
 */
export class RestoreTargetBusyError extends LiferayBackupError {
  constructor(message: string) {
    super('RestoreTargetBusyError', message);
  }
}

/** The restore target database holds tables and the request did not allow overwriting it. */
export class RestoreTargetNotEmptyError extends LiferayBackupError {
  constructor(message: string) {
    super('RestoreTargetNotEmptyError', message);
  }
}

/** A client or dump program is not installed where the component looks for it. */
export class DatabaseToolMissingError extends LiferayBackupError {
  constructor(message: string) {
    super('DatabaseToolMissingError', message);
  }
}

/**
 * A snapshot (or its DR copy) of a set retention deletes is still being created or copied, and
 * RDS deletes only `available` snapshots. Its name stays `RetryableError` on purpose: that is what
 * the state machine's Retry matches, and a deletion still pending after those retries is finished
 * by the next retention run (the set's deletion marker puts it on the list again).
 */
export class SnapshotNotDeletableYetError extends RetryableError {}

/**
 * Retention was asked to delete a snapshot that is not provably this set's: another environment's
 * name, another backup id in its tag, another ARN than recorded. Nothing was deleted.
 */
export class SnapshotOwnershipError extends LiferayBackupError {
  constructor(message: string) {
    super('SnapshotOwnershipError', message);
  }
}
