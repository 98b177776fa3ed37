import { randomBytes } from 'node:crypto';

/**
 * A backup set id: `b20261127t020000z-7f3a`.
 * - sorts by creation time as a plain string (fixed-width UTC timestamp first);
 * - lower-case letters, digits and single hyphens, starting with a letter and not ending with a
 *   hyphen, so it is valid inside an RDS/Aurora snapshot identifier and as an S3 key segment;
 * - the random suffix keeps two runs started in the same second apart.
 */
export const BACKUP_ID_PATTERN = /^b(\d{8})t(\d{6})z-([0-9a-f]{4})$/;

/** Any run's id: `b…` backups, `r…` restores, `g…` retention runs, `v…` verifications. */
export const RUN_ID_PATTERN = /^([bgrv])(\d{8})t(\d{6})z-[0-9a-f]{4}$/;
export type RunKind = 'b' | 'g' | 'r' | 'v';

/** A run id, of one kind (`r` a restore, `v` a drill, ...). */
export function isRunId(value: string, kind: RunKind): boolean {
  return value.startsWith(kind) && RUN_ID_PATTERN.test(value);
}

export function newRunId(
  kind: RunKind,
  now: Date,
  random: () => string = () => randomBytes(2).toString('hex'),
): string {
  const iso = now.toISOString(); // 2026-11-27T02:00:00.000Z
  const date = iso.slice(0, 10).replaceAll('-', '');
  const time = iso.slice(11, 19).replaceAll(':', '');
  const id = `${kind}${date}t${time}z-${random()}`;
  if (!RUN_ID_PATTERN.test(id)) throw new Error(`generated an invalid run id: ${id}`);
  return id;
}

export function newBackupId(now: Date, random?: () => string): string {
  return newRunId('b', now, random);
}

export function isBackupId(value: string): boolean {
  return BACKUP_ID_PATTERN.test(value);
}

/** The time encoded in a backup id (to the second). */
export function backupIdTime(id: string): Date {
  if (!isBackupId(id)) throw new Error(`not a backup id: ${id}`);
  return runIdTime(id);
}

/** The time encoded in a run id: a backup's, a retention run's, a restore's or a drill's (to the second). */
export function runIdTime(id: string): Date {
  const [, , d, t] = RUN_ID_PATTERN.exec(id) ?? [];
  if (!d || !t) throw new Error(`not a run id: ${id}`);
  return new Date(
    `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${t.slice(0, 2)}:${t.slice(2, 4)}:${t.slice(4, 6)}Z`,
  );
}
