import type { ComponentName } from '#components/component.ts';
import { type MetricPoint, MetricUnit, type MetricUnitValue } from '#runtime/metrics.ts';
import type { Manifest } from './manifest.ts';
import type { RestoreReport } from './restore-report.ts';

/**
 * Component summaries use these keys for the numbers the dashboard shows; Commit turns them into
 * metrics, so a component only has to name its numbers, never to call CloudWatch.
 */
export const SUMMARY_METRICS: Readonly<Record<string, { metric: string; unit: MetricUnitValue }>> = {
  bytesRead: { metric: 'BytesRead', unit: MetricUnit.Bytes },
  bytesStored: { metric: 'BytesStored', unit: MetricUnit.Bytes },
  filesSeen: { metric: 'FilesSeen', unit: MetricUnit.Count },
  filesChanged: { metric: 'FilesChanged', unit: MetricUnit.Count },
  snapshotBytes: { metric: 'SnapshotBytes', unit: MetricUnit.Bytes },
};

function seconds(start?: string, end?: string): number | undefined {
  if (!start || !end) return undefined;
  return Math.max(0, (Date.parse(end) - Date.parse(start)) / 1000);
}

/** The metrics of a committed backup set: its outcome, and per component its duration and summary numbers. */
export function backupMetricPoints(manifest: Manifest): MetricPoint[] {
  const env = { Environment: manifest.environment };
  const points: MetricPoint[] = [
    {
      name: 'BackupComplete',
      unit: MetricUnit.Count,
      value: manifest.status === 'complete' ? 1 : 0,
      dimensions: env,
    },
    {
      name: 'BackupPartial',
      unit: MetricUnit.Count,
      value: manifest.status === 'partial' ? 1 : 0,
      dimensions: env,
    },
    {
      name: 'BackupFailed',
      unit: MetricUnit.Count,
      value: manifest.status === 'failed' ? 1 : 0,
      dimensions: env,
    },
  ];
  const total = seconds(manifest.startedAt, manifest.finishedAt);
  if (total !== undefined)
    points.push({ name: 'BackupDuration', unit: MetricUnit.Seconds, value: total, dimensions: env });
  for (const name of manifest.components) {
    const result = manifest.results[name];
    if (!result) continue;
    const dimensions = { ...env, Component: name as ComponentName };
    points.push({
      name: 'ComponentFailed',
      unit: MetricUnit.Count,
      value: result.status === 'failed' ? 1 : 0,
      dimensions,
    });
    const duration = seconds(result.startedAt, result.finishedAt);
    if (duration !== undefined)
      points.push({ name: 'ComponentDuration', unit: MetricUnit.Seconds, value: duration, dimensions });
    for (const [key, value] of Object.entries(result.summary)) {
      const known = SUMMARY_METRICS[key];
      if (known && typeof value === 'number' && Number.isFinite(value)) {
        points.push({ name: known.metric, unit: known.unit, value, dimensions });
      }
    }
  }
  return points;
}

export function restoreMetricPoints(report: RestoreReport, environment: string): MetricPoint[] {
  const dimensions = { Environment: environment };
  return [
    {
      name: 'RestoreComplete',
      unit: MetricUnit.Count,
      value: report.status === 'complete' ? 1 : 0,
      dimensions,
    },
    {
      name: 'RestoreFailed',
      unit: MetricUnit.Count,
      value: report.status === 'complete' ? 0 : 1,
      dimensions,
    },
  ];
}
