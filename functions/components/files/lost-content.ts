import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import * as z from 'zod';
import { CorruptBackupError, describeIssues, ObjectNotFoundError } from '#runtime/errors.ts';
import type { ContentStore } from '#store/content-store.ts';
import { objectKeysOf } from './content.ts';
import { type LostContent, VerificationError } from './errors.ts';
import type { FileEntry } from './index-format.ts';
import { JsonLinesFile, readJsonLines } from './jsonl.ts';
import { mapLimit } from './limit.ts';

/**
 * A restore with `skipLost` restores every file it can and lists the others. When the store lost
 * an object (a pack, a blob, a chunk), every file that uses it is lost; when one file's restored
 * bytes do not match its sha256, only that file is.
 */
export const SKIP_LOST_HINT =
  'a restore with "skipLost": true (CLI: --skip-lost) restores every other file and lists the lost ones';

/** The objects and files a restore shard goes on without. */
export class LostContentSet {
  readonly objects = new Set<string>();
  readonly paths = new Set<string>();

  get size(): number {
    return this.objects.size + this.paths.size;
  }

  has(lost: LostContent): boolean {
    return 'object' in lost ? this.objects.has(lost.object) : this.paths.has(lost.path);
  }

  add(lost: LostContent): void {
    if ('object' in lost) this.objects.add(lost.object);
    else this.paths.add(lost.path);
  }

  /** Why this file cannot be restored, or undefined when its content is not known to be lost. */
  cause(entry: FileEntry): string | undefined {
    if (this.size === 0) return undefined;
    if (this.paths.has(entry.path)) return 'its restored bytes did not match its sha256';
    if (entry.size === 0 || !entry.data) return undefined;
    for (const key of objectKeysOf(entry.data)) if (this.objects.has(key)) return `${key} is lost`;
    return undefined;
  }
}

/** The content an error of a restore shard names as lost (gone or damaged), if any. */
export function lostContentOf(error: unknown): LostContent | undefined {
  if (error instanceof VerificationError) return error.lost;
  if (error instanceof ObjectNotFoundError && error.key.startsWith('objects/')) return { object: error.key };
  return undefined;
}

/** Stat calls in flight while a shard looks for objects the store no longer has. */
const STAT_CONCURRENCY = 16;

/** The keys the store does not have: one HEAD each, side by side (a shard's packs and blobs, not its files). */
export async function missingObjects(store: ContentStore, keys: Iterable<string>): Promise<string[]> {
  const all = [...keys];
  const found = await mapLimit(all, STAT_CONCURRENCY, (key) => store.stat(key));
  return all.filter((_, i) => found[i] === undefined);
}

const lostLineSchema = z.strictObject({
  path: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string(),
  cause: z.string(),
});

/**
 * The shards' lists of lost files, in path order, as one list under `key` and, for the person at
 * the server, as a plain copy at `copyPath` (beside the restored tree); the first paths for the
 * report. A copy that cannot be written is given up (its error returned), never the restore.
 */
export async function mergeLostLists(
  store: ContentStore,
  scratchDir: string,
  lists: ReadonlyArray<{ key: string; size: number; sha256: string }>,
  key: string,
  copyPath: string,
): Promise<{ files: number; first: string[]; copyError?: string }> {
  const merged = await JsonLinesFile.create(scratchDir, 'lost');
  const copy = new LocalCopy(copyPath);
  const first: string[] = [];
  let files = 0;
  try {
    for (const list of lists)
      for await (const line of readJsonLines(store, list.key, list)) {
        const parsed = lostLineSchema.safeParse(line.value);
        if (!parsed.success)
          throw new CorruptBackupError(
            `${list.key} holds a line that is not a lost file: ${describeIssues(parsed.error.issues)}`,
          );
        if (first.length < LOST_PATHS_IN_REPORT) first.push(parsed.data.path);
        files += 1;
        await merged.write(parsed.data);
        await copy.write(`${JSON.stringify(parsed.data)}\n`);
      }
    await merged.upload(store, key);
  } catch (error) {
    await merged.discard();
    await copy.abandon();
    throw error;
  }
  const copyError = await copy.close();
  return { files, first, ...(copyError ? { copyError } : {}) };
}

/**
 * A plain file written in 64 KiB pieces under a new temporary name, renamed into place when
 * complete: a retried Finalize replaces its own earlier copy, and nobody reads half a list. Its
 * first error ends it (and removes what it wrote).
 */
class LocalCopy {
  private readonly temporary: string;
  private handle: FileHandle | undefined;
  private buffered: string[] = [];
  private bufferedChars = 0;
  private error: string | undefined;

  constructor(private readonly file: string) {
    this.temporary = `${file}.part-${randomBytes(6).toString('hex')}`;
  }

  async write(text: string): Promise<void> {
    if (this.error !== undefined) return;
    this.buffered.push(text);
    this.bufferedChars += text.length;
    if (this.bufferedChars >= 64 * 1024) await this.flush();
  }

  /** Finishes the file; the error that ended it, if any. */
  async close(): Promise<string | undefined> {
    if (this.error === undefined) await this.flush();
    if (this.error === undefined) {
      try {
        await this.handle?.close();
        this.handle = undefined;
        // rename replaces a link at that name itself, never what it points to.
        await rename(this.temporary, this.file);
      } catch (error) {
        await this.abandon((error as Error).message);
      }
    }
    return this.error;
  }

  async abandon(reason = 'the restore failed'): Promise<void> {
    this.error ??= reason;
    this.buffered = [];
    await this.handle?.close().catch(() => undefined);
    this.handle = undefined;
    await rm(this.temporary, { force: true }).catch(() => undefined);
  }

  private async flush(): Promise<void> {
    try {
      // 'wx': a new file (a name that exists, or a link, is never written through).
      this.handle ??= await open(this.temporary, 'wx', 0o640);
      await this.handle.write(this.buffered.join(''));
      this.buffered = [];
      this.bufferedChars = 0;
    } catch (error) {
      await this.abandon((error as Error).message);
    }
  }
}

/** Paths of lost files named in the report itself (all of them are in the list beside it). */
const LOST_PATHS_IN_REPORT = 10;
