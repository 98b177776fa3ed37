import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '#components/database/connection.ts';
import { dumpToStore, oracleMysqldumpMajor } from '#components/database/dump.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { type DatabaseServer, startMariaDb } from '../../support/database-servers.ts';
import { createLiferaySchema } from './fixtures.ts';

/**
 * A Lambda layer may ship Oracle's MySQL dump program instead of MariaDB's (Debian's, which the
 * other tests run). It needs two options MariaDB's refuses: --set-gtid-purged=OFF (else a GTID
 * source's dump sets GTID_PURGED, which a restore into RDS refuses) and, from 8.0,
 * --column-statistics=0 (else it fails on a MariaDB or 5.7 server). Oracle's program is not in
 * Debian: a stand-in named mysqldump answers --version as MySQL 8 does, records its arguments,
 * and runs the real mariadb-dump without those two against the real MariaDB server.
 */

describe('the dump program is detected from its --version line', () => {
  it.each([
    ['mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)', 8],
    ['mysqldump  Ver 8.4.0 for Linux on aarch64 (MySQL Community Server - GPL)', 8],
    ['mysqldump  Ver 10.13 Distrib 5.7.44, for Linux (x86_64)', 5],
    ['mysqldump  Ver 10.19 Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)', undefined],
    ['mariadb-dump from 11.4.2-MariaDB, client 10.19 for Linux (x86_64)', undefined],
  ])('%s', (line, major) => {
    expect(oracleMysqldumpMajor(line)).toBe(major);
  });
});

describe("Oracle's MySQL 8 dump program, through a layer's tools folder", () => {
  let server: DatabaseServer;
  let scratch: string;
  beforeAll(async () => {
    server = await startMariaDb();
    createLiferaySchema(server, 'lportal_oracle', 3);
    scratch = mkdtempSync(path.join(tmpdir(), 'oracle-mysqldump-'));
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('gets --set-gtid-purged=OFF and --column-statistics=0, and the dump is stored', async () => {
    const real = execFileSync('sh', ['-c', 'command -v mariadb-dump || command -v mysqldump'], {
      encoding: 'utf8',
    }).trim();
    const tools = path.join(scratch, 'bin');
    mkdirSync(tools);
    const argsFile = path.join(scratch, 'args');
    writeFileSync(
      path.join(tools, 'mysqldump'),
      `#!/bin/sh
case "$*" in *--version*) echo 'mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)'; exit 0;; esac
printf '%s\\n' "$@" > '${argsFile}'
for a in "$@"; do
  shift
  case "$a" in --set-gtid-purged=OFF|--column-statistics=0) ;; *) set -- "$@" "$a";; esac
done
exec '${real}' "$@"
`,
      { mode: 0o755 },
    );
    const url = server.url('lportal_oracle').replace(/^mariadb:/, 'mysql:');
    const outcome = await dumpToStore({
      store: new LocalFolderStore(path.join(scratch, 'store')),
      backupId: 'b20261128t010000z-0001',
      connection: parseDatabaseUrl(url),
      scratchDir: scratch,
      toolsDir: tools,
      compressionLevel: 1,
    });
    const args = readFileSync(argsFile, 'utf8').split('\n');
    expect(args).toContain('--set-gtid-purged=OFF');
    expect(args).toContain('--column-statistics=0');
    expect(outcome.details.toolVersion).toMatch(/MySQL Community Server/);
    expect(outcome.details.size).toBeGreaterThan(0);
  });
});
