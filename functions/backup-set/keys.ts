/** The store's key layout (DESIGN.md, "Backup set and store layout"): the one place that spells it. */
export const storeKeys = {
  backupsPrefix: 'backups/',
  manifest: (backupId: string) => `backups/${backupId}/manifest.json`,
  /** Per-component objects of a set (file indexes, reports); nothing outside a set's prefix is set-specific. */
  backupPrefix: (backupId: string) => `backups/${backupId}/`,
  /** Restore reports, and beside them the lists of files a restore went on without (files/keys.ts). */
  restoresPrefix: (backupId: string) => `backups/${backupId}/restores/`,
  restoreReport: (backupId: string, restoreId: string) =>
    `${storeKeys.restoresPrefix(backupId)}${restoreId}.json`,
  /** Written first when retention deletes a set: the set is no longer offered for restore. */
  deletionMarker: (backupId: string) => `backups/${backupId}/deleting.json`,
  dumpsPrefix: (backupId: string) => `dumps/${backupId}/`,
  retentionReportsPrefix: 'reports/retention/',
  retentionReport: (runId: string) => `${storeKeys.retentionReportsPrefix}${runId}.json`,
  verificationsPrefix: (backupId: string) => `backups/${backupId}/verifications/`,
  verificationReport: (backupId: string, runId: string) =>
    `${storeKeys.verificationsPrefix(backupId)}${runId}.json`,
  latest: 'pointers/latest.json',
  retentionLock: 'locks/retention.json',
  backupLock: 'locks/backup.json',
  /** One lock per live target a restore writes, named by the target's hash (restore-lock.ts). */
  restoreLocksPrefix: 'locks/restores/',
  /** Scratch space of a running workflow (shard lists, partial results); removed by Commit. */
  workPrefix: (runId: string) => `work/${runId}/`,
} as const;

const MANIFEST_KEY = /^backups\/([^/]+)\/manifest\.json$/;

/** The backup id of a manifest key, or undefined for any other key. */
export function backupIdOfManifestKey(key: string): string | undefined {
  return MANIFEST_KEY.exec(key)?.[1];
}
