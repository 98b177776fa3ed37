import { selectionFlags } from '#backup-set/selection.ts';
import type { ComponentRestoreResult, ComponentResult } from '#components/component.ts';
import { finalizeBackup } from '#components/files/backup-finalize.ts';
import { planBackup } from '#components/files/backup-plan.ts';
import { copyShard } from '#components/files/copy-shard.ts';
import type { RoundState, ShardItem } from '#components/files/events.ts';
import { type IndexEntry, readIndex, readPart } from '#components/files/index-format.ts';
import { readRound } from '#components/files/rounds.ts';
import { type FilesComponentName, filesResultDetailsSchema } from '#components/files/settings.ts';
import { localRuntime } from '#local/local-runtime.ts';
import type { Runtime } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';

/**
 * Runs a files backup the way the state machine does (Plan, then per round the Map over the
 * round's items, then Finalize), in this process, without the interpreter: for the engine's own
 * integration tests. The workflow tests run the synthesized definitions instead.
 */
export interface DriveOptions {
  /** Called instead of copy-shard for an item; return false to skip it (a shard that never ran). */
  readonly beforeShard?: (item: ShardItem, round: number) => boolean | Promise<boolean>;
  readonly parallel?: boolean;
}

/** The parts of the workflow's `$.backup` the engine reads (the rest passes through it). */
export interface BackupRef {
  readonly backupId: string;
  readonly previousBackupId?: string;
  readonly [key: string]: unknown;
}

export interface RestoreRef {
  readonly restoreId: string;
  readonly backupId: string;
  readonly requests: Record<string, unknown>;
  readonly [key: string]: unknown;
}

export function backupContext(
  backupId: string,
  previousBackupId?: string,
  component: FilesComponentName = 'liferayHome',
): BackupRef {
  return {
    backupId,
    environment: 'test',
    components: [component],
    selected: selectionFlags([component]),
    ...(previousBackupId ? { previousBackupId } : {}),
    startedAt: new Date().toISOString(),
    workPrefix: `work/${backupId}/`,
  };
}

type Step = (event: unknown, rt: Runtime) => Promise<unknown>;

async function runRounds(
  rt: Runtime,
  first: RoundState,
  context: Record<string, unknown>,
  component: FilesComponentName,
  shard: Step,
  finalize: Step,
  options: DriveOptions,
): Promise<RoundState> {
  let state = first;
  for (;;) {
    const items = await readRound(rt.store, state.shardListKey);
    const run = async (item: ShardItem) => {
      if (options.beforeShard && !(await options.beforeShard(item, state.round))) return;
      await shard(JSON.parse(JSON.stringify({ ...context, component, shard: item })), rt);
    };
    if (options.parallel) await Promise.all(items.map(run));
    else for (const item of items) await run(item);
    state = (await finalize(
      JSON.parse(JSON.stringify({ ...context, component, files: state })),
      rt,
    )) as RoundState;
    if (!state.next) return state;
  }
}

export async function driveBackup(
  rt: Runtime,
  backup: BackupRef,
  component: FilesComponentName = 'liferayHome',
  options: DriveOptions = {},
): Promise<ComponentResult> {
  const planned = (await planBackup({ backup, component }, rt)) as RoundState;
  const done = await runRounds(rt, planned, { backup }, component, copyShard, finalizeBackup, options);
  return done.result as ComponentResult;
}

export async function driveRestore(
  rt: Runtime,
  restore: RestoreRef,
  component: FilesComponentName = 'liferayHome',
  options: DriveOptions = {},
): Promise<ComponentRestoreResult> {
  const { planRestore } = await import('#components/files/restore-plan.ts');
  const { restoreShard } = await import('#components/files/restore-shard.ts');
  const { finalizeRestore } = await import('#components/files/restore-finalize.ts');
  const planned = (await planRestore({ restore, component }, rt)) as RoundState;
  const done = await runRounds(rt, planned, { restore }, component, restoreShard, finalizeRestore, options);
  return done.result as ComponentRestoreResult;
}

/** Writes the manifest of a set holding these results, as Commit does (so a later backup or a restore finds it). */
export async function commitSet(
  store: import('#store/content-store.ts').ContentStore,
  backupId: string,
  results: ComponentResult[],
  previousBackupId?: string,
): Promise<void> {
  const { TOOL, writeManifest, writeLatest } = await import('#backup-set/manifest.ts');
  const now = new Date().toISOString();
  await writeManifest(store, {
    schemaVersion: 1,
    backupId,
    environment: 'test',
    status: results.every((result) => result.status === 'complete') ? 'complete' : 'partial',
    trigger: { source: 'cli' },
    components: results.map((result) => result.component),
    ...(previousBackupId ? { previousBackupId } : {}),
    startedAt: now,
    finishedAt: now,
    tool: TOOL,
    results: Object.fromEntries(results.map((result) => [result.component, result])),
    warnings: [],
  } as Parameters<typeof writeManifest>[1]);
  await writeLatest(store, backupId, new Date());
}

let restoreCounter = 0;
export function restoreContext(
  backupId: string,
  request: Record<string, unknown>,
  component: FilesComponentName = 'liferayHome',
): RestoreRef {
  restoreCounter += 1;
  const restoreId = `r20261127t030000z-${restoreCounter.toString(16).padStart(4, '0')}`;
  return {
    restoreId,
    backupId,
    components: [component],
    selected: selectionFlags([component]),
    requests: { [component]: { swap: false, force: false, ...request } },
    startedAt: new Date().toISOString(),
    workPrefix: `work/${restoreId}/`,
  };
}

/** A runtime of the Liferay Home component alone, over `store`, with these settings of it. */
export function homeRuntime(
  store: ContentStore,
  home: Record<string, unknown>,
  scratchDir?: string,
): Runtime {
  return localRuntime({
    store,
    settings: {
      environment: 'test',
      lockTimeoutMinutes: 60,
      configuredComponents: ['liferayHome'],
      components: { liferayHome: home },
    } as never,
    ...(scratchDir ? { scratchDir } : {}),
  });
}

/**
 * An index entry without where its content is stored, as JSON: two backups of the same tree whose
 * shards were cut or run differently pack the same content at other places.
 */
export const withoutLocation = (entry: IndexEntry): string => JSON.stringify({ ...entry, data: undefined });

/** Every entry of the index a backup result names, by path. */
export async function indexEntriesOf(
  store: ContentStore,
  result: ComponentResult,
): Promise<Map<string, IndexEntry>> {
  const details = filesResultDetailsSchema.parse(result.details);
  const index = await readIndex(store, details.index.key, details.index);
  const entries = new Map<string, IndexEntry>();
  for (const part of index.parts)
    for await (const entry of readPart(store, part)) entries.set(entry.path, entry);
  return entries;
}
