import { S3Client } from '@aws-sdk/client-s3';
import { S3Store, s3ClientConfig } from '#store/s3-store.ts';
import { asStepFunctionsError, ConfigError } from './errors.ts';
import { createLogger } from './logger.ts';
import { powertoolsMetricsSink } from './metrics.ts';
import type { Handler, Runtime } from './runtime.ts';
import { parseSettings } from './settings.ts';

/** Reads a required environment variable; a missing one is a deployment error that names it. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new ConfigError(`environment variable ${name} is not set`);
  return value;
}

/**
 * Builds the runtime from the Lambda environment the stack sets:
 * STORE_BUCKET, STORE_KMS_KEY_ARN (optional), LIFERAY_BACKUP_SETTINGS (JSON).
 */
export function lambdaRuntime(): Runtime {
  const settingsJson = requiredEnv('LIFERAY_BACKUP_SETTINGS');
  let raw: unknown;
  try {
    raw = JSON.parse(settingsJson);
  } catch {
    throw new ConfigError('environment variable LIFERAY_BACKUP_SETTINGS is not JSON');
  }
  const settings = parseSettings(raw, 'LIFERAY_BACKUP_SETTINGS');
  const kmsKeyId = process.env.STORE_KMS_KEY_ARN;
  const store = new S3Store(new S3Client(s3ClientConfig()), {
    bucket: requiredEnv('STORE_BUCKET'),
    ...(kmsKeyId ? { kmsKeyId } : {}),
  });
  const logger = createLogger();
  return {
    store,
    logger,
    settings,
    now: () => new Date(),
    scratchDir: process.env.SCRATCH_DIR ?? '/tmp',
    progress: (message) => logger.debug(message),
    metrics: powertoolsMetricsSink(),
  };
}

/**
 * The Lambda entry point for a handler: the runtime (clients, settings) is built once per
 * container, on the first invocation, and reused while the container is warm. Errors propagate
 * unchanged so Step Functions can Retry/Catch them by name, except the transient faults of
 * libraries (a store that still throttles after the SDK's attempts, a cut connection): their names
 * (SlowDown, TimeoutError, TypeError...) match no Retry, so they go on as RetryableError.
 */
export function lambdaHandler(handler: Handler): (event: unknown) => Promise<unknown> {
  let runtime: Runtime | undefined;
  return async (event: unknown) => {
    runtime ??= lambdaRuntime();
    const backupId = backupIdOf(event);
    if (backupId) runtime.logger.appendKeys({ backupId });
    try {
      return await handler(event, runtime);
    } catch (error) {
      runtime.logger.error('handler failed', error as Error);
      throw asStepFunctionsError(error);
    } finally {
      runtime.logger.resetKeys();
    }
  };
}

function backupIdOf(event: unknown): string | undefined {
  const record = event as { backup?: { backupId?: unknown }; restore?: { backupId?: unknown } } | null;
  const id = record?.backup?.backupId ?? record?.restore?.backupId;
  return typeof id === 'string' ? id : undefined;
}
