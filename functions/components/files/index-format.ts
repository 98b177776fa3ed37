import * as z from 'zod';
import { CorruptBackupError, describeIssues } from '#runtime/errors.ts';
import { isRecord } from '#runtime/validate.ts';
import { type ContentStore, jsonBody } from '#store/content-store.ts';
import { readRecordedObject } from '#store/recorded-object.ts';
import { type ObjectDigest, readJsonLineBatches } from './jsonl.ts';
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

// ---------------------------------------------------------------------------------------------
// A fast path for the schemas above: a backup reads every line of the previous index and every
// content line, tens of thousands per second, and the zod schemas cost a few microseconds each.
// These checks accept only what the schemas accept (never more: a test compares them on valid
// and broken values); whatever they refuse is parsed by the schema itself, which then names the problem.

const SHA256_PATTERN = /^[0-9a-f]{64}$/;
const DECIMAL_PATTERN = /^\d{1,30}$/;
const NANOSECONDS_PATTERN = /^-?\d{1,30}$/;

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isMode = (value: unknown): boolean => isCount(value) && value <= 0o7777;
const isSha256 = (value: unknown): boolean => typeof value === 'string' && SHA256_PATTERN.test(value);
const isObjectKey = (value: unknown): boolean => typeof value === 'string' && OBJECT_KEY_PATTERN.test(value);
const isPathText = (value: unknown): boolean =>
  typeof value === 'string' && value.length >= 1 && value.length <= 4096;

/** True only for a value dataLocationSchema accepts. */
export function isDataLocation(value: unknown): value is DataLocation {
  if (!isRecord(value)) return false;
  let keys = 0;
  for (const _ in value) keys += 1;
  if ('blob' in value) return keys === 1 && isObjectKey(value.blob);
  if ('pack' in value)
    return keys === 3 && isObjectKey(value.pack) && isCount(value.offset) && isCount(value.length);
  if (keys !== 1 || !Array.isArray(value.chunks) || value.chunks.length < 2) return false;
  for (const chunk of value.chunks as unknown[]) {
    if (!Array.isArray(chunk) || chunk.length !== 2 || !isSha256(chunk[0]) || !isCount(chunk[1]))
      return false;
  }
  return true;
}

/** True only for a value indexEntrySchema accepts. */
export function isIndexEntry(value: unknown): value is IndexEntry {
  if (!isRecord(value)) return false;
  const type = value.type;
  for (const key in value) {
    switch (key) {
      case 'path':
      case 'type':
      case 'mtimeNs':
      case 'uid':
      case 'gid':
      case 'ino':
      case 'ctimeNs':
        continue;
      case 'mode':
        if (type === 'symlink') return false;
        continue;
      case 'size':
      case 'sha256':
      case 'data':
      case 'encoding':
        if (type !== 'file') return false;
        continue;
      case 'target':
        if (type !== 'symlink') return false;
        continue;
      default:
        return false;
    }
  }
  if (
    !isPathText(value.path) ||
    typeof value.mtimeNs !== 'string' ||
    !NANOSECONDS_PATTERN.test(value.mtimeNs) ||
    !isCount(value.uid) ||
    !isCount(value.gid) ||
    (value.ino !== undefined && !(typeof value.ino === 'string' && DECIMAL_PATTERN.test(value.ino))) ||
    (value.ctimeNs !== undefined &&
      !(typeof value.ctimeNs === 'string' && NANOSECONDS_PATTERN.test(value.ctimeNs)))
  ) {
    return false;
  }
  switch (type) {
    case 'file':
      return (
        isMode(value.mode) &&
        isCount(value.size) &&
        isSha256(value.sha256) &&
        (value.data === undefined || isDataLocation(value.data)) &&
        (value.encoding === undefined || (typeof value.encoding === 'string' && value.encoding.length <= 32))
      );
    case 'dir':
      return isMode(value.mode);
    case 'symlink':
      return isPathText(value.target);
    default:
      return false;
  }
}

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
      hashes: z.number().int().min(1).max(8),
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

/** The most an index is read whole up to: its entries sit in parts, so an index stays far below. */
const INDEX_READ_LIMIT = 64 * 1024 * 1024;

export async function readIndex(
  store: ContentStore,
  key: string,
  expected?: ObjectDigest,
): Promise<FileIndex> {
  // Read whole up to the limit, not to one byte past the recorded size: an index that grew by any
  // amount below it is named as changed, with its size.
  const bytes = expected
    ? await readRecordedObject(
        store,
        key,
        expected,
        {
          changed: (found, failed) =>
            failed === 'size'
              ? `${key} is ${found} bytes, the manifest recorded ${expected.size}: it was changed or damaged`
              : `${key} does not match the sha256 the manifest recorded: it was changed or damaged`,
        },
        INDEX_READ_LIMIT,
      )
    : await store.read(key, INDEX_READ_LIMIT);
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
  if (isIndexEntry(value)) return value;
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
  for await (const batch of readPartBatches(store, part)) for (const { entry } of batch) yield entry;
}

/** An entry of a part with the exact text of its line (a backup copies an unchanged entry's line). */
export interface PartLine {
  readonly entry: IndexEntry;
  readonly text: string;
}

/** readPart in batches of validated lines (one promise per batch, not per entry). */
export async function* readPartBatches(
  store: ContentStore,
  part: Pick<PartRef, 'key' | 'size' | 'sha256'>,
): AsyncGenerator<PartLine[]> {
  let previous: string | undefined;
  for await (const lines of readJsonLineBatches(store, part.key, part)) {
    const batch: PartLine[] = [];
    for (const { value, line, text } of lines) {
      const entry = parseEntry(value, part.key, line);
      if (previous !== undefined && comparePaths(previous, entry.path) >= 0) {
        throw new CorruptBackupError(
          `${part.key} line ${line}: ${JSON.stringify(entry.path)} is not after ${JSON.stringify(previous)} (an index part is sorted by path)`,
        );
      }
      previous = entry.path;
      batch.push({ entry, text });
    }
    yield batch;
  }
}
