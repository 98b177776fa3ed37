import { createHash } from 'node:crypto';
import { type ComponentResult, withinResultBudget } from '#components/component.ts';
import { CorruptBackupError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { clip } from '#runtime/text.ts';
import { parseInput } from '#runtime/validate.ts';
import { readBackupPlan } from './backup-plan.ts';
import { copySingleListCatalog, mergeCatalogSources, readCatalogLines, writeCatalog } from './catalog.ts';
import { readShardResult, type ShardResult } from './copy-shard.ts';
import { finalizeBackupEventSchema, type RoundState } from './events.ts';
import { type FileIndex, INDEX_FORMAT, indexBody, type PartRef } from './index-format.ts';
import { JsonLinesFile } from './jsonl.ts';
import { filesKeys } from './keys.ts';
import { comparePaths } from './paths.ts';
import { allRoundItems, nextRound, readRound, roundResults } from './rounds.ts';
import type { FilesResultDetails } from './settings.ts';

const MAX_RESULT_WARNINGS = 200;
/**
 * The result travels in the Step Functions state, whose every input and output is limited to
 * 256 KiB with both files components, the database, search and source results in it: 200
 * warnings of up to 4,000 characters (names deep in a tree of long names) made 670 KB. The result
 * shows warnings cut at 1,000 characters, 16 KiB of them; all of them, whole, are kept in the store.
 */
const MAX_RESULT_WARNING_CHARS = 1000;
const MAX_RESULT_WARNINGS_CHARS = 16 * 1024;

/**
 * Finalize: checks that every shard of the round finished; if some stopped at their time budget,
 * writes the next round and sends the workflow back to the Map. Otherwise merges the shards'
 * parts into the set's index and their content lists into the set's catalog, and returns the
 * component's result. A shard without a result fails the component: such a set is never complete.
 */
export async function finalizeBackup(event: unknown, rt: Runtime): Promise<RoundState> {
  const { backup, component, files } = parseInput(finalizeBackupEventSchema, event, 'files finalize input');
  const { store } = rt;
  const what = `the ${component} backup`;
  // The plan is read beside the round (one request less in a row; unused when a round follows).
  const planRead = readBackupPlan(store, files.planKey);
  planRead.catch(() => undefined);
  const items = await readRound(store, files.shardListKey);
  const results = await roundResults(
    items,
    (item) => readShardResult(store, filesKeys.shardResult(backup.backupId, component, item.id)),
    what,
  );
  const continuing = items.flatMap((item, index) => {
    const resumeAfter = results[index]?.resumeAfter;
    return resumeAfter !== undefined ? [{ item, resumeAfter }] : [];
  });
  const next = await nextRound(store, backup.backupId, component, files, continuing);
  if (next) {
    rt.logger.info('files backup continues', { component, round: next.round, shards: next.shards });
    return next;
  }

  const plan = await planRead;
  // One round (the usual case): its results are the ones just read.
  const all: ShardResult[] =
    files.round === 0
      ? results
      : await roundResults(
          await allRoundItems(store, backup.backupId, component, files.round),
          (item) => readShardResult(store, filesKeys.shardResult(backup.backupId, component, item.id)),
          what,
        );

  const parts: PartRef[] = all.flatMap((result) => (result.part ? [result.part] : []));
  parts.sort((a, b) => comparePaths(a.firstPath, b.firstPath));
  for (let i = 1; i < parts.length; i += 1) {
    if (comparePaths((parts[i - 1] as PartRef).lastPath, (parts[i] as PartRef).firstPath) >= 0) {
      throw new CorruptBackupError(
        `${component}: the parts of shards overlap (${(parts[i] as PartRef).key}); the plan's ranges were not disjoint`,
      );
    }
  }

  rt.progress(`${component}: writing the content catalog`);
  const contents = all.flatMap((result) => (result.content ? [result.content] : []));
  const keys = {
    partition: (prefix: string) => filesKeys.catalogPartition(backup.backupId, component, prefix),
    bloom: () => filesKeys.catalogBloom(backup.backupId, component),
  };
  // One shard (the usual incremental of up to 100,000 files): its list is the catalog as it is.
  const catalog =
    (contents.length === 1 && contents[0]
      ? await copySingleListCatalog(store, contents[0], keys)
      : undefined) ??
    (await writeCatalog(
      store,
      mergeCatalogSources(
        contents.map((content) => readCatalogLines(store, content.key, content)[Symbol.asyncIterator]()),
      ),
      {
        keys,
        scratchDir: rt.scratchDir,
        expectedEntries: contents.reduce((sum, content) => sum + content.entries, 0),
      },
    ));

  const sum = (pick: (result: ShardResult) => number) =>
    all.reduce((total, result) => total + pick(result), 0);
  const totals = {
    entries: sum((r) => r.stats.entries),
    files: sum((r) => r.stats.files),
    dirs: sum((r) => r.stats.dirs),
    symlinks: sum((r) => r.stats.symlinks),
    bytes: sum((r) => r.stats.bytes),
  };
  // The index's bytes depend only on what the shards wrote: a Finalize run twice (an invocation
  // reported failed that went on running) writes the same object, so whichever answer the
  // workflow keeps, the digest it records matches the store. Its time is the last shard's end.
  const createdAt = all.reduce(
    (latest, result) => (Date.parse(result.finishedAt) > Date.parse(latest) ? result.finishedAt : latest),
    plan.createdAt,
  );
  const index: FileIndex = {
    format: INDEX_FORMAT,
    version: 1,
    backupId: backup.backupId,
    component,
    createdAt,
    sources: plan.sources,
    root: plan.root,
    parts,
    totals,
    catalog,
  };
  const body = indexBody(index);
  const indexKey = filesKeys.index(backup.backupId, component);
  await store.put(indexKey, body, { contentType: 'application/json' });

  const warnings = [...plan.warnings, ...all.flatMap((result) => result.warnings)];
  const warningsKey = filesKeys.warnings(backup.backupId, component);
  const { shown, stored } = await shownWarnings(rt, warnings, warningsKey);
  const dxp = (plan.facts as { dxp?: { version?: unknown; build?: unknown; source?: unknown } }).dxp;
  const details: FilesResultDetails = {
    engine: 'files',
    index: {
      key: indexKey,
      size: Buffer.byteLength(body),
      sha256: createHash('sha256').update(body).digest('hex'),
    },
    sources: plan.sources,
    rules: plan.rules,
    ...(dxp && typeof dxp.version === 'string'
      ? {
          dxp: {
            version: dxp.version,
            ...(typeof dxp.build === 'string' ? { build: dxp.build } : {}),
            source: typeof dxp.source === 'string' ? dxp.source : 'unknown',
          },
        }
      : {}),
  };
  const finishedAt = rt.now();
  const recheckedFiles = sum((r) => r.stats.recheckedFiles);
  const result: ComponentResult = {
    component,
    status: 'complete',
    startedAt: plan.createdAt,
    finishedAt: finishedAt.toISOString(),
    warnings: shown,
    summary: {
      files: totals.files,
      dirs: totals.dirs,
      symlinks: totals.symlinks,
      bytes: totals.bytes,
      changedFiles: sum((r) => r.stats.changedFiles),
      // Shown only when some were: a backup normally has none (files changed as the previous began).
      ...(recheckedFiles > 0 ? { recheckedFiles } : {}),
      uploadedFiles: sum((r) => r.stats.uploadedFiles),
      uploadedBytes: sum((r) => r.stats.uploadedBytes),
      packs: sum((r) => r.stats.packs),
      blobs: sum((r) => r.stats.blobs),
      dedupedFiles: sum((r) => r.stats.dedupedFiles),
      shards: all.length,
      rounds: files.round + 1,
      seconds: Math.round((finishedAt.getTime() - Date.parse(plan.createdAt)) / 100) / 10,
      ...(details.dxp
        ? { dxp: `${details.dxp.version}${details.dxp.build ? ` (build ${details.dxp.build})` : ''}` }
        : {}),
    },
    details: {
      ...details,
      // Discovery's warnings are among the result's (and the stored list): not carried twice.
      discovery: { ...plan.facts, warnings: undefined },
      planning: plan.planning,
      ...(plan.previous ? { previousBackupId: plan.previous.backupId } : {}),
      catalog: { entries: catalog.entries, partitions: catalog.partitions.length },
    },
  };
  rt.logger.info('files backup finalized', { component, ...result.summary });
  const listed = `every one, whole, in ${warningsKey} (gzip, one JSON string a line)`;
  let bounded = withinResultBudget(result, listed);
  if (bounded !== result) {
    // The budget cut the shown warnings again (names in a script of 3 bytes a character pass it
    // within the shown characters): bounded over all of them instead, so that its line counts
    // every warning left out ("7 more" was said of 300), not only those shown. The ones after
    // the shown are reached only when the budget kept every shown one: then they come whole.
    const firstShown = stored ? shown.slice(0, -1) : shown;
    bounded = withinResultBudget(
      { ...result, warnings: [...firstShown, ...warnings.slice(firstShown.length)] },
      listed,
    );
    // The list the budget's line names.
    if (!stored) await storeWarningList(rt, warnings, warningsKey);
  }
  return { ...files, next: false, result: bounded };
}

/**
 * The warnings the result shows: the first ones, each cut at MAX_RESULT_WARNING_CHARS, within
 * MAX_RESULT_WARNINGS_CHARS. When any is left out or cut, all of them are stored whole under
 * `listKey` (the same bytes when Finalize runs again) and the last line says how many and where.
 */
async function shownWarnings(
  rt: Runtime,
  warnings: readonly string[],
  listKey: string,
): Promise<{ shown: string[]; stored: boolean }> {
  const shown: string[] = [];
  let chars = 0;
  let cut = false;
  for (const warning of warnings) {
    const clipped = clip(warning, MAX_RESULT_WARNING_CHARS);
    if (shown.length >= MAX_RESULT_WARNINGS || chars + clipped.length > MAX_RESULT_WARNINGS_CHARS) break;
    cut ||= clipped !== warning;
    shown.push(clipped);
    chars += clipped.length;
  }
  if (shown.length === warnings.length && !cut) return { shown, stored: false };
  await storeWarningList(rt, warnings, listKey);
  const where = `all ${warnings.length}, whole, are in ${listKey} (gzip, one JSON string a line)`;
  shown.push(
    shown.length < warnings.length
      ? `... and ${warnings.length - shown.length} more warnings; ${where}`
      : `... the warnings above are cut at ${MAX_RESULT_WARNING_CHARS} characters; ${where}`,
  );
  return { shown, stored: true };
}

/** Every warning, whole, under `listKey`: gzip JSON lines. */
async function storeWarningList(rt: Runtime, warnings: readonly string[], listKey: string): Promise<void> {
  const list = await JsonLinesFile.create(rt.scratchDir, 'warnings');
  try {
    for (const warning of warnings) await list.write(warning);
  } catch (error) {
    await list.discard();
    throw error;
  }
  await list.upload(rt.store, listKey);
}
