import { MAX_CHAIN_STEPS, type Manifest, readManifest } from '#backup-set/manifest.ts';
import { CorruptBackupError, ObjectNotFoundError } from '#runtime/errors.ts';
import type { ContentStore } from '#store/content-store.ts';
import { asPreviousIndexError } from './errors.ts';
import { type FileIndex, type PartLine, type PartRef, readIndex, readPartBatches } from './index-format.ts';
import { comparePaths, type PathRange, spanIntersects } from './paths.ts';
import { type FilesComponentName, filesResultDetailsSchema } from './settings.ts';

export interface PreviousIndex {
  readonly backupId: string;
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
  readonly index: FileIndex;
  /**
   * No file of that set was read before this moment (ISO time): what the next backup's quick
   * check measures a recorded time against (copy-shard.ts, RACY_MARGIN_MS). From the set's
   * manifest, not its index, so that every index, old ones included, has one.
   */
  readonly readFrom: string;
}

/**
 * The newest earlier set holding a complete copy of this component: `latest`, or the set before
 * it, and so on (an hourly database-only set moves `latest` without holding any files). Each
 * manifest names the set that was `latest` when it began, so this follows that chain.
 */
export async function findPreviousIndex(
  store: ContentStore,
  component: FilesComponentName,
  latestId: string | undefined,
  onWarning: (message: string) => void,
): Promise<PreviousIndex | undefined> {
  let id = latestId;
  for (let step = 0; id !== undefined && step < MAX_CHAIN_STEPS; step += 1) {
    let manifest: Awaited<ReturnType<typeof readManifest>>;
    try {
      manifest = await readManifest(store, id);
    } catch (error) {
      if (error instanceof ObjectNotFoundError) {
        onWarning(`the earlier backup set ${id} is gone; this backup reads every file again`);
        return undefined;
      }
      // One damaged manifest must not fail every backup after it: this one reads everything, and
      // the next one builds on it (the unreadable set is left for a person: retention reports it).
      if (error instanceof CorruptBackupError) {
        onWarning(
          `the earlier backup set ${id} cannot be read (${error.message}); this backup reads every file again`,
        );
        return undefined;
      }
      throw error;
    }
    const result = manifest.results[component];
    if (result?.status === 'complete') {
      const details = filesResultDetailsSchema.safeParse(result.details);
      if (!details.success) {
        onWarning(
          `the earlier backup set ${id} has no usable file index for ${component}; this backup reads every file again`,
        );
        return undefined;
      }
      const { key, size, sha256 } = details.data.index;
      try {
        const index = await readIndex(store, key, { size, sha256 });
        return { backupId: id, key, size, sha256, index, readFrom: readFromOf(manifest, component) };
      } catch (error) {
        onWarning(
          `the file index of the earlier set ${id} cannot be used (${(error as Error).message}); this backup reads every file again`,
        );
        return undefined;
      }
    }
    id = manifest.previousBackupId;
  }
  return undefined;
}

/**
 * When a set began reading this component's files (PreviousIndex.readFrom): the component's start,
 * which is its Plan's, written before any shard ran; a result without one falls back to the set's
 * start, earlier still (too early a bound only means a few more files read again, never fewer).
 */
function readFromOf(manifest: Manifest, component: FilesComponentName): string {
  return manifest.results[component]?.startedAt ?? manifest.startedAt;
}

/** readFromOf for a set named by its id (one request: its manifest). */
export async function readFromOfSet(
  store: ContentStore,
  backupId: string,
  component: FilesComponentName,
): Promise<string> {
  return readFromOf(await readManifest(store, backupId), component);
}

/** The parts of an index that can hold paths of a range. */
export function partsInRange(index: FileIndex, range: PathRange): PartRef[] {
  return index.parts.filter((part) => spanIntersects(part.firstPath, part.lastPath, range));
}

/** findSync's answer when the entries read so far cannot tell yet (call `find`). */
export const NOT_READ_YET = Symbol('not read yet');

/**
 * The previous index's entries of a range, consumed in path order alongside the walk (a merge
 * join): `find(path)` is called with increasing paths and returns the previous entry for that
 * path, if any, with the text of its line. Only the parts overlapping the range are read, each
 * once, as a stream, a batch of lines at a time; `findSync` answers from the batch in hand.
 */
export class PreviousEntries {
  private readonly batches: AsyncIterator<PartLine[]>;
  private batch: PartLine[] = [];
  private at = 0;
  private done = false;

  constructor(store: ContentStore, parts: readonly PartRef[]) {
    this.batches = PreviousEntries.read(store, parts);
  }

  private static async *read(store: ContentStore, parts: readonly PartRef[]): AsyncGenerator<PartLine[]> {
    for (const part of parts) yield* readPartBatches(store, part);
  }

  private async advance(): Promise<void> {
    let next: IteratorResult<PartLine[]>;
    try {
      next = await this.batches.next();
    } catch (error) {
      throw asPreviousIndexError(error);
    }
    if (next.done) this.done = true;
    else {
      this.batch = next.value;
      this.at = 0;
    }
  }

  /** The previous line for `path`, undefined when there is none, or NOT_READ_YET. */
  findSync(path: string): PartLine | undefined | typeof NOT_READ_YET {
    for (;;) {
      const current = this.batch[this.at];
      if (!current) return this.done ? undefined : NOT_READ_YET;
      const order = comparePaths(current.entry.path, path);
      // Behind the walk: deleted since, or before this shard's range (the walk asks only for paths in it).
      if (order < 0) {
        this.at += 1;
        continue;
      }
      return order === 0 ? current : undefined;
    }
  }

  async find(path: string): Promise<PartLine | undefined> {
    for (;;) {
      const found = this.findSync(path);
      if (found !== NOT_READ_YET) return found;
      await this.advance();
    }
  }

  /** Reads the rest, so that the parts' digests are checked even when the walk ended early. */
  async close(): Promise<void> {
    while (!this.done) await this.advance();
  }
}
