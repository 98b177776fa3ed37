import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as z from 'zod';
import { siblingEndedStatus } from '#backup-set/executions.ts';
import { readManifest } from '#backup-set/manifest.ts';
import { howRunEnded } from '#backup-set/report-run.ts';
import { assertRestoreLocksHeld } from '#backup-set/restore-lock.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { CorruptBackupError, describeIssues, InvalidInputError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { type ContentStore, jsonBody, readJson } from '#store/content-store.ts';
import { RestoreTargetError, UnsafeEntryError } from './errors.ts';
import { planRestoreEventSchema, type RoundState, type ShardItem } from './events.ts';
import { exists, lstatIfPresent } from './fsx.ts';
import {
  type FileIndex,
  type IndexEntry,
  type PartRef,
  partRefSchema,
  readIndex,
  readPartBatches,
  SUPPORTED_ENCODINGS,
  sourceSchema,
} from './index-format.ts';
import { filesKeys, shardId } from './keys.ts';
import { discoverLiferayHome } from './liferay-discovery.ts';
import { comparePaths, isUnder, unsafePathReason } from './paths.ts';
import { removeRestoredTree } from './restore-fs.ts';
import { targetState } from './restore-swap.ts';
import {
  compilePathFilter,
  type FilesComponentName,
  filesRestoreRequestSchema,
  filesResultDetailsSchema,
  filesSettings,
  MAX_PACK_BYTES,
  type PathFilter,
} from './settings.ts';

const count = z.number().int().nonnegative();

/** work/<restoreId>/files/<component>/plan.json: what the restore shards and Finalize work from. */
export const restorePlanSchema = z.strictObject({
  restoreId: z.string(),
  backupId: z.string(),
  /** The Restore execution that made the plan (absent for plans of earlier versions). */
  executionId: z.string().optional(),
  component: z.enum(['liferayHome', 'appServer']),
  createdAt: z.iso.datetime({ offset: true }),
  /** The parts to read, in path order; shard items name them by position. */
  parts: z.array(partRefSchema),
  path: z.string().optional(),
  target: z.string(),
  staging: z.string(),
  swap: z.boolean(),
  /** Restore every file whose content can be read; list the others (restore-shard.ts). Absent in plans of earlier versions. */
  skipLost: z.boolean().default(false),
  root: z.strictObject({ mode: z.number().int(), mtimeNs: z.string() }).optional(),
  sources: z.array(sourceSchema),
  /** The backup's rules: a swap keeps what they leave out (restore-swap.ts). Absent in plans of earlier versions. */
  rules: z.strictObject({ include: z.array(z.string()), exclude: z.array(z.string()) }).optional(),
  expected: z.strictObject({ entries: count, files: count, bytes: count }),
  warnings: z.array(z.string()),
});
export type RestorePlan = z.infer<typeof restorePlanSchema>;

export async function readRestorePlan(store: ContentStore, key: string): Promise<RestorePlan> {
  const parsed = restorePlanSchema.safeParse(await readJson(store, key));
  if (!parsed.success)
    throw new CorruptBackupError(
      `${key} is not a valid restore plan: ${describeIssues(parsed.error.issues)}`,
    );
  return parsed.data;
}

/** Whether a part [first, last] can hold the filter's base path or something beneath it. */
function partMayMatch(part: PartRef, filter: PathFilter | undefined): boolean {
  if (!filter || filter.base === '') return true;
  const { base } = filter;
  if (comparePaths(part.lastPath, base) < 0) return false;
  return comparePaths(part.firstPath, base) <= 0 || isUnder(part.firstPath, base);
}

