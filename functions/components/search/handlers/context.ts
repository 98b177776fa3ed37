import * as z from 'zod';
import { ConfigError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { componentSettings } from '#runtime/settings.ts';
import { engineFor } from '../connect.ts';
import type { SearchEngine } from '../engine.ts';
import { SNAPSHOT_ROLE_ENV } from '../ids.ts';
import { type S3RepositorySettings, type SearchSettings, searchSettingsSchema } from '../settings.ts';

/** The parts of `$.backup` (BackupContext) the search tasks read. */
export const backupRefSchema = z.looseObject({
  backupId: z.string().regex(/^b\d{8}t\d{6}z-[0-9a-f]{4}$/),
  environment: z.string().min(1).max(64),
});

/** The parts of `$.restore` (RestoreContext) the search tasks read. */
export const restoreRefSchema = z.looseObject({
  restoreId: z.string().max(64),
  backupId: z.string().regex(/^b\d{8}t\d{6}z-[0-9a-f]{4}$/),
  requests: z.looseObject({ search: z.unknown().optional() }),
});

/**
 * The component's settings (validated at every cold start) and its engine (built once per
 * container), with the restore credentials for the restore tasks when they are configured.
 */
export async function searchRuntime(
  rt: Runtime,
  side: 'backup' | 'restore' = 'backup',
): Promise<{ settings: SearchSettings; engine: SearchEngine }> {
  const configured = componentSettings(rt.settings, 'search', searchSettingsSchema);
  const settings =
    side === 'restore' && configured.restoreCredentials
      ? { ...configured, credentials: configured.restoreCredentials }
      : configured;
  return { settings, engine: await engineFor(settings) };
}

/**
 * The S3 repository to register, its bucket, role and key completed from the function's
 * environment (the stack's tokens: STORE_BUCKET, SEARCH_SNAPSHOT_ROLE_ARN, STORE_KMS_KEY_ARN).
 */
export function s3Repository(settings: SearchSettings): S3RepositorySettings | undefined {
  const s3 = settings.repository.s3;
  if (!s3) return undefined;
  const bucket = s3.bucket ?? process.env.STORE_BUCKET;
  const roleArn = s3.roleArn ?? process.env[SNAPSHOT_ROLE_ENV];
  const kmsKeyArn = s3.kmsKeyArn ?? process.env.STORE_KMS_KEY_ARN;
  if (!bucket)
    throw new ConfigError(
      'the S3 snapshot repository has no bucket (settings repository.s3.bucket or STORE_BUCKET)',
    );
  if (!roleArn) {
    throw new ConfigError(
      `the S3 snapshot repository has no role (settings repository.s3.roleArn or ${SNAPSHOT_ROLE_ENV})`,
    );
  }
  return { bucket, basePath: s3.basePath, region: s3.region, roleArn, ...(kmsKeyArn ? { kmsKeyArn } : {}) };
}
