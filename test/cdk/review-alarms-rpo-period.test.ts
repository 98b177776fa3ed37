import { beforeAll, describe, expect, it } from 'vitest';
import { checkBackupAge } from '#backup-set/check-backup-age.ts';
import type { Manifest } from '#backup-set/manifest.ts';
import { writeLatest, writeManifest } from '#backup-set/manifest.ts';
import type { MetricPoint } from '#runtime/metrics.ts';
import { testRuntime } from '../support/local-runtime.ts';
import { FULL_CONFIG, synthesize } from './support.ts';

/**
 * The RPO alarms against what the hourly age check really publishes, evaluated the way CloudWatch
 * evaluates an alarm: every minute, over the EvaluationPeriods windows of Period seconds that end
 * at that minute (not aligned to the hour), missing data treated as the alarm says.
 */
interface AlarmProps {
  MetricName: string;
  Statistic: 'Maximum' | 'Minimum';
  Period: number;
  EvaluationPeriods: number;
  DatapointsToAlarm?: number;
  Threshold: number;
  ComparisonOperator: string;
  TreatMissingData: string;
  Dimensions: { Name: string; Value: string }[];
}

function inAlarmAt(alarm: AlarmProps, points: { at: number; value: number }[], evaluatedAt: number): boolean {
  let breaching = 0;
  for (let k = 0; k < alarm.EvaluationPeriods; k++) {
    const end = evaluatedAt - k * alarm.Period * 1000;
    const values = points.filter((p) => p.at >= end - alarm.Period * 1000 && p.at < end).map((p) => p.value);
    if (values.length === 0) {
      if (alarm.TreatMissingData === 'breaching') breaching++;
      continue;
    }
    const value = alarm.Statistic === 'Maximum' ? Math.max(...values) : Math.min(...values);
    if (alarm.ComparisonOperator === 'GreaterThanThreshold' ? value > alarm.Threshold : false) breaching++;
  }
  return breaching >= (alarm.DatapointsToAlarm ?? alarm.EvaluationPeriods);
}

const nightly = (backupId: string): Manifest => ({
  schemaVersion: 1,
  backupId,
  environment: 'test-env',
  status: 'complete',
  trigger: { source: 'schedule', schedule: 'nightly' },
  components: ['liferayHome'],
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
      summary: {},
      details: {},
    },
  },
  warnings: [],
});

/** Runs the real age check at each instant and returns its points, stamped with that instant. */
async function publishedAt(instants: string[]) {
  let now = new Date(instants[0] ?? 0);
  const published: { at: number; point: MetricPoint }[] = [];
  const rt = testRuntime({ components: { liferayHome: {} }, now: () => now });
  await writeManifest(rt.store, nightly('b20261127t020000z-7f3a'));
  await writeLatest(rt.store, 'b20261127t020000z-7f3a', new Date('2026-11-27T02:10:00Z'));
  const withSink = {
    ...rt,
    metrics: {
      publish: (points: readonly MetricPoint[]) => {
        for (const point of points) published.push({ at: now.getTime(), point });
      },
    },
  };
  for (const instant of instants) {
    now = new Date(instant);
    await checkBackupAge({}, withSink);
  }
  return published;
}

describe('the recovery point alarms, evaluated as CloudWatch does over what the hourly check publishes', () => {
  let alarms: AlarmProps[];
  beforeAll(() => {
    const template = synthesize(FULL_CONFIG);
    alarms = Object.entries(template.findResources('AWS::CloudWatch::Alarm'))
      .filter(([id]) => /^MonitoringRecoveryPointObjective(LiferayHome)?[0-9A-F]{8}$/.test(id))
      .map(([, alarm]) => (alarm as { Properties: AlarmProps }).Properties);
    expect(alarms.map((alarm) => alarm.MetricName).sort()).toEqual([
      'ComponentCompleteBackupAge',
      'LatestCompleteBackupAge',
    ]);
  }, 120_000);

  const pointsOf = (alarm: AlarmProps, published: { at: number; point: MetricPoint }[]) =>
    published
      .filter(
        ({ point }) =>
          point.name === alarm.MetricName &&
          (point.dimensions.Component ?? 'liferayHome') ===
            (alarm.Dimensions.find((d) => d.Name === 'Component')?.Value ?? 'liferayHome'),
      )
      .map(({ at, point }) => ({ at, value: point.value }));
  const minutes = (from: string, to: string) => {
    const out: number[] = [];
    for (let t = Date.parse(from); t <= Date.parse(to); t += 60_000) out.push(t);
    return out;
  };

  it('do not page when one hourly check runs a minute later than the one before (the newest set is 9 hours old)', async () => {
    // Scheduler rate(1 hour); the second run is slower to list the store (cold start, more manifests).
    const published = await publishedAt([
      '2026-11-27T10:37:20Z',
      '2026-11-27T11:38:10Z',
      '2026-11-27T12:38:15Z',
      '2026-11-27T13:38:20Z',
    ]);
    for (const alarm of alarms) {
      const points = pointsOf(alarm, published);
      expect(points.every((p) => p.value < 12)).toBe(true);
      const paged = minutes('2026-11-27T10:40:00Z', '2026-11-27T13:38:00Z').filter((t) =>
        inAlarmAt(alarm, points, t),
      );
      expect(
        paged.map((t) => new Date(t).toISOString()),
        alarm.MetricName,
      ).toEqual([]);
    }
  });

  it('do not page for one hourly check that failed (retried by the next hour), but do when the checks stop', async () => {
    const published = await publishedAt(['2026-11-27T10:37:20Z', '2026-11-27T12:37:20Z']);
    for (const alarm of alarms) {
      const points = pointsOf(alarm, published);
      const paged = minutes('2026-11-27T10:40:00Z', '2026-11-27T12:38:00Z').filter((t) =>
        inAlarmAt(alarm, points, t),
      );
      expect(
        paged.map((t) => new Date(t).toISOString()),
        alarm.MetricName,
      ).toEqual([]);
      // No check since 12:37: the alarm must fire within a few hours.
      expect(inAlarmAt(alarm, points, Date.parse('2026-11-27T15:38:00Z')), alarm.MetricName).toBe(true);
    }
  });

  it('page as soon as a check sees the newest copy older than the objective', async () => {
    // The set is from 02:00 on the 27th; the objective is 26 hours: from 04:00 on the 28th.
    const published = await publishedAt([
      '2026-11-28T02:37:20Z',
      '2026-11-28T03:37:20Z',
      '2026-11-28T04:37:20Z',
    ]);
    for (const alarm of alarms) {
      const points = pointsOf(alarm, published);
      expect(inAlarmAt(alarm, points, Date.parse('2026-11-28T04:38:00Z')), alarm.MetricName).toBe(true);
      expect(inAlarmAt(alarm, points, Date.parse('2026-11-28T03:38:00Z')), alarm.MetricName).toBe(false);
    }
  });
});
