import * as z from 'zod';
import { asError, ConfigError } from '#runtime/errors.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { componentSettings } from '#runtime/settings.ts';
import { parseInput } from '#runtime/validate.ts';
import { mirrorRepository } from './mirror.ts';
import { backupRefSchema, recordOf, sourceDeps, sourceDetailsOf, writeRecord } from './records.ts';
import { type RepositoryRecord, repositoryNameSchema, sourceSettingsSchema } from './settings.ts';

const eventSchema = z.object({ backup: backupRefSchema, repository: repositoryNameSchema });

/** What one iteration of the mirror Map returns (small: the refs stay in the store record). */
export interface MirroredRepository {
  readonly repository: string;
  readonly recordKey: string;
  readonly refs: number;
  readonly seconds: number;
}

/**
 * `source-mirror-repository`: mirrors one repository (event `{backup, repository}`), verifies
 * the mirror, and writes the repository's record to `backups/<id>/source/<name>.json`.
 */
export async function mirrorSourceRepository(event: unknown, rt: Runtime): Promise<MirroredRepository> {
  const { backup, repository: name } = parseInput(eventSchema, event, 'source mirror event');
  const settings = componentSettings(rt.settings, 'source', sourceSettingsSchema);
  const repository = settings.repositories.find((candidate) => candidate.name === name);
  if (!repository) throw new ConfigError(`component source: no repository named ${name} is configured`);
  const previous = repository.storeCopy ? await previousRecord(rt, backup.previousBackupId, name) : undefined;
  const record = await mirrorRepository(
    {
      repository,
      defaultCredentials: settings.defaultCredentials,
      previous,
      store: rt.store,
      scratchDir: rt.scratchDir,
      now: rt.now,
      progress: rt.progress,
      backupId: backup.backupId,
    },
    sourceDeps(),
  );
  const recordKey = await writeRecord(rt.store, backup.backupId, record);
  rt.logger.info('repository mirrored', {
    repository: name,
    refs: Object.keys(record.refs).length,
    ...record.stats,
  });
  return {
    repository: name,
    recordKey,
    refs: Object.keys(record.refs).length,
    seconds: record.stats.seconds,
  };
}

/**
 * The repository's record in the previous complete set, which the store copy builds on. A set
 * that cannot be read only costs a full pack this time, so it is logged, not fatal.
 */
async function previousRecord(
  rt: Runtime,
  previousBackupId: string | undefined,
  name: string,
): Promise<RepositoryRecord | undefined> {
  if (!previousBackupId) return undefined;
  try {
    const details = await sourceDetailsOf(rt.store, previousBackupId);
    const entry = details?.repositories.find((candidate) => candidate.name === name);
    return entry ? await recordOf(rt.store, entry) : undefined;
  } catch (error) {
    rt.logger.warn('previous source record unreadable; storing a full pack', {
      repository: name,
      previousBackupId,
      error: asError(error).message,
    });
    return undefined;
  }
}

export const handler = lambdaHandler(mirrorSourceRepository);
