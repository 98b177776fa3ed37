import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as z from 'zod';
import { assertRestoreLocksHeld } from '#backup-set/restore-lock.ts';
import { CorruptBackupError, describeIssues, ObjectNotFoundError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { type ContentSource, type ContentStore, jsonBody } from '#store/content-store.ts';
import { type Chunk, EMPTY_SHA256, objectKeysOf, ReadArena, sameIdentity, sha256Hex } from './content.ts';
import { UnsafeEntryError, VerificationError } from './errors.ts';
import { restoreShardEventSchema, type ShardItem } from './events.ts';
import {
  FetchError,
  type FetchedFile,
  type FetchPart,
  type FetchTarget,
  FetchWorkers,
} from './fetch-worker.ts';
import { FileCheckpoints, savableSha256 } from './file-checkpoints.ts';
import { FinishWorker } from './finish-worker.ts';
import * as fsx from './fsx.ts';
import { ADAPTIVE_SLOW_WRITE_CALL_MS, AdaptiveIo } from './fsx.ts';
import { type DirEntry, type FileEntry, type PartRef, readPartBatches } from './index-format.ts';
import { JsonLinesFile } from './jsonl.ts';
import { filesKeys } from './keys.ts';
import { Semaphore, TaskPool } from './limit.ts';
import { LostContentSet, lostContentOf, missingObjects, SKIP_LOST_HINT } from './lost-content.ts';
import { comparePaths, isUnder, parentOf, unsafePathReason } from './paths.ts';
import { applyDirMetadata, SafeTree, secondsOf } from './restore-fs.ts';
import { type RestorePlan, readRestorePlan } from './restore-plan.ts';
import { readJsonIfPresent } from './rounds.ts';
import { compilePathFilter, type FilesSettings, filesSettings } from './settings.ts';

const count = z.number().int().nonnegative();
const dirMetadataSchema = z.strictObject({ path: z.string(), mode: z.number().int(), mtimeNs: z.string() });
export type DirMetadata = z.infer<typeof dirMetadataSchema>;

export const restoreShardResultSchema = z.strictObject({
  shardId: z.string(),
  part: count,
  resumeAfter: z.string().optional(),
  stats: z.strictObject({
    entries: count,
    files: count,
    dirs: count,
    symlinks: count,
    bytes: count,
    /** Files whose restored bytes matched the recorded sha256 (every file, or the shard fails). */
    verifiedFiles: count,
    /** GET requests to the store for content (ranged reads of packs, whole blobs). */
    contentRequests: count,
    /** Files not restored because their content is lost (only with skipLost; listed in `lost.list`). */
    lostFiles: count.default(0),
    lostBytes: count.default(0),
    milliseconds: count,
  }),
  /** With skipLost, when files were lost: their list, and the objects and files found lost. */
  lost: z
    .strictObject({
      list: z.strictObject({ key: z.string(), size: count, sha256: z.string() }),
      objects: z.array(z.string()),
      paths: z.array(z.string()),
    })
    .optional(),
  /** Restored folders that later shards or rounds may write into: left writable, Finalize sets their metadata. */
  openDirs: z.array(dirMetadataSchema),
  finishedAt: z.iso.datetime({ offset: true }),
});
export type RestoreShardResult = z.infer<typeof restoreShardResultSchema>;

export async function readRestoreShardResult(
  store: ContentStore,
  key: string,
): Promise<RestoreShardResult | undefined> {
  const raw = await readJsonIfPresent(store, key);
  if (raw === undefined) return undefined;
  const parsed = restoreShardResultSchema.safeParse(raw);
  if (!parsed.success)
    throw new CorruptBackupError(
      `${key} is not a valid restore shard result: ${describeIssues(parsed.error.issues)}`,
    );
  return parsed.data;
}

/** One restore shard at a time per process, for the same reason as CopyShard (two peaked at 277 MB). */
const SHARDS_PER_PROCESS = new Semaphore(1);
/**
 * A batch of files fetched together (its pack ranges coalesced). A pack's files are spread over
 * about 2.4 times as many paths as it holds (files read side by side are packed as they finish),
 * so a batch boundary splits the packs it crosses: batches of 64 MiB read the medium set's 109
 * packs with 249 GETs, batches of 256 MiB with 139. The batch holds entries only (the bytes go
 * through the assembly ring), and the time budget is checked between batches.
 */
const BATCH_BYTES = 256 * 1024 * 1024;
const BATCH_FILES = 4000;
/** Ranges of one pack closer than this are read with one request (the gap is read and dropped). */
const COALESCE_GAP = 1024 * 1024;
const MAX_RUN_BYTES = 32 * 1024 * 1024;
/**
 * A large file read by a fetch worker has all its chunks' URLs signed before the first is read,
 * and a signed URL lasts 15 minutes: files of more chunks than this (1 GiB in 16 MiB chunks) are
 * read on the main thread, one chunk request at a time.
 */
const MAX_FETCHED_CHUNKS = 64;
/** The chunks of a file restored by writeResumable (one of more chunks than a fetch worker takes), or undefined. */
function resumableChunks(entry: FileEntry): ReadonlyArray<readonly [string, number]> | undefined {
  const data = entry.data;
  return data && 'chunks' in data && data.chunks.length > MAX_FETCHED_CHUNKS ? data.chunks : undefined;
}

/** Memory for files of packs being assembled or hashed, per shard. */
const ASSEMBLY_BYTES = 16 * 1024 * 1024;

interface Run {
  readonly key: string;
  readonly start: number;
  end: number;
  readonly entries: FileEntry[];
}

/** A file of a run being assembled: its region of the ring and how much of it is filled. */
interface OpenTarget {
  readonly entry: FileEntry;
  readonly start: number;
  readonly fd: number;
  readonly region: Buffer;
  written: number;
}

/** Groups pack-stored files into runs of adjacent ranges: one ranged GET per run. */
export function coalesceRanges(
  entries: readonly FileEntry[],
  gap = COALESCE_GAP,
  maxRun = MAX_RUN_BYTES,
): Run[] {
  const byPack = new Map<string, FileEntry[]>();
  for (const entry of entries) {
    if (!entry.data || !('pack' in entry.data)) continue;
    const list = byPack.get(entry.data.pack) ?? [];
    list.push(entry);
    byPack.set(entry.data.pack, list);
  }
  const runs: Run[] = [];
  for (const [key, list] of byPack) {
    list.sort((a, b) => packOffset(a) - packOffset(b));
    let current: Run | undefined;
    for (const entry of list) {
      const start = packOffset(entry);
      const end = start + entry.size;
      if (current && start <= current.end + gap && Math.max(current.end, end) - current.start <= maxRun) {
        current.end = Math.max(current.end, end);
        current.entries.push(entry);
      } else {
        current = { key, start, end, entries: [entry] };
        runs.push(current);
      }
    }
  }
  return runs;
}

/**
 * The mode a restored file is given. Owner and group are not restored (the file belongs to whoever
 * restores it), and a set-user-ID or set-group-ID bit means "run as the file's owner (group)": kept
 * on a file whose owner changed, it changes meaning (a tool of `nobody`, restored by root, would run
 * as root). As cp -p and tar do, the bit is kept only when the restoring process has the recorded
 * owner (group); otherwise it is cleared. Over an EFS access point, whose user differs from the
 * function's, such bits are cleared too: lost rather than given to another user.
 */
export function restoredFileMode(entry: Pick<FileEntry, 'mode' | 'uid' | 'gid'>): number {
  if ((entry.mode & 0o6000) === 0) return entry.mode;
  let mode = entry.mode;
  if (process.geteuid?.() !== entry.uid) mode &= ~0o4000;
  if (process.getegid?.() !== entry.gid) mode &= ~0o2000;
  return mode;
}

function packOffset(entry: FileEntry): number {
  return entry.data && 'pack' in entry.data ? entry.data.offset : 0;
}

/**
 * Attempts of one restore shard with skipLost: each attempt that finds more damaged content starts
 * the shard again without it (files an attempt wrote are replaced, lost ones removed).
 */
const MAX_LOST_ATTEMPTS = 64;

/** RestoreShard: writes the entries of one index part (from `after` on) into the staging folder. */
export async function restoreShard(
  event: unknown,
  rt: Runtime,
): Promise<{ shardId: string; files: number; resumeAfter?: string }> {
  const { restore, component, shard } = parseInput(
    restoreShardEventSchema,
    event,
    'files restore-shard input',
  );
  const settings = filesSettings(rt, component);
  return SHARDS_PER_PROCESS.run(async () => {
    // A redriven Map Run re-runs its failed shards: into a staging folder whose target may be another restore's by now.
    await assertRestoreLocksHeld(rt, restore);
    const plan = await readRestorePlan(rt.store, filesKeys.plan(restore.restoreId, component));
    const result = await restoreInAttempts(rt, plan, shard, settings);
    await rt.store.put(filesKeys.shardResult(restore.restoreId, component, shard.id), jsonBody(result), {
      contentType: 'application/json',
    });
    return {
      shardId: shard.id,
      files: result.stats.files,
      ...(result.resumeAfter !== undefined ? { resumeAfter: result.resumeAfter } : {}),
    };
  });
}

/**
 * The shard's restore. With skipLost: the objects the store no longer has are found first, and an
 * attempt that meets damaged content is started again without it (after its writes in flight),
 * within the same time budget. Without: the first such error fails the shard, naming skipLost.
 */
async function restoreInAttempts(
  rt: Runtime,
  plan: RestorePlan,
  shard: ShardItem,
  settings: FilesSettings,
): Promise<RestoreShardResult> {
  const deadline = Date.now() + settings.shard.timeBudgetSeconds * 1000;
  const lost = new LostContentSet();
  if (plan.skipLost) {
    const missing = await missingObjects(rt.store, await objectsOfShard(rt.store, plan, shard));
    for (const object of missing) lost.add({ object });
    if (missing.length > 0)
      rt.logger.warn('files restore: objects the store no longer has', {
        component: plan.component,
        missing: missing.length,
      });
  }
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await new ShardRestorer(rt, plan, shard, settings.storeConcurrency, deadline, lost).run();
    } catch (error) {
      const found = lostContentOf(error);
      if (found && !plan.skipLost) (error as Error).message += `; ${SKIP_LOST_HINT}`;
      if (!found || !plan.skipLost || lost.has(found) || attempt >= MAX_LOST_ATTEMPTS) throw error;
      lost.add(found);
      const message = (error as Error).message;
      rt.logger.warn('files restore: damaged content, the shard starts again without it', {
        component: plan.component,
        shard: shard.id,
        error: message,
      });
      rt.progress(`${plan.component} restore shard ${shard.id}: ${message}; starting again without it`);
    }
  }
}

