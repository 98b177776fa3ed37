import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CorruptBackupError, describeIssues } from '#runtime/errors.ts';
import { type ContentStore, jsonBody } from '#store/content-store.ts';
import { type ObjectDigest, readJsonLines } from './jsonl.ts';
import { OBJECT_KEY_PATTERN } from './keys.ts';
import { comparePaths } from './paths.ts';

/**
 * The file index of one component in one backup set:
 * `backups/<id>/files/<component>/index.json` lists the parts, and each part
 * (`part-<shard>.jsonl.gz`) holds one JSON line per path, sorted by path (paths.ts order).
 */

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in lower-case hex');
/** An inode number: decimal text, because it may exceed 2^53. */
const decimal = z.string().regex(/^\d{1,30}$/, 'a non-negative integer as decimal text');
/** Nanoseconds since the epoch as decimal text (exact; negative before 1970). */
const nanoseconds = z.string().regex(/^-?\d{1,30}$/, 'nanoseconds as decimal text');
const count = z.number().int().nonnegative();
const objectKey = z.string().regex(OBJECT_KEY_PATTERN, 'a key under objects/blobs/ or objects/packs/');

/**
 * Where a file's bytes are: a whole blob, a range of a pack, or (a large file) its chunks in order,
 * each a blob named by its sha256 (`objects/blobs/<sha[0:2]>/<sha>`) with its size.
 */
export const dataLocationSchema = z.union([
  z.strictObject({ blob: objectKey }),
  z.strictObject({ pack: objectKey, offset: count, length: count }),
  z.strictObject({ chunks: z.array(z.tuple([sha256Hex, count])).min(2) }),
]);
export type DataLocation = z.infer<typeof dataLocationSchema>;

const common = {
  path: z.string().min(1).max(4096),
  mtimeNs: nanoseconds,
  uid: count,
  gid: count,
  /** For the quick check of the next backup: an inode or ctime change means "look again". */
  ino: decimal.optional(),
  ctimeNs: nanoseconds.optional(),
};

export const fileEntrySchema = z.strictObject({
  ...common,
  type: z.literal('file'),
  mode: z.number().int().min(0).max(0o7777),
  size: count,
  sha256: sha256Hex,
  /** Absent for an empty file (nothing is stored). */
  data: dataLocationSchema.optional(),
  /** How the stored bytes are encoded; absent means identity (room for compression later). */
  encoding: z.string().max(32).optional(),
});
export const dirEntrySchema = z.strictObject({
  ...common,
  type: z.literal('dir'),
  mode: z.number().int().min(0).max(0o7777),
});
export const symlinkEntrySchema = z.strictObject({
  ...common,
  type: z.literal('symlink'),
  target: z.string().min(1).max(4096),
});
export const indexEntrySchema = z.discriminatedUnion('type', [
  fileEntrySchema,
  dirEntrySchema,
  symlinkEntrySchema,
]);
export type IndexEntry = z.infer<typeof indexEntrySchema>;
export type FileEntry = z.infer<typeof fileEntrySchema>;
export type DirEntry = z.infer<typeof dirEntrySchema>;
export type SymlinkEntry = z.infer<typeof symlinkEntrySchema>;

export const SUPPORTED_ENCODINGS = new Set(['identity']);

export const partRefSchema = z.strictObject({
  key: z.string().min(1).max(1024),
  /** The shard's path range (after, through]; open bounds are absent. */
  after: z.string().optional(),
  through: z.string().optional(),
  firstPath: z.string(),
  lastPath: z.string(),
  entries: count,
  files: count,
  /** Bytes of the files the part lists (not of the part object). */
  bytes: count,
  size: count,
  sha256: sha256Hex,
});
export type PartRef = z.infer<typeof partRefSchema>;

export const catalogRefSchema = z.strictObject({
  /** Partitions by the first `prefixLength` hex characters of the sha256 (0: one partition). */
  prefixLength: z.number().int().min(0).max(3),
  entries: count,
  partitions: z.array(
    z.strictObject({
      prefix: z.string().regex(/^[0-9a-f]{0,3}$/),
      key: z.string(),
      entries: count,
      size: count,
      sha256: sha256Hex,
    }),
  ),
  bloom: z
    .strictObject({
      key: z.string(),
      bits: z.number().int().positive(),
      hashes: z.number().int().min(1).max(16),
      size: count,
      sha256: sha256Hex,
    })
    .optional(),
});
export type CatalogRef = z.infer<typeof catalogRefSchema>;

