import * as fs from 'node:fs/promises';
import * as z from 'zod';
import { ConfigError, CorruptBackupError, describeIssues } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { type ContentStore, jsonBody, readJson } from '#store/content-store.ts';
import { planBackupEventSchema, type RoundState, type ShardItem } from './events.ts';
import { readPart, type Source, sourceSchema } from './index-format.ts';
import { filesKeys, shardId } from './keys.ts';
import {
  type AppServerFacts,
  discoverAppServer,
  discoverLiferayHome,
  type LiferayHomeFacts,
} from './liferay-discovery.ts';
import { type CompiledSelection, compileSelection, type RuleOverrides } from './liferay-rules.ts';
import { findPreviousIndex } from './previous.ts';
import { type FilesComponentName, type FilesSettings, filesSettings } from './settings.ts';
import { ShardCutter } from './shard-plan.ts';
import { checkSourceRoot, type WalkSource, walkTree } from './walk.ts';

/**
 * Filesystem calls in flight during a first backup's walk. Plan only lists and stats, in one
 * function, before any shard starts: on EFS its speed is calls in flight over latency, or its own
 * CPU (bench/plan-cpu.ts, bench/scale-simulation.ts). The EFS functions run with UV_THREADPOOL_SIZE=64.
 */
export const PLAN_WALK_CONCURRENCY = 64;

/**
 * How long a first backup's Plan walks before it stops and leaves the rest of the tree to its last
 * shard. Plan has Lambda's 15 minutes (cdk/components/files.ts), and writes its shard list after
 * the walk. A tree it cannot list in that time (about 16 M files at one vCPU) would otherwise
 * time out every night and never get a first set; this way it does, only slower: the last shard
 * copies the rest in rounds, one after another. The sets after it cut their shards from its index.
 */
export const PLAN_WALK_BUDGET_MS = 13 * 60_000;

/** Where a document library kept outside the Liferay Home appears in the index. */
export const EXTERNAL_DL_MOUNT = '.external/document_library';

const digestSchema = z.strictObject({ key: z.string(), size: z.number().int(), sha256: z.string() });

/** work/<id>/files/<component>/plan.json: what every shard and Finalize of the run work from. */
export const backupPlanSchema = z.strictObject({
  backupId: z.string(),
  component: z.enum(['liferayHome', 'appServer']),
  createdAt: z.iso.datetime({ offset: true }),
  sources: z.array(sourceSchema).min(1),
  /** Rule overrides the shards compile (settings plus what discovery adds). */
  overrides: z.strictObject({
    include: z.array(z.string()).optional(),
    exclude: z.array(z.string()).optional(),
  }),
  /** The effective rules, for the result. */
  rules: z.strictObject({ include: z.array(z.string()), exclude: z.array(z.string()) }),
  root: z.strictObject({ mode: z.number().int(), mtimeNs: z.string() }),
  previous: z
    .strictObject({
      backupId: z.string(),
      index: digestSchema,
      /** When the earlier set began reading files (PreviousIndex.readFrom); absent in a plan of an earlier version. */
      readFrom: z.iso.datetime({ offset: true }).optional(),
    })
    .optional(),
  /** A full backup: large files' chunks are written again even where the store has them. */
  full: z.boolean().optional(),
  facts: z.record(z.string(), z.unknown()),
  warnings: z.array(z.string()),
  planning: z.strictObject({
    method: z.enum(['walk', 'previous-index']),
    entries: z.number().int(),
    bytes: z.number().int(),
    milliseconds: z.number().int(),
  }),
});
export type BackupPlan = z.infer<typeof backupPlanSchema>;

