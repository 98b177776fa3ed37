import { LiferayBackupError } from '#runtime/errors.ts';

/**
 * A Git host refused the credentials (HTTP 401/403). Never retried: the message names the
 * repository URL (without user info) and which credentials were used, never their value.
 */
export class GitAuthenticationError extends LiferayBackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GitAuthenticationError', message, options);
  }
}

/**
 * A Git host could not be reached, answered something that is not the smart-HTTP protocol, or
 * reported an error (unpack failure, a rejected ref). Not retried by the state machine: transient
 * faults are raised as RetryableError instead.
 */
export class GitRemoteError extends LiferayBackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('GitRemoteError', message, options);
  }
}

/** After a mirror, the mirror's refs are not what the source had: the message names every ref that differs. */
export class MirrorVerificationError extends LiferayBackupError {
  constructor(message: string) {
    super('MirrorVerificationError', message);
  }
}

/** A restore target already has refs and the request did not say `overwrite`. */
export class RestoreTargetNotEmptyError extends LiferayBackupError {
  constructor(message: string) {
    super('RestoreTargetNotEmptyError', message);
  }
}

/** One or more repositories of a backup or restore failed; the message names each and why. */
export class SourceComponentError extends LiferayBackupError {
  constructor(message: string) {
    super('SourceComponentError', message);
  }
}
