import { ConfigError, RetryableError } from '#runtime/errors.ts';
import { maskBeforeLastAt } from '#runtime/redact.ts';
import type { EngineFailure } from './engine.ts';
import { SearchEngineError, SearchSnapshotBusyError } from './errors.ts';

/** Statuses that say "try again later": the state machine retries a RetryableError. */
const TRANSIENT_STATUSES = new Set([429, 502, 503, 504]);

/**
 * Turns a failed request into the error the state machine acts on. `action` says what was being
 * done ("creating snapshot liferay-backup/b2026..."); `endpoint` is the cluster without
 * credentials. The message never contains request headers or credentials.
 */
export function engineError(failure: EngineFailure, action: string, endpoint: string): Error {
  const detail = [failure.status, failure.type, failure.reason]
    .filter((part) => part !== undefined)
    .join(' ');
  const message = `${action} on ${endpoint}: ${detail || failure.message}`;
  if (failure.type === 'concurrent_snapshot_execution_exception') return new SearchSnapshotBusyError(message);
  if (failure.transport) return new RetryableError(message);
  if (failure.status !== undefined && TRANSIENT_STATUSES.has(failure.status))
    return new RetryableError(message);
  if (failure.status === 401 || failure.status === 403) {
    return new ConfigError(
      `${message} (the cluster refused the credentials or the role: see docs/readme/search.md)`,
    );
  }
  return new SearchEngineError(message, failure.status, failure.type);
}

/** The engine reported "no such thing" (repository, snapshot or index). */
export function isMissing(failure: EngineFailure, ...types: string[]): boolean {
  return (
    failure.status === 404 &&
    (types.length === 0 || (failure.type !== undefined && types.includes(failure.type)))
  );
}

/** A URL without user info, query or fragment: what logs, errors and the manifest may show. */
export function redactEndpoint(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    return maskBeforeLastAt(`${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`);
  } catch {
    return '(invalid endpoint)';
  }
}
