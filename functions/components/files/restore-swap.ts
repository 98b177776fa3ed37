import type { BigIntStats, Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as z from 'zod';
import { isRunId } from '#backup-set/backup-id.ts';
import type { ContentStore } from '#store/content-store.ts';
import { jsonBody } from '#store/content-store.ts';
import { RestoreTargetError } from './errors.ts';
import { exists, lstatIfPresent } from './fsx.ts';
import { filesKeys } from './keys.ts';
import type { CompiledSelection } from './liferay-rules.ts';
import { joinPath } from './paths.ts';
import { secondsOf } from './restore-fs.ts';
import { readJsonIfPresent } from './rounds.ts';

/**
 * Puts a restored tree in place, once, whatever earlier attempts of the step did.
 *
 * Step Functions runs Finalize again when Lambda's answer is lost, which may happen after the
 * function ran to its end, and a Lambda can be cut off between two calls. So every state an
 * earlier attempt can leave is recognised: the staging folder already renamed into place (the
 * store records that the renames began), the live tree renamed aside but the staging folder not
 * yet in its place, the carry-over half done.
 *
 * A swap keeps what the backup does not hold on purpose: the entries of the live tree that no
 * include rule reaches (in a DXP bundle the app server folder `tomcat-…`, `osgi/core`,
 * `osgi/portal`, `tools`, the Patching Tool: what comes with the bundle, not the backup) are moved
 * from the previous tree into the restored one, because Liferay cannot start without them. What
 * the rules exclude because Liferay regenerates it (`osgi/state`, `work`) and what the rules
 * select but the backup did not hold (a document added since) stay in the previous tree.
 */

export interface Placement {
  /** Where the restored tree is now. */
  readonly location: string;
  /** Where the live tree went (a swap). */
  readonly previousTree?: string;
  /** Entries moved from the live tree into the restored one (paths relative to the tree). */
  readonly carried: readonly string[];
  readonly warnings: readonly string[];
}

export interface PlacementRequest {
  readonly store: ContentStore;
  readonly restoreId: string;
  readonly component: 'liferayHome' | 'appServer';
  readonly target: string;
  readonly staging: string;
  readonly swap: boolean;
  /** The backup's rules; without them (plans of earlier versions) nothing is carried over. */
  readonly selection: CompiledSelection | undefined;
}

type TargetState = 'missing' | 'empty' | 'tree';

/** Named in the report, at most (the count is always given). */
const CARRIED_NAMED = 20;

export function previousTreeFor(target: string, restoreId: string): string {
  return `${target}.before-${restoreId}`;
}

/** Whether the target is missing, an empty folder or a tree; anything but a folder is refused. */
export async function targetState(target: string): Promise<TargetState> {
  let stats: import('node:fs').Stats;
  try {
    stats = await fs.lstat(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  if (!stats.isDirectory()) {
    let real = '';
    if (stats.isSymbolicLink()) {
      try {
        real = ` (it points to ${await fs.realpath(target)}: restore into that folder)`;
      } catch {
        real = ' (it points to nothing)';
      }
    }
    throw new RestoreTargetError(
      `the target ${target} is ${stats.isSymbolicLink() ? `a symbolic link${real}` : 'not a directory'}; restore into a directory`,
    );
  }
  return (await fs.readdir(target)).length === 0 ? 'empty' : 'tree';
}

/** What Finalize records before it renames (work/<rid>/files/<component>/placement.json). */
const placementRecordSchema = z.strictObject({
  location: z.string(),
  previousTree: z.string().optional(),
});

export async function putInPlace(request: PlacementRequest): Promise<Placement> {
  const { store, restoreId, component, target, staging } = request;
  const recordKey = filesKeys.placement(restoreId, component);
  const previousTree = previousTreeFor(target, restoreId);

  if (!(await exists(staging))) {
    // An earlier attempt renamed the staging folder into place; the store says where to.
    const record = placementRecordSchema.safeParse(await readJsonIfPresent(store, recordKey));
    if (!record.success || record.data.location !== target || !(await exists(target))) {
      throw new RestoreTargetError(
        `the staging folder ${staging} is gone and no earlier attempt of this restore put it in place: the restored tree is lost; run the restore again`,
      );
    }
    if (record.data.previousTree === undefined) return { location: target, carried: [], warnings: [] };
    return finishSwap(request, previousTree, []);
  }

  if (await exists(previousTree)) {
    // An earlier attempt renamed the live tree aside and stopped before the staging folder took its place.
    await renameIntoPlace(staging, target, previousTree);
    return finishSwap(request, previousTree, [
      `an earlier attempt of this step had moved the live tree aside; the restore completed the swap`,
    ]);
  }

  const state = await targetState(target);
  if (state === 'tree' && !request.swap) {
    return {
      location: staging,
      carried: [],
      warnings: [
        `the restored tree is in ${staging}; ${target} was left as it was (to replace it, restore again with "swap": true in the request, CLI: --swap; the tree it replaces is kept beside it as ${target}.before-<restoreId>)`,
      ],
    };
  }
  const swapping = state === 'tree';
  if (swapping && request.selection) await checkCarriable(target, staging, request.selection);
  await store.put(recordKey, jsonBody({ location: target, ...(swapping ? { previousTree } : {}) }), {
    contentType: 'application/json',
  });
  if (!swapping) {
    if (state === 'empty') await fs.rmdir(target);
    await fs.rename(staging, target);
    return { location: target, carried: [], warnings: [] };
  }
  await fs.rename(target, previousTree);
  await renameIntoPlace(staging, target, previousTree);
  return finishSwap(request, previousTree, []);
}

/**
 * The second rename of a swap. If it fails, the live tree is put back where it was, so that the
 * target never stays missing; if even that fails, the error says which folder to move where.
 */
async function renameIntoPlace(staging: string, target: string, previousTree: string): Promise<void> {
  try {
    await fs.rename(staging, target);
  } catch (error) {
    const cause = (error as Error).message;
    try {
      await fs.rename(previousTree, target);
    } catch (rollback) {
      const missing = (await exists(target)) ? '' : `${target} is MISSING. `;
      throw new RestoreTargetError(
        `could not put the restored tree in place (${cause}), nor the live tree back (${(rollback as Error).message}): ${missing}The live tree is ${previousTree} (to put it back: mv '${previousTree}' '${target}'); the restored tree is ${staging}`,
        { cause: error },
      );
    }
    throw new RestoreTargetError(
      `could not put the restored tree in place (${cause}); the live tree was put back at ${target} unchanged, and the restored tree is in ${staging}`,
      { cause: error },
    );
  }
}

async function finishSwap(
  request: PlacementRequest,
  previousTree: string,
  warnings: string[],
): Promise<Placement> {
  if (request.selection) await carryOver(previousTree, request.target, request.selection);
  // What the restored tree holds that the backup did not: what this attempt, or an earlier one
  // whose answer was lost, carried over (the restore writes only what the rules select).
  const carried = request.selection ? await carriedEntries(request.target, request.selection) : [];
  const kept = [...warnings, `the previous tree was kept as ${previousTree}`];
  if (!request.selection)
    kept.push(
      'the plan of this restore records no rules (an earlier version made it): nothing was carried over from the previous tree',
    );
  if (carried.length > 0) {
    const named = carried.slice(0, CARRIED_NAMED).join(', ');
    const more = carried.length > CARRIED_NAMED ? `, and ${carried.length - CARRIED_NAMED} more` : '';
    kept.push(
      `kept from the live tree, which the backup leaves out on purpose (moved from ${previousTree}): ${named}${more}`,
    );
  }
  return { location: request.target, previousTree, carried, warnings: kept };
}

/**
 * The entries of the live tree the swap will carry over that this process cannot move: a folder
 * moves to another parent only when its mover may write to it (its `..` entry changes), and
 * carryOver makes writable, for the move, only folders this process owns. Refused before
 * anything is renamed: after the swap, the live tree would be in place without its app server.
 */
async function checkCarriable(target: string, staging: string, selection: CompiledSelection): Promise<void> {
  const uid = process.getuid?.();
  if (uid === undefined || uid === 0) return;
  const blocked: string[] = [];
  await walkCarried(target, staging, selection, async (source, rel) => {
    const stats = await fs.lstat(source);
    if (stats.isDirectory() && stats.uid !== uid && !(await writable(source))) blocked.push(rel);
  });
  if (blocked.length > 0)
    throw new RestoreTargetError(
      `the swap must carry ${blocked.slice(0, CARRIED_NAMED).join(', ')} from ${target} into the restored tree (the backup leaves them out on purpose), and this process (uid ${uid}) may not move them: a folder moves only when its mover may write to it. Make them writable for uid ${uid}, or restore as their owner. Nothing was changed; the restored tree is in ${staging}`,
    );
}

async function writable(dir: string): Promise<boolean> {
  try {
    await fs.access(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Calls `carry` for every entry of `from` the swap carries into `into`: the entries no include
 * rule reaches that `into` does not hold. A folder holding selected entries (`osgi`) is entered
 * where `into` has it or lacks it (never where `into` has something else there); an empty one a
 * rule could reach (Tomcat's `temp` with an include rule starting with `**`) is carried whole.
 * Beneath a selected or excluded folder everything is selected or excluded: never entered. The
 * one walk of what moves, for the check before the swap and for the moves.
 */
async function walkCarried(
  from: string,
  into: string,
  selection: CompiledSelection,
  carry: (source: string, rel: string, isDirectory: boolean) => Promise<void>,
): Promise<void> {
  const visit = async (rel: string, intoExists: boolean): Promise<void> => {
    const source = rel === '' ? from : path.join(from, ...rel.split('/'));
    for (const entry of await fs.readdir(source, { withFileTypes: true })) {
      if (isRestoreArtefact(entry.name)) continue;
      const isDirectory = entry.isDirectory();
      const child = joinPath(rel, entry.name);
      const verdict = selection.verdict(child, isDirectory);
      if (verdict === 'selected' || verdict === 'excluded') continue;
      const entrySource = path.join(source, entry.name);
      const restored = intoExists ? await lstatIfPresent(path.join(into, ...child.split('/'))) : undefined;
      if (verdict === 'holding' && isDirectory && (await fs.readdir(entrySource)).length > 0) {
        if (!restored || restored.isDirectory()) await visit(child, restored !== undefined);
        continue;
      }
      // A retried step finds what it carried already.
      if (!restored) await carry(entrySource, child, isDirectory);
    }
  };
  await visit('', true);
}

/**
 * Moves into the restored tree the entries walkCarried names. A folder on the way that the
 * restored tree lacks is made when the first entry moves into it, with the previous folder's
 * mode plus the owner's rwx until the end (what a retry that finds it half filled leaves it
 * with), then its mode and times. The restored folders' times are set back after the moves (a
 * rename into a folder changes its mtime). Run again after an interruption, it moves what is
 * left. A read-only folder this process owns is made writable for its move, then set back.
 */
async function carryOver(from: string, into: string, selection: CompiledSelection): Promise<void> {
  const touched = new Map<string, BigIntStats>();
  /** Folders made here, by their path relative to the tree, with the previous folders' stats. */
  const made = new Map<string, Stats>();
  const folderFor = async (rel: string): Promise<string> => {
    const there = rel === '' ? into : path.join(into, ...rel.split('/'));
    if (made.has(rel)) return there;
    const stats = await lstatIfPresent(there);
    if (stats) {
      if (!touched.has(there)) touched.set(there, await fs.lstat(there, { bigint: true }));
      return there;
    }
    await folderFor(path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel));
    const previous = await fs.lstat(path.join(from, ...rel.split('/')));
    await fs.mkdir(there, { mode: 0o700 });
    await fs.chmod(there, (previous.mode & 0o7777) | 0o700);
    made.set(rel, previous);
    return there;
  };
  await walkCarried(from, into, selection, async (source, rel, isDirectory) => {
    const parent = await folderFor(path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel));
    await moveEntry(source, path.join(parent, path.posix.basename(rel)), isDirectory);
  });
  // Deepest first: setting a folder's times after those of the folders in it.
  for (const [rel, previous] of [...made].reverse()) {
    const there = path.join(into, ...rel.split('/'));
    await fs.chmod(there, previous.mode & 0o7777);
    await fs.utimes(there, previous.atime, previous.mtime);
  }
  for (const [dir, stats] of touched) {
    await fs.utimes(dir, secondsOf(stats.atimeNs.toString()), secondsOf(stats.mtimeNs.toString()));
  }
}

/** The entries of a restored tree that no include rule reaches (carried over), deepest named last. */
async function carriedEntries(tree: string, selection: CompiledSelection): Promise<string[]> {
  const found: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    const dir = rel === '' ? tree : path.join(tree, ...rel.split('/'));
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      if (isRestoreArtefact(entry.name)) continue;
      const child = joinPath(rel, entry.name);
      const verdict = selection.verdict(child, entry.isDirectory());
      if (verdict === 'selected' || verdict === 'excluded') continue;
      if (verdict === 'holding' && entry.isDirectory()) await visit(child);
      else found.push(child);
    }
  };
  await visit('');
  return found.sort();
}

/**
 * What an earlier restore left inside the live tree: the app server's previous tree
 * (`tomcat-….before-<restoreId>`) or a failed attempt's staging folder (`….restore-<restoreId>`),
 * when the app server lives inside the Liferay Home. Outside every include rule, each swap of the
 * home carried them into the new one, a whole Tomcat more each time; they stay in the previous
 * tree with the rest of what the live tree held.
 */
function isRestoreArtefact(name: string): boolean {
  const match = /\.(?:before|restore)-(r[0-9a-z-]+)$/.exec(name);
  return match?.[1] !== undefined && isRunId(match[1], 'r');
}

/** A rename; a folder its mover may not write to is made writable for the move (checkCarriable), then set back. */
async function moveEntry(source: string, destination: string, isDirectory: boolean): Promise<void> {
  if (!isDirectory || process.getuid?.() === 0 || (await writable(source))) {
    await fs.rename(source, destination);
    return;
  }
  const { mode } = await fs.lstat(source);
  await fs.chmod(source, (mode & 0o7777) | 0o200);
  await fs.rename(source, destination);
  await fs.chmod(destination, mode & 0o7777);
}
