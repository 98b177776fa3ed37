import * as z from 'zod';
import { ConfigError } from '#runtime/errors.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { componentSettings } from '#runtime/settings.ts';
import { parseInput } from '#runtime/validate.ts';
import { backupRefSchema } from './records.ts';
import { sourceSettingsSchema } from './settings.ts';

const eventSchema = z.object({ backup: backupRefSchema });

export interface SourceBackupPlan {
  readonly startedAt: string;
  /** The Map state's MaxConcurrency (MaxConcurrencyPath): repositories mirrored at once. */
  readonly concurrency: number;
  readonly repositories: { readonly name: string }[];
}

/**
 * `source-plan-backup`: the repositories to mirror, from the settings (the CLI's flags or the
 * stack's configuration), for the Map state that mirrors them with bounded concurrency.
 * Event `{backup}`.
 */
export async function planSourceBackup(event: unknown, rt: Runtime): Promise<SourceBackupPlan> {
  parseInput(eventSchema, event, 'source plan event');
  const settings = componentSettings(rt.settings, 'source', sourceSettingsSchema);
  if (settings.repositories.length === 0) {
    throw new ConfigError('component source: no repositories are configured');
  }
  return {
    startedAt: rt.now().toISOString(),
    concurrency: settings.concurrency,
    repositories: settings.repositories.map((repository) => ({ name: repository.name })),
  };
}

export const handler = lambdaHandler(planSourceBackup);
