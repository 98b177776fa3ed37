import type { BigIntStats, Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as z from 'zod';
import { CorruptBackupError, describeIssues } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { type ContentStore, jsonBody, readJson } from '#store/content-store.ts';
import { type BackupPlan, readBackupPlan, walkSources } from './backup-plan.ts';
import { type CatalogLine, CatalogLookup, catalogBloomRefSchema, writeContentList } from './catalog.ts';
import {
  type Chunk,
  chunkedLocation,
  EMPTY_SHA256,
  PackWriter,
  ReadArena,
  readChunks,
  readSmallFile,
  sha256Hex,
  storeChunk,
  UploadBuffers,
} from './content.ts';
import { asPreviousIndexError, ContentChangedError, PreviousIndexError } from './errors.ts';
import { copyShardEventSchema, type ShardItem, shardRange } from './events.ts';
import { FileCheckpoints, savableSha256 } from './file-checkpoints.ts';
import * as fsx from './fsx.ts';
import {
  type DataLocation,
  type FileEntry,
  type IndexEntry,
  type PartLine,
  partRefSchema,
  readIndex,
  SUPPORTED_ENCODINGS,
} from './index-format.ts';
import { JsonLinesFile } from './jsonl.ts';
import { filesKeys, OBJECT_KEY_PATTERN } from './keys.ts';
import { isAppendOnly } from './liferay-rules.ts';
import { Semaphore } from './limit.ts';
import type { PathRange } from './paths.ts';
import { NOT_READ_YET, PreviousEntries, partsInRange, readFromOfSet } from './previous.ts';
import { readJsonIfPresent } from './rounds.ts';
import { type FilesComponentName, type FilesSettings, filesSettings } from './settings.ts';
import { type WalkedEntry, walkTreeBatches } from './walk.ts';

const count = z.number().int().nonnegative();

const packCheckpointSchema = z.object({
  key: z.string().regex(OBJECT_KEY_PATTERN),
  size: count,
  files: z.array(z.tuple([z.string().regex(/^[0-9a-f]{64}$/), count, count])),
});

export const shardStatsSchema = z.strictObject({
  entries: count,
  files: count,
  dirs: count,
  symlinks: count,
  /** Bytes of all files of the range. */
  bytes: count,
  /** Files that failed the quick check and were read (racily clean ones among them only when their content had changed). */
  changedFiles: count,
  /**
   * Racily clean files: they passed the quick check, but changed too close to the previous set's
   * reads for their times to prove it; read again, their content was the recorded one. Absent in
   * a result of an earlier version.
   */
  recheckedFiles: count.default(0),
  hashedBytes: count,
  /** Files whose content was uploaded (into a pack or as a blob) by this shard. */
  uploadedFiles: count,
  uploadedBytes: count,
  packs: count,
  blobs: count,
  /** Changed files whose content was found already stored (earlier set, or elsewhere in this shard). */
  dedupedFiles: count,
  catalogLookups: count,
  catalogPartitionsFetched: count,
  milliseconds: count,
});
export type ShardStats = z.infer<typeof shardStatsSchema>;

/** work/<id>/files/<component>/shards/<shard>/result.json: written last, it marks the shard done. */
export const shardResultSchema = z.strictObject({
  shardId: z.string(),
  after: z.string().optional(),
  through: z.string().optional(),
  part: partRefSchema.optional(),
  content: z
    .strictObject({
      key: z.string(),
      size: count,
      sha256: z.string(),
      entries: count,
      /** The Bloom filter of the list's hashes, sized for the list: the set's own when the list is its only one. */
      bloom: catalogBloomRefSchema.optional(),
    })
    .optional(),
  /** Set when the shard stopped at its time budget: the next round continues after this path. */
  resumeAfter: z.string().optional(),
  stats: shardStatsSchema,
  warnings: z.array(z.string()),
  finishedAt: z.iso.datetime({ offset: true }),
});
export type ShardResult = z.infer<typeof shardResultSchema>;

export async function readShardResult(store: ContentStore, key: string): Promise<ShardResult | undefined> {
  const raw = await readJsonIfPresent(store, key);
  if (raw === undefined) return undefined;
  const parsed = shardResultSchema.safeParse(raw);
  if (!parsed.success)
    throw new CorruptBackupError(
      `${key} is not a valid shard result: ${describeIssues(parsed.error.issues)}`,
    );
  return parsed.data;
}

/**
 * One process runs one shard at a time. A Lambda container runs one anyway; locally the
 * interpreter starts Map iterations side by side in one process, and each shard has its own memory
 * budget (upload buffers, the read ring, its content list): two shards of a 114,000-file tree at
 * once peaked at 387 MB. One thread does the work either way, so running them in turn costs
 * little (the app server's small shard waits for the Liferay Home's, or the other way round).
 */
const SHARDS_PER_PROCESS = new Semaphore(1);
/** Small files held in memory at once per shard (read, hashed, appended to a pack). */
const SMALL_FILE_BYTES_IN_FLIGHT = 8 * 1024 * 1024;
/** Entries processed ahead of the one being written to the part (ordered output window). */
const WINDOW = 512;
/** Distinct contents a shard remembers having stored, to store a duplicate once. */
const STORED_MEMORY = 200_000;
const MAX_WARNINGS = 200;
const CHANGED_FILE_ATTEMPTS = 3;

/**
 * Racily clean files (git's "racy git", Documentation/technical/racy-git.txt): a file rewritten
 * at the same size within the filesystem's timestamp tick after the previous set read it keeps
 * the size, times and inode that set recorded, and the quick check would trust the old content
 * in every set after. So a recorded mtime or ctime at or after this long before the previous set
 * began reading (PreviousIndex.readFrom) proves nothing: the file is read again. Such a file can
 * hide a change only if its time is later than (the read, on the file server's clock) minus
 * one tick; the bound is on the reader's clock. 3 s covers the coarsest common tick (FAT and SMB
 * servers: 2 s; EFS does not document its granularity, NFS carries nanoseconds) plus a file
 * server clock up to 1 s behind the Lambda's (NFS times are set by the server; both run on
 * synchronised AWS time). The cost is one more read of each file changed in the 3 s before the
 * previous set began or while it ran; its content is then found stored (nothing is uploaded).
 */
export const RACY_MARGIN_MS = 3000;

/** A processed entry: a new one, or the previous line when nothing about the entry changed. */
type Processed = IndexEntry | PartLine | undefined | typeof DEFERRED;

/**
 * A large file whose read would have begun after the shard's time budget: left, with everything
 * after it, to the next round. The window holds up to WINDOW entries queued at once, large files
 * among them, read one at a time: reading them all after the budget (gigabytes, over an EFS short
 * of throughput) could take the invocation past Lambda's 15 minutes, and every retry with it.
 */
const DEFERRED = Symbol('deferred to the next round');
type TalliedStat = 'changedFiles' | 'recheckedFiles' | 'uploadedFiles' | 'dedupedFiles';

export interface CopyShardOutput {
  readonly shardId: string;
  readonly entries: number;
  readonly uploadedBytes: number;
  readonly resumeAfter?: string;
}

/** CopyShard: walks its range, writes its index part and content list, stores new content. */
export async function copyShard(event: unknown, rt: Runtime): Promise<CopyShardOutput> {
  const { backup, component, shard } = parseInput(copyShardEventSchema, event, 'files copy-shard input');
  const settings = filesSettings(rt, component);
  return SHARDS_PER_PROCESS.run(async () => {
    // Run again after it finished (its answer lost): the result written is the shard's answer. A
    // second walk would write its part over the one that result records (a tree that changed
    // meanwhile gives other bytes), and if it then died before its own result, Finalize would
    // build the index from the first result and a part that no longer matches its digest.
    const done = await finishedResult(rt, backup.backupId, component, shard);
    if (done) return summaryOf(done);
    const plan = await readBackupPlan(rt.store, filesKeys.plan(backup.backupId, component));
    let result: ShardResult;
    try {
      result = await new ShardCopier(rt, settings, plan, component, shard).run();
    } catch (error) {
      // One damaged object of the previous copy must not fail this backup, nor every one after it
      // (`latest` would stay on that copy): the shard runs again without it. Its packs already
      // stored are reused (their checkpoints); every file it covers is read and hashed again.
      if (!(error instanceof PreviousIndexError) || !plan.previous) throw error;
      const why = `the index of the earlier set ${plan.previous.backupId} could not be read for shard ${shard.id} (${error.message}); every file of that shard was read again`;
      rt.logger.warn(why, { component });
      const { previous: _, ...alone } = plan;
      result = await new ShardCopier(rt, settings, alone, component, shard, [why]).run();
    }
    return summaryOf(result);
  });
}

function summaryOf(result: ShardResult): CopyShardOutput {
  return {
    shardId: result.shardId,
    entries: result.stats.entries,
    uploadedBytes: result.stats.uploadedBytes,
    ...(result.resumeAfter !== undefined ? { resumeAfter: result.resumeAfter } : {}),
  };
}

/** The result an earlier attempt of this shard wrote for the same range, if any (one that cannot be read is done again). */
async function finishedResult(
  rt: Runtime,
  backupId: string,
  component: FilesComponentName,
  shard: ShardItem,
): Promise<ShardResult | undefined> {
  let result: ShardResult | undefined;
  try {
    result = await readShardResult(rt.store, filesKeys.shardResult(backupId, component, shard.id));
  } catch (error) {
    if (error instanceof CorruptBackupError) return undefined;
    throw error;
  }
  const range = shardRange(shard);
  if (
    !result ||
    result.shardId !== shard.id ||
    result.after !== range.after ||
    result.through !== range.through
  )
    return undefined;
  return result;
}

/** Exact times and inode of an entry, as the index records them (nanoseconds as decimal text). */
interface Times {
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly ino: string;
}

function exactTimes(stats: BigIntStats): Times {
  return { mtimeNs: stats.mtimeNs.toString(), ctimeNs: stats.ctimeNs.toString(), ino: stats.ino.toString() };
}

/**
 * Milliseconds from recorded nanoseconds, computed exactly as Node.js computes Stats.mtimeMs from
 * the kernel's seconds and nanoseconds: the walk uses the cheaper number stats (half the cost of
 * bigint stats per file), and an unchanged entry compares equal, to the last bit.
 */
export function msFromNs(ns: string): number {
  // Decimal text of a non-negative count: its seconds and nanoseconds are the digits before and
  // after the last nine, each exact as a number (a BigInt per entry cost 10-20 ms per backup).
  if (ns.length > 9 && ns.length < 25 && ns.charCodeAt(0) !== 0x2d)
    return Number(ns.slice(0, -9)) * 1000 + Number(ns.slice(-9)) / 1_000_000;
  const value = BigInt(ns);
  const seconds = value / 1_000_000_000n;
  const nanos = value % 1_000_000_000n;
  return Number(seconds) * 1000 + Number(nanos) / 1_000_000;
}

/** The quick check: same mtime, ctime and inode as recorded (where recorded). */
function sameTimes(previous: IndexEntry, stats: Stats): boolean {
  return (
    msFromNs(previous.mtimeNs) === stats.mtimeMs &&
    (previous.ctimeNs === undefined || msFromNs(previous.ctimeNs) === stats.ctimeMs) &&
    (previous.ino === undefined || Number(previous.ino) === stats.ino)
  );
}

function recordedTimes(previous: IndexEntry): Times | undefined {
  if (previous.ctimeNs === undefined || previous.ino === undefined) return undefined;
  return { mtimeNs: previous.mtimeNs, ctimeNs: previous.ctimeNs, ino: previous.ino };
}

/** The quick check of a file: size and times unchanged, content recorded in a readable form. */
function isUnchanged(previous: FileEntry, stats: Stats): boolean {
  return (
    previous.size === stats.size &&
    sameTimes(previous, stats) &&
    (previous.size === 0 || previous.data !== undefined) &&
    (previous.encoding === undefined || SUPPORTED_ENCODINGS.has(previous.encoding))
  );
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

class ShardCopier {
  private readonly range: PathRange;
  private readonly backupId: string;
  private readonly stats: ShardStats = {
    entries: 0,
    files: 0,
    dirs: 0,
    symlinks: 0,
    bytes: 0,
    changedFiles: 0,
    recheckedFiles: 0,
    hashedBytes: 0,
    uploadedFiles: 0,
    uploadedBytes: 0,
    packs: 0,
    blobs: 0,
    dedupedFiles: 0,
    catalogLookups: 0,
    catalogPartitionsFetched: 0,
    milliseconds: 0,
  };
  private warningsDropped = 0;
  /** Content this shard stored (or is storing), by sha256. */
  private readonly stored = new Map<string, Promise<DataLocation>>();
  private readonly readArena = new ReadArena(SMALL_FILE_BYTES_IN_FLIGHT);
  private readonly fsSlots: Semaphore;
  private readonly largeSlot = new Semaphore(1);
  private readonly fileCheckpoints: FileCheckpoints;
  /**
   * What each entry still in the window added to the file counts, undone if it is cut off (deferred
   * itself, or behind a deferred one): the round that reads it counts it.
   */
  private readonly tallies = new Map<string, Partial<Record<TalliedStat, number>>>();
  /** Packs and chunks on their way to the store (what bounds memory and uploads in flight). */
  private readonly uploadBuffers: UploadBuffers;
  /** Chunks this shard stored or found stored, by sha256 (no second HEAD for them). */
  private readonly chunks = new Set<string>();
  private catalog: CatalogLookup = CatalogLookup.empty();
  /** Synchronous file reads while they are fast (a local disk), asynchronous once not (EFS). */
  private readonly io = new fsx.AdaptiveIo();
  private packs!: PackWriter;
  private lastProgress = 0;
  /** When this invocation stops taking new work (its time budget). */
  private deadline = Number.POSITIVE_INFINITY;
  /** The first entry this invocation queued: never deferred, so that every round makes progress. */
  private firstQueued: string | undefined;
  /** A recorded mtime or ctime (ms) from this on does not prove a file unchanged (RACY_MARGIN_MS). */
  private racyFrom = Number.POSITIVE_INFINITY;

  constructor(
    private readonly rt: Runtime,
    private readonly settings: FilesSettings,
    private readonly plan: BackupPlan,
    private readonly component: FilesComponentName,
    private readonly shard: ShardItem,
    /** Said before anything this shard finds (why it runs without the previous copy). */
    private readonly warnings: string[] = [],
  ) {
    this.range = shardRange(shard);
    this.backupId = plan.backupId;
    this.fsSlots = new Semaphore(settings.fsConcurrency);
    this.fileCheckpoints = new FileCheckpoints(rt.store, plan.backupId, component, rt.logger);
    // storeConcurrency uploads in flight plus the pack being filled (at least two: one may be filling while a chunk uploads).
    this.uploadBuffers = new UploadBuffers(
      settings.storeConcurrency + 1,
      Math.max(settings.packBytes, settings.chunkBytes),
    );
  }

  private warn(message: string): void {
    if (this.warnings.length < MAX_WARNINGS) this.warnings.push(message);
    else this.warningsDropped += 1;
  }

  async run(): Promise<ShardResult> {
    const started = Date.now();
    const deadline = started + this.settings.shard.timeBudgetSeconds * 1000;
    this.deadline = deadline;
    const { store } = this.rt;
    // The previous index and this shard's earlier packs, if any, side by side (two requests; a
    // third, the previous manifest, for a plan of an earlier version).
    const { previous: previousRef } = this.plan;
    const [previousIndex, readFrom] = await Promise.all([
      previousRef
        ? readIndex(store, previousRef.index.key, previousRef.index).catch((error: unknown) => {
            throw asPreviousIndexError(error);
          })
        : Promise.resolve(undefined),
      // A plan of an earlier version does not say when the previous set began reading; its
      // manifest does. Not the index's time: that is when its last shard ended, hours after a
      // long first backup read its first files, which a rewrite in their tick would then hide.
      previousRef && previousRef.readFrom === undefined
        ? readFromOfSet(store, previousRef.backupId, this.component).catch((error: unknown) => {
            throw asPreviousIndexError(error);
          })
        : Promise.resolve(previousRef?.readFrom),
      this.loadCheckpoints(),
    ]);
    const previous = new PreviousEntries(store, previousIndex ? partsInRange(previousIndex, this.range) : []);
    if (previousIndex && readFrom !== undefined) this.racyFrom = Date.parse(readFrom) - RACY_MARGIN_MS;
    this.catalog = await CatalogLookup.open(store, previousIndex?.catalog);
    this.packs = new PackWriter({
      store,
      targetBytes: this.settings.packBytes,
      buffers: this.uploadBuffers,
      checkpointKey: (packId) =>
        filesKeys.shardPackCheckpoint(this.backupId, this.component, this.shard.id, packId),
      onStored: () => undefined,
    });
    const part = await JsonLinesFile.create(this.rt.scratchDir, `part-${this.shard.id}`);
    const content: CatalogLine[] = [];
    let firstPath: string | undefined;
    let lastPath: string | undefined;
    let resumeAfter: string | undefined;
    let walkedToEnd = false;
    let packsStored: Promise<void> = Promise.resolve();

    // Entries in walk order: an unchanged one is ready at once (often its previous line, as it
    // was), a changed one is a promise while its content is read and stored.
    const window: Array<Processed | Promise<Processed>> = [];
    /** The paths of the window's entries, in the same order. */
    const windowPaths: string[] = [];
    /** The path of the last entry taken from the window (written, or gone since the walk). */
    let lastTaken: string | undefined;
    /** Set once an entry was deferred: it and everything after it belong to the next round. */
    let deferred = false;
    const writeHead = async () => {
      const head = window.shift();
      const path = windowPaths.shift();
      if (deferred) {
        // Beyond the cut: waited for (nothing left running), never written; the next round counts it.
        if (head instanceof Promise) await head.catch(() => undefined);
        this.untally(path);
        return;
      }
      const item = head instanceof Promise ? await head : head;
      if (item === DEFERRED) {
        this.untally(path);
        deferred = true;
        // Before the first entry of the range when that is the file stopped in the middle ('' sorts first).
        resumeAfter = lastTaken ?? this.range.after ?? '';
        walkedToEnd = false;
        return;
      }
      lastTaken = path;
      if (path !== undefined) this.tallies.delete(path);
      if (!item) return;
      let entry: IndexEntry;
      let full: boolean;
      if ('entry' in item) {
        entry = item.entry;
        full = part.addLine(item.text);
      } else {
        entry = item;
        full = part.add(item);
      }
      if (full) await part.flush();
      firstPath ??= entry.path;
      lastPath = entry.path;
      this.count(entry);
      if (entry.type === 'file' && entry.data) content.push([entry.sha256, entry.data]);
    };

    try {
      let lastQueued: string | undefined;
      const walk = walkTreeBatches({
        sources: walkSources(this.plan),
        range: this.range,
        concurrency: this.settings.fsConcurrency,
        onWarning: (message) => this.warn(message),
      });
      walkedToEnd = true;
      outer: for await (const batch of walk) {
        for (const walked of batch) {
          if (lastQueued !== undefined && Date.now() >= deadline) {
            // Out of time: finish what is queued, hand the rest of the range to the next round.
            resumeAfter = lastQueued;
            walkedToEnd = false;
            break outer;
          }
          let before = previous.findSync(walked.path);
          if (before === NOT_READ_YET) before = await previous.find(walked.path);
          this.firstQueued ??= walked.path;
          const processing = this.process(walked, before);
          if (processing instanceof Promise) processing.catch(() => undefined);
          window.push(processing);
          windowPaths.push(walked.path);
          lastQueued = walked.path;
          // A round that begins with a file whose read may stop (one that goes on with it, most
          // often): nothing is read ahead behind it, or every round it takes would read, pack and
          // upload again what the window holds behind it. Behind such a file met later in a round
          // the window reads ahead as usual (its reads overlap the large one's); if that read stops,
          // those files are read once more by the next round, once per such file.
          if (processing instanceof Promise && walked.path === this.firstQueued && this.mayStop(walked))
            while (window.length > 0) await writeHead();
          while (window.length >= WINDOW) await writeHead();
          if (deferred) break outer;
        }
        this.reportProgress();
      }
      while (window.length > 0) await writeHead();
      // The part and the content list are stored while the last pack uploads; the shard's result,
      // which is what makes them count (Finalize reads nothing of a shard without one), is
      // written only once every pack they reference is stored. A shard that fails in between
      // leaves a part that its next attempt writes again.
      packsStored = this.packs.finish();
      packsStored.catch(() => undefined);
      if (walkedToEnd) await previous.close();
    } catch (error) {
      await this.packs.abandon();
      await Promise.allSettled(window);
      await part.discard();
      throw error;
    }

    const partKey = filesKeys.part(this.backupId, this.component, this.shard.id);
    const hasPart = part.lines > 0 && firstPath !== undefined && lastPath !== undefined;
    const stored = await Promise.allSettled([
      hasPart ? part.upload(store, partKey) : part.discard().then(() => undefined),
      this.writeContentList(content),
      packsStored,
    ] as const);
    // The packs' failure first when several failed (the content is what the shard is for; the
    // others often only lost their connection to the same store meanwhile).
    const failed = [stored[2], stored[0], stored[1]].find((outcome) => outcome.status === 'rejected');
    if (failed) {
      await this.packs.abandon();
      await part.discard();
      throw failed.reason;
    }
    const digest = stored[0].status === 'fulfilled' ? stored[0].value : undefined;
    const contentRef = stored[1].status === 'fulfilled' ? stored[1].value : undefined;
    let partRef: ShardResult['part'];
    if (digest && firstPath !== undefined && lastPath !== undefined) {
      partRef = {
        key: partKey,
        ...(this.range.after !== undefined ? { after: this.range.after } : {}),
        ...((resumeAfter ?? this.range.through) !== undefined
          ? { through: resumeAfter ?? this.range.through }
          : {}),
        firstPath,
        lastPath,
        entries: this.stats.entries,
        files: this.stats.files,
        bytes: this.stats.bytes,
        ...digest,
      };
    }
    if (this.warningsDropped > 0) this.warnings.push(`... and ${this.warningsDropped} more warnings`);
    this.stats.packs = this.packs.packs;
    this.stats.catalogLookups = this.catalog.stats.lookups;
    this.stats.catalogPartitionsFetched = this.catalog.stats.partitionsFetched;
    this.stats.milliseconds = Date.now() - started;
    const result: ShardResult = {
      shardId: this.shard.id,
      ...(this.range.after !== undefined ? { after: this.range.after } : {}),
      ...(this.range.through !== undefined ? { through: this.range.through } : {}),
      ...(partRef ? { part: partRef } : {}),
      ...(contentRef ? { content: contentRef } : {}),
      ...(resumeAfter !== undefined ? { resumeAfter } : {}),
      stats: this.stats,
      warnings: this.warnings,
      finishedAt: this.rt.now().toISOString(),
    };
    await store.put(filesKeys.shardResult(this.backupId, this.component, this.shard.id), jsonBody(result), {
      contentType: 'application/json',
    });
    this.rt.logger.info('files shard copied', {
      component: this.component,
      shard: this.shard.id,
      ...this.stats,
      resumeAfter,
    });
    return result;
  }

  /** Packs a previous attempt of this shard uploaded completely: their content is reused, not uploaded again. */
  private async loadCheckpoints(): Promise<void> {
    const prefix = `${filesKeys.shardPrefix(this.backupId, this.component, this.shard.id)}packs/`;
    for await (const object of this.rt.store.list(prefix)) {
      const parsed = packCheckpointSchema.safeParse(await readJson(this.rt.store, object.key));
      if (!parsed.success) continue;
      const { key, size, files } = parsed.data;
      const stat = await this.rt.store.stat(key);
      if (!stat || stat.size !== size) continue;
      for (const [sha256, offset, length] of files) {
        if (!this.stored.has(sha256)) this.stored.set(sha256, Promise.resolve({ pack: key, offset, length }));
      }
    }
  }

  /** The shard's content list (stored side by side with the last packs: the result comes after both). */
  private async writeContentList(content: CatalogLine[]): Promise<ShardResult['content']> {
    if (content.length === 0) return undefined;
    return writeContentList(this.rt.store, content, {
      key: filesKeys.shardContent(this.backupId, this.component, this.shard.id),
      bloomKey: filesKeys.shardContentBloom(this.backupId, this.component, this.shard.id),
      scratchDir: this.rt.scratchDir,
    });
  }

  private count(entry: IndexEntry): void {
    this.stats.entries += 1;
    if (entry.type === 'file') {
      this.stats.files += 1;
      this.stats.bytes += entry.size;
    } else if (entry.type === 'dir') this.stats.dirs += 1;
    else this.stats.symlinks += 1;
  }

  private reportProgress(): void {
    const now = Date.now();
    if (now - this.lastProgress < 1000) return;
    this.lastProgress = now;
    const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
    this.rt.progress(
      `${this.component} shard ${this.shard.id}: ${this.stats.files} files, ${mib(this.stats.bytes)} MiB; ${this.stats.changedFiles} read, ${mib(this.stats.uploadedBytes)} MiB uploaded`,
    );
  }

  /** Exact times of a folder or link from a bigint lstat (the quick check said it changed). */
  private async exactTimesOf(walked: WalkedEntry): Promise<Times | undefined> {
    try {
      return exactTimes(await this.fsSlots.run(() => fsx.lstatBig(walked.absPath)));
    } catch (error) {
      if (errorCode(error) !== 'ENOENT')
        this.warn(`could not read ${walked.path}: ${errorCode(error) ?? (error as Error).message}`);
      return undefined;
    }
  }

  /**
   * The index entry of a walked entry. What passes the quick check is answered at once, and when
   * nothing about it changed (owner and mode included) as its previous line itself; the rest is
   * a promise (an exact lstat, a read, an upload).
   */
  private process(walked: WalkedEntry, previousLine: PartLine | undefined): Processed | Promise<Processed> {
    const { stats } = walked;
    const previous = previousLine?.entry;
    const recorded =
      previous?.type === walked.type && sameTimes(previous, stats) ? recordedTimes(previous) : undefined;
    const sameOwner = previous !== undefined && previous.uid === stats.uid && previous.gid === stats.gid;
    if (walked.type === 'dir') {
      if (recorded && previous?.type === 'dir' && sameOwner && previous.mode === (stats.mode & 0o7777))
        return previousLine;
      return recorded
        ? this.dirEntry(walked, recorded)
        : this.exactTimesOf(walked).then((times) => times && this.dirEntry(walked, times));
    }
    if (walked.type === 'symlink') {
      // Unchanged times (ctime included): the link was not replaced, its target is the recorded one.
      // Unless they are racy: replaced in the same tick, its inode reused (readlink costs little).
      if (recorded && previous?.type === 'symlink' && !this.isRacy(stats)) {
        if (sameOwner) return previousLine;
        return this.symlinkEntry(walked, recorded, previous.target);
      }
      return this.changedSymlink(walked);
    }
    const before = previous?.type === 'file' ? previous : undefined;
    const unchanged = before !== undefined && recorded !== undefined && isUnchanged(before, stats);
    // An empty file cannot hide a rewrite of the same size.
    const racy = unchanged && stats.size > 0 && this.isRacy(stats);
    if (before && recorded && unchanged && !racy) {
      if (sameOwner && before.mode === (stats.mode & 0o7777)) return previousLine;
      return this.fileEntry(
        walked,
        stats,
        recorded,
        before.size,
        before.sha256,
        before.data,
        before.encoding,
      );
    }
    // A racy file is counted once its content is known: rechecked, or changed after all.
    if (!racy) this.tally(walked.path, 'changedFiles', 1);
    return stats.size < this.settings.blobThresholdBytes
      ? this.smallFile(walked, before, racy)
      : this.largeFile(walked, before, racy);
  }

  /**
   * Times that passed the quick check but are too recent to prove anything (RACY_MARGIN_MS). The
   * walk's times equal the recorded ones here (to the millisecond number the quick check compares).
   */
  private isRacy(stats: Stats): boolean {
    return stats.mtimeMs >= this.racyFrom || stats.ctimeMs >= this.racyFrom;
  }

  /**
   * Counts a racily clean file once read: true (rechecked) when its content is the recorded one,
   * false (a changed file, counted as one) when not. Always false for a file that was not racy.
   */
  private recheckedSame(path: string, racy: boolean, before: FileEntry | undefined, sha256: string): boolean {
    if (!racy) return false;
    if (before?.sha256 === sha256) {
      this.tally(path, 'recheckedFiles', 1);
      return true;
    }
    this.tally(path, 'changedFiles', 1);
    return false;
  }

  private dirEntry(walked: WalkedEntry, times: Times): IndexEntry {
    const { stats } = walked;
    return {
      path: walked.path,
      type: 'dir',
      mode: stats.mode & 0o7777,
      mtimeNs: times.mtimeNs,
      uid: stats.uid,
      gid: stats.gid,
      ino: times.ino,
      ctimeNs: times.ctimeNs,
    };
  }

  private symlinkEntry(walked: WalkedEntry, times: Times, target: string): IndexEntry {
    return {
      path: walked.path,
      type: 'symlink',
      target,
      mtimeNs: times.mtimeNs,
      uid: walked.stats.uid,
      gid: walked.stats.gid,
      ino: times.ino,
      ctimeNs: times.ctimeNs,
    };
  }

  private async changedSymlink(walked: WalkedEntry): Promise<IndexEntry | undefined> {
    const times = await this.exactTimesOf(walked);
    if (!times) return undefined;
    let bytes: Buffer;
    try {
      bytes = await this.fsSlots.run(() => fs.readlink(walked.absPath, { encoding: 'buffer' }));
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') {
        this.warn(`could not read the link ${walked.path}: ${errorCode(error) ?? (error as Error).message}`);
      }
      return undefined;
    }
    // The index holds text: a target that is not valid UTF-8 would be restored pointing elsewhere
    // (its bytes replaced by U+FFFD). Skipped loudly, as the walk skips such names.
    const target = bytes.toString('utf8');
    if (!Buffer.from(target, 'utf8').equals(bytes)) {
      this.warn(`skipped the link ${walked.path}: its target is not valid UTF-8 (${target})`);
      return undefined;
    }
    return this.symlinkEntry(walked, times, target);
  }

  private fileEntry(
    walked: WalkedEntry,
    stats: Stats | BigIntStats,
    times: Times,
    size: number,
    sha256: string,
    data: DataLocation | undefined,
    encoding?: string,
  ): FileEntry {
    return {
      path: walked.path,
      type: 'file',
      mode: Number(stats.mode) & 0o7777,
      size,
      mtimeNs: times.mtimeNs,
      sha256,
      ...(data ? { data } : {}),
      ...(encoding !== undefined ? { encoding } : {}),
      uid: Number(stats.uid),
      gid: Number(stats.gid),
      ino: times.ino,
      ctimeNs: times.ctimeNs,
    };
  }

  /** A failure to read one file: deleted meanwhile (dropped quietly), or unreadable (dropped with a warning). */
  private unreadable(walked: WalkedEntry, error: unknown): undefined {
    const code = errorCode(error);
    if (code === 'ENOENT') return undefined;
    if (
      code === 'ELOOP' ||
      code === 'ENOTFILE' ||
      code === 'EACCES' ||
      code === 'EPERM' ||
      code === 'EISDIR' ||
      // Opening a Unix socket (or a device without a driver) that replaced the file since the walk.
      code === 'ENXIO' ||
      code === 'ENODEV'
    ) {
      this.warn(
        `could not read ${walked.path} (${code === 'ELOOP' ? 'replaced by a link' : code}); it is not in this backup`,
      );
      return undefined;
    }
    throw error;
  }

  /**
   * Content known without asking the store: unchanged bytes of the same path, or this shard's
   * (stored, or being stored or looked up in the previous catalog by an earlier file).
   */
  private knownLocation(
    sha256: string,
    before: FileEntry | undefined,
  ): DataLocation | Promise<DataLocation> | undefined {
    if (
      before &&
      before.sha256 === sha256 &&
      before.data &&
      (before.encoding === undefined || before.encoding === 'identity')
    ) {
      return before.data;
    }
    return this.stored.get(sha256);
  }

  private remember(sha256: string, location: Promise<DataLocation>): void {
    if (this.stored.size < STORED_MEMORY) this.stored.set(sha256, location);
  }

  /**
   * A small file is read whole into the read ring. One that changed meanwhile is looked at again:
   * it is read again at its new size, or, once it reached the blob threshold, chunked as a large
   * file (a pack holds small files only, and the ring must not take a file of any size).
   */
  private async smallFile(
    walked: WalkedEntry,
    before: FileEntry | undefined,
    racy = false,
  ): Promise<FileEntry | undefined | typeof DEFERRED> {
    let size = walked.stats.size;
    for (let attempt = 1; attempt <= CHANGED_FILE_ATTEMPTS; attempt += 1) {
      if (size >= this.settings.blobThresholdBytes) return this.largeFile(walked, before, racy);
      // Its size plus one byte: a file that grew since is noticed (readSmallFile).
      const region = await this.readArena.take(size + 1);
      let read: Awaited<ReturnType<typeof readSmallFile>>;
      try {
        read = await this.fsSlots.run(() =>
          readSmallFile(walked.absPath, region, this.io, isAppendOnly(this.component, walked.path)),
        );
      } catch (error) {
        this.readArena.give(region);
        if (!(error instanceof ContentChangedError)) return this.unreadable(walked, error);
        try {
          size = (await this.fsSlots.run(() => fsx.lstat(walked.absPath))).size;
        } catch (gone) {
          return this.unreadable(walked, gone);
        }
        continue;
      }
      try {
        return await this.storeSmall(walked, before, read, racy);
      } finally {
        // The bytes are in the pack buffer (or were not needed): the region can be reused.
        this.readArena.give(region);
      }
    }
    return this.keptChanging(walked, before);
  }

  /** Hashes a small file's bytes and stores them in a pack unless they are stored already. */
  private async storeSmall(
    walked: WalkedEntry,
    before: FileEntry | undefined,
    read: Awaited<ReturnType<typeof readSmallFile>>,
    racy: boolean,
  ): Promise<FileEntry> {
    const { bytes, stats } = read;
    this.stats.hashedBytes += bytes.length;
    const sha256 = bytes.length === 0 ? EMPTY_SHA256 : sha256Hex(bytes);
    const rechecked = this.recheckedSame(walked.path, racy, before, sha256);
    if (bytes.length === 0)
      return this.fileEntry(walked, stats, exactTimes(stats), 0, EMPTY_SHA256, undefined);
    // A rechecked file's content is found where it was recorded (the same path's data).
    const known = this.knownLocation(sha256, before);
    let location: DataLocation;
    let uploaded = false;
    if (known) location = await known;
    else {
      // Claimed before the first wait: a file of the same content met meanwhile (the same
      // document uploaded twice, read side by side) waits for this one instead of storing it too.
      const locating = this.catalog.find(sha256).then(
        (found) =>
          found ??
          this.packs.add(sha256, bytes).then((added) => {
            uploaded = true;
            return added;
          }),
      );
      this.remember(sha256, locating);
      location = await locating;
    }
    if (uploaded) {
      this.tally(walked.path, 'uploadedFiles', 1);
      this.stats.uploadedBytes += bytes.length;
    } else if (!rechecked) this.tally(walked.path, 'dedupedFiles', 1);
    return this.fileEntry(walked, stats, exactTimes(stats), bytes.length, sha256, location);
  }

  /**
   * A large file is read once, chunk by chunk, into reused buffers; each chunk that is not known
   * to be stored already (the same path's previous chunks, this shard's chunks, or a HEAD on its
   * blob) is uploaded from that buffer while the next chunk is read.
   */
  private async largeFile(
    walked: WalkedEntry,
    before: FileEntry | undefined,
    racy = false,
  ): Promise<FileEntry | undefined | typeof DEFERRED> {
    return this.largeSlot.run(async () => {
      // Its turn came after the budget: the next round reads it (the first entry is always read).
      if (walked.path !== this.firstQueued && Date.now() >= this.deadline) return DEFERRED;
      const known = new Set<string>();
      if (before?.data && 'chunks' in before.data)
        for (const [sha256] of before.data.chunks) known.add(sha256);
      if (before?.data && 'blob' in before.data) known.add(before.sha256);
      const appendOnly = isAppendOnly(this.component, walked.path);
      const resumable = this.mayStop(walked);
      const saved = resumable ? await this.fileCheckpoints.load(walked.path) : undefined;
      let from = saved?.progress;
      for (let attempt = saved?.attempt ?? 1; attempt <= CHANGED_FILE_ATTEMPTS; attempt += 1) {
        const uploads: Promise<void>[] = [];
        let uploadedBytes = 0;
        let uploadedChunks = 0;
        const upload = async (chunk: Chunk, bytes: Buffer, release: () => void) => {
          if (known.has(chunk.sha256) || this.chunks.has(chunk.sha256)) {
            release();
            return;
          }
          const storing = storeChunk(this.rt.store, chunk, bytes, this.plan.full === true)
            .then((uploaded) => {
              if (this.chunks.size < STORED_MEMORY) this.chunks.add(chunk.sha256);
              if (uploaded) {
                uploadedBytes += chunk.size;
                uploadedChunks += 1;
              }
            })
            .finally(release);
          storing.catch(() => undefined);
          uploads.push(storing);
        };
        let read: Awaited<ReturnType<typeof readChunks>>;
        try {
          read = await readChunks(
            walked.absPath,
            this.settings.chunkBytes,
            this.uploadBuffers,
            upload,
            this.io,
            appendOnly,
            resumable
              ? { ...(from ? { from } : {}), hash: savableSha256, stopNow: () => Date.now() >= this.deadline }
              : undefined,
          );
          const failed = (await Promise.allSettled(uploads)).find((outcome) => outcome.status === 'rejected');
          if (failed) throw failed.reason;
        } catch (error) {
          await Promise.allSettled(uploads);
          // Changed: the next attempt reads it from its start.
          from = undefined;
          if (error instanceof ContentChangedError) continue;
          if (errorCode(error) !== undefined && errorCode(error) !== 'ERR_STREAM_PREMATURE_CLOSE') {
            return this.unreadable(walked, error);
          }
          throw error;
        }
        this.stats.hashedBytes += read.bytesRead;
        this.stats.blobs += uploadedChunks;
        this.stats.uploadedBytes += uploadedBytes;
        const uploadedByRun = (from ? (saved?.uploadedChunks ?? 0) : 0) + uploadedChunks;
        if ('stopped' in read) {
          // Out of time in the middle of it: its chunks are stored, the checkpoint says where the
          // next round goes on, and the shard ends before this file, as for a read not begun.
          await this.fileCheckpoints.save(walked.path, {
            progress: read.stopped,
            attempt,
            uploadedChunks: uploadedByRun,
          });
          return DEFERRED;
        }
        // A rechecked file's chunks are all the recorded ones (known): none was uploaded.
        const rechecked = this.recheckedSame(walked.path, racy, before, read.sha256);
        if (read.size === 0)
          return this.fileEntry(walked, read.stats, exactTimes(read.stats), 0, EMPTY_SHA256, undefined);
        if (uploadedByRun > 0) {
          this.tally(walked.path, 'uploadedFiles', 1);
        } else if (!rechecked) {
          this.tally(walked.path, 'dedupedFiles', 1);
        }
        // Chunks are named by their content, so the location is the same wherever the bytes were seen before.
        return this.fileEntry(
          walked,
          read.stats,
          exactTimes(read.stats),
          read.size,
          read.sha256,
          chunkedLocation(read.chunks),
        );
      }
      return this.keptChanging(walked, before);
    });
  }

  private tally(path: string, stat: TalliedStat, n: number): void {
    this.stats[stat] += n;
    const tally = this.tallies.get(path) ?? {};
    tally[stat] = (tally[stat] ?? 0) + n;
    this.tallies.set(path, tally);
  }

  private untally(path: string | undefined): void {
    if (path === undefined) return;
    const tally = this.tallies.get(path);
    if (!tally) return;
    for (const [stat, n] of Object.entries(tally)) this.stats[stat as TalliedStat] -= n;
    this.tallies.delete(path);
  }

  /**
   * Whether the read of this file may stop at the budget and go on in the next round. Not a log
   * (append-only): one that grew since an earlier invocation read its start would be read again
   * from its first byte by each round, and given up after three; read whole, its growth during the
   * read is accepted (onlyAppended).
   */
  private mayStop(walked: WalkedEntry): boolean {
    return (
      walked.stats.size >= this.settings.resumableFileBytes && !isAppendOnly(this.component, walked.path)
    );
  }

  /** Rewritten faster than it can be read: keep the last consistent copy, if there is one. */
  private keptChanging(walked: WalkedEntry, before: FileEntry | undefined): FileEntry | undefined {
    if (before?.data) {
      this.warn(
        `${walked.path} kept changing while it was read (${CHANGED_FILE_ATTEMPTS} times); the backup keeps its previous version`,
      );
      return before;
    }
    this.warn(
      `${walked.path} kept changing while it was read (${CHANGED_FILE_ATTEMPTS} times); it is not in this backup`,
    );
    return undefined;
  }
}
