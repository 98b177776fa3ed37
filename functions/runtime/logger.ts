import { Logger } from '@aws-lambda-powertools/logger';

/** One logger per service; handlers append the backup id so every line carries it. */
export function createLogger(
  options: { logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT' } = {},
): Logger {
  return new Logger({
    serviceName: 'liferay-backup',
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
  });
}
