import { readManifest } from '#backup-set/manifest.ts';
import { ObjectNotFoundError } from '#runtime/errors.ts';
import type { ContentStore } from '#store/content-store.ts';
import { type FileIndex, type IndexEntry, type PartRef, readIndex, readPart } from './index-format.ts';
import { comparePaths, inRange, type PathRange, spanIntersects } from './paths.ts';
import { type FilesComponentName, filesResultDetailsSchema } from './settings.ts';

/** How far back along the chain of sets a backup looks for the last complete copy of a component. */
const MAX_CHAIN_STEPS = 200;

export interface PreviousIndex {
  readonly backupId: string;
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
  readonly index: FileIndex;
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
        return { backupId: id, key, size, sha256, index };
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

/** The parts of an index that can hold paths of a range. */
export function partsInRange(index: FileIndex, range: PathRange): PartRef[] {
  return index.parts.filter((part) => spanIntersects(part.firstPath, part.lastPath, range));
}

/**
 * The previous index's entries of a range, consumed in path order alongside the walk (a merge
 * join): `find(path)` is called with increasing paths and returns the previous entry for that
 * path, if any. Only the parts overlapping the range are read, each once, as a stream.
 */
export class PreviousEntries {
  private readonly iterator: AsyncIterator<IndexEntry>;
  private current: IndexEntry | undefined;
  private started = false;
  private done = false;

  constructor(store: ContentStore, parts: readonly PartRef[], range: PathRange) {
    this.iterator = PreviousEntries.entries(store, parts, range);
  }

  private static async *entries(
    store: ContentStore,
    parts: readonly PartRef[],
    range: PathRange,
  ): AsyncGenerator<IndexEntry> {
    for (const part of parts) {
      for await (const entry of readPart(store, part)) {
        if (inRange(entry.path, range)) yield entry;
      }
    }
  }

  private async advance(): Promise<void> {
    const next = await this.iterator.next();
    if (next.done) {
      this.done = true;
      this.current = undefined;
    } else {
      this.current = next.value;
    }
  }

  async find(path: string): Promise<IndexEntry | undefined> {
    if (!this.started) {
      this.started = true;
      await this.advance();
    }
    while (!this.done && this.current && comparePaths(this.current.path, path) < 0) await this.advance();
    return this.current && this.current.path === path ? this.current : undefined;
  }

  /** Reads the rest, so that the parts' digests are checked even when the walk ended early. */
  async close(): Promise<void> {
    if (!this.started) return;
    while (!this.done) await this.advance();
  }
}
