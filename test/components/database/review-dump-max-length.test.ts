import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '#components/database/connection.ts';
import { dumpMaxLength, dumpToStore } from '#components/database/dump.ts';
import type { PutOptions } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { type DatabaseServer, startMariaDb, startPostgres } from '../../support/database-servers.ts';

/**
 * A dump streams into the store with no length, and S3 takes 10,000 parts: with the default
 * 16 MiB parts, a dump over 156 GiB failed after hours of uploading. The dump now tells the store
 * how large it may get, from the database's size on disk, and the parts are sized for that
 * (test/store/review-s3-multipart.test.ts). Here, against real servers: the size is read, and the
 * bound holds for the data that compresses least (random bytes, which MariaDB's dump writes as hex).
 */

const MiB = 1024 * 1024;

/** A local folder store that keeps the options of every put. */
class RecordingStore extends LocalFolderStore {
  readonly puts: { key: string; options: PutOptions | undefined }[] = [];
  override async put(key: string, body: string | Uint8Array | Readable, options?: PutOptions): Promise<void> {
    this.puts.push({ key, options });
    return super.put(key, body, options);
  }
}

const ENGINES: [string, () => Promise<DatabaseServer>, (server: DatabaseServer) => void][] = [
  [
    'MariaDB',
    startMariaDb,
    (server) => {
      server.admin('CREATE DATABASE lportal');
      // 12,000 rows of 1 KiB random bytes (12 MiB), then fresh statistics (InnoDB's lag its rows).
      server.admin(
        'CREATE TABLE DLContent (contentId BIGINT PRIMARY KEY, data_ LONGBLOB); INSERT INTO DLContent SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_12000; ANALYZE TABLE DLContent',
        'lportal',
      );
    },
  ],
  [
    'PostgreSQL',
    startPostgres,
    (server) => {
      server.admin(`CREATE DATABASE lportal OWNER ${server.user}`);
      server.admin(
        `SET ROLE ${server.user}; CREATE TABLE DLContent (contentId BIGINT PRIMARY KEY, data_ BYTEA); ALTER TABLE DLContent ALTER COLUMN data_ SET STORAGE EXTERNAL; INSERT INTO DLContent SELECT n, (SELECT string_agg(decode(md5(random()::text || n || k), 'hex'), ''::bytea) FROM generate_series(1, 64) k) FROM generate_series(1, 12000) n`,
        'lportal',
      );
    },
  ],
];

describe.each(ENGINES)('a %s dump tells the store how large it may get', (_engine, start, prepare) => {
  let server: DatabaseServer;
  let scratch: string;
  beforeAll(async () => {
    server = await start();
    scratch = mkdtempSync(path.join(tmpdir(), 'db-review-max-length-'));
    prepare(server);
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('from the size on disk, above what the dump holds', async () => {
    // Prepare
    const store = new RecordingStore(path.join(scratch, 'store'));
    // Act
    const dumped = await dumpToStore({
      store,
      backupId: 'b20261128t030000z-aaaa',
      connection: parseDatabaseUrl(server.url('lportal')),
      scratchDir: scratch,
      compressionLevel: 6,
    });
    // Assess
    const put = store.puts.find((entry) => entry.key === dumped.details.key);
    const maxLength = put?.options?.maxLength ?? 0;
    const numbers = `maxLength ${maxLength}, dump ${dumped.details.size} bytes`;
    expect(dumped.details.size, `random bytes do not compress: ${numbers}`).toBeGreaterThan(12 * MiB);
    expect(maxLength, numbers).toBeGreaterThanOrEqual(dumped.details.size);
    // Twice the tables' size on disk (12 MiB of rows, give or take the server's estimate), plus 1 GiB.
    expect(maxLength, numbers).toBeGreaterThanOrEqual(dumpMaxLength(8 * MiB));
    expect(maxLength, numbers).toBeLessThan(dumpMaxLength(64 * MiB));
  });
});
