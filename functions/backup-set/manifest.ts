import * as z from 'zod';
import {
  COMPONENT_NAMES,
  type ComponentName,
  componentNameSchema,
  componentResultSchema,
} from '#components/component.ts';
import {
  CorruptBackupError,
  describeIssues,
  InvalidInputError,
  ObjectNotFoundError,
} from '#runtime/errors.ts';
import { type ContentStore, jsonBody, readJson } from '#store/content-store.ts';
import { isBackupId } from './backup-id.ts';
import { hookOutcomeSchema } from './hooks.ts';
import { backupIdOfManifestKey, storeKeys } from './keys.ts';

export const MANIFEST_SCHEMA_VERSION = 1;

export const backupIdSchema = z.string().refine(isBackupId, {
  message: 'not a backup id (expected the form b20261127t020000z-7f3a)',
});
const isoTime = z.iso.datetime({ offset: true });

export const backupStatusSchema = z.enum(['running', 'complete', 'partial', 'failed']);
export type BackupStatus = z.infer<typeof backupStatusSchema>;

/**
 * How far back a backup follows the chain of sets (each manifest's previousBackupId) looking for a
 * component's previous copy; retention keeps the links within the same reach.
 */
export const MAX_CHAIN_STEPS = 200;

/** backups/<id>/manifest.json. Validated on every read: a manifest is input like any other. */
export const manifestSchema = z.object({
  schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION, {
    error: (issue) =>
      `manifest schema version ${JSON.stringify(issue.input)} is not supported (this tool reads version ${MANIFEST_SCHEMA_VERSION})`,
  }),
  backupId: backupIdSchema,
  environment: z.string().min(1).max(64),
  status: backupStatusSchema,
  trigger: z.object({
    source: z.enum(['schedule', 'console', 'cli']),
    schedule: z.string().max(64).optional(),
    /** Asked to build on no earlier set (begin-backup.ts). */
    full: z.literal(true).optional(),
  }),
  components: z.array(componentNameSchema).max(COMPONENT_NAMES.length),
  previousBackupId: backupIdSchema.optional(),
  startedAt: isoTime,
  finishedAt: isoTime.optional(),
  tool: z.object({ name: z.string().max(64), version: z.string().max(64) }),
  results: z.partialRecord(componentNameSchema, componentResultSchema).default({}),
  /** What the capture hooks did (never their output). */
  hooks: z.object({ pre: hookOutcomeSchema.optional(), post: hookOutcomeSchema.optional() }).optional(),
  warnings: z.array(z.string().max(4096)).max(1000).default([]),
});
export type Manifest = z.infer<typeof manifestSchema>;

export const TOOL = { name: 'liferay-backup', version: '0.1.0' } as const;

export function parseManifest(raw: unknown, where: string): Manifest {
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new CorruptBackupError(
      `the manifest ${where} is not valid: ${describeIssues(parsed.error.issues)}`,
    );
  }
  return parsed.data;
}

export async function readManifest(store: ContentStore, backupId: string): Promise<Manifest> {
  const key = storeKeys.manifest(backupId);
  let raw: unknown;
  try {
    raw = await readJson(store, key, 8 * 1024 * 1024);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) throw error;
    throw new CorruptBackupError(`the manifest ${key} cannot be read: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const manifest = parseManifest(raw, key);
  if (manifest.backupId !== backupId) {
    throw new CorruptBackupError(`the manifest ${key} names another backup set: ${manifest.backupId}`);
  }
  return manifest;
}

export async function writeManifest(store: ContentStore, manifest: Manifest): Promise<void> {
  const checked = parseManifest(manifest, 'about to be written');
  await store.put(storeKeys.manifest(checked.backupId), jsonBody(checked), {
    contentType: 'application/json',
  });
}

const latestPointerSchema = z.object({ backupId: backupIdSchema, committedAt: isoTime });

/** The id that `latest` points to (the newest complete set), or undefined before the first one. */
export async function readLatest(store: ContentStore): Promise<string | undefined> {
  let raw: unknown;
  try {
    raw = await readJson(store, storeKeys.latest, 4096);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return undefined;
    if (error instanceof SyntaxError) throw new CorruptBackupError(error.message, { cause: error });
    throw error;
  }
  const parsed = latestPointerSchema.safeParse(raw);
  if (!parsed.success) {
    throw new CorruptBackupError(`${storeKeys.latest} is not valid: ${describeIssues(parsed.error.issues)}`);
  }
  return parsed.data.backupId;
}

/**
 * What `latest` means to a restore or a drill: the pointer or, when it is damaged or missing, the newest
 * complete set among the manifests (what the pointer records: Commit never moves it back), with a
 * warning that says so. Nobody restoring at night should have to repair the pointer first.
 */
export async function resolveLatest(store: ContentStore): Promise<{ backupId?: string; warning?: string }> {
  // Unreadable: why. Missing: none yet, or a Commit that wrote its complete manifest and then could
  // not write the pointer (its run failed there): a complete set is still the latest one.
  let damaged: string | undefined;
  try {
    const backupId = await readLatest(store);
    if (backupId) return { backupId };
  } catch (error) {
    if (!(error instanceof CorruptBackupError)) throw error;
    damaged = error.message;
  }
  const id = await newestCompleteSet(store);
  if (id)
    return {
      backupId: id,
      warning: `${damaged ?? `${storeKeys.latest} is missing`}: "latest" is taken as the newest complete set, ${id}`,
    };
  return damaged ? { warning: `${damaged}, and no set is complete` } : {};
}

/**
 * The newest complete set among the manifests (one that cannot be read is passed over), older
 * than `before` when given, holding a complete copy of every one of `holding`.
 */
export async function newestCompleteSet(
  store: ContentStore,
  { before, holding = [] }: { before?: string; holding?: readonly ComponentName[] } = {},
): Promise<string | undefined> {
  for (const id of (await listBackupIds(store)).reverse()) {
    if (before !== undefined && id >= before) continue;
    const manifest = await readManifest(store, id).catch(() => undefined);
    if (
      manifest?.status === 'complete' &&
      holding.every((name) => manifest.results[name]?.status === 'complete')
    )
      return id;
  }
  return undefined;
}

/**
 * The set a restore or drill request names: its id, or `latest` resolved (resolveLatest, whose
 * warning comes with it). No complete set to take for `latest` is the request's error.
 */
export async function requestedSet(
  store: ContentStore,
  requested: string,
  invalid: string,
): Promise<{ readonly backupId: string; readonly warning?: string }> {
  if (requested !== 'latest') return { backupId: requested };
  const { backupId, warning } = await resolveLatest(store);
  if (!backupId)
    throw new InvalidInputError(
      `${invalid}: backupId "latest": ${warning ?? 'there is no complete backup set yet'}`,
    );
  return { backupId, ...(warning ? { warning } : {}) };
}

export async function writeLatest(store: ContentStore, backupId: string, now: Date): Promise<void> {
  await store.put(storeKeys.latest, jsonBody({ backupId, committedAt: now.toISOString() }), {
    contentType: 'application/json',
  });
}

/** Every backup id in the store, oldest first (ids sort by time). */
export async function listBackupIds(store: ContentStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const object of store.list(storeKeys.backupsPrefix)) {
    const id = backupIdOfManifestKey(object.key);
    if (id && isBackupId(id)) ids.push(id);
  }
  return ids.sort();
}
