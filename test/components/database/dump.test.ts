import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '#components/database/connection.ts';
import { dumpToStore, restoreDumpFromStore } from '#components/database/dump.ts';
import { DumpFailedError, RestoreTargetNotEmptyError } from '#components/database/errors.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { type DatabaseServer, startMariaDb, startPostgres } from '../../support/database-servers.ts';
import { type LocalS3Server, startS3Server } from '../../support/s3-server.ts';
import { createLiferaySchema, tableChecksums } from './fixtures.ts';

const ROWS = 3000;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => path.join(dir, name))
    .filter((file) => statSync(file).isFile());
}

async function keysOf(store: ContentStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list(prefix)) keys.push(object.key);
  return keys;
}

describe.each([
  ['MariaDB', startMariaDb],
  ['PostgreSQL', startPostgres],
] as const)('dump and restore on a real %s server', (_name, start) => {
  let server: DatabaseServer;
  let s3: LocalS3Server;
  let scratch: string;
  let folder: string;

  beforeAll(async () => {
    server = await start();
    s3 = await startS3Server();
    scratch = mkdtempSync(path.join(tmpdir(), 'db-dump-test-'));
    folder = path.join(scratch, 'store');
    createLiferaySchema(server, 'lportal', ROWS);
  });
  afterAll(async () => {
    await server?.stop();
    await s3?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  const stores: [string, () => ContentStore][] = [
    ['local folder', () => new LocalFolderStore(folder)],
    ['local S3 server', () => s3.store({ partSize: 5 * 1024 * 1024 })],
  ];

  it.each(stores)(
    'round-trips through the %s store: row counts and per-table checksums equal',
    async (_kind, open) => {
      // Prepare
      const store = open();
      const backupId = server.engine === 'mariadb' ? 'b20261127t020000z-aaaa' : 'b20261127t020000z-bbbb';
      const source = tableChecksums(server, 'lportal');
      // Act
      const started = Date.now();
      const dumped = await dumpToStore({
        store,
        backupId,
        connection: parseDatabaseUrl(server.url('lportal')),
        scratchDir: scratch,
        compressionLevel: 6,
      });
      const dumpMs = Date.now() - started;
      const target = `restored_${_kind.replace(/\W/g, '_')}`;
      const restoreStarted = Date.now();
      const restored = await restoreDumpFromStore({
        store,
        details: dumped.details,
        connection: parseDatabaseUrl(server.url('ignored')),
        targetDatabase: target,
        overwrite: false,
        restoreId: 'r20261127t060000z-aaaa',
        backupId,
        scratchDir: scratch,
        maintenanceDatabase: 'postgres',
      });
      const restoreMs = Date.now() - restoreStarted;
      // Assess
      expect(dumped.details.key).toMatch(
        new RegExp(`^dumps/${backupId}/database/lportal\\.(sql\\.gz|pgdump)$`),
      );
      expect((await store.stat(dumped.details.key))?.size).toBe(dumped.details.size);
      expect(dumped.details.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(dumped.details.source).not.toContain(server.password);
      expect(restored.created).toBe(true);
      expect(tableChecksums(server, target)).toEqual(source);
      if (server.engine === 'mariadb') {
        // routines and triggers came along
        expect(
          server
            .admin(`SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${target}'`)
            .trim(),
        ).toBe('1');
        expect(
          server
            .admin(`SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '${target}'`)
            .trim(),
        ).toBe('1');
      }
      console.log(
        `${server.engine} ${_kind}: dump ${(dumped.details.dumpBytes / 1e6).toFixed(1)} MB → stored ${(dumped.details.size / 1e6).toFixed(1)} MB in ${dumpMs} ms; restore ${restoreMs} ms`,
      );
    },
  );

  it('refuses a target that is not empty unless told to overwrite, then overwrites it', async () => {
    const store = new LocalFolderStore(folder);
    const dumped = await dumpToStore({
      store,
      backupId: 'b20261127t030000z-cccc',
      connection: parseDatabaseUrl(server.url('lportal')),
      scratchDir: scratch,
      compressionLevel: 1,
    });
    const options = {
      store,
      details: dumped.details,
      connection: parseDatabaseUrl(server.url('x')),
      targetDatabase: 'lportal',
      restoreId: 'r20261127t060000z-cccc',
      backupId: 'b20261127t030000z-cccc',
      scratchDir: scratch,
      maintenanceDatabase: 'postgres',
    };
    await expect(restoreDumpFromStore({ ...options, overwrite: false })).rejects.toBeInstanceOf(
      RestoreTargetNotEmptyError,
    );
    const before = tableChecksums(server, 'lportal');
    const outcome = await restoreDumpFromStore({ ...options, overwrite: true });
    expect(outcome.tablesBefore).toBeGreaterThan(0);
    expect(tableChecksums(server, 'lportal')).toEqual(before);
  });

  it('fails on bad credentials, stores nothing, and never shows the password', async () => {
    const store = new LocalFolderStore(folder);
    const url = server.url('lportal').replace(encodeURIComponent(server.password), 'wrong-Secret-123');
    const failure = await dumpToStore({
      store,
      backupId: 'b20261127t040000z-dddd',
      connection: parseDatabaseUrl(url),
      scratchDir: scratch,
      compressionLevel: 1,
    }).catch((error: unknown) => error as Error);
    expect(failure).toBeInstanceOf(DumpFailedError);
    expect((failure as Error).message).toMatch(/denied|authentication failed/i);
    expect((failure as Error).message).not.toContain('wrong-Secret-123');
    expect(await keysOf(store, 'dumps/b20261127t040000z-dddd/')).toEqual([]);
  });

  it('a dump whose server dies half-way fails and leaves no object', async () => {
    // Prepare: a database big enough that the dump is still running at the first progress report.
    createLiferaySchema(server, 'bigportal', 40_000, { randomBlobs: true });
    const store = new LocalFolderStore(folder);
    // Act
    let killed = false;
    const failure = await dumpToStore({
      store,
      backupId: 'b20261127t050000z-eeee',
      connection: parseDatabaseUrl(server.url('bigportal')),
      scratchDir: scratch,
      compressionLevel: 1,
      onProgress: () => {
        if (!killed) {
          killed = true;
          server.kill();
        }
      },
    }).catch((error: unknown) => error as Error);
    // Assess
    expect(killed).toBe(true);
    expect(failure).toBeInstanceOf(DumpFailedError);
    expect(await keysOf(store, 'dumps/b20261127t050000z-eeee/')).toEqual([]);
    // Nothing this test wrote holds the password (dumps, temp files of the store).
    for (const file of filesUnder(folder)) {
      expect(readFileSync(file).includes(Buffer.from(server.password)), file).toBe(false);
    }
  });
});

/**
 * A dump program that exits 0 is not enough: stand-in `mariadb` / `mariadb-dump` scripts (found
 * first through `toolsDir`) drive the two checks no real server failure reaches reliably.
 */
describe('a dump that exits 0 but is not complete is never recorded', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(path.join(tmpdir(), 'db-fake-tools-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  function fakeTools(name: string, dumpBody: string): string {
    const dir = path.join(scratch, name);
    mkdirSync(dir);
    const write = (tool: string, body: string) =>
      writeFileSync(path.join(dir, tool), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    write('mariadb', "printf '10.11.6-MariaDB\\tutf8mb4\\tutf8mb4_unicode_ci\\n'");
    write(
      'mariadb-dump',
      `case "$*" in *--version*) echo 'mariadb-dump from 10.11.6-MariaDB'; exit 0;; esac\n${dumpBody}`,
    );
    return dir;
  }

  async function dumpWith(toolsDir: string, backupId: string) {
    const store = new LocalFolderStore(path.join(scratch, 'store'));
    const outcome = await dumpToStore({
      store,
      backupId,
      connection: parseDatabaseUrl('mariadb://liferay:S3cretPw@127.0.0.1:1/lportal'),
      scratchDir: scratch,
      toolsDir,
      compressionLevel: 1,
    }).catch((error: unknown) => error as Error);
    return { outcome, keys: await keysOf(store, `dumps/${backupId}/`) };
  }

  it('an error on stderr fails the dump and leaves no object', async () => {
    const tools = fakeTools(
      'stderr-error',
      "echo 'CREATE TABLE t (i INT);'\necho 'mariadb-dump: Error 2013: Lost connection to server during query' >&2\necho '-- Dump completed on 2026-11-27'\nexit 0",
    );
    const { outcome, keys } = await dumpWith(tools, 'b20261127t060000z-ffff');
    expect(outcome).toBeInstanceOf(DumpFailedError);
    expect((outcome as Error).message).toMatch(/reported errors: mariadb-dump: Error 2013: Lost connection/);
    expect((outcome as Error).message).not.toContain('S3cretPw');
    expect(keys).toEqual([]);
  });

  it('a dump without its "-- Dump completed" trailer fails and leaves no object', async () => {
    const tools = fakeTools('no-trailer', "echo 'CREATE TABLE t (i INT);'\nexit 0");
    const { outcome, keys } = await dumpWith(tools, 'b20261127t060000z-eeee');
    expect(outcome).toBeInstanceOf(DumpFailedError);
    expect((outcome as Error).message).toMatch(/exited 0 but the dump has no "-- Dump completed" trailer/);
    expect(keys).toEqual([]);
  });

  it('a complete dump with a warning on stderr is stored, the warning kept', async () => {
    const tools = fakeTools(
      'warning',
      "echo 'CREATE TABLE t (i INT);'\necho 'Warning: column statistics not supported' >&2\necho '-- Dump completed on 2026-11-27'\nexit 0",
    );
    const { outcome, keys } = await dumpWith(tools, 'b20261127t060000z-dddd');
    expect(outcome).not.toBeInstanceOf(Error);
    expect(keys).toEqual(['dumps/b20261127t060000z-dddd/database/lportal.sql.gz']);
    expect((outcome as { warnings: string[] }).warnings).toEqual([
      'mariadb-dump: Warning: column statistics not supported',
    ]);
  });
});