/** Why an entry cannot be restored safely, or undefined. `parent` is the nearest entry above it in the index. */
export function unsafeEntryReason(entry: IndexEntry, parent: IndexEntry | undefined): string | undefined {
  const pathProblem = unsafePathReason(entry.path);
  if (pathProblem) return pathProblem;
  if (parent && parent.type !== 'dir') {
    return `it lies beneath ${JSON.stringify(parent.path)}, which is ${parent.type === 'symlink' ? 'a symbolic link' : 'a file'}: restoring it would write through it`;
  }
  if (entry.type === 'file' && entry.encoding !== undefined && !SUPPORTED_ENCODINGS.has(entry.encoding)) {
    return `its content is stored with encoding ${JSON.stringify(entry.encoding)}, which this version cannot read`;
  }
  if (entry.type === 'file' && entry.size > 0 && !entry.data) return 'it has content but no location for it';
  if (entry.type === 'file' && entry.data && 'pack' in entry.data && entry.data.length !== entry.size) {
    return `its stored length (${entry.data.length}) differs from its size (${entry.size})`;
  }
  // A restore without fetch workers (over EFS) assembles a packed file in memory of its size.
  if (entry.type === 'file' && entry.data && 'pack' in entry.data) {
    const { pack, offset, length } = entry.data;
    if (offset + length > MAX_PACK_BYTES)
      return `its stored range (${length} bytes at ${offset} in ${pack}) lies beyond the largest pack a backup writes (${MAX_PACK_BYTES} bytes)`;
  }
  return undefined;
}

/** Whether a path lies outside the span [firstPath, lastPath] its part records. */
export function outsidePartSpan(part: PartRef, path: string): boolean {
  return comparePaths(path, part.firstPath) < 0 || comparePaths(path, part.lastPath) > 0;
}

/** The nearest entry above each entry of an index read in path order (what unsafeEntryReason needs). */
export class IndexParents {
  private readonly stack: IndexEntry[] = [];

  /** The nearest entry above `entry` among those seen; `entry` is remembered for the ones after it. */
  parentOf(entry: IndexEntry): IndexEntry | undefined {
    while (
      this.stack.length > 0 &&
      !isUnder(entry.path, (this.stack[this.stack.length - 1] as IndexEntry).path)
    )
      this.stack.pop();
    const parent = this.stack[this.stack.length - 1];
    this.stack.push(entry);
    return parent;
  }
}

/**
 * Checks every entry of the parts a restore reads, before anything is written: paths are relative
 * and stay inside the tree, nothing lies beneath a link or a file, entries follow each other in
 * order across parts and stay inside their part's recorded span, encodings are known.
 */
async function validateParts(
  store: ContentStore,
  parts: readonly PartRef[],
  filter: PathFilter | undefined,
): Promise<{ entries: number; files: number; bytes: number }> {
  const counts = { entries: 0, files: 0, bytes: 0 };
  const parents = new IndexParents();
  let previous: string | undefined;
  for (const part of parts) {
    // In batches: an await per entry was a tenth of a second of a plan of 32,000 entries.
    for await (const batch of readPartBatches(store, part))
      for (const { entry } of batch) {
        const where = () => `${part.key}: ${JSON.stringify(entry.path)}`;
        if (previous !== undefined && comparePaths(previous, entry.path) >= 0) {
          throw new CorruptBackupError(
            `${where()} is not after ${JSON.stringify(previous)}: the index parts overlap`,
          );
        }
        if (outsidePartSpan(part, entry.path)) {
          throw new CorruptBackupError(`${where()} lies outside the part's recorded span`);
        }
        previous = entry.path;
        const reason = unsafeEntryReason(entry, parents.parentOf(entry));
        if (reason)
          throw new UnsafeEntryError(
            `the backup's index holds an entry that cannot be restored safely: ${where()}: ${reason}; nothing was written`,
          );
        if (filter && !filter.matches(entry.path)) continue;
        counts.entries += 1;
        if (entry.type === 'file') {
          counts.files += 1;
          counts.bytes += entry.size;
        }
      }
  }
  return counts;
}

/**
 * A target that is a mount point (its own volume) cannot be renamed aside or replaced, and the
 * staging folder beside it would be on the parent's file system: Finalize would fail after the
 * whole tree was restored (EBUSY, EXDEV). Refused here, before anything is written.
 */
async function refuseMountPoint(component: FilesComponentName, target: string): Promise<void> {
  const stats = await lstatIfPresent(target);
  if (!stats) return;
  const parent = path.dirname(target);
  if (stats.dev === (await fs.stat(parent)).dev) return;
  throw new RestoreTargetError(
    `${component}: the target ${target} is a mount point (a file system of its own): the restore stages the tree beside it on ${parent}'s file system and cannot rename a mount point. Restore into a folder inside it (for example ${path.join(target, 'restored')}) and move what you need, or into a new folder you then mount`,
  );
}

/** The staging folder of a restore: beside the target, so that swapping is a rename on one file system. */
export function stagingDirFor(target: string, restoreId: string): string {
  return `${target}.restore-${restoreId}`;
}