/** The objects the shard's files are stored in (what a restore with skipLost checks first). */
async function objectsOfShard(
  store: ContentStore,
  plan: RestorePlan,
  shard: ShardItem,
): Promise<Set<string>> {
  const part = partOf(plan, shard);
  const filter = plan.path ? compilePathFilter(plan.path) : undefined;
  const keys = new Set<string>();
  for await (const lines of readPartBatches(store, part))
    for (const { entry } of lines) {
      if (entry.type !== 'file' || entry.size === 0 || !entry.data) continue;
      if (shard.after !== undefined && comparePaths(entry.path, shard.after) <= 0) continue;
      if (filter && !filter.matches(entry.path)) continue;
      for (const key of objectKeysOf(entry.data)) keys.add(key);
    }
  return keys;
}

function partOf(plan: RestorePlan, shard: ShardItem): PartRef {
  const part = plan.parts[shard.part ?? -1];
  if (!part)
    throw new CorruptBackupError(
      `restore shard ${shard.id} names part ${shard.part}, which the plan does not have`,
    );
  return part;
}

class ShardRestorer {
  private readonly tree: SafeTree;
  private readonly stats: RestoreShardResult['stats'] = {
    entries: 0,
    files: 0,
    dirs: 0,
    symlinks: 0,
    bytes: 0,
    verifiedFiles: 0,
    contentRequests: 0,
    lostFiles: 0,
    lostBytes: 0,
    milliseconds: 0,
  };
  /** The files not restored because their content is lost (skipLost), one JSON line each. */
  private lostList: JsonLinesFile | undefined;
  private lastProgress = 0;
  private readonly jobs: TaskPool;
  /** Synchronous file calls while they are fast (a local disk), asynchronous once not (EFS). */
  private readonly io = new AdaptiveIo({ slowCallMs: ADAPTIVE_SLOW_WRITE_CALL_MS });
  /** Where files of packs are assembled before they are written and hashed (fixed memory, shared with the worker). */
  private readonly regions = new ReadArena(ASSEMBLY_BYTES, true);
  /** Writes, checks and closes assembled files while the file calls are synchronous (started on first use). */
  private worker: FinishWorker | undefined | false;
  /** Read the store, write, check and close files while the file calls are synchronous (started on first use). */
  private fetchWorkers: FetchWorkers | undefined | false;
  /** Where the writes of files too large for one invocation stopped (writeResumable). */
  private readonly checkpoints: FileCheckpoints;

