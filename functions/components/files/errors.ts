import { CorruptBackupError, LiferayBackupError, ObjectNotFoundError } from '#runtime/errors.ts';

/**
 * The files engine's named errors (Step Functions matches on `name`; retries belong to the state
 * machine). Kept beside the engine rather than appended to runtime/errors.ts, which several
 * people edit at once.
 */

/**
 * The previous copy's index (its index file, a part, the content catalog) is damaged or gone. The
 * shard then runs again without it (copy-shard.ts): every file it covers is read again.
 */
export class PreviousIndexError extends LiferayBackupError {
  constructor(message: string, options: { cause: unknown }) {
    super('PreviousIndexError', message, options);
  }
}

/** Wraps the damage of a previous copy's object (not a store that cannot be reached: that is retried). */
export function asPreviousIndexError(error: unknown): unknown {
  return error instanceof ObjectNotFoundError || error instanceof CorruptBackupError
    ? new PreviousIndexError((error as Error).message, { cause: error })
    : error;
}

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

/**
 * What a restore could not read back: a stored object (gone, shorter than the index says, or a
 * chunk that does not match its name: every file that uses it is lost), or one file whose restored
 * bytes do not match its sha256 (the rest of its pack may be sound).
 */
export type LostContent = { readonly object: string } | { readonly path: string };

/** Restored bytes do not have the sha256 the index recorded: the store's copy is damaged. */
export class VerificationError extends LiferayBackupError {
  constructor(
    message: string,
    /** The damaged object or file, when the restore knows it (a restore with skipLost goes on without it). */
    readonly lost?: LostContent,
  ) {
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
  constructor(message: string, options?: { cause?: unknown }) {
    super('RestoreTargetError', message, options);
  }
}