/**
 * Restore Plan: loads the set's index, checks every entry the restore will read (a hostile or
 * damaged index fails here and nothing is written), creates a new staging folder beside the
 * target, and writes one shard per index part that the request needs.
 */
export async function planRestore(event: unknown, rt: Runtime): Promise<RoundState> {
  const { restore, component, executionId } = parseInput(
    planRestoreEventSchema,
    event,
    'files restore plan input',
  );
  const request = parseInput(
    filesRestoreRequestSchema,
    restore.requests[component] ?? {},
    `${component} restore request`,
  );
  const settings = filesSettings(rt, component);
  const manifest = await readManifest(rt.store, restore.backupId);
  const result = manifest.results[component];
  if (result?.status !== 'complete') {
    throw new InvalidInputError(`backup set ${restore.backupId} holds no complete copy of ${component}`);
  }
  const details = filesResultDetailsSchema.safeParse(result.details);
  if (!details.success) {
    throw new CorruptBackupError(
      `the manifest's ${component} result is not a files result: ${describeIssues(details.error.issues)}`,
    );
  }
  const index: FileIndex = await readIndex(rt.store, details.data.index.key, details.data.index);

  const target = request.target ?? settings.root;
  // The staging folder goes beside the target, so the target must lie strictly below the writable root.
  if (settings.writableRoot && !isUnder(target.slice(1), settings.writableRoot.slice(1))) {
    throw new RestoreTargetError(
      `${component}: the target ${target} must be a folder below ${settings.writableRoot} (where this deployment may write; the staging folder is created beside the target)`,
    );
  }
  const staging = stagingDirFor(target, restore.restoreId);
  const warnings: string[] = [];
  // Refused before anything is written: Finalize would refuse it after the whole tree was restored.
  await targetState(target);
  await refuseMountPoint(component, target);
  await checkBuild(component, target, details.data.dxp, request.force, warnings);

  const filter = request.path ? compilePathFilter(request.path) : undefined;
  const parts = index.parts.filter((part) => partMayMatch(part, filter));
  rt.progress(`${component}: checking ${parts.length} index parts`);
  const expected = await validateParts(rt.store, parts, filter);
  if (filter && expected.entries === 0) {
    throw new InvalidInputError(
      `${component}.path ${JSON.stringify(request.path)} (CLI: --path) matches nothing in backup set ${restore.backupId}: a restore path or glob is relative to the root of the tree as it was backed up (${index.sources.find((source) => source.role === 'tree')?.root ?? settings.root}), e.g. data/document_library/20101/** or osgi/configs; nothing was written`,
    );
  }

  // A redriven execution re-runs Plan, never Validate: the target may be another restore's by now.
  await assertRestoreLocksHeld(rt, restore);
  await fs.mkdir(path.dirname(target), { recursive: true });
  await removeFailedStagings(rt, component, target, restore.restoreId, executionId, warnings);
  await makeStaging(component, staging);

  const plan: RestorePlan = {
    restoreId: restore.restoreId,
    backupId: restore.backupId,
    ...(executionId ? { executionId } : {}),
    component,
    createdAt: rt.now().toISOString(),
    parts,
    ...(request.path ? { path: request.path } : {}),
    target,
    staging,
    swap: request.swap,
    skipLost: request.skipLost,
    ...(index.root ? { root: index.root } : {}),
    sources: index.sources,
    rules: details.data.rules,
    expected,
    warnings,
  };
  const items: ShardItem[] = parts.map((_, position) => ({ id: shardId(0, position), part: position }));
  const planKey = filesKeys.plan(restore.restoreId, component);
  const shardListKey = filesKeys.round(restore.restoreId, component, 0);
  await Promise.all([
    rt.store.put(planKey, jsonBody(plan), { contentType: 'application/json' }),
    rt.store.put(shardListKey, jsonBody(items), { contentType: 'application/json' }),
  ]);
  rt.logger.info('files restore planned', { component, parts: parts.length, ...expected, staging });
  return { component, planKey, round: 0, shardListKey, shards: items.length, next: true };
}

/**
 * A new staging folder. Step Functions runs Plan again when Lambda's answer is lost, possibly after
 * the function ran: the empty folder an earlier attempt of this restore made (its name holds this
 * restore's id) is used again. One that holds anything was not made by this step and is refused.
 */