  constructor(
    private readonly rt: Runtime,
    private readonly plan: RestorePlan,
    private readonly shard: ShardItem,
    concurrency: number,
    /** When the shard stops taking files and hands the rest of its part to the next round (ms). */
    private readonly deadline: number,
    private readonly lost: LostContentSet,
  ) {
    this.tree = new SafeTree(plan.staging, this.io);
    this.jobs = new TaskPool(concurrency);
    this.checkpoints = new FileCheckpoints(rt.store, plan.restoreId, plan.component, rt.logger);
  }

  async run(): Promise<RestoreShardResult> {
    try {
      return await this.restore();
    } catch (error) {
      // The next attempt (skipLost) must not meet this one's writes still in flight.
      await this.jobs.drain().catch(() => undefined);
      await this.lostList?.discard();
      throw error;
    } finally {
      if (this.worker) await this.worker.close();
      if (this.fetchWorkers) await this.fetchWorkers.close();
    }
  }

  private async restore(): Promise<RestoreShardResult> {
    const started = Date.now();
    const deadline = this.deadline;
    const part = partOf(this.plan, this.shard);
    const filter = this.plan.path ? compilePathFilter(this.plan.path) : undefined;
    const dirs: DirEntry[] = [];
    let batch: FileEntry[] = [];
    let batchBytes = 0;
    let last: string | undefined;
    let resumeAfter: string | undefined;
    // In batches of lines: an await per entry costs more than most entries' own work.
    entries: for await (const lines of readPartBatches(this.rt.store, part))
      for (const { entry } of lines) {
        if (this.shard.after !== undefined && comparePaths(entry.path, this.shard.after) <= 0) continue;
        if (resumeAfter !== undefined) break entries;
        // The plan checked every entry; check the path again where it is used (cheap, and never trusted).
        const problem = unsafePathReason(entry.path);
        if (problem)
          throw new UnsafeEntryError(`refused to restore ${JSON.stringify(entry.path)}: ${problem}`);
        const previous = last;
        last = entry.path;
        if (filter && !filter.matches(entry.path)) continue;
        this.stats.entries += 1;
        if (entry.type === 'dir') {
          await this.tree.ensureDir(entry.path);
          dirs.push(entry);
          this.stats.dirs += 1;
        } else if (entry.type === 'symlink') {
          await this.tree.createSymlink(entry.path, entry.target);
          const seconds = secondsOf(entry.mtimeNs);
          await fs.lutimes(this.tree.absolute(entry.path), seconds, seconds);
          this.stats.symlinks += 1;
        } else if (!(await this.skippedAsLost(entry))) {
          const chunks = resumableChunks(entry);
          if (chunks) {
            // Written alone, once everything before it is: if it stops, the round ends right before it.
            await this.writeFiles(batch);
            batch = [];
            batchBytes = 0;
            await this.jobs.drain();
            if (!(await this.writeResumable(entry, chunks, deadline))) {
              // '' sorts before every path: the file was the first entry of the part.
              resumeAfter = previous ?? this.shard.after ?? '';
              break entries;
            }
            if (Date.now() >= deadline) resumeAfter = last;
            continue;
          }
          batch.push(entry);
          batchBytes += entry.size;
          if (batchBytes >= BATCH_BYTES || batch.length >= BATCH_FILES) {
            await this.writeFiles(batch);
            batch = [];
            batchBytes = 0;
            if (Date.now() >= deadline) resumeAfter = last;
          }
        }
      }
    await this.writeFiles(batch);
    // Every file job of every batch has finished (or the first failure is thrown).
    await this.jobs.drain();
    // The folders that hold the boundary may still be written into by the next shard or round.
    const boundary = resumeAfter ?? last;
    const openDirs =
      boundary === undefined
        ? []
        : dirs.filter((dir) => dir.path === boundary || isUnder(boundary, dir.path));
    // Folders last, deepest first: writing into a folder changes its mtime, and a read-only mode
    // blocks every user but root (EFS access points, a liferay user) from writing into it. The open
    // ones stay writable: Finalize sets them once every shard and round has written into them.
    const open = new Set(openDirs.map((dir) => dir.path));
    for (const dir of [...dirs].reverse())
      if (!open.has(dir.path))
        await applyDirMetadata(this.tree.absolute(dir.path), dir.mode, dir.mtimeNs, this.io);
    this.stats.milliseconds = Date.now() - started;
    let lost: RestoreShardResult['lost'];
    if (this.lostList) {
      const key = filesKeys.shardLost(this.plan.restoreId, this.plan.component, this.shard.id);
      const list = { key, ...(await this.lostList.upload(this.rt.store, key)) };
      lost = { list, objects: [...this.lost.objects].sort(), paths: [...this.lost.paths].sort() };
    }
    return {
      shardId: this.shard.id,
      part: this.shard.part ?? 0,
      ...(resumeAfter !== undefined ? { resumeAfter } : {}),
      stats: this.stats,
      ...(lost ? { lost } : {}),
      openDirs: openDirs.map((dir) => ({ path: dir.path, mode: dir.mode, mtimeNs: dir.mtimeNs })),
      finishedAt: this.rt.now().toISOString(),
    };
  }

