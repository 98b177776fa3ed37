import { describe, expect, it } from 'vitest';
import { acquireBackupLock } from '#backup-set/lock.ts';
import { RestoreLockLostError, restoreLockKey } from '#backup-set/restore-lock.ts';
import { startSearchRestore } from '#components/search/handlers/start-restore.ts';
import { restoreSourceRepository } from '#components/source/restore-repository.ts';
import { testRuntime } from '../support/local-runtime.ts';

/**
 * A redriven Restore execution re-runs its failed steps, never Validate. The search restore's
 * start (it closes, deletes and renames live indexes) and each Git push stop first when another
 * restore has taken over the target's lock meanwhile; the files and dump restores have their own
 * tests (review-restore-redrive, restore-lock-lost).
 */
const BACKUP_ID = 'b20261127t020000z-a1b2';
const OTHER = 'r20261127t040000z-e5f6';

async function takenOver(target: string) {
  const rt = testRuntime({ components: {} });
  const key = restoreLockKey(target);
  await acquireBackupLock(rt.store, key, OTHER, new Date('2026-11-27T04:00:00Z'), 60, {
    about: { backupId: BACKUP_ID, target },
  });
  const restore = {
    restoreId: 'r20261127t030000z-c3d4',
    backupId: BACKUP_ID,
    startedAt: '2026-11-27T03:00:00.000Z',
    requests: {},
    locks: [key],
  };
  return { rt, restore };
}

describe('a restore step whose target lock another restore took over', () => {
  it('search: stops before it reads the set or reaches the cluster', async () => {
    const { rt, restore } = await takenOver('search cluster https://search.example:9200');
    const search = {
      engine: {
        kind: 'opensearch',
        distribution: 'opensearch',
        version: '2.11.0',
        clusterName: 'liferay',
        endpoint: 'https://search.example:9200',
      },
      repository: { name: 'liferay-backup', type: 's3', location: 's3://b/search' },
      registration: 'unchanged',
      warnings: [],
    };
    const error = await startSearchRestore({ restore, search }, rt).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RestoreLockLostError);
    expect((error as Error).message).toContain(OTHER);
  });

  it('source: stops before it pushes', async () => {
    const { rt, restore } = await takenOver('Git repository https://git.example/liferay/portal.git');
    const target = { url: 'https://git.example/liferay/portal.git' };
    const error = await restoreSourceRepository({ restore, target }, rt).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RestoreLockLostError);
    expect((error as Error).message).toContain(OTHER);
  });
});
