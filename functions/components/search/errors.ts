import { LiferayBackupError } from '#runtime/errors.ts';

/**
 * The search engine answered with an error the component does not expect. `type` is the
 * engine's error type (e.g. `index_not_found_exception`), `status` its HTTP status.
 */
export class SearchEngineError extends LiferayBackupError {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly type: string | undefined,
    options?: { cause?: unknown },
  ) {
    super('SearchEngineError', message, options);
  }
}

/**
 * Another snapshot or snapshot deletion is running in the repository
 * (`concurrent_snapshot_execution_exception`, e.g. an Amazon OpenSearch Service automated
 * snapshot). The state machine retries the start with backoff.
 */
export class SearchSnapshotBusyError extends LiferayBackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SearchSnapshotBusyError', message, options);
  }
}

/** The snapshot ended PARTIAL or FAILED; the message lists the shard failures. */
export class SearchSnapshotFailedError extends LiferayBackupError {
  constructor(message: string) {
    super('SearchSnapshotFailedError', message);
  }
}

/** A snapshot or a restore's recovery did not finish within the configured number of checks. */
export class SearchTimeoutError extends LiferayBackupError {
  constructor(message: string) {
    super('SearchTimeoutError', message);
  }
}

/** The repository name is taken by a repository that points somewhere else: never overwritten. */
export class SearchRepositoryConflictError extends LiferayBackupError {
  constructor(message: string) {
    super('SearchRepositoryConflictError', message);
  }
}

/** A restore would touch existing indexes in a way the request did not allow. Nothing was changed. */
export class SearchRestoreConflictError extends LiferayBackupError {
  constructor(message: string) {
    super('SearchRestoreConflictError', message);
  }
}