  private async writeFiles(files: readonly FileEntry[]): Promise<void> {
    if (files.length === 0) return;
    // Jobs go to a pool shared by all batches: the next batch starts while this one finishes.
    for (const entry of files) {
      if (entry.size === 0) await this.jobs.submit(() => this.writeEmpty(entry));
      else if (entry.data && !('pack' in entry.data)) await this.jobs.submit(() => this.writeBlobs(entry));
    }
    for (const run of coalesceRanges(files)) await this.jobs.submit(() => this.writeRun(run));
    const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
    if (Date.now() - this.lastProgress > 1000) {
      this.lastProgress = Date.now();
      this.rt.progress(
        `${this.plan.component} restore shard ${this.shard.id}: ${this.stats.files} files, ${mib(this.stats.bytes)} MiB verified`,
      );
    }
  }

  private async finishFile(
    entry: FileEntry,
    fd: number,
    hash: { digest(encoding: 'hex'): string },
    written: number,
  ): Promise<void> {
    const sha256 = hash.digest('hex');
    if (written !== entry.size || sha256 !== entry.sha256) {
      await this.io.close(fd);
      throw this.mismatch(entry, sha256, written);
    }
    await this.closeVerified(entry, fd);
  }

  /** A file whose bytes matched: its mode and mtime set, closed, counted. */
  private async closeVerified(entry: FileEntry, fd: number): Promise<void> {
    try {
      await this.io.fchmod(fd, restoredFileMode(entry));
      await this.io.futimes(fd, secondsOf(entry.mtimeNs));
    } finally {
      await this.io.close(fd);
    }
    this.countVerified(entry);
  }

