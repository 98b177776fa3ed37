import { describe, expect, it } from 'vitest';
import { checkBackupAge } from '#backup-set/check-backup-age.ts';
import type { Manifest } from '#backup-set/manifest.ts';
import { writeLatest } from '#backup-set/manifest.ts';
import { backupMetricPoints } from '#backup-set/metrics.ts';
import type { MetricPoint } from '#runtime/metrics.ts';
import { testRuntime } from '../support/local-runtime.ts';

const manifest: Manifest = {
  schemaVersion: 1,
  backupId: 'b20261127t020000z-7f3a',
  environment: 'prod',
  status: 'partial',
  trigger: { source: 'schedule', schedule: 'nightly' },
  components: ['liferayHome', 'database'],
  startedAt: '2026-11-27T02:00:00.000Z',
  finishedAt: '2026-11-27T02:10:00.000Z',
  tool: { name: 'liferay-backup', version: '0.1.0' },
  results: {
    liferayHome: {
      component: 'liferayHome',
      status: 'complete',
      startedAt: '2026-11-27T02:00:05.000Z',
      finishedAt: '2026-11-27T02:05:05.000Z',
      warnings: [],
      summary: { bytesRead: 1000, bytesStored: 200, filesSeen: 30, filesChanged: 3, note: 'x' },
      details: {},
    },
    database: {
      component: 'database',
      status: 'failed',
      error: { name: 'X', message: 'y' },
      warnings: [],
      summary: {},
      details: {},
    },
  },
  warnings: [],
};

const find = (points: MetricPoint[], name: string, component?: string) =>
  points.find((point) => point.name === name && point.dimensions.Component === component);

describe('backup metrics', () => {
  it('report the outcome, durations and the summary numbers per component', () => {
    const points = backupMetricPoints(manifest);
    expect(find(points, 'BackupPartial')?.value).toBe(1);
    expect(find(points, 'BackupComplete')?.value).toBe(0);
    expect(find(points, 'BackupDuration')?.value).toBe(600);
    expect(find(points, 'ComponentDuration', 'liferayHome')?.value).toBe(300);
    expect(find(points, 'BytesStored', 'liferayHome')).toMatchObject({
      value: 200,
      unit: 'Bytes',
      dimensions: { Environment: 'prod' },
    });
    expect(find(points, 'FilesChanged', 'liferayHome')?.value).toBe(3);
    expect(find(points, 'ComponentFailed', 'database')?.value).toBe(1);
    expect(points.some((point) => point.name === 'note')).toBe(false);
  });

  it('publish the age of the newest complete set, and nothing when there is none', async () => {
    const published: MetricPoint[] = [];
    const rt = testRuntime({ components: {}, now: () => new Date('2026-11-28T08:00:00Z') });
    const withSink = {
      ...rt,
      metrics: { publish: (points: readonly MetricPoint[]) => published.push(...points) },
    };
    expect(await checkBackupAge({}, withSink)).toEqual({ latestBackupId: null, ageHours: null });
    expect(published).toEqual([]);
    await writeLatest(rt.store, 'b20261127t020000z-7f3a', new Date('2026-11-27T02:30:00Z'));
    expect(await checkBackupAge({}, withSink)).toEqual({
      latestBackupId: 'b20261127t020000z-7f3a',
      ageHours: 30,
    });
    expect(published[0]).toMatchObject({
      name: 'LatestCompleteBackupAge',
      value: 30,
      dimensions: { Environment: 'test-env' },
    });
  });
});
