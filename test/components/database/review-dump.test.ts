import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '#components/database/connection.ts';
import { dumpToStore, restoreDumpFromStore } from '#components/database/dump.ts';
import { DumpFailedError } from '#components/database/errors.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { type DatabaseServer, startMariaDb } from '../../support/database-servers.ts';

/**
 * Review findings on dumps, against a real MariaDB (default settings: max_allowed_packet 16 MiB,
 * for the server and for its client programs).
 */
describe('review: MariaDB dump of a large BLOB row', () => {
  let server: DatabaseServer;
  let scratch: string;
  beforeAll(async () => {
    server = await startMariaDb();
    scratch = mkdtempSync(path.join(tmpdir(), 'db-review-dump-'));
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('every byte value and random binary survive the round trip (BLOBs written as hex)', async () => {
    // Prepare: one row with every byte value in order, and every byte pair (65,536 of them, what
    // a multi-byte character set could misread); 2,000 rows of server-side random bytes.
    server.admin('CREATE DATABASE bytes CHARACTER SET utf8mb4');
    server.admin(
      [
        'CREATE TABLE DLContent (contentId BIGINT NOT NULL PRIMARY KEY, data_ LONGBLOB)',
        "INSERT INTO DLContent SELECT 0, UNHEX(GROUP_CONCAT(LPAD(HEX(seq), 2, '0') ORDER BY seq SEPARATOR '')) FROM seq_0_to_255",
        "INSERT INTO DLContent SELECT 1, UNHEX(GROUP_CONCAT(LPAD(HEX(seq), 4, '0') ORDER BY seq SEPARATOR '')) FROM seq_0_to_65535",
        'INSERT INTO DLContent SELECT seq + 1, CONCAT(RANDOM_BYTES(1024), RANDOM_BYTES(1024)) FROM seq_1_to_2000',
      ].join(';\n'),
      'bytes',
    );
    const sums = (database: string) =>
      server.admin('SELECT contentId, LENGTH(data_), MD5(data_) FROM DLContent ORDER BY contentId', database);
    const source = sums('bytes');
    expect(source.split('\n')[1]).toMatch(/^1\t131072\t/);
    const store = new LocalFolderStore(path.join(scratch, 'store'));
    // Act
    const dumped = await dumpToStore({
      store,
      backupId: 'b20261127t030000z-bbbb',
      connection: parseDatabaseUrl(server.url('bytes')),
      scratchDir: scratch,
      compressionLevel: 1,
    });
    await restoreDumpFromStore({
      store,
      details: dumped.details,
      connection: parseDatabaseUrl(server.url('x')),
      targetDatabase: 'bytes_restored',
      overwrite: false,
      restoreId: 'r20261127t060000z-bbbb',
      backupId: 'b20261127t030000z-bbbb',
      scratchDir: scratch,
      maintenanceDatabase: 'postgres',
    });
    // Assess
    expect(sums('bytes_restored')).toBe(source);
  });

  it('a 10 MiB document in DLContent (DBStore): a restore into a server whose max_allowed_packet is below its hex says to raise it, then restores', async () => {
    // Prepare: a row the server stores under its own 16 MiB max_allowed_packet (Liferay sends a
    // BLOB as binary). Written in 1 MiB pieces so that no statement here comes near the limit.
    server.admin('CREATE DATABASE lportal CHARACTER SET utf8mb4');
    server.admin(
      [
        'CREATE TABLE DLContent (contentId BIGINT NOT NULL PRIMARY KEY, data_ LONGBLOB, size_ BIGINT)',
        "INSERT INTO DLContent VALUES (1, '', 0)",
        ...Array.from(
          { length: 10 },
          (_, i) =>
            `UPDATE DLContent SET data_ = CONCAT(data_, UNHEX(REPEAT(SHA2('${i}', 256), 32768))) WHERE contentId = 1`,
        ),
        'UPDATE DLContent SET size_ = LENGTH(data_)',
      ].join(';\n'),
      'lportal',
    );
    const sourceSum = server.admin('SELECT size_, MD5(data_) FROM DLContent', 'lportal').trim();
    expect(sourceSum.split('\t')[0]).toBe(String(10 * 1024 * 1024));
    const store = new LocalFolderStore(path.join(scratch, 'store'));
    // Act
    const dumped = await dumpToStore({
      store,
      backupId: 'b20261127t020000z-aaaa',
      connection: parseDatabaseUrl(server.url('lportal')),
      scratchDir: scratch,
      compressionLevel: 1,
    });
    const request = {
      store,
      details: dumped.details,
      connection: parseDatabaseUrl(server.url('x')),
      targetDatabase: 'lportal_restored',
      overwrite: false,
      restoreId: 'r20261127t060000z-aaaa',
      backupId: 'b20261127t020000z-aaaa',
      scratchDir: scratch,
      maintenanceDatabase: 'postgres',
    };
    // The dump holds the BLOB as hex (20 MiB): over the server's 16 MiB, the restore fails saying what to raise
    await expect(restoreDumpFromStore(request)).rejects.toThrow(
      /ERROR (1153|2006|2013)[\s\S]*raise it on the target server \(SET GLOBAL max_allowed_packet = 1073741824/,
    );
    server.admin('SET GLOBAL max_allowed_packet = 67108864');
    let restored: Awaited<ReturnType<typeof restoreDumpFromStore>>;
    try {
      restored = await restoreDumpFromStore(request);
    } finally {
      server.admin('SET GLOBAL max_allowed_packet = 16777216');
    }
    // Assess
    expect(restored.created).toBe(true);
    expect(server.admin('SELECT size_, MD5(data_) FROM DLContent', 'lportal_restored').trim()).toBe(
      sourceSum,
    );
  });

  /**
   * TLS settings of the URL reach the client programs through the option file. The Debian
   * package the README names (mariadb-client) also provides `mysqldump` and `mysql`, the programs a
   * `mysql://` URL prefers: MariaDB's programs do not know MySQL's `ssl-mode` and stop with
   * "unknown variable 'ssl-mode=REQUIRED'"; MySQL 8's programs know neither `ssl` nor
   * `ssl-verify-server-cert`. This test server has no TLS at all.
   */
  it('a mysql:// URL with ssl-mode=preferred dumps with the MariaDB client programs', async () => {
    server.admin('CREATE DATABASE tlsdb; CREATE TABLE tlsdb.t (i INT); INSERT INTO tlsdb.t VALUES (1)');
    const store = new LocalFolderStore(path.join(scratch, 'store-tls'));
    const url = `${server.url('tlsdb').replace(/^mariadb:/, 'mysql:')}?ssl-mode=preferred`;
    const dumped = await dumpToStore({
      store,
      backupId: 'b20261127t040000z-cccc',
      connection: parseDatabaseUrl(url),
      scratchDir: scratch,
      compressionLevel: 1,
    });
    expect(dumped.details.tool).toMatch(/mysqldump|mariadb-dump/);
    expect(dumped.details.size).toBeGreaterThan(0);
  });

  it('ssl=false disables TLS instead of asking for it', () => {
    expect(parseDatabaseUrl('mysql://liferay@db.example.com/lportal?ssl=false').tls.mode).toBe('disabled');
    expect(parseDatabaseUrl('mariadb://liferay@db.example.com/lportal?ssl=0').tls.mode).toBe('disabled');
    expect(parseDatabaseUrl('mysql://liferay@db.example.com/lportal?ssl=true').tls.mode).toBe('required');
  });

  it.each([
    ['mysql://', 'ssl=true'],
    ['mysql://', 'ssl-mode=required'],
    ['mariadb://', 'ssl-mode=verify_identity'],
    ['mariadb://', 'ssl-mode=verify_ca'],
  ])(
    '%s with %s never talks to a server without TLS: the dump fails and stores nothing',
    async (scheme, query) => {
      server.admin('CREATE DATABASE IF NOT EXISTS plaindb');
      const folder = path.join(scratch, `store-${query.replace(/\W/g, '-')}-${scheme.replace(/\W/g, '')}`);
      const store = new LocalFolderStore(folder);
      const url = `${server.url('plaindb').replace(/^mariadb:\/\//, scheme)}?${query}`;
      const failure = await dumpToStore({
        store,
        backupId: 'b20261127t050000z-dddd',
        connection: parseDatabaseUrl(url),
        scratchDir: scratch,
        compressionLevel: 1,
      }).catch((error: unknown) => error as Error);
      expect(failure).toBeInstanceOf(DumpFailedError);
      expect((failure as Error).message).toMatch(
        /TLS\/SSL error: SSL is required, but the server does not support it/,
      );
      const keys: string[] = [];
      for await (const object of store.list('dumps/')) keys.push(object.key);
      expect(keys).toEqual([]);
    },
  );
});
