import { storeKeys } from '#backup-set/keys.ts';
import type { FilesComponentName } from './settings.ts';

/**
 * Where the files engine keeps things in the store (DESIGN.md "Backup set and store layout"):
 * - `backups/<id>/files/<component>/`: the set's file index (index.json, its parts) and its
 *   content catalog; written once, never rewritten by a later set;
 * - `objects/`: content shared by every set (blobs named by their sha256, packs of small files);
 * - `work/<runId>/files/<component>/`: a run's scratch (plan, shard lists, shard results,
 *   checkpoints), removed by Commit.
 */
export const filesKeys = {
  setPrefix: (backupId: string, component: FilesComponentName) =>
    `${storeKeys.backupPrefix(backupId)}files/${component}/`,
  index: (backupId: string, component: FilesComponentName) =>
    `${filesKeys.setPrefix(backupId, component)}index.json`,
  part: (backupId: string, component: FilesComponentName, shardId: string) =>
    `${filesKeys.setPrefix(backupId, component)}part-${shardId}.jsonl.gz`,
  catalogPartition: (backupId: string, component: FilesComponentName, prefix: string) =>
    `${filesKeys.setPrefix(backupId, component)}catalog/${prefix === '' ? 'all' : prefix}.jsonl.gz`,
  catalogBloom: (backupId: string, component: FilesComponentName) =>
    `${filesKeys.setPrefix(backupId, component)}catalog/bloom.bin`,
  /** Every warning of the set's backup, when its result shows only the first (backup-finalize.ts). */
  warnings: (backupId: string, component: FilesComponentName) =>
    `${filesKeys.setPrefix(backupId, component)}warnings.jsonl.gz`,

  /** Large files, content-addressed: the same bytes anywhere, in any set, are one object. */
  blob: (sha256: string) => `objects/blobs/${sha256.slice(0, 2)}/${sha256}`,
  /** Packs of small files; the random leading characters spread them over S3 key partitions. */
  pack: (packId: string) => `objects/packs/${packId.slice(0, 2)}/${packId}`,

  work: (runId: string, component: FilesComponentName) => `${storeKeys.workPrefix(runId)}files/${component}/`,
  plan: (runId: string, component: FilesComponentName) => `${filesKeys.work(runId, component)}plan.json`,
  /** Written by a restore's Finalize before it renames the restored tree into place (restore-swap.ts). */
  placement: (runId: string, component: FilesComponentName) =>
    `${filesKeys.work(runId, component)}placement.json`,
  /** The Distributed Map's items for one round (round 0 from Plan, later rounds continue cut-off shards). */
  round: (runId: string, component: FilesComponentName, round: number) =>
    `${filesKeys.work(runId, component)}round-${String(round).padStart(3, '0')}.json`,
  shardPrefix: (runId: string, component: FilesComponentName, shardId: string) =>
    `${filesKeys.work(runId, component)}shards/${shardId}/`,
  shardResult: (runId: string, component: FilesComponentName, shardId: string) =>
    `${filesKeys.shardPrefix(runId, component, shardId)}result.json`,
  shardContentBloom: (runId: string, component: FilesComponentName, shardId: string) =>
    `${filesKeys.shardPrefix(runId, component, shardId)}content-bloom.bin`,
  shardContent: (runId: string, component: FilesComponentName, shardId: string) =>
    `${filesKeys.shardPrefix(runId, component, shardId)}content.jsonl.gz`,
  /** A restore shard's files that were not restored (skipLost): their content is lost. */
  shardLost: (runId: string, component: FilesComponentName, shardId: string) =>
    `${filesKeys.shardPrefix(runId, component, shardId)}lost.jsonl.gz`,
  /** The files a restore with skipLost did not restore, kept beside its report (work/ is removed). */
  restoreLost: (backupId: string, restoreId: string, component: FilesComponentName) =>
    `${storeKeys.restoresPrefix(backupId)}${restoreId}-${component}-lost.jsonl.gz`,
  /** One object per pack whose upload completed: what a re-run shard reuses instead of uploading again. */
  shardPackCheckpoint: (runId: string, component: FilesComponentName, shardId: string, packId: string) =>
    `${filesKeys.shardPrefix(runId, component, shardId)}packs/${packId}.json`,
  /**
   * How far the read (backup) or the write (restore) of one large file got when its invocation stopped in the middle of it (file-checkpoints.ts),
   * named by the sha256 of its path: the next round's shard, whatever its id, finds it.
   */
  fileCheckpoint: (runId: string, component: FilesComponentName, pathSha256: string) =>
    `${filesKeys.work(runId, component)}resume/${pathSha256}.json`,
} as const;

export const OBJECT_KEY_PATTERN =
  /^objects\/(blobs\/[0-9a-f]{2}\/[0-9a-f]{64}|packs\/[0-9a-f]{2}\/[0-9a-f]{32})$/;

/** Shard ids name keys: round, then position in the round, both fixed width so they sort. */
export function shardId(round: number, index: number): string {
  return `${String(round).padStart(2, '0')}-${String(index).padStart(5, '0')}`;
}

export const SHARD_ID_PATTERN = /^\d{2}-\d{5}$/;
