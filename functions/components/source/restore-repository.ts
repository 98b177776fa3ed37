import * as z from 'zod';
import { assertRestoreLocksHeld } from '#backup-set/restore-lock.ts';
import { CorruptBackupError, InvalidInputError } from '#runtime/errors.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { componentSettings } from '#runtime/settings.ts';
import { parseInput } from '#runtime/validate.ts';
import { parameterNames } from './credentials.ts';
import { recordOf, restoreRefSchema, sourceDeps, sourceDetailsOf } from './records.ts';
import { type RestoreOutcome, restoreRepository } from './restore.ts';
import {
  type Credentials,
  restoreTargetSchema,
  type SourceDetails,
  type SourceSettings,
  sourceSettingsSchema,
} from './settings.ts';

const eventSchema = z.object({ restore: restoreRefSchema, target: restoreTargetSchema });

/** Environment variables a restore request may name (it must not read the function's own secrets). */
export const RESTORE_ENV_PREFIX = 'LIFERAY_BACKUP_GIT_';

/**
 * `source-restore-repository`: pushes one target's recorded refs (event `{restore, target}`,
 * one item of the request's `targets`).
 */
export async function restoreSourceRepository(event: unknown, rt: Runtime): Promise<RestoreOutcome> {
  const { restore, target } = parseInput(eventSchema, event, 'source restore event');
  // A redriven execution re-runs this push, never Validate: the target may be another restore's by now.
  await assertRestoreLocksHeld(rt, restore);
  const settings = componentSettings(rt.settings, 'source', sourceSettingsSchema);
  checkTargetCredentials(target.credentials, settings);
  const details = await sourceDetailsOf(rt.store, restore.backupId);
  if (!details)
    throw new CorruptBackupError(`backup set ${restore.backupId} holds no complete source result`);
  const entry = pickRepository(details, target.repository);
  const record = await recordOf(rt.store, entry);
  const configured = settings.repositories.find((repository) => repository.name === record.name);
  const outcome = await restoreRepository(
    {
      record,
      target,
      mirrorCredentials: configured?.mirrorCredentials ?? settings.defaultCredentials,
      store: rt.store,
      scratchDir: rt.scratchDir,
    },
    sourceDeps(),
  );
  rt.logger.info('repository restored', { ...outcome });
  return outcome;
}

/** The recorded repository a target names, or the only one. */
export function pickRepository(details: SourceDetails, name: string | undefined) {
  const names = details.repositories.map((repository) => repository.name);
  if (name === undefined) {
    const only = details.repositories[0];
    if (details.repositories.length !== 1 || !only) {
      throw new InvalidInputError(
        `name the repository to restore ("repository": one of ${names.join(', ')})`,
      );
    }
    return only;
  }
  const entry = details.repositories.find((repository) => repository.name === name);
  if (!entry)
    throw new InvalidInputError(
      `repository ${name} is not in this backup (it has ${names.join(', ') || 'none'})`,
    );
  return entry;
}

/**
 * A restore request comes from whoever may start the Restore workflow; it must not make the
 * function send its own secrets to a URL of the requester's choosing. So a target may use only
 * SSM parameters under `restoreCredentialsPath`, or environment variables named
 * LIFERAY_BACKUP_GIT_* (the CLI's). Validate runs the same check (on names only) before anything
 * is pushed; this one stays because the function is what reads the secrets.
 */
export function checkTargetCredentials(credentials: Credentials | undefined, settings: SourceSettings): void {
  const problems = targetCredentialProblems(credentials, settings.restoreCredentialsPath);
  if (problems.length > 0) throw new InvalidInputError(`restore target credentials: ${problems.join('; ')}`);
}

/** Every name in a target's credentials that a restore may not read (empty when all are allowed). */
export function targetCredentialProblems(
  credentials: Credentials | undefined,
  restoreCredentialsPath: string | undefined,
): string[] {
  if (!credentials) return [];
  const problems: string[] = [];
  for (const name of parameterNames(credentials)) {
    if (!restoreCredentialsPath || !name.startsWith(restoreCredentialsPath)) {
      problems.push(
        `SSM parameter ${name} is not under the configured restoreCredentialsPath (${restoreCredentialsPath ?? 'none configured'})`,
      );
    }
  }
  for (const name of envNames(credentials)) {
    if (!name.startsWith(RESTORE_ENV_PREFIX)) {
      problems.push(`environment variable ${name} must start with ${RESTORE_ENV_PREFIX}`);
    }
  }
  return problems;
}

export function envNames(credentials: Credentials): string[] {
  if ('tokenEnv' in credentials) return [credentials.tokenEnv];
  if ('passwordEnv' in credentials)
    return [credentials.passwordEnv, ...(credentials.usernameEnv ? [credentials.usernameEnv] : [])];
  return [];
}

export const handler = lambdaHandler(restoreSourceRepository);
