import type { ComponentName } from '#components/component.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import { MetricUnit } from '#runtime/metrics.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { configuredComponents } from '#runtime/settings.ts';
import { backupIdTime } from './backup-id.ts';
import { listBackupIds, readManifest, resolveLatest } from './manifest.ts';

export interface BackupAge {
  readonly latestBackupId: string | null;
  readonly ageHours: number | null;
  /** Per configured component, its newest complete copy (in a complete or a partial set). */
  readonly components: Partial<Record<ComponentName, { backupId: string; ageHours: number }>>;
}

/** How many manifests, newest first, are read looking for each component's newest complete copy. */
const MAX_MANIFESTS_READ = 500;

/**
 * Publishes, hourly, the age of the newest complete set and of each configured component's newest
 * complete copy: hourly database-only sets keep the first young while the nightly files backup may
 * have stopped, so each component has its own. Nothing is published for what has no complete copy,
 * and the RPO alarms treat the missing data as breaching.
 */
export async function checkBackupAge(_event: unknown, rt: Runtime): Promise<BackupAge> {
  const hoursSince = (backupId: string) =>
    (rt.now().getTime() - backupIdTime(backupId).getTime()) / 3_600_000;
  // A damaged pointer must not blind the RPO alarm: the newest complete set is what it records.
  const { backupId: latest, warning } = await resolveLatest(rt.store);
  if (warning) rt.logger.warn(warning);
  const environment = { Environment: rt.settings.environment };
  if (latest) {
    rt.metrics.publish([
      {
        name: 'LatestCompleteBackupAge',
        unit: MetricUnit.Count,
        value: hoursSince(latest),
        dimensions: environment,
      },
    ]);
  } else {
    rt.logger.warn('no complete backup set exists');
  }
  const components: BackupAge['components'] = {};
  const configured = configuredComponents(rt.settings);
  const newest = await newestCompleteCopies(rt, configured);
  for (const [component, backupId] of newest) {
    const ageHours = hoursSince(backupId);
    components[component] = { backupId, ageHours };
    rt.metrics.publish([
      {
        name: 'ComponentCompleteBackupAge',
        unit: MetricUnit.Count,
        value: ageHours,
        dimensions: { ...environment, Component: component },
      },
    ]);
  }
  for (const component of configured) {
    if (!newest.has(component)) rt.logger.warn('no complete copy of a component exists', { component });
  }
  return { latestBackupId: latest ?? null, ageHours: latest ? hoursSince(latest) : null, components };
}

/** The newest set holding a complete copy of each component, reading manifests newest first. */
async function newestCompleteCopies(
  rt: Runtime,
  wanted: readonly ComponentName[],
): Promise<Map<ComponentName, string>> {
  const found = new Map<ComponentName, string>();
  const ids = (await listBackupIds(rt.store)).reverse().slice(0, MAX_MANIFESTS_READ);
  for (const backupId of ids) {
    if (found.size === wanted.length) break;
    const manifest = await readManifestOrSkip(rt, backupId);
    if (!manifest || (manifest.status !== 'complete' && manifest.status !== 'partial')) continue;
    for (const component of wanted) {
      if (!found.has(component) && manifest.results[component]?.status === 'complete')
        found.set(component, backupId);
    }
  }
  return found;
}

async function readManifestOrSkip(rt: Runtime, backupId: string) {
  try {
    return await readManifest(rt.store, backupId);
  } catch (error) {
    // A damaged manifest must not silence the age alarms; the drill and retention report it.
    rt.logger.warn('a manifest could not be read', { backupId, error: String(error) });
    return undefined;
  }
}

export const handler = lambdaHandler(checkBackupAge);