  /**
   * Whether the file's content is lost (skipLost): then it is listed, and whatever an earlier
   * attempt wrote at its path removed.
   */
  private async skippedAsLost(entry: FileEntry): Promise<boolean> {
    const cause = this.lost.cause(entry);
    if (cause === undefined) return false;
    await this.tree.removeFile(entry.path);
    this.lostList ??= await JsonLinesFile.create(this.rt.scratchDir, `lost-${this.shard.id}`);
    await this.lostList.write({ path: entry.path, size: entry.size, sha256: entry.sha256, cause });
    this.stats.lostFiles += 1;
    this.stats.lostBytes += entry.size;
    return true;
  }

  private countVerified(entry: FileEntry): void {
    this.stats.files += 1;
    this.stats.verifiedFiles += 1;
    this.stats.bytes += entry.size;
  }

  private async writeEmpty(entry: FileEntry): Promise<void> {
    const fd = await this.tree.createFile(entry.path);
    await this.finishFile(entry, fd, createHash('sha256'), 0);
    if (entry.sha256 !== EMPTY_SHA256)
      throw new VerificationError(`${entry.path}: recorded as empty with the sha256 of non-empty content`, {
        path: entry.path,
      });
  }

  /** A file stored as one blob or as chunks: each GET streamed into the file, each chunk checked on its own. */
  private async writeBlobs(entry: FileEntry): Promise<void> {
    const data = entry.data;
    if (!data || 'pack' in data) return;
    const fetchers = this.fetchers();
    if (fetchers && 'blob' in data)
      return this.fetchRun({ key: data.blob, start: 0, end: entry.size, entries: [entry] }, fetchers);
    if (fetchers && 'chunks' in data && data.chunks.length <= MAX_FETCHED_CHUNKS)
      return this.fetchChunks(entry, data.chunks, fetchers);
    const parts: Array<{ key: string; sha256?: string; size?: number }> =
      'blob' in data
        ? [{ key: data.blob }]
        : data.chunks.map(([sha256, size]) => ({ key: filesKeys.blob(sha256), sha256, size }));
    // A file of one chunk: the chunk's name is the file's sha256, and one hash checks both.
    const single = parts.length === 1 && parts[0]?.sha256 === entry.sha256 && parts[0]?.size === entry.size;
    const fd = await this.tree.createFile(entry.path);
    const hash = createHash('sha256');
    let written = 0;
    try {
      for (const part of parts) {
        const object = single ? { key: part.key } : part;
        written += await this.writeObject(
          entry,
          fd,
          object,
          written,
          part.size ?? entry.size - written,
          hash,
        );
      }
    } catch (error) {
      await this.io.close(fd);
      throw error;
    }
    await this.finishFile(entry, fd, hash, written);
  }