async function makeStaging(component: FilesComponentName, staging: string): Promise<void> {
  try {
    await fs.mkdir(staging, { mode: 0o700 });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const stats = await fs.lstat(staging);
  if (!stats.isDirectory() || (await fs.readdir(staging)).length > 0)
    throw new RestoreTargetError(
      `${component}: the staging folder ${staging} exists already and is not empty`,
    );
}

const STAGING_RESTORE_ID = /^r\d{8}t\d{6}z-[0-9a-f]{4}$/;

/**
 * A restore that fails (the disk filled, the store went away) leaves its partial tree in its
 * staging folder beside the target, and the space it holds would make the next attempt fail the
 * same way. Before staging anew, remove the staging folders of earlier restores of this component
 * into this target whose report says this component did not complete. A staging folder kept on
 * purpose (a complete restore beside a tree it did not replace), one of a restore still running
 * (its report says so, and its run has not ended: report-run.ts), or one this store knows nothing
 * about is left alone.
 */
async function removeFailedStagings(
  rt: Runtime,
  component: FilesComponentName,
  target: string,
  ownRestoreId: string,
  executionId: string | undefined,
  warnings: string[],
): Promise<void> {
  const prefix = `${path.basename(target)}.restore-`;
  let names: string[];
  try {
    names = await fs.readdir(path.dirname(target));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  for (const name of names) {
    const restoreId = name.slice(prefix.length);
    if (!name.startsWith(prefix) || !STAGING_RESTORE_ID.test(restoreId) || restoreId === ownRestoreId)
      continue;
    const staging = path.join(path.dirname(target), name);
    let status: string | undefined;
    try {
      const earlier = await readRestorePlan(rt.store, filesKeys.plan(restoreId, component));
      if (earlier.staging !== staging) continue;
      const report = await readRestoreReport(rt.store, earlier.backupId, restoreId);
      if (report.results[component]?.status === 'complete') continue;
      status = howRunEnded(report, rt.now()) ?? (await executionEnded(rt, executionId, earlier.executionId));
      if (status === undefined) continue;
    } catch {
      continue; // no plan or report for it here: not ours to judge
    }
    try {
      await removeRestoredTree(staging);
      warnings.push(`removed ${staging}, the partial tree of restore ${restoreId} (${status})`);
    } catch (error) {
      warnings.push(
        `could not remove ${staging}, the partial tree of restore ${restoreId} (${status}): ${(error as Error).message}`,
      );
    }
  }
}

/**
 * On AWS, a restore stopped in the console leaves its report `running` and never says so. When it
 * and this restore are executions of the same Restore state machine, Step Functions is asked (as
 * Begin asks about the backup lock's holder); without an answer it counts as running, and its
 * staging folder waits for the workflow's 24-hour time-out.
 */
async function executionEnded(
  rt: Runtime,
  own: string | undefined,
  earlier: string | undefined,
): Promise<string | undefined> {
  const status = await siblingEndedStatus(rt.logger, own, earlier, 'an earlier restore');
  return status === undefined ? undefined : `still recorded running, but its execution ended (${status})`;
}

/**
 * DESIGN.md: a restore onto a Liferay Home of another DXP build is refused unless forced (the
 * database and the modules of the restored tree must match the build that will run them).
 */
async function checkBuild(
  component: FilesComponentName,
  target: string,
  dxp: { version: string; build?: string | undefined } | undefined,
  force: boolean,
  warnings: string[],
): Promise<void> {
  if (component !== 'liferayHome' || !dxp || !(await exists(target))) return;
  const current = (await discoverLiferayHome(target)).dxp;
  if (!current) return;
  const same =
    current.version === dxp.version &&
    (current.build === undefined || dxp.build === undefined || current.build === dxp.build);
  if (same) return;
  const describe = (build: { version: string; build?: string | undefined }) =>
    `${build.version}${build.build ? ` build ${build.build}` : ''}`;
  if (!force) {
    throw new InvalidInputError(
      `${component}: the backup holds DXP ${describe(dxp)} but ${target} has DXP ${describe(current)}; set "force": true (CLI --force) to restore it anyway`,
    );
  }
  warnings.push(`restored DXP ${describe(dxp)} over a tree of DXP ${describe(current)} (forced)`);
}
