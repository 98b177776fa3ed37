import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackupIds, readManifest } from '#backup-set/manifest.ts';
import { verificationReportSchema } from '#backup-set/verify.ts';
import type { ComponentResult } from '#components/component.ts';
import { startBackup } from '#components/database/backup.ts';
import { databaseModule } from '#components/database/module.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import { readJson } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { type DatabaseServer, startMariaDb, startPostgres } from '../../support/database-servers.ts';
import { allKeys, tempDir } from '../../support/local-runtime.ts';
import { createLiferaySchema } from './fixtures.ts';
import { begin, databaseRuntime, outputOf } from './support.ts';

const DAY = 86_400_000;

function verify(backupId: string, result: ComponentResult, rt: Runtime) {
  const hook = databaseModule.verify;
  if (!hook) throw new Error('the database module has no verify hook');
  return hook({ backupId, result }, rt);
}

/** The file behind a key of a local folder store. */
function fileOf(rt: Runtime, key: string): string {
  return path.join(rt.store.location, ...key.split('/'));
}

async function dumpedSet(rt: Runtime): Promise<{ backupId: string; result: ComponentResult; key: string }> {
  const { backupId } = await begin(rt);
  const progress = await startBackup({ backup: { backupId } }, rt);
  if (!progress.result) throw new Error('the dump returned no result');
  return { backupId, result: progress.result, key: String(progress.result.details.key) };
}

