import { LiferayBackupError } from '#runtime/errors.ts';

/**
 * The files engine's named errors (Step Functions matches on `name`; retries belong to the state
 * machine). Kept beside the engine rather than appended to runtime/errors.ts, which several
 * people edit at once.
 */

/** Some shards of a run have no result: the set must not be complete. Not retried. */
export class IncompleteShardsError extends LiferayBackupError {
  constructor(message: string) {
    super('IncompleteShardsError', message);
  }
}

/** An index entry that a restore refuses (unsafe path, writes through a link, unknown encoding). */
export class UnsafeEntryError extends LiferayBackupError {
  constructor(message: string) {
    super('UnsafeEntryError', message);
  }
}

/** Restored bytes do not have the sha256 the index recorded: the store's copy is damaged. */
export class VerificationError extends LiferayBackupError {
  constructor(message: string) {
    super('VerificationError', message);
  }
}

/** A file changed between the hash pass and the upload pass; the caller reads it again. */
export class ContentChangedError extends LiferayBackupError {
  constructor(message: string) {
    super('ContentChangedError', message);
  }
}

/** The restore target is not usable (exists where it must not, outside the writable root, ...). */
export class RestoreTargetError extends LiferayBackupError {
  constructor(message: string) {
    super('RestoreTargetError', message);
  }
}
