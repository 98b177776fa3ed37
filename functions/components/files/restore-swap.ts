import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as z from 'zod';
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
        `the restored tree is in ${staging}; ${target} was left as it was (restore with swap to replace it)`,
      ],
    };
  }
  const swapping = state === 'tree';
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
  const carried = request.selection ? await carryOver(previousTree, request.target, request.selection) : [];
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
 * Moves into the restored tree the entries of the previous tree that no include rule reaches
 * and that the restored tree does not hold. A folder that holds selected entries (`osgi`) is
 * entered; one the restored tree lacks is created with the previous one's mode. The restored
 * folders' mtimes are set back after the moves (a rename into a folder changes its mtime).
 * Run again after an interruption, it moves what is left.
 */
async function carryOver(from: string, into: string, selection: CompiledSelection): Promise<string[]> {
  const carried: string[] = [];
  const touched = new Map<string, BigIntStats>();
  const visit = async (rel: string): Promise<void> => {
    const source = rel === '' ? from : path.join(from, ...rel.split('/'));
    const destination = rel === '' ? into : path.join(into, ...rel.split('/'));
    for (const entry of await fs.readdir(source, { withFileTypes: true })) {
      const isDirectory = entry.isDirectory();
      const child = joinPath(rel, entry.name);
      // Beneath a selected or excluded folder everything is selected or excluded: never entered.
      const verdict = selection.verdict(child, isDirectory);
      if (verdict === 'selected' || verdict === 'excluded') continue;
      const there = path.join(destination, entry.name);
      const restored = await lstatIfPresent(there);
      if (verdict === 'holding') {
        if (restored?.isDirectory()) await visit(child);
        else if (!restored) await carryInto(child, path.join(source, entry.name), there);
        continue;
      }
      // A retried step finds what it carried already.
      if (restored) continue;
      await remember(destination, touched);
      await fs.rename(path.join(source, entry.name), there);
      carried.push(child);
    }
  };
  /** A folder holding selected entries that the backup did not hold: made, entered, dropped if nothing was carried. */
  const carryInto = async (rel: string, source: string, there: string): Promise<void> => {
    const before = carried.length;
    await remember(path.dirname(there), touched);
    const stats = await fs.lstat(source);
    await fs.mkdir(there, { mode: 0o700 });
    await visit(rel);
    if (carried.length === before) {
      await fs.rmdir(there);
      return;
    }
    await fs.chmod(there, Number(stats.mode) & 0o7777);
    await fs.utimes(there, stats.atime, stats.mtime);
  };
  await visit('');
  for (const [dir, stats] of touched) {
    await fs.utimes(dir, secondsOf(stats.atimeNs.toString()), secondsOf(stats.mtimeNs.toString()));
  }
  return carried;
}

/** A restored folder's times, taken before the first entry is moved into it. */
async function remember(dir: string, touched: Map<string, BigIntStats>): Promise<void> {
  if (!touched.has(dir)) touched.set(dir, await fs.lstat(dir, { bigint: true }));
}
