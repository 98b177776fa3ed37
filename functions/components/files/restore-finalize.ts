import { assertRestoreLocksHeld } from '#backup-set/restore-lock.ts';
import { type ComponentRestoreResult, withinResultBudget } from '#components/component.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { EXTERNAL_DL_MOUNT } from './backup-plan.ts';
import { RestoreTargetError } from './errors.ts';
import { finalizeRestoreEventSchema, type RoundState } from './events.ts';
import { lstatIfPresent } from './fsx.ts';
import { filesKeys } from './keys.ts';
import { recordedSelection } from './liferay-rules.ts';
import { mergeLostLists } from './lost-content.ts';
import { comparePaths } from './paths.ts';
import { applyDirMetadata, SafeTree } from './restore-fs.ts';
import { type RestorePlan, readRestorePlan } from './restore-plan.ts';
import { type DirMetadata, type RestoreShardResult, readRestoreShardResult } from './restore-shard.ts';
import { putInPlace } from './restore-swap.ts';
import { allRoundItems, nextRound, readRound, roundResults } from './rounds.ts';

/**
 * Finalize restore: every shard finished (or the next round continues those that stopped at their
 * time budget); folders that several shards wrote into get their mode and mtime again; then the
 * staging folder becomes the target when the target is missing or empty, or when the request
 * says swap (the previous tree is kept beside it, renamed). Otherwise the tree stays in staging.
 */
export async function finalizeRestore(event: unknown, rt: Runtime): Promise<RoundState> {
  const { restore, component, files } = parseInput(
    finalizeRestoreEventSchema,
    event,
    'files restore finalize input',
  );
  const { store } = rt;
  const what = `the ${component} restore`;
  const readResult = (id: string) =>
    readRestoreShardResult(store, filesKeys.shardResult(restore.restoreId, component, id));
  const items = await readRound(store, files.shardListKey);
  const results = await roundResults(items, (item) => readResult(item.id), what);
  const continuing = items.flatMap((item, index) => {
    const resumeAfter = results[index]?.resumeAfter;
    return resumeAfter !== undefined ? [{ item, resumeAfter }] : [];
  });
  const next = await nextRound(store, restore.restoreId, component, files, continuing);
  if (next) return next;

  // Above all before the swap: a redriven execution whose target another restore took over would
  // rename that restore's live tree aside. Before the folders' metadata and the lost-files list too.
  await assertRestoreLocksHeld(rt, restore);
  const plan = await readRestorePlan(store, files.planKey);
  const all: RestoreShardResult[] =
    files.round === 0
      ? results
      : await roundResults(
          await allRoundItems(store, restore.restoreId, component, files.round),
          (item) => readResult(item.id),
          what,
        );
  // An earlier attempt of this step that put the tree in place had set these already.
  if ((await lstatIfPresent(plan.staging))?.isDirectory()) {
    const tree = new SafeTree(plan.staging);
    const open = new Map<string, DirMetadata>();
    for (const result of all) for (const dir of result.openDirs) open.set(dir.path, dir);
    // Deepest first: a folder's metadata is set after everything beneath it.
    const dirs = [...open.values()].sort((a, b) => comparePaths(b.path, a.path));
    for (const dir of dirs) await applyDirMetadata(tree.absolute(dir.path), dir.mode, dir.mtimeNs);
    if (!plan.path && plan.root) await applyDirMetadata(plan.staging, plan.root.mode, plan.root.mtimeNs);
  }

  const sum = (pick: (result: RestoreShardResult) => number) =>
    all.reduce((total, result) => total + pick(result), 0);
  const restoredFiles = sum((r) => r.stats.files);
  const lostFiles = sum((r) => r.stats.lostFiles);
  const lostBytes = sum((r) => r.stats.lostBytes);
  if (restoredFiles + lostFiles !== plan.expected.files) {
    throw new RestoreTargetError(
      `${component}: restored ${restoredFiles} files${lostFiles > 0 ? ` (and listed ${lostFiles} as lost)` : ''} but the index lists ${plan.expected.files}; the tree in ${plan.staging} is incomplete and was not put in place`,
    );
  }
  const warnings = [...plan.warnings];
  const lost = lostFiles > 0 ? await recordLostFiles(rt, plan, all, lostBytes) : undefined;
  if (lost) warnings.unshift(lost.warning);
  const placement = await putInPlace({
    store,
    restoreId: restore.restoreId,
    component,
    target: plan.target,
    staging: plan.staging,
    swap: plan.swap,
    selection: plan.rules ? recordedSelection(component, plan.rules) : undefined,
  });
  warnings.push(...placement.warnings);
  const { location, previousTree } = placement;
  if (plan.sources.some((source) => source.mount === EXTERNAL_DL_MOUNT)) {
    warnings.push(
      `the document library was kept outside the Liferay Home; it was restored into ${location}/${EXTERNAL_DL_MOUNT}: move it to its configured root before starting Liferay`,
    );
  }
  const finishedAt = rt.now();
  const summary = {
    location,
    files: restoredFiles,
    dirs: sum((r) => r.stats.dirs),
    symlinks: sum((r) => r.stats.symlinks),
    bytes: sum((r) => r.stats.bytes),
    verifiedFiles: sum((r) => r.stats.verifiedFiles),
    verification: 'sha256 of every file',
    ...(lost ? { lostFiles, lostBytes } : {}),
    contentRequests: sum((r) => r.stats.contentRequests),
    shards: all.length,
    seconds: Math.round((finishedAt.getTime() - Date.parse(plan.createdAt)) / 100) / 10,
  };
  const result: ComponentRestoreResult = {
    component,
    status: 'complete',
    startedAt: plan.createdAt,
    finishedAt: finishedAt.toISOString(),
    warnings,
    summary,
    details: {
      location,
      target: plan.target,
      staging: plan.staging,
      swapped: previousTree !== undefined,
      ...(previousTree ? { previousTree } : {}),
      ...(placement.carried.length > 0
        ? { carriedOver: { count: placement.carried.length, paths: placement.carried.slice(0, 100) } }
        : {}),
      ...(plan.path ? { path: plan.path } : {}),
      expected: plan.expected,
      ...(lost ? { lost: lost.details } : {}),
    },
  };
  rt.logger.info('files restore finalized', { component, ...summary });
  return { ...files, next: false, result: withinResultBudget(result) };
}

