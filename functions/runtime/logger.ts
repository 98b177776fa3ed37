import { Logger } from '@aws-lambda-powertools/logger';
import { maskUrlUserInfo } from './redact.ts';

/**
 * Every string of a log line (messages, attributes, an error's message, stack and cause) with the
 * user info of its URLs masked: the components mask what they say, and this catches what a library
 * put in an error it threw (a URL with a token in a failed fetch's message) before it is logged.
 */
function maskedStrings(_key: string, value: unknown): unknown {
  return typeof value === 'string' && value.includes('@') && value.includes('://')
    ? maskUrlUserInfo(value)
    : value;
}

/** One logger per service; handlers append the backup id so every line carries it. */
export function createLogger(
  options: { logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT' } = {},
): Logger {
  return new Logger({
    serviceName: 'liferay-backup',
    jsonReplacerFn: maskedStrings,
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
  });
}
