import { describe, expect, it } from 'vitest';
import { parseManifest, readManifest } from '#backup-set/manifest.ts';
import { CorruptBackupError } from '#runtime/errors.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';

const valid = {
  schemaVersion: 1,
  backupId: 'b20261127t020000z-7f3a',
  environment: 'prod',
  status: 'complete',
  trigger: { source: 'schedule', schedule: 'nightly' },
  components: ['liferayHome'],
  startedAt: '2026-11-27T02:00:00.000Z',
  finishedAt: '2026-11-27T02:10:00.000Z',
  tool: { name: 'liferay-backup', version: '0.1.0' },
  results: {
    liferayHome: {
      component: 'liferayHome',
      status: 'complete',
      warnings: [],
      summary: { files: 3 },
      details: {},
    },
  },
  warnings: [],
};

describe('the manifest schema', () => {
  it('accepts a valid manifest', () => {
    expect(parseManifest(valid, 'test').status).toBe('complete');
  });

  it.each([
    ['a newer schema version', { schemaVersion: 2 }, /schema version 2 is not supported/],
    ['an unknown status', { status: 'done' }, /status/],
    ['a hostile backup id', { backupId: '../../etc/passwd' }, /backupId: not a backup id/],
    ['an unknown component', { components: ['database', 'mailServer'] }, /unknown component "mailServer"/],
    ['a wrong type', { startedAt: 12 }, /startedAt/],
    ['an oversized warning', { warnings: ['x'.repeat(5000)] }, /warnings/],
  ])('rejects %s, naming the key', (_what, change, message) => {
    expect(() => parseManifest({ ...valid, ...change }, 'backups/x/manifest.json')).toThrow(message);
    expect(() => parseManifest({ ...valid, ...change }, 'backups/x/manifest.json')).toThrow(
      CorruptBackupError,
    );
  });

  it('refuses a manifest stored under another set id, or not JSON', async () => {
    const store = new LocalFolderStore(tempDir('manifest').dir);
    await store.put('backups/b20261127t030000z-0000/manifest.json', JSON.stringify(valid));
    await expect(readManifest(store, 'b20261127t030000z-0000')).rejects.toThrow(/names another backup set/);
    await store.put('backups/b20261127t040000z-0000/manifest.json', '{"truncated": ');
    await expect(readManifest(store, 'b20261127t040000z-0000')).rejects.toThrow(/cannot be read/);
  });
});