export const sourceSchema = z.strictObject({
  /** Where the source's paths sit in the index: '' for the tree, `.external/document_library` for a DL kept elsewhere. */
  mount: z.string().max(256),
  /** Where it was read from (as the backup saw it). */
  root: z.string(),
  role: z.enum(['tree', 'documentLibrary']),
});
export type Source = z.infer<typeof sourceSchema>;

export const INDEX_FORMAT = 'liferay-backup/files-index' as const;
export const indexSchema = z.strictObject({
  format: z.literal(INDEX_FORMAT),
  version: z.literal(1, {
    error: (issue) =>
      `file index version ${JSON.stringify(issue.input)} is not supported (this tool reads version 1)`,
  }),
  backupId: z.string(),
  component: z.enum(['liferayHome', 'appServer']),
  createdAt: z.iso.datetime({ offset: true }),
  sources: z.array(sourceSchema).min(1).max(8),
  /** Mode and mtime of the tree's top directory. */
  root: z.strictObject({ mode: z.number().int().min(0).max(0o7777), mtimeNs: nanoseconds }).optional(),
  parts: z.array(partRefSchema),
  totals: z.strictObject({ entries: count, files: count, dirs: count, symlinks: count, bytes: count }),
  catalog: catalogRefSchema,
});
export type FileIndex = z.infer<typeof indexSchema>;

export async function readIndex(
  store: ContentStore,
  key: string,
  expected?: ObjectDigest,
): Promise<FileIndex> {
  const bytes = await store.read(key, 64 * 1024 * 1024);
  if (expected && bytes.length !== expected.size) {
    throw new CorruptBackupError(
      `${key} is ${bytes.length} bytes, the manifest recorded ${expected.size}: it was changed or damaged`,
    );
  }
  if (expected && createHash('sha256').update(bytes).digest('hex') !== expected.sha256) {
    throw new CorruptBackupError(
      `${key} does not match the sha256 the manifest recorded: it was changed or damaged`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new CorruptBackupError(`${key} is not JSON`);
  }
  const parsed = indexSchema.safeParse(raw);
  if (!parsed.success)
    throw new CorruptBackupError(`${key} is not a valid file index: ${describeIssues(parsed.error.issues)}`);
  checkPartsOrdered(parsed.data.parts, key);
  return parsed.data;
}

function checkPartsOrdered(parts: readonly PartRef[], key: string): void {
  for (let i = 1; i < parts.length; i += 1) {
    const previous = parts[i - 1] as PartRef;
    const part = parts[i] as PartRef;
    if (comparePaths(previous.lastPath, part.firstPath) >= 0) {
      throw new CorruptBackupError(`${key}: part ${part.key} does not follow ${previous.key} in path order`);
    }
  }
}

/** Serialises an index (and returns the exact bytes, whose digest the manifest records). */
export function indexBody(index: FileIndex): string {
  return jsonBody(index);
}

/** Validates one parsed index line; the error names the part and the line. */
export function parseEntry(value: unknown, key: string, line: number): IndexEntry {
  const parsed = indexEntrySchema.safeParse(value);
  if (!parsed.success) {
    throw new CorruptBackupError(
      `${key} line ${line} is not a valid index entry: ${describeIssues(parsed.error.issues)}`,
    );
  }
  return parsed.data;
}

/** Streams the validated entries of one part, checking path order and (at the end) the part's digest. */
export async function* readPart(
  store: ContentStore,
  part: Pick<PartRef, 'key' | 'size' | 'sha256'>,
): AsyncGenerator<IndexEntry> {
  let previous: string | undefined;
  for await (const { value, line } of readJsonLines(store, part.key, part)) {
    const entry = parseEntry(value, part.key, line);
    if (previous !== undefined && comparePaths(previous, entry.path) >= 0) {
      throw new CorruptBackupError(
        `${part.key} line ${line}: ${JSON.stringify(entry.path)} is not after ${JSON.stringify(previous)} (an index part is sorted by path)`,
      );
    }
    previous = entry.path;
    yield entry;
  }
}
