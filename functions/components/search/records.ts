import * as z from 'zod';
import { indexPatternSchema } from './settings.ts';

/**
 * What the component writes and reads: the `details` of its result in the manifest (read back,
 * and validated, for a restore), the restore request, and the state its workflow loops carry
 * between tasks. Each is bounded: Step Functions passes at most 256 KB between states.
 */

/**
 * At most this many indexes per snapshot: their records (about 200 bytes each) travel between
 * states, beside the other components' results, within Step Functions' 256 KB.
 */
export const MAX_INDEXES = 500;

const dxpSchema = z.object({
  line: z.enum(['7.0', '7.1', '7.2', '7.3', '7.4+', 'unknown']),
  source: z.enum(['config', 'index-names', 'unknown']),
  evidence: z.string().max(256).optional(),
});

export const engineRecordSchema = z.object({
  kind: z.enum(['elasticsearch', 'opensearch']),
  distribution: z.string().max(64),
  version: z.string().max(64),
  clusterName: z.string().max(256),
  /** The cluster URL without credentials. */
  endpoint: z.string().max(2048),
});
export type EngineRecord = z.infer<typeof engineRecordSchema>;

export const repositoryRecordSchema = z.object({
  name: z.string().max(128),
  type: z.string().max(64),
  /** Where the snapshots are, e.g. `s3://bucket/search`: what a restore checks it is reading from. */
  location: z.string().max(2048),
});
export type RepositoryRecord = z.infer<typeof repositoryRecordSchema>;

const indexNameSchema = z.string().min(1).max(255);

export const indexRecordSchema = z.object({
  name: indexNameSchema,
  kind: z.enum([
    'system',
    'company',
    'search-tuning',
    'workflow-metrics',
    'workflow-metrics-sla-results',
    'commerce-ml',
    'app',
    'other',
  ]),
  /** Primary storage for the recorded DXP line: only a restore can bring its data back. */
  primaryStorage: z.boolean(),
  /** Documents (`docs.count`) right before the snapshot started. */
  docCount: z.number().int().nonnegative(),
  /** Documents after the snapshot ended, when different: writes happened meanwhile. */
  docCountAtEnd: z.number().int().nonnegative().optional(),
  primaryShards: z.number().int().positive().optional(),
  storeBytes: z.number().nonnegative().optional(),
});
export type IndexRecord = z.infer<typeof indexRecordSchema>;

/** What the details say of the snapshot, whichever way they hold its index records. */
const snapshotRecordFields = {
  engine: engineRecordSchema,
  repository: repositoryRecordSchema,
  snapshot: z.object({
    name: z.string().max(255),
    uuid: z.string().max(64).optional(),
    state: z.literal('SUCCESS'),
    startTime: z.string().max(64).optional(),
    endTime: z.string().max(64).optional(),
    shards: z.object({ total: z.number(), failed: z.number(), successful: z.number() }).optional(),
  }),
  dxp: dxpSchema,
  indexNamePrefix: z.string().max(100),
};

/** The set's index records with every one of them: what the restore, the drill and the plan read. */
export const searchResultDetailsSchema = z.object({
  ...snapshotRecordFields,
  indexes: z.array(indexRecordSchema).max(MAX_INDEXES),
});
export type SearchResultDetails = z.infer<typeof searchResultDetailsSchema>;

/** Index names the details keep beside a stored list, for people reading the manifest. */
export const INDEX_LIST_FIRST_NAMES = 10;

/**
 * Where the index records are when they would not fit the details (index-list.ts): an object of
 * the set, checked against its size and sha256 when it is read back.
 */
export const indexListRefSchema = z.object({
  key: z.string().min(1).max(1024),
  size: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  count: z.number().int().min(1).max(MAX_INDEXES),
  firstNames: z.array(indexNameSchema).max(INDEX_LIST_FIRST_NAMES),
});
export type IndexListRef = z.infer<typeof indexListRefSchema>;

/**
 * The search component's `details` in the manifest: the index records inline (every set of a
 * usual size, and every set recorded before the list could be stored), or a reference to them.
 * A set with the reference has no `indexes`, so a version that only reads them inline refuses it
 * instead of restoring part of it.
 */
export const searchRecordSchema = z.union([
  z.object({ ...snapshotRecordFields, indexes: z.array(indexRecordSchema).max(MAX_INDEXES) }),
  z.object({ ...snapshotRecordFields, indexList: indexListRefSchema }),
]);
export type SearchRecord = z.infer<typeof searchRecordSchema>;

