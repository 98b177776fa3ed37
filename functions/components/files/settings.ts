import * as path from 'node:path';
import picomatch from 'picomatch';
import * as z from 'zod';
import type { Runtime } from '#runtime/runtime.ts';
import { componentSettings } from '#runtime/settings.ts';
import { sourceSchema } from './index-format.ts';

/** The two components the files engine backs: two configurations of one engine. */
export const FILES_COMPONENTS = ['liferayHome', 'appServer'] as const;
export type FilesComponentName = (typeof FILES_COMPONENTS)[number];
export const filesComponentSchema = z.enum(FILES_COMPONENTS);

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const absolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine(
    (value) =>
      path.posix.isAbsolute(value) &&
      path.posix.normalize(value) === value &&
      (value === '/' || !value.endsWith('/')),
    { message: 'an absolute, normalised path (no . or .. segments, no trailing /)' },
  );

const rule = z.string().min(1).max(1024);

/** The largest pack a backup writes (packBytes at most): a restore refuses an index entry beyond it. */
export const MAX_PACK_BYTES = 1024 * MiB;

/**
 * Settings of one files component, as its Lambdas get them from the stack (cdk/components/files.ts)
 * and the CLI builds them from flags. Defaults are the tuned values; the README explains each.
 */
export const filesSettingsSchema = z
  .strictObject({
    /** The tree to back up, and where a restore puts it back by default (on AWS: below the EFS mount). */
    root: absolutePath,
    /** Restores write only inside this directory (on AWS: the EFS mount). @default no limit */
    writableRoot: absolutePath.optional(),
    /**
     * Where this process sees a document library that lies outside the Liferay Home, when the path
     * in Liferay's configuration is not valid here (the Lambdas mount EFS elsewhere than the server).
     */
    documentLibraryRoot: absolutePath.optional(),
    /** Overrides of the default rules (liferay-rules.ts): extra rules, or `!rule` to drop a default. */
    include: z.array(rule).max(1000).optional(),
    exclude: z.array(rule).max(1000).optional(),
    shard: z
      .strictObject({
        /** Entries per shard (files, directories, links). */
        maxFiles: z.number().int().min(10).max(10_000_000).default(100_000),
        /** Bytes of files per shard. */
        maxBytes: z
          .number()
          .int()
          .min(MiB)
          .max(1024 * GiB)
          .default(16 * GiB),
        /**
         * A shard stops taking new files after this long and hands the rest of its range to the next
         * round, so one invocation always ends well inside Lambda's 15 minutes.
         */
        timeBudgetSeconds: z.number().int().min(0).max(840).default(600),
      })
      .default({ maxFiles: 100_000, maxBytes: 16 * GiB, timeBudgetSeconds: 600 }),
    /** Files smaller than this go into packs; larger ones become blobs named by their sha256. */
    blobThresholdBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .max(512 * MiB)
      .default(4 * MiB),
    /**
     * Large files are stored in chunks of this size, each a blob named by its sha256 and uploaded
     * with one streamed PUT (keep it at most the S3 adapter's part size, 16 MiB).
     */
    chunkBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .max(512 * MiB)
      .default(16 * MiB),
    /**
     * A file at least this large is read with a hash whose state can be saved: when the shard's
     * time budget runs out in the middle of it, the read stops at a chunk's end and the next round
     * goes on from there (file-checkpoints.ts). Smaller ones, once begun, are read to their end: at
     * the default, within the 5 minutes between the default budget and Lambda's 15 even at 0.25 MiB/s.
     */
    resumableFileBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .max(1024 ** 4)
      .default(64 * MiB),
    /** A pack is closed and uploaded at this size (one PUT at the S3 adapter's part size). */
    packBytes: z
      .number()
      .int()
      .min(MiB)
      .max(MAX_PACK_BYTES)
      .default(16 * MiB),
    /** Filesystem operations in flight (stat, readdir, small reads): EFS rewards parallelism. */
    fsConcurrency: z.number().int().min(1).max(512).default(32),
    /** Store requests in flight per shard (pack and blob uploads, ranged reads). */
    storeConcurrency: z.number().int().min(1).max(64).default(4),
  })
  .refine((settings) => settings.blobThresholdBytes <= Math.max(settings.packBytes, settings.chunkBytes), {
    // A file below the threshold is read whole into one upload buffer (the larger of the two sizes).
    path: ['blobThresholdBytes'],
    message:
      'must be at most packBytes or chunkBytes (whichever is larger): a file below it is read whole into one upload buffer of that size',
  });
export type FilesSettings = z.infer<typeof filesSettingsSchema>;

export function filesSettings(rt: Runtime, component: FilesComponentName): FilesSettings {
  return componentSettings(rt.settings, component, filesSettingsSchema);
}

/**
 * A files component's part of a restore request:
 * `{"liferayHome": {"swap": true, "path": "data/document_library/20101/**"}}`.
 */