export async function readBackupPlan(store: ContentStore, key: string): Promise<BackupPlan> {
  const parsed = backupPlanSchema.safeParse(await readJson(store, key));
  if (!parsed.success)
    throw new CorruptBackupError(`${key} is not a valid plan: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}

/** The walk sources of a plan: the tree with its rules, and an external document library as it is. */
export function walkSources(plan: {
  sources: readonly Source[];
  overrides: RuleOverrides;
  component: FilesComponentName;
}): WalkSource[] {
  const selection = compileSelection(plan.component, plan.overrides);
  return plan.sources.map((source) =>
    source.role === 'tree'
      ? { mount: source.mount, root: source.root, selection }
      : { mount: source.mount, root: source.root },
  );
}

interface Discovered {
  readonly sources: Source[];
  readonly overrides: RuleOverrides;
  readonly facts: Record<string, unknown>;
  readonly warnings: string[];
}

/**
 * Reads what the tree says about itself (Liferay discovery) and turns it into sources and rules:
 * a document library inside the Liferay Home but outside `data/` is added to the include rules;
 * one outside the Liferay Home becomes a second source under `.external/document_library`.
 */
async function discover(component: FilesComponentName, settings: FilesSettings): Promise<Discovered> {
  const overrides: RuleOverrides = {
    ...(settings.include ? { include: settings.include } : {}),
    ...(settings.exclude ? { exclude: settings.exclude } : {}),
  };
  const sources: Source[] = [{ mount: '', root: settings.root, role: 'tree' }];
  if (component === 'appServer') {
    const facts: AppServerFacts = await discoverAppServer(settings.root);
    return { sources, overrides, facts: { ...facts }, warnings: [...facts.warnings] };
  }
  const facts: LiferayHomeFacts = await discoverLiferayHome(settings.root);
  const warnings = [...facts.warnings];
  const dl = facts.documentLibrary;
  const onDisk = dl.kind === 'FileSystemStore' || dl.kind === 'AdvancedFileSystemStore';
  if (onDisk && dl.insideHome && dl.relPath) {
    // The store writes README.txt in its root: a path that must be selected if documents are.
    const probe = `${dl.relPath}/README.txt`;
    if (!compileSelection('liferayHome', overrides).includes(probe, false)) {
      overrides.include = [...(overrides.include ?? []), dl.relPath];
      warnings.push(
        compileSelection('liferayHome', overrides).includes(probe, false)
          ? `the document library is at ${dl.relPath}, which the default rules do not select: added to the include rules`
          : `the document library (${dl.relPath}) is excluded by the rules: documents are NOT backed up; remove the exclude rule that matches it`,
      );
    }
  } else if (onDisk && !dl.insideHome && dl.rootDir !== '') {
    const root = settings.documentLibraryRoot ?? dl.rootDir;
    try {
      await checkSourceRoot(root);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      // A path Liferay wrote is often the server's, not this function's mount: say where to set ours.
      const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
      const hint =
        code === 'ENOENT' || code === 'ENOTDIR'
          ? '; set documentLibraryRoot to where this function sees it'
          : '';
      throw new ConfigError(
        `the document library is outside the Liferay Home at ${dl.rootDir} (${dl.source}), and ${error.message}${hint}`,
        { cause: error },
      );
    }
    sources.push({ mount: EXTERNAL_DL_MOUNT, root, role: 'documentLibrary' });
    warnings.push(
      `the document library is outside the Liferay Home (${dl.rootDir}); it is backed up from ${root} as ${EXTERNAL_DL_MOUNT}/ and a restore puts it there, inside the restored tree`,
    );
  }
  return { sources, overrides, facts: { ...facts }, warnings };
}

/**
 * Plan: discovery, the previous complete copy, and the shards of round 0. With a previous index
 * the shards come from its parts (their paths, counts and bytes), without walking the tree; the
 * first backup walks the tree once to cut it.
 */
export async function planBackup(event: unknown, rt: Runtime): Promise<RoundState> {
  const { backup, component } = parseInput(planBackupEventSchema, event, 'files plan input');
  const settings = filesSettings(rt, component);
  // Checked before discovery, which finds nothing in a tree it cannot read and says nothing of it;
  // and with a previous index Plan walks nothing, so the walk's own error would come from every shard.
  try {
    await checkSourceRoot(settings.root);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(`${component}: ${error.message}`, { cause: error });
  }
  const started = Date.now();
  // The previous set's manifest and index (two requests in a row) are read while the tree is
  // discovered: neither needs the other. Their warnings still follow discovery's.
  const previousWarnings: string[] = [];
  const previousRead = findPreviousIndex(rt.store, component, backup.previousBackupId, (message) =>
    previousWarnings.push(message),
  );
  previousRead.catch(() => undefined);
  const { sources, overrides, facts, warnings } = await discover(component, settings);
  const selection: CompiledSelection = compileSelection(component, overrides);
  const rootStats = await fs.stat(settings.root, { bigint: true });
  const previous = await previousRead;
  warnings.push(...previousWarnings);
  const samePlan =
    previous !== undefined &&
    previous.index.sources.length === sources.length &&
    previous.index.sources.every((source, i) => source.mount === sources[i]?.mount);

  const cutter = new ShardCutter(settings.shard);
  let entries = 0;
  let bytes = 0;
  let method: 'walk' | 'previous-index';
  if (previous && samePlan) {
    method = 'previous-index';
    for (const part of previous.index.parts) {
      entries += part.entries;
      bytes += part.bytes;
      if (!cutter.exceedsAlone(part.entries, part.bytes)) {
        cutter.add(part.lastPath, part.entries, part.bytes);
        continue;
      }
      for await (const entry of readPart(rt.store, part)) {
        cutter.add(entry.path, 1, entry.type === 'file' ? entry.size : 0);
      }
    }
  } else {
    method = 'walk';
    const deadline = started + PLAN_WALK_BUDGET_MS;
    for await (const entry of walkTree({
      sources: walkSources({ sources, overrides, component }),
      concurrency: Math.max(settings.fsConcurrency, PLAN_WALK_CONCURRENCY),
      // The shards report what they cannot read; Plan only counts.
      onWarning: () => undefined,
    })) {
      const size = entry.type === 'file' ? Number(entry.stats.size) : 0;
      cutter.add(entry.path, 1, size);
      entries += 1;
      bytes += size;
      if (entries % 10_000 === 0) rt.progress(`${component}: planning, ${entries} entries seen`);
      if (Date.now() >= deadline) {
        // The cutter's last shard is open-ended: it covers every path after its start, listed or not.
        warnings.push(
          `${component}: the first backup's plan stopped listing the tree after ${PLAN_WALK_BUDGET_MS / 60_000} minutes, at ${entries} entries; its last shard copies the rest, in rounds one after another, so this backup takes longer than later ones (they plan from its index)`,
        );
        break;
      }
    }
  }
  const planned = cutter.finish();
  const items: ShardItem[] = planned.map((shard, index) => ({
    id: shardId(0, index),
    ...(shard.after !== undefined ? { after: shard.after } : {}),
    ...(shard.through !== undefined ? { through: shard.through } : {}),
  }));

  const plan: BackupPlan = {
    backupId: backup.backupId,
    component,
    createdAt: rt.now().toISOString(),
    sources,
    overrides: {
      ...(overrides.include ? { include: [...overrides.include] } : {}),
      ...(overrides.exclude ? { exclude: [...overrides.exclude] } : {}),
    },
    rules: { include: [...selection.rules.include], exclude: [...selection.rules.exclude] },
    root: { mode: Number(rootStats.mode) & 0o7777, mtimeNs: rootStats.mtimeNs.toString() },
    ...(previous && samePlan
      ? {
          previous: {
            backupId: previous.backupId,
            index: { key: previous.key, size: previous.size, sha256: previous.sha256 },
            readFrom: previous.readFrom,
          },
        }
      : {}),
    ...(backup.full ? { full: true } : {}),
    facts,
    warnings,
    planning: { method, entries, bytes, milliseconds: Date.now() - started },
  };
  const planKey = filesKeys.plan(backup.backupId, component);
  const shardListKey = filesKeys.round(backup.backupId, component, 0);
  await Promise.all([
    rt.store.put(planKey, jsonBody(plan), { contentType: 'application/json' }),
    rt.store.put(shardListKey, jsonBody(items), { contentType: 'application/json' }),
  ]);
  rt.logger.info('files backup planned', {
    component,
    shards: items.length,
    method,
    entries,
    bytes,
    previous: previous?.backupId,
  });
  return { component, planKey, round: 0, shardListKey, shards: items.length, next: true };
}
