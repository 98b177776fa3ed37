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

const GIB = 1024 ** 3;
interface SummaryMetric {
  readonly metric: string;
  readonly unit: MetricUnitValue;
  /** The summary holds the number in this many of the metric's unit (e.g. GiB as bytes). */
  readonly scale?: number;
}
const bytes = (metric: string, scale = 1): SummaryMetric => ({ metric, unit: MetricUnit.Bytes, scale });
const count = (metric: string): SummaryMetric => ({ metric, unit: MetricUnit.Count });
const FILES_SUMMARY: Readonly<Record<string, readonly SummaryMetric[]>> = {
  files: [count('FilesSeen')],
  changedFiles: [count('FilesChanged')],
  uploadedBytes: [bytes('BytesStored')],
  hashedBytes: [bytes('BytesRead')],
  bytes: [bytes('ComponentBytes')],
};

/**
 * The numbers the components already record in their summaries under their own names (files:
 * `files`, `changedFiles`, `uploadedBytes`, `bytes`; a dump: `dumpBytes` read, `bytes` stored; an
 * RDS snapshot: `allocatedGiB`; Git: `packBytes` fetched, `storedBytes`), as the same metrics.
 * Search records no sizes (its snapshot's size is the engine's to report).
 * `ComponentBytes` is the size of what the component holds (the tree, the dump, the snapshot).
 */
export const COMPONENT_SUMMARY_METRICS: Readonly<
  Record<ComponentName, Readonly<Record<string, readonly SummaryMetric[]>>>
> = {
  liferayHome: FILES_SUMMARY,
  appServer: FILES_SUMMARY,
  database: {
    dumpBytes: [bytes('BytesRead')],
    bytes: [bytes('BytesStored'), bytes('ComponentBytes')],
    allocatedGiB: [bytes('SnapshotBytes', GIB), bytes('ComponentBytes', GIB)],
  },
  search: {},
  source: {
    packBytes: [bytes('BytesRead')],
    storedBytes: [bytes('BytesStored')],
  },
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
    const own = COMPONENT_SUMMARY_METRICS[name as ComponentName] ?? {};
    const emitted = new Set<string>();
    for (const [key, value] of Object.entries(result.summary)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      const generic = SUMMARY_METRICS[key];
      for (const known of generic ? [generic as SummaryMetric] : (own[key] ?? [])) {
        if (emitted.has(known.metric)) continue;
        emitted.add(known.metric);
        points.push({ name: known.metric, unit: known.unit, value: value * (known.scale ?? 1), dimensions });
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