export const filesRestoreRequestSchema = z.strictObject({
  /** Where the tree goes. @default the configured root (the live tree) */
  target: absolutePath.optional(),
  /**
   * Replace an existing, non-empty target: it is renamed to `<target>.before-<restoreId>` and kept.
   * Without it the restored tree stays in its staging folder (a missing or empty target is filled
   * without asking: nothing is replaced).
   */
  swap: z.boolean().default(false),
  /** Restore only this path, or the paths matching this glob (relative to the tree's root). */
  path: z
    .string()
    .min(1)
    .max(1024)
    .transform(relativeToTree)
    .superRefine((value, context) => {
      const problem = restorePathProblem(value);
      if (problem) context.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  /** Restore onto a Liferay Home of another DXP build. */
  force: z.boolean().default(false),
  /**
   * When the store lost or damaged content this set references, restore every other file and
   * list the lost ones (in the report and in a list beside it), instead of failing the restore.
   */
  skipLost: z.boolean().default(false),
});
export type FilesRestoreRequest = z.infer<typeof filesRestoreRequestSchema>;

/**
 * A restore path as an SRE types it in a shell: `./data/document_library/**` means the same as
 * `data/document_library/**` (the tree's root is the current folder), so the `.` segments are
 * dropped; matched as typed, it matched nothing and the restore was refused. A negated glob
 * (`!./data/a/**`) keeps its `!`.
 */
export function relativeToTree(value: string): string {
  const negated = value.startsWith('!');
  const segments = (negated ? value.slice(1) : value).split('/');
  const kept = segments.filter((segment, index) => segment !== '.' && (segment !== '' || index === 0));
  // `./` or `.` alone names the whole tree: left as typed, for restorePathProblem to refuse.
  if (kept.length === 0 || (kept.length === 1 && kept[0] === '')) return value;
  return `${negated ? '!' : ''}${kept.join('/')}`;
}

/**
 * Why a (normalised) restore path cannot select anything in the tree, or undefined. Validate puts
 * `<component>.path:` before it; on the CLI the same value came from --path.
 */
function restorePathProblem(value: string): string | undefined {
  const body = value.startsWith('!') ? value.slice(1) : value;
  const example = 'data/document_library/20101/**';
  const relative = 'a path or glob relative to the root of the tree';
  if (body.startsWith('/'))
    return `${relative}, not an absolute path (${JSON.stringify(value)}; the same for CLI --path): give it from the tree's root (the configured folder, or the restore's target), e.g. ${example}: drop the leading / and the tree's own folder (for /opt/liferay/${example} with the tree in /opt/liferay, give ${example})`;
  if (body === '' || body === '.' || body === './')
    return `${relative}, not the whole tree (${JSON.stringify(value)}): leave "path" (CLI: --path) out to restore all of it`;
  if (body.split('/').some((segment) => segment === '..')) return `${relative}, without .. segments`;
  return undefined;
}

const digest = z.strictObject({
  key: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/** What a files backup records under `results.<component>.details` (validated when a restore reads it). */
export const filesResultDetailsSchema = z.looseObject({
  engine: z.literal('files'),
  index: digest,
  sources: z.array(sourceSchema).min(1),
  rules: z.object({ include: z.array(z.string()), exclude: z.array(z.string()) }),
  dxp: z.object({ version: z.string(), build: z.string().optional(), source: z.string() }).optional(),
});
export type FilesResultDetails = z.infer<typeof filesResultDetailsSchema>;

/** A restore glob: the entries it selects, and the directory that holds them all (to skip parts). */
export interface PathFilter {
  readonly glob: string;
  /** Every selected path is this path or beneath it ('' when the glob starts with a wildcard). */
  readonly base: string;
  matches(relPath: string): boolean;
}

/**
 * `data/document_library/20101/**` selects the folder and everything beneath it; a plain path
 * (`portal-ext.properties`, `osgi/configs`) selects that path and, for a folder, all it holds, and
 * so does a glob for each folder it matches (`data/document_library/*`). A negated glob
 * (`!data/a/**`) selects what it does not match.
 */
export function compilePathFilter(glob: string): PathFilter {
  const normalised = glob.replace(/\/+$/, '');
  const scan = picomatch.scan(normalised);
  const options = { dot: true, windows: false } as const;
  if (!scan.isGlob && !scan.negated) {
    // `data/a\[1\]` names the folder `data/a[1]`: the escapes are the glob's, not the path's.
    const literal = unescapeGlob(normalised);
    return {
      glob,
      base: literal,
      matches: (relPath) => relPath === literal || relPath.startsWith(`${literal}/`),
    };
  }
  const matcher = picomatch(normalised, options);
  // The base picks the index parts to read, by comparing paths: with its escapes left in
  // (`data/x\*y`), it sorted after the folder it names and the parts inside it were skipped.
  // A negated glob (`!data/a/**`) selects everything but what its base names: every part is read
  // (reading only the parts near `data/a` restored a few files and called itself complete).
  const base = scan.negated ? '' : unescapeGlob(scan.base);
  if (scan.negated) return { glob, base, matches: (relPath) => matcher(relPath) };
  // A folder the glob matches comes with everything it holds, as a plain path's does: `data/*`
  // restored the folders empty, and reported complete.
  return {
    glob,
    base,
    matches: (relPath) => {
      if (matcher(relPath)) return true;
      for (let slash = relPath.indexOf('/'); slash > 0; slash = relPath.indexOf('/', slash + 1))
        if (matcher(relPath.slice(0, slash))) return true;
      return false;
    },
  };
}

/** A glob's literal text without its escapes (`\*` is `*`, `\\` is one backslash). */
function unescapeGlob(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}
