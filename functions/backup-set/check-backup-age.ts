import { lambdaHandler } from '#runtime/lambda.ts';
import { MetricUnit } from '#runtime/metrics.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { backupIdTime } from './backup-id.ts';
import { readLatest } from './manifest.ts';

export interface BackupAge {
  readonly latestBackupId: string | null;
  readonly ageHours: number | null;
}

/**
 * Publishes the age of the newest complete set, hourly. With no complete set it publishes
 * nothing, and the RPO alarm treats the missing data as breaching.
 */
export async function checkBackupAge(_event: unknown, rt: Runtime): Promise<BackupAge> {
  const latest = await readLatest(rt.store);
  if (!latest) {
    rt.logger.warn('no complete backup set exists');
    return { latestBackupId: null, ageHours: null };
  }
  const ageHours = (rt.now().getTime() - backupIdTime(latest).getTime()) / 3_600_000;
  rt.metrics.publish([
    {
      name: 'LatestCompleteBackupAge',
      unit: MetricUnit.Count,
      value: ageHours,
      dimensions: { Environment: rt.settings.environment },
    },
  ]);
  return { latestBackupId: latest, ageHours };
}

export const handler = lambdaHandler(checkBackupAge);