  /**
   * A file of more chunks than a fetch worker takes (over 1 GiB by default), written chunk by chunk
   * on the main thread, each chunk checked against its name and the whole file against its sha256
   * (with a hash whose state can be saved). When the budget is spent between two chunks it stops:
   * a checkpoint records the staging file as it left it (size, times, inode), the chunks written
   * and the hash state, and the next round goes on from there if the file is still as it was
   * (otherwise it starts the file again). Returns false when it stopped.
   */
  private async writeResumable(
    entry: FileEntry,
    chunks: ReadonlyArray<readonly [string, number]>,
    deadline: number,
  ): Promise<boolean> {
    const saved = await this.checkpoints.load(entry.path);
    const ofThisFile =
      saved?.progress.chunks.every(
        (chunk, i) => chunk.sha256 === chunks[i]?.[0] && chunk.size === chunks[i]?.[1],
      ) === true;
    if (saved && ofThisFile && saved.progress.chunks.length === chunks.length) {
      // Finished and verified by an earlier attempt (a skipLost restart, a retried shard): kept
      // when nothing touched it since, or every such restart writes it again from its first byte.
      await this.tree.ensureDir(parentOf(entry.path));
      const now = await fs.lstat(this.tree.absolute(entry.path), { bigint: true }).catch(() => undefined);
      if (now?.isFile() && sameIdentity(now, saved.progress.file)) {
        this.countVerified(entry);
        return true;
      }
    }
    const goOn = saved && ofThisFile && saved.progress.chunks.length < chunks.length ? saved : undefined;
    let fd = goOn ? await this.tree.openUnchanged(entry.path, goOn.progress.file) : undefined;
    const from = fd !== undefined ? goOn : undefined;
    fd ??= await this.tree.createFile(entry.path);
    const hash = await savableSha256(from?.progress.hashState);
    const done: Chunk[] = [...(from?.progress.chunks ?? [])];
    let written = done.reduce((sum, chunk) => sum + chunk.size, 0);
    try {
      for (let i = done.length; i < chunks.length; i += 1) {
        const [sha256, size] = chunks[i] as readonly [string, number];
        await this.writeObject(entry, fd, { key: filesKeys.blob(sha256), sha256, size }, written, size, hash);
        done.push({ start: written, size, sha256 });
        written += size;
        if (i + 1 < chunks.length && Date.now() >= deadline) {
          await this.io.close(fd);
          fd = undefined;
          await this.recordWritten(entry, done, hash.save());
          return false;
        }
      }
    } catch (error) {
      if (fd !== undefined) await this.io.close(fd);
      throw error;
    }
    const state = hash.save();
    await this.finishFile(entry, fd, hash, written);
    // Recorded finished, as it is now (mode and mtime set): an attempt that starts again keeps it.
    await this.recordWritten(entry, done, state);
    return true;
  }

  /**
   * A large file's write so far (or finished) for the next attempt or round: the chunks written,
   * the hash state, and the file as it is now, read after close (over NFS the server sets the
   * times as the writes reach it).
   */
  private async recordWritten(entry: FileEntry, done: Chunk[], hashState: Uint8Array): Promise<void> {
    const file = await fs.lstat(this.tree.absolute(entry.path), { bigint: true });
    await this.checkpoints.save(entry.path, {
      progress: { file, chunks: done, hashState },
      attempt: 1,
      uploadedChunks: 0,
    });
  }

  /**
   * Streams one stored object (a blob, or a chunk of a file) into the file from `position`, every
   * byte into `hash`, and returns how many bytes it held; it stops once they pass `expected` (the
   * caller's size check then fails). An object given its `sha256` is checked against that name.
   */
  private async writeObject(
    entry: FileEntry,
    fd: number,
    object: { readonly key: string; readonly sha256?: string; readonly size?: number },
    position: number,
    expected: number,
    hash: { update(bytes: Uint8Array): unknown },
  ): Promise<number> {
    this.stats.contentRequests += 1;
    const body = await this.rt.store.get(object.key);
    const named = object.sha256 !== undefined ? createHash('sha256') : undefined;
    let length = 0;
    try {
      for await (const piece of body) {
        const bytes = piece as Buffer;
        hash.update(bytes);
        named?.update(bytes);
        await fsx.writeAll(fd, bytes, position + length, this.io);
        length += bytes.length;
        if (length > expected) break;
      }
    } finally {
      body.destroy();
    }
    if (named && (length !== object.size || named.digest('hex') !== object.sha256)) {
      throw new VerificationError(
        `${entry.path}: the chunk ${object.key} does not match its name: the stored copy is damaged`,
        { object: object.key },
      );
    }
    return length;
  }

  /**
   * One ranged GET for a run of a pack; its bytes are cut into the files (a file may appear
   * twice). Each file is assembled in a region of the ring, then written and hashed off the main
   * thread while the stream goes on (finishAssembled: the finish worker): the main thread, which
   * parses the response, was the bottleneck of a restore with sha256 at a quarter of its time.
   * A file is closed, with its mode and mtime, only once its hash matched.
   */
  private async writeRun(run: Run): Promise<void> {
    const fetchers = this.fetchers();
    if (fetchers) return this.fetchRun(run, fetchers);
    this.stats.contentRequests += 1;
    const body = await this.rt.store.getRange(run.key, run.start, run.end - run.start);
    const targets = run.entries;
    const open: OpenTarget[] = [];
    const verifying: Promise<void>[] = [];
    let next = 0;
    let position = run.start;
    try {
      for await (const chunk of body) {
        const bytes = chunk as Buffer;
        const chunkEnd = position + bytes.length;
        // The files begun in earlier chunks take their bytes first, then each file that begins in
        // this chunk is given room and filled before the next one asks: a run waits for room in
        // the ring only when it holds no file still waiting for bytes. Waiting while holding one
        // could wait for ever (the ring frees space in the order it was taken, and that file's
        // region may be the oldest); with runs side by side it did, now and then.
        this.fill(open, bytes, position, verifying);
        while (next < targets.length && packOffset(targets[next] as FileEntry) < chunkEnd) {
          const entry = targets[next] as FileEntry;
          next += 1;
          // Files that share bytes (one content, two paths) are open together: never wait then.
          const region =
            open.length > 0 ? this.regions.takeNow(entry.size) : await this.regions.take(entry.size);
          let fd: number;
          try {
            fd = await this.tree.createFile(entry.path);
          } catch (error) {
            this.regions.give(region);
            throw error;
          }
          open.push({ entry, start: packOffset(entry), fd, region, written: 0 });
          this.fill(open, bytes, position, verifying);
        }
        position = chunkEnd;
      }
    } finally {
      body.destroy();
      for (const target of open) {
        this.regions.give(target.region);
        await this.io.close(target.fd).catch(() => undefined);
      }
      // Every file handed over is closed (verified or not) before the run ends.
      await Promise.allSettled(verifying);
    }
    const failed = (await Promise.allSettled(verifying)).find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    if (open.length > 0 || next < targets.length) {
      throw new VerificationError(
        `${run.key}: the store returned ${position - run.start} of ${run.end - run.start} bytes; the pack is shorter than the index says`,
        { object: run.key },
      );
    }
  }

