import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import * as z from 'zod';
import { type ContentStore, jsonBody } from '#store/content-store.ts';
import type { Chunk, FileIdentity, ReadProgress, SavableHash } from './content.ts';
import { filesKeys } from './keys.ts';
import { readJsonIfPresent } from './rounds.ts';
import type { FilesComponentName } from './settings.ts';

/**
 * How far the read (CopyShard) or the write (RestoreShard) of one large file got when its
 * invocation stopped at its time budget, for the next round to go on with (files-engine.md "Large
 * files across invocations"). Without it, a file that takes longer to read or write than one
 * invocation may run (a video on an EFS short of throughput) was started from its first byte by
 * every attempt and never finished: the backup failed every night, the restore every time.
 * `file` is the file as it was when the read began (backup) or as the write left it (restore).
 */

const SHA256 = /^[0-9a-f]{64}$/;
const decimal = z.string().regex(/^\d{1,30}$/);

const checkpointSchema = z.strictObject({
  /** The file's path in the tree: the key names its hash, the body the path itself. */
  path: z.string(),
  /** Reads of this file begun in this run that met it changed (a file rewritten all night is given up); 1 for a restore. */
  attempt: z.number().int().min(1),
  file: z.strictObject({ size: decimal, mtimeNs: decimal, ctimeNs: decimal, ino: decimal }),
  /** The chunks read (each stored before the checkpoint was written) or written, in order. */
  chunks: z.array(z.tuple([z.string().regex(SHA256), z.number().int().min(1)])).min(1),
  /** Chunks of this file that this backup uploaded (the rest were found stored); 0 for a restore. */
  uploadedChunks: z.number().int().nonnegative(),
  /** The whole file's sha256 state after the chunks (base64). */
  hashState: z.base64().max(4096),
  /** sha256 of the fields above: a damaged state would record a wrong sha256 for the file. */
  check: z.string().regex(SHA256),
});
type Checkpoint = z.infer<typeof checkpointSchema>;

/** A read to go on with: where it got, how many times the file was found changed, what it uploaded. */
export interface SavedRead {
  readonly progress: ReadProgress;
  readonly attempt: number;
  readonly uploadedChunks: number;
}

function checkOf(checkpoint: Omit<Checkpoint, 'check'>): string {
  const { path, attempt, file, chunks, uploadedChunks, hashState } = checkpoint;
  return createHash('sha256')
    .update(JSON.stringify([path, attempt, file, chunks, uploadedChunks, hashState]))
    .digest('hex');
}

export class FileCheckpoints {
  constructor(
    private readonly store: ContentStore,
    private readonly runId: string,
    private readonly component: FilesComponentName,
    private readonly logger: Pick<Logger, 'warn'>,
  ) {}

  private key(path: string): string {
    return filesKeys.fileCheckpoint(
      this.runId,
      this.component,
      createHash('sha256').update(path).digest('hex'),
    );
  }

  /**
   * The saved read of this path, if there is one to trust: a checkpoint that does not parse, names
   * another path or fails its check is set aside (the file is read from its start), never used.
   */
  async load(path: string): Promise<SavedRead | undefined> {
    const key = this.key(path);
    const raw = await readJsonIfPresent(this.store, key);
    if (raw === undefined) return undefined;
    const parsed = checkpointSchema.safeParse(raw);
    const problem = !parsed.success
      ? 'it is not a valid file checkpoint'
      : parsed.data.path !== path
        ? `it names ${JSON.stringify(parsed.data.path)}`
        : parsed.data.check !== checkOf(parsed.data)
          ? 'its check does not match its contents'
          : await savableSha256(Buffer.from(parsed.data.hashState, 'base64')).then(
              () => undefined,
              // Saved by another hash implementation (a deploy between two rounds).
              (error: unknown) => `its hash state does not load: ${(error as Error).message}`,
            );
    if (problem || !parsed.success) {
      this.logger.warn(
        `the checkpoint of ${path} is not used (${problem}): the file is started again from its first byte`,
        {
          key,
        },
      );
      return undefined;
    }
    const { file, chunks, hashState, attempt, uploadedChunks } = parsed.data;
    let start = 0;
    const read: Chunk[] = chunks.map(([sha256, size]) => {
      const chunk = { start, size, sha256 };
      start += size;
      return chunk;
    });
    const identity: FileIdentity = {
      size: BigInt(file.size),
      mtimeNs: BigInt(file.mtimeNs),
      ctimeNs: BigInt(file.ctimeNs),
      ino: BigInt(file.ino),
    };
    return {
      progress: { file: identity, chunks: read, hashState: Buffer.from(hashState, 'base64') },
      attempt,
      uploadedChunks,
    };
  }

  /** Records a stopped read; written only once every chunk it lists is stored. */
  async save(path: string, saved: SavedRead): Promise<void> {
    const { file, chunks, hashState } = saved.progress;
    const body: Omit<Checkpoint, 'check'> = {
      path,
      attempt: saved.attempt,
      file: {
        size: String(file.size),
        mtimeNs: String(file.mtimeNs),
        ctimeNs: String(file.ctimeNs),
        ino: String(file.ino),
      },
      chunks: chunks.map((chunk): [string, number] => [chunk.sha256, chunk.size]),
      uploadedChunks: saved.uploadedChunks,
      hashState: Buffer.from(hashState).toString('base64'),
    };
    await this.store.put(this.key(path), jsonBody({ ...body, check: checkOf(body) }), {
      contentType: 'application/json',
    });
  }
}

/** sha256 whose state can be saved and loaded (hash-wasm; Node.js's own cannot export its state). */
export async function savableSha256(state?: Uint8Array): Promise<SavableHash> {
  // Loaded only when a file this large is read: a small incremental never pays for it.
  const { createSHA256 } = await import('hash-wasm');
  const hash = await createSHA256();
  if (state) hash.load(state);
  else hash.init();
  return {
    update: (bytes) => {
      hash.update(bytes);
    },
    save: () => hash.save(),
    digest: () => hash.digest('hex'),
  };
}
