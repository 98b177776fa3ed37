import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import * as z from 'zod';
import { mapLimit } from '#components/files/limit.ts';
import { componentModule } from '#components/registry.ts';
import { CorruptBackupError, LiferayBackupError, ObjectNotFoundError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { type ListedObject, readJson, type SeenObject } from '#store/content-store.ts';
import { isRunId, runIdTime } from './backup-id.ts';
import { backupIdSchema, readManifest } from './manifest.ts';
import {
  earlierOutcome,
  RETENTION_WORKFLOW_HOURS,
  readDeletionMarker,
  retentionKeys,
  retentionSettings,
  SWEPT_RECORD_MAX_BYTES,
  sweptOutcomeSchema,
} from './retention.ts';

/**
 * Mark and sweep of the content shared by sets (`objects/`), with bounded memory and safe against
 * a backup running at the same time:
 * - mark (one task per kept set, and per set planned for deletion): every key the set's components
 *   reference is written, grouped by sweep prefix, to `work/<run>/retention/marks/<set>/<index>.txt.gz`,
 *   then a `done` marker. A set DeleteSet deleted this run marks nothing; one it postponed (a restore
 *   reading it, a snapshot of it still running) is still there and restorable, and is marked like
 *   any kept set, unless an earlier attempt or run had begun deleting it and its parts are gone
 *   (restores refuse it; the next run finishes it);
 * - sweep (one task per prefix): refuses to run unless every set of the list is marked; deletes only
 *   objects no remaining set references AND older than the grace period (counted from the plan), so
 *   objects a running backup has just written (and no set references yet) are never taken. A
 *   running backup references older content only through its previous set, the latest complete
 *   one, which is always kept.
 */

/** HEAD requests in flight when a batch of candidates is checked again before deletion. */
const RECHECK_CONCURRENCY = 16;

/** Older versions of one object deleted in one run (the lifecycle expires noncurrent ones anyway). */
const MAX_VERSION_ROUNDS = 10;

export class GarbageCollectionError extends LiferayBackupError {
  constructor(message: string) {
    super('GarbageCollectionError', message);
  }
}

const gcKeys = {
  marks: (runId: string, backupId: string) => `${retentionKeys.work(runId)}marks/${backupId}/`,
  mark: (runId: string, backupId: string, index: number) =>
    `${retentionKeys.work(runId)}marks/${backupId}/${String(index).padStart(4, '0')}.txt.gz`,
  markDone: (runId: string, backupId: string) => `${retentionKeys.work(runId)}marks/${backupId}/done.json`,
};

/** Finds a key's sweep prefix by its possible lengths (a handful), not by scanning every prefix. */
export function prefixIndexer(prefixes: readonly string[]): (key: string) => number | undefined {
  const byPrefix = new Map(prefixes.map((prefix, index) => [prefix, index]));
  const lengths = [...new Set(prefixes.map((prefix) => prefix.length))].sort((a, b) => b - a);
  return (key) => {
    for (const length of lengths) {
      const index = byPrefix.get(key.slice(0, length));
      if (index !== undefined) return index;
    }
    return undefined;
  };
}

const HOUR = 3_600_000;

/**
 * When the run was planned, from its id (newRunId: the plan's start, to the second). The grace
 * period is counted from then, not from the sweep: the sweep comes after Delete and Mark, hours
 * later, and content that no kept set references may belong to a backup that was running when the
 * plan was made (kept "still running", not marked) or that began since (in no list at all), and
 * that may have committed meanwhile. Such content was written or found young (isReusable) no
 * earlier than `backupTimeoutHours` + 1 before the plan, which the configuration keeps within
 * `graceHours`; counted from the sweep, the margin shrank by however long Delete and Mark took.
 * An id whose time is not within the workflow's time-out before now (a tool's or a test's, or a
 * clock that moved) says nothing of when the run was planned: then the sweep's own time counts.
 */
function plannedAt(runId: string, now: number): number {
  if (!isRunId(runId, 'g')) return now;
  const at = runIdTime(runId).getTime();
  if (Number.isNaN(at) || at > now || at < now - (RETENTION_WORKFLOW_HOURS + 1) * HOUR) return now;
  return at;
}

const markInputSchema = z.object({ runId: z.string(), backupId: backupIdSchema });
/** The Sweep items Plan wrote (retentionKeys.prefixes): each prefix with the index its marks go under. */
const sweepItemsSchema = z.array(z.object({ prefix: z.string(), index: z.number().int().min(0) }));

export async function markSet(
  event: unknown,
  rt: Runtime,
): Promise<{ backupId: string; references: number }> {
  const { runId, backupId } = parseInput(markInputSchema, event, 'mark-set input');
  // Deleted this run (DeleteSet records it after the manifest is gone): it references nothing now.
  // Any other set of the list, a postponed one included, is marked from its manifest, and one
  // without a manifest fails the mark, so that nothing is collected on a guess.
  if (await rt.store.stat(retentionKeys.deleted(runId, backupId))) {
    await rt.store.put(gcKeys.markDone(runId, backupId), JSON.stringify({ references: 0, deleted: true }));
    return { backupId, references: 0 };
  }
  const manifest = await readManifest(rt.store, backupId);
  // Filed under the indexes Plan gave the Sweep items, never under this code's own numbering: a
  // deploy between Plan and Mark that adds or removes a sweep prefix shifts that numbering, and a
  // Sweep would then read another prefix's references and collect what kept sets reference.
  const planned = sweepItemsSchema.parse(await readJson(rt.store, retentionKeys.prefixes(runId)));
  const plannedIndexOf = prefixIndexer(planned.map((item) => item.prefix));
  const indexOf = (key: string) => {
    const position = plannedIndexOf(key);
    return position === undefined ? undefined : planned[position]?.index;
  };
  const dir = await fs.mkdtemp(path.join(rt.scratchDir, `gc-mark-${backupId}-`));
  const writers = new Map<number, WriteStream>();
  let references = 0;
  const markReferences = async (): Promise<void> => {
    for (const result of Object.values(manifest.results)) {
      if (result.status !== 'complete') continue;
      const hooks = componentModule(result.component)?.retention;
      if (!hooks?.references) continue;
      for await (const key of hooks.references({ backupId, result }, rt)) {
        const index = indexOf(key);
        if (index === undefined) continue; // outside every sweep prefix: never collected anyway
        let writer = writers.get(index);
        if (!writer) {
          writer = createWriteStream(path.join(dir, `${index}.txt`));
          writers.set(index, writer);
        }
        if (!writer.write(`${key}\n`))
          await new Promise<void>((resolve) => writer?.once('drain', () => resolve()));
        references += 1;
      }
    }
    await Promise.all(
      [...writers.values()].map((writer) => new Promise<void>((resolve) => writer.end(() => resolve()))),
    );
    for (const index of writers.keys()) {
      const gzip = createGzip();
      const upload = rt.store.put(gcKeys.mark(runId, backupId, index), gzip);
      await pipeline(createReadStream(path.join(dir, `${index}.txt`)), gzip);
      await upload;
    }
  };
  try {
    try {
      await markReferences();
    } catch (error) {
      // Missing parts read as not found, or (a recorded object checked against its manifest) as corrupt.
      const partGone = error instanceof ObjectNotFoundError || error instanceof CorruptBackupError;
      if (!(partGone && (await postponedAfterPartsWent(rt, runId, backupId)))) throw error;
      // Postponed by DeleteSet although an earlier attempt or run deleted parts of it (its index
      // among them): every restore refuses it, and the next run finishes it. What it referenced
      // through the parts that went cannot be read, and keeps no restorable set whole; failing here
      // would fail every run for as long as the set stays postponed.
      for (const writer of writers.values()) writer.destroy();
      rt.logger.warn('not marking a set whose deletion began: its parts are gone', {
        backupId,
        missing: error.message,
      });
      await rt.store.put(
        gcKeys.markDone(runId, backupId),
        JSON.stringify({ references: 0, deletionBegun: true }),
      );
      return { backupId, references: 0 };
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  await rt.store.put(gcKeys.markDone(runId, backupId), JSON.stringify({ references }));
  return { backupId, references };
}

/**
 * A set this run's DeleteSet postponed while its deletion marker says parts of it are gone
 * (`deleting`: an earlier attempt or run got past its checks): no restore can read it any more.
 */
async function postponedAfterPartsWent(rt: Runtime, runId: string, backupId: string): Promise<boolean> {
  if (!(await rt.store.stat(retentionKeys.postponed(runId, backupId)))) return false;
  return (await readDeletionMarker(rt.store, backupId))?.deleting === true;
}

/** An object a Sweep attempt is deleting, as it saw it (what its retry compares with the store). */
const pendingDeletionSchema = z.object({
  key: z.string(),
  etag: z.string(),
  version: z.string().optional(),
  lastModified: z.iso.datetime({ offset: true }),
  size: z.number().min(0),
  /** An older version that became current when the one seen was deleted: bytes, not an object. */
  olderVersion: z.boolean().optional(),
});
type PendingDeletion = z.infer<typeof pendingDeletionSchema>;

/**
 * What a Sweep item records under retentionKeys.swept: its outcome so far and, while a delete is
 * in flight, what it deletes (up to one batch). Finish reads the outcome alone.
 */
const sweepProgressSchema = sweptOutcomeSchema.extend({
  pending: z.array(pendingDeletionSchema).default([]),
});

/**
 * Of the objects an earlier attempt was deleting when it stopped, those it deleted: gone, or no
 * longer the object it saw. One still there as seen was not deleted: the retry lists it again and
 * counts it when it deletes it. (One written again in the moment between that attempt's record and
 * its delete counts as deleted: the report may then count one object too many, never a batch too few.)
 */
async function goneSinceRecorded(
  rt: Runtime,
  pending: readonly PendingDeletion[],
): Promise<(SeenObject & { olderVersion: boolean })[]> {
  const looks = await mapLimit(pending, RECHECK_CONCURRENCY, async ({ key, olderVersion, ...was }) => {
    const now = await rt.store.stat(key);
    const seen = { ...was, lastModified: new Date(was.lastModified) };
    const unchanged =
      now !== undefined &&
      now.etag === seen.etag &&
      now.version === seen.version &&
      now.lastModified.getTime() === seen.lastModified.getTime();
    return unchanged ? undefined : { key, seen, olderVersion: olderVersion ?? false };
  });
  return looks.filter((object) => object !== undefined);
}

const sweepInputSchema = z.object({
  runId: z.string(),
  prefix: z.string().startsWith('objects/'),
  index: z.number().int().min(0),
});

export async function sweepPrefix(
  event: unknown,
  rt: Runtime,
): Promise<{ prefix: string; referenced: number; deleted: number; bytes: number }> {
  const { runId, prefix, index } = parseInput(sweepInputSchema, event, 'sweep input');
  const kept = z
    .array(z.object({ backupId: backupIdSchema }))
    .parse(await readJson(rt.store, retentionKeys.keepList(runId)));
  // A set DeleteSet postponed stays, restorable, and must be marked whatever the mark list says: a
  // Plan of an earlier version (a deploy between this run's Plan and its DeleteSet) listed only the
  // sets it kept, and the sweep would take what only the postponed set references.
  const marked = new Set(kept.map(({ backupId }) => backupId));
  const postponed = retentionKeys.postponedRecords(runId);
  for await (const object of rt.store.list(postponed)) {
    const backupId = object.key.slice(postponed.length).replace(/\.json$/, '');
    if (!marked.has(backupId) && !(await rt.store.stat(gcKeys.markDone(runId, backupId))))
      throw new GarbageCollectionError(
        `set ${backupId} was kept for the next run but not marked (this run was planned by an earlier version, which did not mark the sets it meant to delete): nothing under ${prefix} is collected; the next retention run plans it again`,
      );
  }
  const referenced = new Set<string>();
  for (const { backupId } of kept) {
    if (!(await rt.store.stat(gcKeys.markDone(runId, backupId)))) {
      throw new GarbageCollectionError(
        `set ${backupId} was not marked: nothing under ${prefix} is collected`,
      );
    }
    let stream: NodeJS.ReadableStream;
    try {
      stream = (await rt.store.get(gcKeys.mark(runId, backupId, index))).pipe(createGunzip());
    } catch (error) {
      if (error instanceof ObjectNotFoundError) continue; // the set references nothing under this prefix
      throw error;
    }
    for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
      if (line) referenced.add(line);
    }
  }
  const now = rt.now().getTime();
  const cutoff = plannedAt(runId, now) - retentionSettings(rt).graceHours * HOUR;
  // What earlier attempts of this item collected: a retry finds it gone, so it is added to, never
  // counted again (the retry's listing no longer holds it) nor replaced by what the retry finds.
  const progressKey = retentionKeys.swept(runId, index);
  const earlier = await earlierOutcome(rt, progressKey, sweepProgressSchema, SWEPT_RECORD_MAX_BYTES);
  let deleted = earlier?.deleted ?? 0;
  let bytes = earlier?.bytes ?? 0;
  let deletedThisAttempt = 0;
  let locked = 0;
  const progress = (pending: PendingDeletion[]) => ({
    prefix,
    referenced: referenced.size,
    deleted,
    bytes,
    // Counted again by a retry (they are still there): the last attempt's count is the run's.
    heldByObjectLock: locked,
    pending,
  });
  /**
   * Deletes the objects as seen, having recorded them first: an attempt may fail after a delete
   * took effect (its answer lost, or the record after it refused) and before it could count them,
   * and its retry then finds them gone. The record lets the retry count what went of them.
   */
  const deleteRecorded = async (objects: readonly SeenObject[], olderVersions: boolean) => {
    if (objects.length === 0) return [];
    const pending = objects.map(({ key, seen }) => ({
      key,
      etag: seen.etag,
      ...(seen.version !== undefined ? { version: seen.version } : {}),
      lastModified: seen.lastModified.toISOString(),
      size: seen.size,
      ...(olderVersions ? { olderVersion: true } : {}),
    }));
    await rt.store.put(progressKey, JSON.stringify(progress(pending)));
    const gone = await rt.store.deleteAsSeen(objects);
    if (!olderVersions) {
      deleted += gone.length;
      deletedThisAttempt += gone.length;
    }
    for (const object of gone) bytes += object.seen.size;
    return gone;
  };
  let batch: ListedObject[] = [];
  /** The object as it is now if it may go: written before `writtenBefore`, and no Object Lock holds it. */
  const lookAgain = async (
    key: string,
    writtenBefore: number,
  ): Promise<SeenObject | 'locked' | undefined> => {
    const seen = await rt.store.stat(key);
    if (!seen || seen.lastModified.getTime() >= writtenBefore) return undefined;
    return seen.lockedUntil && seen.lockedUntil.getTime() > now ? 'locked' : { key, seen };
  };
  const deleteBatch = async () => {
    // A backup may have written an old object again since it was listed (it refreshes content it
    // found in the store rather than trusting it: isReusable), so each is looked at once more, and
    // what is deleted is the object as seen then: one written again between that look and the
    // delete stays (deleteAsSeen). A version Object Lock still holds is left for a later run.
    const looks = await mapLimit(batch, RECHECK_CONCURRENCY, (object) => lookAgain(object.key, cutoff));
    locked += looks.filter((look) => look === 'locked').length;
    const gone = await deleteRecorded(
      looks.filter((look) => typeof look === 'object'),
      false,
    );
    await deleteOlderVersions(gone);
    batch = [];
  };
  /**
   * On a versioned bucket, deleting the current version makes the one before it current again (a
   * backup that found the object old wrote it again: two versions). Versions no younger than the
   * one deleted go too; a younger one was written since, and stays.
   */
  const deleteOlderVersions = async (gone: readonly SeenObject[]) => {
    let resurfaced: readonly SeenObject[] = gone.filter((object) => object.seen.version !== undefined);
    for (let round = 0; resurfaced.length > 0 && round < MAX_VERSION_ROUNDS; round += 1) {
      const older = await mapLimit(resurfaced, RECHECK_CONCURRENCY, ({ key, seen }) =>
        lookAgain(key, seen.lastModified.getTime() + 1),
      );
      resurfaced = await deleteRecorded(
        older.filter(
          (look): look is SeenObject => typeof look === 'object' && look.seen.version !== undefined,
        ),
        true,
      );
    }
  };
  // What an earlier attempt was deleting when it stopped: what went of it is counted, and it goes
  // on where that attempt stopped (with the versions that came back), as it would have.
  const goneEarlier = await goneSinceRecorded(rt, earlier?.pending ?? []);
  for (const { seen, olderVersion } of goneEarlier) {
    if (!olderVersion) deleted += 1;
    bytes += seen.size;
  }
  await deleteOlderVersions(goneEarlier);
  for await (const object of rt.store.list(prefix)) {
    if (referenced.has(object.key) || object.lastModified.getTime() >= cutoff) continue;
    batch.push(object);
    if (batch.length === 1000) await deleteBatch();
  }
  await deleteBatch();
  const { pending: _, ...outcome } = progress([]);
  await rt.store.put(progressKey, JSON.stringify(outcome));
  if (deletedThisAttempt > 0)
    rt.logger.info('collected unreferenced content', { ...outcome, thisAttempt: deletedThisAttempt });
  return outcome;
}