  /**
   * Copies the bytes of a chunk (starting at pack offset `position`) into the open files they
   * belong to; a file that is complete is handed over to be written and verified.
   */
  private fill(open: OpenTarget[], bytes: Buffer, position: number, verifying: Promise<void>[]): void {
    const chunkEnd = position + bytes.length;
    for (let i = 0; i < open.length; ) {
      const target = open[i] as OpenTarget;
      const end = target.start + target.entry.size;
      const from = Math.max(position, target.start + target.written);
      const to = Math.min(chunkEnd, end);
      if (to > from) {
        // fill() copies with memcpy; copy() into shared memory goes through V8's relaxed
        // atomic copy, byte by byte at odd offsets (5 times slower, a tenth of this thread).
        target.region
          .subarray(from - target.start, to - target.start)
          .fill(bytes.subarray(from - position, to - position));
        target.written += to - from;
      }
      if (target.start + target.written >= end) {
        open.splice(i, 1);
        const verified = this.finishAssembled(target.entry, target.fd, target.region);
        verified.catch(() => undefined);
        verifying.push(verified);
      } else {
        i += 1;
      }
    }
  }

  /**
   * The fetch workers, while file calls are synchronous and the store can hand out sources
   * (undefined otherwise: the run is read on this thread).
   */
  private fetchers(): FetchWorkers | undefined {
    if (!this.io.isSynchronous || !this.rt.store.contentSource) return undefined;
    if (this.fetchWorkers === undefined) {
      try {
        this.fetchWorkers = new FetchWorkers();
      } catch (error) {
        this.rt.logger.warn('files restore: no fetch worker threads, the store is read on the main thread', {
          error: (error as Error).message,
        });
        this.fetchWorkers = false;
      }
    }
    return this.fetchWorkers || undefined;
  }

  /**
   * A run read, written and checked by a fetch worker: this thread makes the folders above the
   * files real directories, the worker creates and closes the files, and this thread counts what
   * matched.
   */
  private async fetchRun(run: Run, fetchers: FetchWorkers): Promise<void> {
    const length = run.end - run.start;
    const targets: FetchTarget[] = [];
    for (const entry of run.entries)
      targets.push(await this.fetchTarget(entry, packOffset(entry) - run.start));
    const parts = [{ source: await this.contentSource(run.key, run.start, length), length }];
    const files = await fetchers.fetch({ parts, targets }).catch((error: unknown) => {
      throw this.fetchFailure(run, error);
    });
    this.countFetched(run.entries, files);
  }

  /** A large file, its chunks read one after the other by one fetch worker, each checked on its own. */
  private async fetchChunks(
    entry: FileEntry,
    chunks: ReadonlyArray<readonly [string, number]>,
    fetchers: FetchWorkers,
  ): Promise<void> {
    const parts: FetchPart[] = [];
    for (const [sha256, size] of chunks)
      parts.push({ source: await this.contentSource(filesKeys.blob(sha256), 0, size), length: size, sha256 });
    const target = await this.fetchTarget(entry, 0);
    const files = await fetchers.fetch({ parts, targets: [target] }).catch((error: unknown) => {
      const chunk =
        error instanceof FetchError ? chunks.find(([sha256]) => sha256 === error.part) : undefined;
      if (!chunk)
        throw this.fetchFailure({ key: `${entry.path} (chunks)`, start: 0, end: entry.size }, error);
      const key = filesKeys.blob(chunk[0]);
      if ((error as FetchError).kind === 'damaged')
        throw new VerificationError(
          `${entry.path}: the chunk ${key} does not match its name: the stored copy is damaged`,
          { object: key },
        );
      throw this.fetchFailure({ key, start: 0, end: chunk[1] }, error);
    });
    this.countFetched([entry], files);
  }