/**
 * The search part of a restore request (`"search": {...}` in the Restore input):
 * - `indexes`: `primary` (default: the indexes that were primary storage for the recorded DXP
 *   version), `all`, or a list of index names from the set;
 * - `onConflict`: what to do with an existing index of the same name: `fail` (default: nothing is
 *   changed and the conflicts are named), `rename` (restore beside it as `<renamePrefix><name>`),
 *   `close` (close it and restore over it) or `replace` (delete it, then restore);
 * - `renamePrefix`: the prefix for `rename`, default `restored-`.
 */
export const searchRestoreRequestSchema = z.strictObject({
  indexes: z
    .union([z.enum(['primary', 'all']), z.array(indexPatternSchema).min(1).max(MAX_INDEXES)])
    .default('primary'),
  onConflict: z.enum(['fail', 'rename', 'close', 'replace']).default('fail'),
  renamePrefix: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9._-]{0,63}$/,
      'lower-case letters, digits, ".", "_" and "-", starting with a letter or digit',
    )
    .default('restored-'),
});
export type SearchRestoreRequest = z.infer<typeof searchRestoreRequestSchema>;

/** Carried from Prepare to the next task (`$.search`). */
export const preparedRepositorySchema = z.object({
  engine: engineRecordSchema,
  repository: repositoryRecordSchema,
  /** created | updated | unchanged | verified (not registered by us). */
  registration: z.enum(['created', 'updated', 'unchanged', 'verified']),
  warnings: z.array(z.string().max(4096)).max(50),
});
export type PreparedRepository = z.infer<typeof preparedRepositorySchema>;

/** What both loops carry: where, which snapshot, how many checks so far, and the result once done. */
const loopStateFields = {
  engine: engineRecordSchema,
  repository: repositoryRecordSchema,
  snapshot: z.string().max(255),
  startedAt: z.iso.datetime({ offset: true }),
  checks: z.number().int().nonnegative(),
  maxChecks: z.number().int().positive(),
  waitSeconds: z.number().int().nonnegative(),
  warnings: z.array(z.string().max(4096)).max(100),
  done: z.boolean(),
  /** The component's result (ComponentResult / ComponentRestoreResult), once done. */
  result: z.unknown().optional(),
};

/** The capture loop's state (`$.search` between Start, Wait and Check). */
export const snapshotStateSchema = z.object({
  ...loopStateFields,
  phase: z.literal('snapshot'),
  dxp: dxpSchema,
  indexNamePrefix: z.string().max(100),
  indexes: z.array(indexRecordSchema).max(MAX_INDEXES),
  progress: z.object({ shardsDone: z.number(), shardsTotal: z.number() }).optional(),
});
export type SnapshotState = z.infer<typeof snapshotStateSchema>;

/**
 * Whether a loop has waited long enough to give up: maxChecks checks and the time they should have
 * taken (a runner without real waits, like local mode, checks faster than Step Functions would).
 */
export function loopExhausted(
  state: { readonly startedAt: string; readonly maxChecks: number; readonly waitSeconds: number },
  checks: number,
  now: Date,
): boolean {
  const elapsedMs = now.getTime() - Date.parse(state.startedAt);
  return checks >= state.maxChecks && elapsedMs >= state.maxChecks * state.waitSeconds * 1000;
}

export const restoreIndexSchema = z.object({
  name: indexNameSchema,
  /** The name it is restored under (differs with `rename`). */
  target: indexNameSchema,
  /** What happened to an existing index of that name first. */
  conflict: z.enum(['none', 'renamed', 'closed', 'replaced']),
  expectedDocs: z.object({ min: z.number().int(), max: z.number().int() }),
  primaryStorage: z.boolean(),
});
export type RestoreIndex = z.infer<typeof restoreIndexSchema>;

/** What the restore did with one index and what it holds now: one record per index in the restore's result. */
export const restoredIndexSchema = z.object({
  name: indexNameSchema,
  restoredAs: indexNameSchema,
  conflict: restoreIndexSchema.shape.conflict,
  primaryStorage: z.boolean(),
  docCount: z.number().int().nonnegative(),
  expectedDocs: restoreIndexSchema.shape.expectedDocs,
  docCountMatches: z.boolean(),
});
export type RestoredIndex = z.infer<typeof restoredIndexSchema>;

/** The restore loop's state (`$.search` between Start restore, Wait and Check recovery). */
export const restoreStateSchema = z.object({
  ...loopStateFields,
  phase: z.literal('restore'),
  indexes: z.array(restoreIndexSchema).max(MAX_INDEXES),
});
export type RestoreState = z.infer<typeof restoreStateSchema>;
