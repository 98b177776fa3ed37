import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '#backup-set/manifest.ts';
import { closeEngines } from '#components/search/connect.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { type AslDefinition, definitionsFromTemplate } from '#local/template-definitions.ts';
import { parseSettings } from '#runtime/settings.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { synthTemplate } from '../../../cdk/synth.ts';
import { type DatabaseServer, startMariaDb } from '../../support/database-servers.ts';
import { tempDir } from '../../support/local-runtime.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';
import { createLiferaySchema } from './fixtures.ts';
import { causeOf } from './support.ts';

/**
 * The failure path end to end: a dump whose server stops half-way fails the database
 * component while another component (search, against its stand-in cluster) completes, so the
 * set is committed `partial`, not lost.
 */
describe('a database that dies mid-dump beside a component that completes', () => {
  let server: DatabaseServer;
  let search: SearchEngineStandIn;
  beforeAll(async () => {
    server = await startMariaDb();
    createLiferaySchema(server, 'bigportal', 40_000, { randomBlobs: true });
    search = await SearchEngineStandIn.start({
      flavour: 'elasticsearch',
      version: '8.15.0',
      auth: { type: 'basic', username: 'elastic', password: 'pw-in-memory-only' },
      indices: { 'liferay-0': { docs: 10 }, 'liferay-20097': { docs: 100 } },
    });
    search.repositories.set('liferay-backup', {
      type: 's3',
      settings: { bucket: 'es-snapshots', base_path: 'liferay' },
    });
    search.snapshots.set('liferay-backup', new Map());
    search.scripts.push({ inProgressChecks: 1, outcome: 'SUCCESS' });
  });
  afterAll(async () => {
    await closeEngines();
    await search?.stop();
    await server?.stop();
  });

  it('commits the set partial: search complete, database failed with DumpFailedError', async () => {
    // Prepare
    const definitions = definitionsFromTemplate(
      synthTemplate({
        environment: 'liferay-test',
        account: '111111111111',
        region: 'eu-west-1',
        components: {
          database: { enabled: true, mode: 'rds-instance', identifier: 'liferay-db' },
          search: {
            enabled: true,
            engine: 'elasticsearch',
            endpoint: 'https://search.example.com:9200',
            waitSeconds: 30,
            maxChecks: 5,
          },
        },
      }) as never,
    ) as { backup: AslDefinition };
    const progress: string[] = [];
    const rt = localRuntime({
      store: new LocalFolderStore(tempDir('store').dir),
      settings: parseSettings(
        {
          environment: 'liferay-test',
          configuredComponents: ['database', 'search'],
          components: {
            database: { mode: 'dump', url: server.url('bigportal') },
            search: {
              engine: 'elasticsearch',
              endpoint: search.url,
              credentials: { type: 'basic', username: 'elastic', password: 'pw-in-memory-only' },
              repository: { name: 'liferay-backup' },
              maxChecks: 5,
            },
          },
        },
        'test',
      ),
      progress: (message) => {
        progress.push(message);
        if (message.startsWith('database:') && progress.filter((m) => m.startsWith('database:')).length === 1)
          server.kill();
      },
    });
    // Act
    const outcome = await runWorkflow(definitions.backup, { requestedBy: 'cli' }, rt);
    // Assess
    const cause = causeOf(outcome);
    expect(outcome.status === 'FAILED' && outcome.error).toBe('BackupPartial');
    const backupId = /backup set (b\d{8}t\d{6}z-[0-9a-f]{4})/.exec(cause)?.[1] ?? '';
    const manifest = await readManifest(rt.store, backupId);
    expect(manifest.status).toBe('partial');
    expect(manifest.results.search?.status).toBe('complete');
    expect(manifest.results.database).toMatchObject({ status: 'failed', error: { name: 'DumpFailedError' } });
    expect(manifest.results.database?.error?.message).toMatch(/mariadb-dump (exited with status|was killed)/);
    expect(manifest.results.database?.error?.message).not.toContain(server.password);
  });
});
