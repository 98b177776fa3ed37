import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkBackupAge } from '#backup-set/check-backup-age.ts';
import type { Manifest } from '#backup-set/manifest.ts';
import { writeLatest, writeManifest } from '#backup-set/manifest.ts';
import { backupMetricPoints } from '#backup-set/metrics.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { MetricPoint } from '#runtime/metrics.ts';
import { parseSettings } from '#runtime/settings.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir, testRuntime } from '../support/local-runtime.ts';

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
    expect(await checkBackupAge({}, withSink)).toEqual({
      latestBackupId: null,
      ageHours: null,
      components: {},
    });
    expect(published).toEqual([]);
    await writeLatest(rt.store, 'b20261127t020000z-7f3a', new Date('2026-11-27T02:30:00Z'));
    expect(await checkBackupAge({}, withSink)).toEqual({
      latestBackupId: 'b20261127t020000z-7f3a',
      ageHours: 30,
      components: {},
    });
    expect(published[0]).toMatchObject({
      name: 'LatestCompleteBackupAge',
      value: 30,
      dimensions: { Environment: 'test-env' },
    });
    // A damaged pointer does not blind the alarm: the newest complete set is what it records.
    await writeManifest(rt.store, { ...manifest, status: 'complete' });
    await rt.store.put('pointers/latest.json', 'not json');
    expect(await checkBackupAge({}, withSink)).toMatchObject({
      latestBackupId: 'b20261127t020000z-7f3a',
      ageHours: 30,
    });
  });
});

describe('the age of each component', () => {
  it('is that of its newest complete copy, so hourly database sets do not hide a nightly files backup that stopped', async () => {
    const published: MetricPoint[] = [];
    const rt = testRuntime({
      components: { liferayHome: {}, database: {}, search: {} },
      now: () => new Date('2026-11-28T08:00:00Z'),
    });
    const withSink = {
      ...rt,
      metrics: { publish: (points: readonly MetricPoint[]) => published.push(...points) },
    };
    const database = (backupId: string, status: 'complete' | 'failed') => ({
      ...manifest,
      backupId,
      status: status === 'complete' ? ('complete' as const) : ('failed' as const),
      components: ['database' as const],
      results: { database: { ...manifest.results.database, status, component: 'database' as const } },
    });
    // Nightly at 02:00 on the 27th: the files complete, the database failed (a partial set).
    await writeManifest(rt.store, manifest);
    // Hourly database-only sets since then; the newest one failed.
    await writeManifest(rt.store, database('b20261128t060000z-0001', 'complete') as Manifest);
    await writeManifest(rt.store, database('b20261128t070000z-0002', 'failed') as Manifest);
    await writeLatest(rt.store, 'b20261128t060000z-0001', new Date('2026-11-28T06:05:00Z'));
    // A set whose manifest cannot be read is passed over.
    await rt.store.put('backups/b20261128t073000z-0003/manifest.json', '{"not": "a manifest"}');

    const age = await checkBackupAge({}, withSink);
    expect(age).toEqual({
      latestBackupId: 'b20261128t060000z-0001',
      ageHours: 2,
      components: {
        liferayHome: { backupId: 'b20261127t020000z-7f3a', ageHours: 30 },
        database: { backupId: 'b20261128t060000z-0001', ageHours: 2 },
      },
    });
    expect(published.filter((point) => point.name === 'ComponentCompleteBackupAge')).toEqual([
      expect.objectContaining({ value: 2, dimensions: { Environment: 'test-env', Component: 'database' } }),
      expect.objectContaining({
        value: 30,
        dimensions: { Environment: 'test-env', Component: 'liferayHome' },
      }),
    ]);
    // search has no complete copy: nothing is published for it, and its alarm treats that as breaching.
    expect(published.some((point) => point.dimensions.Component === 'search')).toBe(false);
  });
});

describe('metrics from what the components really record', () => {
  it('a files backup reports files seen and changed, bytes stored and the tree size, per component', async () => {
    const { dir, cleanup } = tempDir('metrics-files');
    const root = path.join(dir, 'home');
    fs.mkdirSync(path.join(root, 'data/document_library/1'), { recursive: true });
    fs.writeFileSync(path.join(root, 'portal-ext.properties'), 'a=1\n');
    fs.writeFileSync(path.join(root, 'data/document_library/1/doc'), 'x'.repeat(5000));
    const published: MetricPoint[] = [];
    const rt = localRuntime({
      store: new LocalFolderStore(path.join(dir, 'store')),
      settings: parseSettings(
        {
          environment: 'test-env',
          configuredComponents: ['liferayHome'],
          components: { liferayHome: { root } },
        },
        'test',
      ),
      metrics: { publish: (points: readonly MetricPoint[]) => published.push(...points) },
    });
    const outcome = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt);
    expect(outcome.status).toBe('SUCCEEDED');
    const value = (name: string) =>
      published.find((point) => point.name === name && point.dimensions.Component === 'liferayHome')?.value;
    expect(value('FilesSeen')).toBe(2);
    expect(value('FilesChanged')).toBe(2);
    expect(value('BytesStored')).toBeGreaterThan(0);
    expect(value('ComponentBytes')).toBe(5004);
    expect(value('ComponentDuration')).toBeGreaterThanOrEqual(0);
    cleanup();
  });

  it('a dump, an RDS snapshot and a Git mirror report their sizes under the dashboard names', () => {
    // The summaries as functions/components/database/backup.ts and source/finish-backup.ts write them.
    const points = (summaries: Partial<Record<'database' | 'source', Record<string, unknown>>>) =>
      backupMetricPoints({
        ...manifest,
        components: Object.keys(summaries) as ('database' | 'source')[],
        results: Object.fromEntries(
          Object.entries(summaries).map(([component, summary]) => [
            component,
            {
              component,
              status: 'complete',
              startedAt: '2026-11-27T02:00:00.000Z',
              finishedAt: '2026-11-27T02:01:00.000Z',
              warnings: [],
              summary,
              details: {},
            },
          ]),
        ) as Manifest['results'],
      });
    const rds = points({
      database: { mode: 'rds-instance', snapshot: 's', allocatedGiB: 20, checks: 3 },
      source: {
        repositories: 1,
        refs: 4,
        created: 1,
        updated: 0,
        deleted: 0,
        packBytes: 900,
        storedBytes: 700,
      },
    });
    expect(find(rds, 'SnapshotBytes', 'database')?.value).toBe(20 * 1024 ** 3);
    expect(find(rds, 'ComponentBytes', 'database')?.value).toBe(20 * 1024 ** 3);
    expect(find(rds, 'BytesRead', 'source')?.value).toBe(900);
    expect(find(rds, 'BytesStored', 'source')?.value).toBe(700);
    const dump = points({
      database: { mode: 'dump', engine: 'mariadb', database: 'lportal', bytes: 300, dumpBytes: 2000 },
    });
    expect(find(dump, 'BytesRead', 'database')?.value).toBe(2000);
    expect(find(dump, 'BytesStored', 'database')?.value).toBe(300);
  });
});
