import { describe, expect, it } from 'vitest';
import { acquireBackupLock } from '#backup-set/lock.ts';
import { RestoreLockLostError, restoreLockKey } from '#backup-set/restore-lock.ts';
import type { ComponentResult } from '#components/component.ts';
import { startRestore } from '#components/database/restore.ts';
import { committedSet, databaseRuntime, failure } from './support.ts';

/**
 * A redriven Restore execution starts the database branch again without Validate: when another
 * restore has meanwhile taken over the target database's lock, the dump restore stops before it
 * connects to anything (the branch's load would overwrite what the other restore loads).
 */
const BACKUP_ID = 'b20261127t020000z-a1b2';
const RESTORE_ID = 'r20261127t030000z-c3d4';

const dumpResult: ComponentResult = {
  component: 'database',
  status: 'complete',
  warnings: [],
  summary: {},
  details: {
    mode: 'dump',
    engine: 'mariadb',
    source: 'mariadb://liferay@db.example/lportal',
    database: 'lportal',
    serverVersion: '10.11.6-MariaDB',
    tool: 'mariadb-dump',
    toolVersion: 'mariadb-dump from 10.11.6-MariaDB',
    format: 'sql-gzip',
    key: `dumps/${BACKUP_ID}/database/lportal.sql.gz`,
    size: 10,
    sha256: 'a'.repeat(64),
    dumpBytes: 100,
  },
};

describe('a dump restore whose target lock another restore took over', () => {
  it('stops before connecting, naming the restore that holds it', async () => {
    // Port 1: nothing listens; a restore that went on would fail on the connection instead.
    const rt = databaseRuntime({ mode: 'dump', url: 'mariadb://liferay@127.0.0.1:1/lportal' });
    await committedSet(rt, BACKUP_ID, dumpResult);
    const target = 'database lportal_restored on 127.0.0.1:1';
    const key = restoreLockKey(target);
    await acquireBackupLock(rt.store, key, 'r20261127t040000z-e5f6', new Date('2026-11-27T04:00:00Z'), 60, {
      about: { backupId: BACKUP_ID, target },
    });
    const restore = {
      restoreId: RESTORE_ID,
      backupId: BACKUP_ID,
      requests: { database: { targetDatabase: 'lportal_restored' } },
      locks: [key],
    };
    const error = await failure(startRestore({ restore }, rt));
    expect(error).toBeInstanceOf(RestoreLockLostError);
    expect(error.message).toContain('r20261127t040000z-e5f6');
  });
});
