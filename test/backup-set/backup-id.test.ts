import { describe, expect, it } from 'vitest';
import { BACKUP_ID_PATTERN, backupIdTime, isBackupId, newBackupId } from '#backup-set/backup-id.ts';

// RDS: 1-255 letters, digits or hyphens; first a letter; no two consecutive hyphens; no trailing hyphen.
const RDS_SNAPSHOT_IDENTIFIER = /^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,254}(?<!-)$/;

describe('backup ids', () => {
  it('encode the UTC time and a random suffix', () => {
    const id = newBackupId(new Date('2026-11-27T02:00:00.123Z'), () => '7f3a');
    expect(id).toBe('b20261127t020000z-7f3a');
    expect(backupIdTime(id).toISOString()).toBe('2026-11-27T02:00:00.000Z');
  });

  it('sort by time as plain strings', () => {
    const times = [
      '2026-01-02T00:00:00Z',
      '2025-12-31T23:59:59Z',
      '2026-01-01T10:00:00Z',
      '2026-11-27T02:00:00Z',
    ];
    const ids = times.map((t) => newBackupId(new Date(t)));
    const byId = [...ids].sort();
    const byTime = [...times].sort().map((t) => ids[times.indexOf(t)]);
    expect(byId).toEqual(byTime);
  });

  it('are valid RDS snapshot identifiers (also with a prefix) and S3 key segments', () => {
    for (let i = 0; i < 200; i++) {
      const id = newBackupId(
        new Date(Date.UTC(2020 + (i % 10), i % 12, 1 + (i % 28), i % 24, i % 60, (i * 7) % 60)),
      );
      expect(id).toMatch(BACKUP_ID_PATTERN);
      expect(id).toMatch(RDS_SNAPSHOT_IDENTIFIER);
      expect(`liferay-backup-${id}`).toMatch(RDS_SNAPSHOT_IDENTIFIER);
      expect(id).toMatch(/^[a-z0-9-]+$/);
    }
  });

  it('reject look-alikes', () => {
    for (const bad of [
      'B20261127T020000Z-7f3a',
      'b20261127t020000z-7f3',
      'b20261127t020000z--7f3a',
      '../b20261127t020000z-7f3a',
      'latest',
    ]) {
      expect(isBackupId(bad)).toBe(false);
    }
  });
});