/**
 * A restore with skipLost that went on without some files: their lists become one list beside the
 * report (the work area is removed), and the report's first warning says what is missing and where
 * the list is.
 */
async function recordLostFiles(
  rt: Runtime,
  plan: RestorePlan,
  results: readonly RestoreShardResult[],
  bytes: number,
): Promise<{ warning: string; details: Record<string, unknown> }> {
  const inOrder = [...results].sort((a, b) => a.part - b.part || a.shardId.localeCompare(b.shardId));
  const key = filesKeys.restoreLost(plan.backupId, plan.restoreId, plan.component);
  const lists = inOrder.flatMap((result) => (result.lost ? [result.lost.list] : []));
  const copyPath = `${plan.target}.lost-${plan.restoreId}.jsonl`;
  const { files, first, copyError } = await mergeLostLists(rt.store, rt.scratchDir, lists, key, copyPath);
  const objects = new Set(inOrder.flatMap((result) => result.lost?.objects ?? []));
  const damagedFiles = new Set(inOrder.flatMap((result) => result.lost?.paths ?? []));
  const causes = [
    ...(objects.size > 0
      ? [`${plural(objects.size, 'stored object is', 'stored objects are')} gone or damaged`]
      : []),
    ...(damagedFiles.size > 0
      ? [
          `${plural(damagedFiles.size, 'file', 'files')} did not match ${damagedFiles.size === 1 ? 'its' : 'their'} sha256`,
        ]
      : []),
  ];
  const where =
    copyError === undefined
      ? `They are listed beside the target in ${copyPath}, and in the store as ${key} (gzip); one JSON line per file`
      : `They are listed in the store as ${key} (gzip, one JSON line per file; ${copyPath} could not be written: ${copyError})`;
  const warning =
    `${plural(files, 'file', 'files')} (${bytes} bytes) ${files === 1 ? 'was' : 'were'} NOT restored: their content in the backup store is lost (${causes.join('; ')}). ` +
    `Every other file was restored and checked. ${where}; the first: ${first.join(', ')}. ` +
    'Every set that holds these files unchanged points to the same content: a backup with {"full": true} stores every file again (while a live tree still has them)';
  return {
    warning,
    details: {
      files,
      bytes,
      list: key,
      ...(copyError === undefined ? { localList: copyPath } : {}),
      objects: [...objects].sort().slice(0, 100),
      damagedFiles: damagedFiles.size,
    },
  };
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