describe.each([
  ['MariaDB', startMariaDb],
  ['PostgreSQL', startPostgres],
] as const)('restore drill of a real %s dump', (_name, start) => {
  let server: DatabaseServer;
  beforeAll(async () => {
    server = await start();
    createLiferaySchema(server, 'lportal', 2000);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('verifies the dump by reading it back whole, then names a flipped byte, a truncation and a missing object', async () => {
    // Prepare
    const rt = databaseRuntime({ mode: 'dump', url: server.url('lportal') });
    const { backupId, result, key } = await dumpedSet(rt);
    const sql = server.engine === 'mariadb';

    // Act + Assess: as written
    const fresh = await verify(backupId, result, rt);
    expect(fresh.problems).toEqual([]);
    expect(fresh.status).toBe('verified');
    expect(fresh.checks).toEqual(
      expect.arrayContaining([
        `dump ${key} exists`,
        `dump ${key} has the recorded sha256 ${result.details.sha256} (every byte read back)`,
        sql
          ? expect.stringMatching(/decompresses to the end \(\d+ bytes of SQL\)$/)
          : `dump ${key} is a pg_dump custom-format archive (PGDMP header)`,
        ...(sql ? [`dump ${key} ends with "-- Dump completed"`] : []),
      ]),
    );

    // One byte flipped in the middle, same size: only the hash (and gunzip) can tell.
    const file = fileOf(rt, key);
    const original = fs.readFileSync(file);
    const flipped = Buffer.from(original);
    const middle = Math.floor(flipped.length / 2);
    flipped[middle] = (flipped[middle] ?? 0) ^ 0xff;
    fs.writeFileSync(file, flipped);
    const damaged = await verify(backupId, result, rt);
    expect(damaged.status).toBe('failed');
    expect(damaged.problems[0]).toMatch(
      new RegExp(
        `^dump ${key.replace(/\./g, '\\.')} has sha256 [0-9a-f]{64}, the set recorded ${result.details.sha256}$`,
      ),
    );
    if (sql) expect(damaged.problems[1]).toMatch(/^dump .* is not a valid gzip stream: /);
    else expect(damaged.problems).toHaveLength(1);

    // Truncated: the size, the hash and (SQL) the gzip stream all say so.
    fs.writeFileSync(file, original.subarray(0, Math.floor(original.length / 2)));
    const truncated = await verify(backupId, result, rt);
    expect(truncated.problems).toEqual(
      expect.arrayContaining([
        `dump ${key} is ${Math.floor(original.length / 2)} bytes in the store, the set recorded ${original.length}`,
        expect.stringMatching(/has sha256 .*, the set recorded/),
        ...(sql ? [expect.stringMatching(/is not a valid gzip stream: unexpected end of file/)] : []),
      ]),
    );

    if (!sql) {
      // Not a custom-format archive at all (the hash fails too).
      fs.writeFileSync(file, Buffer.concat([Buffer.from('XXXXX'), original.subarray(5)]));
      expect((await verify(backupId, result, rt)).problems).toContain(
        `dump ${key} does not start with PGDMP: not a pg_dump custom-format archive`,
      );
    }

    fs.rmSync(file);
    expect(await verify(backupId, result, rt)).toEqual({
      status: 'failed',
      checks: [],
      problems: [`dump ${key} is not in the store`],
    });

    // A record pointing outside the set's dump folder is not read.
    const elsewhere = { ...result, details: { ...result.details, key: 'backups/other/manifest.json' } };
    expect((await verify(backupId, elsewhere, rt)).problems).toEqual([
      `the recorded dump key backups/other/manifest.json is not in this set's dumps/${backupId}/database/: not read`,
    ]);
  });
});

describe('a dump-mode set through the Verify and Retention workflows (real MariaDB)', () => {
  let server: DatabaseServer;
  beforeAll(async () => {
    server = await startMariaDb();
    createLiferaySchema(server, 'lportal', 1000);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('the drill verifies a set, retention deletes the expired set with its dumps/<id>/, the drill fails a damaged dump', async () => {
    // Prepare: two sets a day apart
    const store = new LocalFolderStore(tempDir('db-retention').dir);
    const runtime = (now: Date, extra: Record<string, unknown> = {}) =>
      localRuntime({
        store,
        settings: parseSettings(
          {
            environment: 'test-env',
            configuredComponents: ['database'],
            components: { database: { mode: 'dump', url: server.url('lportal') } },
            ...extra,
          },
          'test',
        ),
        now: () => now,
      });
    const start = Date.now() - 5 * DAY;
    const ids: string[] = [];
    for (const day of [0, 1]) {
      const output = outputOf(
        await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, runtime(new Date(start + day * DAY))),
      ) as { backup: { backupId: string } };
      ids.push(output.backup.backupId);
    }
    const [expired = '', kept = ''] = ids;
    const dumpsOf = async (id: string) =>
      (await allKeys(store)).filter((key) => key.startsWith(`dumps/${id}/`));
    expect(await dumpsOf(expired)).toHaveLength(1);

    // Act: the drill of the older set
    const drill = outputOf(
      await runWorkflow(WORKFLOWS.verify, { backupId: expired }, runtime(new Date())),
    ) as { report: { status: string; reportKey: string } };
    // Assess
    expect(drill.report.status).toBe('verified');
    const report = verificationReportSchema.parse(await readJson(store, drill.report.reportKey));
    expect(report.results.database?.checks).toContain(
      `dump ${(await dumpsOf(expired))[0]} has the recorded sha256 ${String((await readManifest(store, expired)).results.database?.details.sha256)} (every byte read back)`,
    );

    // Act: retention, keeping one daily set (the newer one)
    const retention = runtime(new Date(Date.now() + 3 * DAY), {
      retention: { policy: { daily: 1, weekly: 0, monthly: 0, minComplete: 1 }, graceHours: 48 },
    });
    const outcome = outputOf(await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retention)) as {
      outcome: { deletedSets: string[]; status: string };
    };
    // Assess: the expired set and its dump are gone; the kept set and its dump are there
    expect(outcome.outcome).toMatchObject({ status: 'complete', deletedSets: [expired] });
    expect(await listBackupIds(store)).toEqual([kept]);
    expect(await dumpsOf(expired)).toEqual([]);
    const keptDump = await dumpsOf(kept);
    expect(keptDump).toHaveLength(1);

    // Act: damage the kept set's dump; the drill fails naming it
    const file = path.join(store.location, ...(keptDump[0] ?? '').split('/'));
    const bytes = fs.readFileSync(file);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0x01;
    fs.writeFileSync(file, bytes);
    const failed = await runWorkflow(WORKFLOWS.verify, { backupId: 'latest' }, runtime(new Date()));
    // Assess
    expect(failed.status === 'FAILED' ? failed.error : failed.status).toBe('VerifyFailed');
    expect(failed.status === 'FAILED' ? failed.cause : '').toContain(
      `database: dump ${keptDump[0]} has sha256 `,
    );
  });
});