  private async contentSource(key: string, start: number, length: number): Promise<ContentSource> {
    const contentSource = this.rt.store.contentSource?.bind(this.rt.store);
    if (!contentSource) throw new Error('the store cannot hand out content sources');
    this.stats.contentRequests += 1;
    return contentSource(key, start, length);
  }

  /** Where a file goes, its folders made real directories first (the worker creates the file). */
  private async fetchTarget(entry: FileEntry, offset: number): Promise<FetchTarget> {
    await this.tree.ensureDir(parentOf(entry.path));
    return {
      path: this.tree.absolute(entry.path),
      offset,
      size: entry.size,
      sha256: entry.sha256,
      mode: restoredFileMode(entry),
      mtime: secondsOf(entry.mtimeNs),
    };
  }

  private countFetched(entries: readonly FileEntry[], files: readonly FetchedFile[]): void {
    entries.forEach((entry, i) => {
      const file = files[i];
      if (!file) throw new Error(`the fetch worker reported ${files.length} of ${entries.length} files`);
      this.io.note(file.ms, entry.size);
      if (file.written !== entry.size || file.sha256 !== entry.sha256)
        throw this.mismatch(entry, file.sha256, file.written);
      this.countVerified(entry);
    });
  }

  /** A fetch worker's failure as the error the rest of the engine knows (the signed URL never in it). */
  private fetchFailure(run: Pick<Run, 'key' | 'start' | 'end'>, error: unknown): Error {
    if (!(error instanceof FetchError)) return error as Error;
    const what = `${run.key} (bytes ${run.start}-${run.end - 1})`;
    switch (error.kind) {
      case 'not-found':
        return new ObjectNotFoundError(run.key);
      case 'short':
        return new VerificationError(
          `${run.key}: ${error.message}; the ${run.key.startsWith('objects/packs/') ? 'pack' : 'object'} is shorter than the index says`,
          { object: run.key },
        );
      case 'unsafe':
        return new UnsafeEntryError(`refused to restore ${JSON.stringify(error.path)}: ${error.message}`);
      case 'io':
        return Object.assign(new Error(`writing the files of ${what}: ${error.message}`), {
          code: error.code,
        });
      default: {
        // As the SDK's own errors after its retries: the shard fails and the report says why.
        const reason = error.status ? `HTTP ${error.status}` : (error.code ?? 'network error');
        return new Error(`reading ${what} from the store failed (${reason}): ${error.message}`, {
          cause: error,
        });
      }
    }
  }

  /** The worker thread (undefined if none could be started). */
  private finishWorker(): FinishWorker | undefined {
    if (this.worker === undefined) {
      try {
        this.worker = new FinishWorker(this.regions.memory as SharedArrayBuffer);
      } catch (error) {
        this.rt.logger.warn('files restore: no worker thread, files are finished on the main thread', {
          error: (error as Error).message,
        });
        this.worker = false;
      }
    }
    return this.worker || undefined;
  }

  /** Writes an assembled file, checks its sha256, then sets its mode and mtime and closes it. */
  private async finishAssembled(entry: FileEntry, fd: number, region: Buffer): Promise<void> {
    const worker = this.finishWorker();
    let sha256: string;
    if (worker && this.io.isSynchronous) {
      // On the worker thread: written, hashed where it lies, closed with its mode and mtime only if it matched.
      try {
        const outcome = await worker.finish({
          fd,
          bytes: region,
          mode: restoredFileMode(entry),
          mtime: secondsOf(entry.mtimeNs),
          sha256: entry.sha256,
        });
        this.io.note(outcome.ms, region.length);
        sha256 = outcome.sha256;
      } finally {
        this.regions.give(region);
      }
      if (sha256 !== entry.sha256) throw this.mismatch(entry, sha256);
      this.countVerified(entry);
      return;
    }
    try {
      // Asynchronous file calls (EFS): the hash on the worker while the write is in flight.
      const hashing = worker ? worker.hash(region) : Promise.resolve(sha256Hex(region));
      hashing.catch(() => undefined);
      await fsx.writeAll(fd, region, null, this.io);
      sha256 = await hashing;
    } catch (error) {
      await this.io.close(fd).catch(() => undefined);
      throw error;
    } finally {
      this.regions.give(region);
    }
    if (sha256 !== entry.sha256) {
      await this.io.close(fd).catch(() => undefined);
      throw this.mismatch(entry, sha256);
    }
    await this.closeVerified(entry, fd);
  }

  private mismatch(entry: FileEntry, sha256: string, written = entry.size): VerificationError {
    return new VerificationError(
      `${entry.path}: the restored bytes (${written} bytes, sha256 ${sha256}) do not match the index (${entry.size} bytes, sha256 ${entry.sha256}): the stored copy is damaged`,
      { path: entry.path },
    );
  }
}
