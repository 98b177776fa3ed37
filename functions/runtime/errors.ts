/**
 * Named errors. Step Functions Retry/Catch rules match on `name`, so every error class sets it
 * explicitly (bundling minifies class names, `new.target.name` would not survive).
 */
export class LiferayBackupError extends Error {
  constructor(name: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}

/** The event, restore request or flags are wrong: the message says what to fix. Never retried. */
export class InvalidInputError extends LiferayBackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InvalidInputError', message, options);
  }
}

/** Configuration (CDK context, Lambda environment, CLI flags) is wrong. Never retried. */
export class ConfigError extends LiferayBackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ConfigError', message, options);
  }
}

/** Something read back from the store does not match its schema: it is not trusted. */
export class CorruptBackupError extends LiferayBackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CorruptBackupError', message, options);
  }
}

/**
 * A second backup (or retention run) of the same environment was started while one holds the lock.
 * The message says how to go on when the holder died without giving the lock back.
 */
export class BackupAlreadyRunningError extends LiferayBackupError {
  constructor(
    readonly runningBackupId: string,
    held?: {
      readonly lockKey: string;
      readonly acquiredAt: string;
      readonly staleAt: Date;
      /** The holder's process, seen running on this machine: never taken over. */
      readonly runsHere?: string;
    },
  ) {
    const what = runningBackupId.startsWith('g') ? 'a retention run' : 'a backup';
    const since = held ? ` (it took the lock ${held.lockKey} at ${held.acquiredAt})` : '';
    const then = !held
      ? ''
      : held.runsHere
        ? `: its process (${held.runsHere}) still runs on this machine, so its lock is not taken over however long it runs. If it hangs, stop it; the next run then takes the lock over`
        : `. If it is no longer running (its execution was stopped or timed out, or its process was killed), delete ${held.lockKey} from the backup store to start now; otherwise the lock counts as stale from ${held.staleAt.toISOString()}`;
    super('BackupAlreadyRunningError', `${what} is already running: ${runningBackupId}${since}${then}`);
  }
}

/** An object the caller expected in the store is not there. */
export class ObjectNotFoundError extends LiferayBackupError {
  constructor(readonly key: string) {
    super('ObjectNotFoundError', `not found in the backup store: ${key}`);
  }
}

/** An object read whole is larger than the caller allows (`size` when the store knew it before reading). */
export class ObjectTooLargeError extends LiferayBackupError {
  constructor(
    readonly key: string,
    readonly maxBytes: number,
    readonly size?: number,
  ) {
    super(
      'ObjectTooLargeError',
      size === undefined
        ? `${key} is larger than the ${maxBytes} bytes allowed`
        : `${key} is ${size} bytes, more than the ${maxBytes} allowed`,
    );
  }
}

/** A transient failure that the state machine may retry (throttling, a store that went away). */
export class RetryableError extends LiferayBackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RetryableError', message, options);
  }
}

/** Formats a zod error as "key.path: problem; other.key: problem" so that the reader knows what to fix. */
export function describeIssues(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .map((issue) => {
      const where = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}

/** Narrows an unknown thrown value to something with a name and a message. */
export function asError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown));
}

/** HTTP statuses of an AWS service error that say "try again later". */
const TRANSIENT_STATUSES = new Set([429, 500, 502, 503, 504]);

/** AWS error codes for throttling (some are answered with status 400). */
const THROTTLING_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/**
 * Node and undici codes of a connection that was cut, refused or timed out: the one list of them
 * (the Lambda wrapper's mapping here, the files restore's fetch threads, the Git client).
 */
export const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * A library's transient fault becomes RetryableError (the original is its cause); anything else is
 * unchanged. Its name (SlowDown, TimeoutError, TypeError...) would match no Retry of the workflows:
 * the Lambda wrapper and the local runner both pass a handler's error through this.
 */
export function asStepFunctionsError(thrown: unknown): unknown {
  if (!(thrown instanceof Error) || thrown instanceof LiferayBackupError || !isTransient(thrown))
    return thrown;
  return new RetryableError(`${thrown.name}: ${thrown.message}`, { cause: thrown });
}

function isTransient(error: Error): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const fault = current as Error & {
      code?: unknown;
      $retryable?: unknown;
      $metadata?: { httpStatusCode?: number };
    };
    if (fault.$retryable) return true;
    if (fault.$metadata && TRANSIENT_STATUSES.has(fault.$metadata.httpStatusCode ?? 0)) return true;
    if (THROTTLING_CODES.has(fault.name)) return true;
    if (fault.name === 'TimeoutError') return true;
    if (typeof fault.code === 'string' && NETWORK_CODES.has(fault.code)) return true;
    current = fault.cause;
  }
  return false;
}
