import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComponentResult } from '#components/component.ts';
import { startBackup } from '#components/database/backup.ts';
import { databaseModule } from '#components/database/module.ts';
import { localRuntime } from '#local/local-runtime.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import { createLiferaySchema } from '../components/database/fixtures.ts';
import { begin, databaseRuntime } from '../components/database/support.ts';
import { type DatabaseServer, startMariaDb } from '../support/database-servers.ts';

/**
 * A green drill of a dump must mean the configured restore can take it. A restore refuses a dump
 * when the deployment's database is not in dump mode ("restore it with a dump-mode
 * configuration") or is another engine family (a MariaDB dump into PostgreSQL): the drill, which
 * knows that configuration, must say so too. What it cannot check without loading the SQL (that
 * the SQL loads, that the target server's version takes it) it must say it did not check.
 */

function verify(backupId: string, result: ComponentResult, rt: Runtime) {
  const hook = databaseModule.verify;
  if (!hook) throw new Error('the database module has no verify hook');
  return hook({ backupId, result }, rt);
}

/** The same store, another database configuration (or none). */
function withDatabase(rt: Runtime, database: Record<string, unknown> | undefined): Runtime {
  return localRuntime({
    store: rt.store,
    settings: parseSettings(
      {
        environment: 'liferay-prod',
        configuredComponents: database ? ['database'] : [],
        components: database ? { database } : {},
      },
      'test',
    ),
    now: rt.now,
  });
}

describe('the drill of a dump against the configured restore target', () => {
  let server: DatabaseServer;
  beforeAll(async () => {
    server = await startMariaDb();
    createLiferaySchema(server, 'lportal', 50);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('fails when the deployment restores with RDS snapshots or into another engine, and says what it did not check', async () => {
    const rt = databaseRuntime({ mode: 'dump', url: server.url('lportal') });
    const { backupId } = await begin(rt);
    const progress = await startBackup({ backup: { backupId } }, rt);
    const result = progress.result;
    if (!result) throw new Error('the dump returned no result');

    // As configured: verified, and the report says plainly what only a restore would prove.
    const ok = await verify(backupId, result, rt);
    expect(ok.status).toBe('verified');
    expect(ok.checks).toEqual(
      expect.arrayContaining([expect.stringMatching(/^not checked: .*the SQL loads/)]),
    );

    // The deployment moved to RDS snapshots: a restore of this set is refused.
    const rds = await verify(
      backupId,
      result,
      withDatabase(rt, { mode: 'rds-instance', identifier: 'liferay-db' }),
    );
    expect(rds.status).toBe('failed');
    expect(rds.problems).toEqual([
      expect.stringMatching(
        /holds a mariadb dump, and the database is configured in rds-instance mode: .*\(a restore refuses it\)$/,
      ),
    ]);

    // The deployment's database is PostgreSQL now: a MariaDB dump cannot be loaded into it.
    const pg = await verify(
      backupId,
      result,
      withDatabase(rt, { mode: 'dump', url: 'postgresql://liferay@db.example:5432/lportal' }),
    );
    expect(pg.status).toBe('failed');
    expect(pg.problems).toEqual([
      expect.stringMatching(
        /a mariadb dump cannot be restored into the configured postgresql database \(a restore refuses it\)$/,
      ),
    ]);

    // No database configured (a CLI drill of the store alone): not refused, but said.
    const none = await verify(backupId, result, withDatabase(rt, undefined));
    expect(none.status).toBe('verified');
    expect(none.checks).toEqual(
      expect.arrayContaining([expect.stringMatching(/^not checked: .*no database is configured/)]),
    );
  });
});
