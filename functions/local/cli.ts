import { type ParseArgsConfig, parseArgs } from 'node:util';
import { isBackupId } from '#backup-set/backup-id.ts';
import { localExecutionId } from '#backup-set/executions.ts';
import { storeKeys } from '#backup-set/keys.ts';
import { type HeldLock, readBackupLock } from '#backup-set/lock.ts';
import { listBackupIds, readManifest, resolveLatest } from '#backup-set/manifest.ts';
import { restoreStartedAt } from '#backup-set/restore-lock.ts';
import {
  readRestoreReport,
  restoredWhere,
  restoreNamedIn,
  restoreNextSteps,
} from '#backup-set/restore-report.ts';
import { setRuns } from '#backup-set/set-runs.ts';
import {
  type CliCommand,
  type CliOption,
  COMPONENT_NAMES,
  type ComponentName,
} from '#components/component.ts';
import { mapLimit } from '#components/files/limit.ts';
import { COMPONENT_MODULES } from '#components/registry.ts';
import { asError, describeIssues, InvalidInputError, ObjectNotFoundError } from '#runtime/errors.ts';
import { processState } from '#runtime/host-process.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseSettings, type Settings } from '#runtime/settings.ts';
import type { ContentStore, ListedObject } from '#store/content-store.ts';
import {
  describeManifest,
  describeRestoredWhere,
  describeSetRuns,
  formatDuration,
  formatSummary,
} from './format.ts';
import { backupStopPlan, RunInterrupt, restoreStopPlan, type StopPlan } from './interrupt.ts';
import { localRuntime } from './local-runtime.ts';
import { ProgressPrinter } from './progress.ts';
import {
  describeFailure,
  exitCodeOfFailure,
  runWorkflow,
  type WorkflowOutcome,
  type WorkflowRunOptions,
} from './run-workflow.ts';
import { storeFromOptions } from './store-options.ts';
import type { AslDefinition } from './template-definitions.ts';
import { WORKFLOWS } from './workflows.ts';

/**
 * How long a Wait state pauses in a CLI run: the workflows poll real servers (a search cluster's
 * snapshot, a hook command), so not a busy loop, but not Step Functions' minutes either.
 */
export const LOCAL_WAIT_MS = 2000;

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: NodeJS.WriteStream;
}

const COMMON_OPTIONS: Record<string, CliOption> = {
  store: {
    type: 'string',
    description: 'local folder that holds the store (default ./liferay-backup-store)',
    commands: ['backup', 'restore', 'verify'],
  },
  bucket: {
    type: 'string',
    description: 'S3 bucket that holds the store instead of a folder',
    commands: ['backup', 'restore', 'verify'],
  },
  endpoint: {
    type: 'string',
    description: 'S3-compatible endpoint URL (with --bucket)',
    commands: ['backup', 'restore', 'verify'],
  },
  region: {
    type: 'string',
    description: 'S3 region (with --bucket; default $AWS_REGION or us-east-1)',
    commands: ['backup', 'restore', 'verify'],
  },
  environment: {
    type: 'string',
    description: 'environment name recorded in the set (default local)',
    commands: ['backup', 'restore', 'verify'],
  },
  components: {
    type: 'string',
    description: 'comma-separated components (default: all configured / all in the set)',
    commands: ['backup', 'restore', 'verify'],
  },
  schedule: { type: 'string', description: 'schedule name recorded in the manifest', commands: ['backup'] },
  full: {
    type: 'boolean',
    description:
      'build on no earlier set: read every file and store again what the store lost (after a drill found damage)',
    commands: ['backup'],
  },
  'pre-hook': {
    type: 'string',
    description:
      'shell command run before the capture (e.g. pause writes); the post hook runs even if it fails',
    commands: ['backup'],
  },
  'post-hook': {
    type: 'string',
    description: 'shell command run after the capture, even when it failed (e.g. resume writes)',
    commands: ['backup'],
  },
  'hook-timeout': {
    type: 'string',
    description: 'seconds each hook may run before it is killed (1-3600, default 600)',
    commands: ['backup'],
  },
  'continue-on-pre-hook-failure': {
    type: 'boolean',
    description: 'capture even when the pre hook failed (the run still ends failed)',
    commands: ['backup'],
  },
  'allow-partial': { type: 'boolean', description: 'restore from a partial set', commands: ['restore'] },
  json: {
    type: 'boolean',
    description: 'print the result as JSON',
    commands: ['backup', 'restore', 'verify'],
  },
  quiet: { type: 'boolean', description: 'no progress on stderr', commands: ['backup', 'restore', 'verify'] },
  scratch: {
    type: 'string',
    description:
      "where the drill restores the files (in a new folder, removed afterwards; default the system's temporary folder; 'none': read back only)",
    commands: ['verify'],
  },
};

const USAGE = `usage: liferay-backup <command> [options]

commands:
  backup  [--home DIR] [--app-server DIR] [...]     back up into the store
  restore ID|latest --to DIR [--swap] [...]         restore a backup set
  list                                              list the backup sets in the store
  show ID|latest [--json]                           show a backup set's manifest
  verify ID|latest [--scratch DIR|none]             restore drill: every checksum, snapshot and ref; files restored into scratch
  retention [--dry-run] [--daily N ...]             delete expired sets, collect unreferenced content
  demo                                              back up and restore the bundled sample Liferay Home

store (every command): --store DIR (default ./liferay-backup-store) | --bucket NAME [--endpoint URL] [--region R]
run 'liferay-backup <command> --help' for the command's options.`;

function optionsFor(command: CliCommand): Record<string, CliOption> {
  const all: Record<string, CliOption> = {};
  for (const [name, option] of Object.entries(COMMON_OPTIONS))
    if (option.commands.includes(command)) all[name] = option;
  for (const module of COMPONENT_MODULES) {
    for (const [name, option] of Object.entries(module.local?.options ?? {})) {
      if (all[name]) throw new Error(`CLI option --${name} of ${module.name} is already taken`);
      if (option.commands.includes(command)) all[name] = option;
    }
  }
  return all;
}

export function parseCommand(command: CliCommand, args: string[]) {
  const options = optionsFor(command);
  const config: ParseArgsConfig = {
    args,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean' },
      ...Object.fromEntries(
        Object.entries(options).map(([name, option]) => [
          name,
          { type: option.type, ...(option.multiple ? { multiple: true } : {}) },
        ]),
      ),
    },
  };
  try {
    const parsed = parseArgs(config);
    return { values: parsed.values as Record<string, unknown>, positionals: parsed.positionals, options };
  } catch (error) {
    throw new InvalidInputError(`${asError(error).message} (run 'liferay-backup ${command} --help')`);
  }
}

export function helpText(command: CliCommand, options: Record<string, CliOption>): string {
  const lines = [
    `usage: liferay-backup ${command} ${command === 'backup' ? '' : 'ID|latest '}[options]`,
    '',
    'options:',
  ];
  for (const [name, option] of Object.entries(options)) {
    lines.push(
      `  --${name}${option.type === 'string' ? ' VALUE' : ''}${option.multiple ? ' (repeatable)' : ''}`.padEnd(
        34,
      ) + option.description,
    );
  }
  return lines.join('\n');
}

function parseComponents(value: unknown): ComponentName[] | undefined {
  if (typeof value !== 'string') return undefined;
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !(COMPONENT_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new InvalidInputError(
      `--components: unknown ${unknown.join(', ')}; allowed: ${COMPONENT_NAMES.join(', ')}`,
    );
  return names as ComponentName[];
}

/** `--hook-timeout`: whole seconds, 1-3600 (the hooks' schema), refused naming the flag. */
function hookTimeout(values: Record<string, unknown>): number {
  const raw = values['hook-timeout'];
  if (typeof raw !== 'string') return 600;
  const seconds = /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!(seconds >= 1 && seconds <= 3600))
    throw new InvalidInputError(
      `--hook-timeout must be a whole number of seconds from 1 to 3600, got ${raw}`,
    );
  return seconds;
}

/** Settings for a local run: every component whose flags configure it. */
function settingsFromFlags(command: CliCommand, values: Record<string, unknown>): Settings {
  const components: Partial<Record<ComponentName, unknown>> = {};
  for (const module of COMPONENT_MODULES) {
    const settings = module.local?.settingsFromOptions(values, command);
    if (settings === undefined) continue;
    // Checked here, not first by the component's task: a mistyped flag (--search-engine elastic,
    // an ssh:// --git source) is the caller's to fix (exit 2) and must not leave a failed set.
    const parsed = module.settings.safeParse(settings);
    if (!parsed.success) {
      const given = Object.keys(module.local?.options ?? {}).filter((name) => values[name] !== undefined);
      throw new InvalidInputError(
        `invalid ${module.name} flags (${given.map((name) => `--${name}`).join(', ')}): ${describeIssues(parsed.error.issues)}`,
      );
    }
    components[module.name] = settings;
  }
  const timeoutSeconds = hookTimeout(values);
  const hook = (command: unknown) =>
    typeof command === 'string' ? { type: 'command', command, timeoutSeconds } : undefined;
  const pre = hook(values['pre-hook']);
  const post = hook(values['post-hook']);
  if (!pre && !post && (values['hook-timeout'] !== undefined || values['continue-on-pre-hook-failure']))
    throw new InvalidInputError(
      `--${values['hook-timeout'] !== undefined ? 'hook-timeout' : 'continue-on-pre-hook-failure'} needs --pre-hook or --post-hook`,
    );
  return parseSettings(
    {
      environment: typeof values.environment === 'string' ? values.environment : 'local',
      configuredComponents: Object.keys(components),
      components,
      ...(pre || post
        ? {
            hooks: {
              ...(pre ? { pre } : {}),
              ...(post ? { post } : {}),
              onPreHookFailure: values['continue-on-pre-hook-failure'] ? 'continue' : 'fail',
            },
          }
        : {}),
    },
    'the command line',
  );
}

export function runtimeFor(command: CliCommand, values: Record<string, unknown>, progress: ProgressPrinter) {
  const store = storeFromOptions(values as never, { existing: command !== 'backup' });
  const settings = settingsFromFlags(command, values);
  return localRuntime({ store, settings, progress: (message) => progress.update(message) });
}

/**
 * Runs a workflow of a CLI command that a signal stops the way its plan says (interrupt.ts):
 * the outcome, or the exit code (128 + the signal's number) once the plan has left things right.
 */
export async function runStoppable(
  definition: AslDefinition,
  input: unknown,
  rt: Runtime,
  plan: (say: (line: string) => void) => StopPlan,
  io: { readonly progress: ProgressPrinter; readonly err: NodeJS.WriteStream },
  options: Pick<WorkflowRunOptions, 'executionId'> = {},
): Promise<{ readonly outcome: WorkflowOutcome } | { readonly exitCode: number }> {
  const say = (line: string) => {
    io.progress.clear();
    io.err.write(`${line}\n`);
  };
  const interrupt = new RunInterrupt(plan(say), say);
  try {
    const outcome = await runWorkflow(definition, input, rt, {
      ...options,
      onStateEntered: (name) => {
        interrupt.stateEntered(name);
        io.progress.step(name);
      },
      onStateExited: (name, output) => interrupt.stateExited(name, output),
      waitMs: LOCAL_WAIT_MS,
      retryDelayMs: 'as-defined',
      validate: false,
      signal: interrupt.signal,
    });
    const stopped = interrupt.exitCode;
    return stopped ? { exitCode: await stopped } : { outcome };
  } catch (error) {
    if (interrupt.exitCode) return { exitCode: await interrupt.exitCode };
    throw error;
  } finally {
    interrupt.dispose();
  }
}

async function backupCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, options } = parseCommand('backup', args);
  if (values.help) return printHelp(io, helpText('backup', options));
  if (positionals.length > 0)
    throw new InvalidInputError(`backup takes no positional arguments, got: ${positionals.join(' ')}`);
  const progress = new ProgressPrinter(io.err, values.quiet === true);
  const rt = runtimeFor('backup', values, progress);
  if (rt.settings.configuredComponents.length === 0) {
    throw new InvalidInputError(
      "nothing to back up: give --home DIR (Liferay Home) or another component's flags (see --help)",
    );
  }
  const components = parseComponents(values.components);
  const input = {
    requestedBy: 'cli',
    ...(typeof values.schedule === 'string' ? { schedule: values.schedule } : {}),
    ...(values.full === true ? { full: true } : {}),
    ...(components ? { components } : {}),
  };
  const executionId = localExecutionId();
  const run = await runStoppable(
    WORKFLOWS.backup,
    input,
    rt,
    (say) => backupStopPlan(rt, executionId, say),
    { progress, err: io.err },
    { executionId },
  );
  if ('exitCode' in run) return run.exitCode;
  const { outcome } = run;
  progress.clear();
  const backupId = backupIdFromOutcome(outcome);
  if (!backupId) {
    io.out(describeFailure('backup did not start', outcome, values.json === true));
    return exitCodeOfFailure(outcome);
  }
  const manifest = await readManifest(rt.store, backupId);
  if (values.json) io.out(JSON.stringify(manifest, null, 2));
  else for (const line of describeManifest(manifest)) io.out(line);
  if (!values.json) io.out(`store: ${rt.store.location}`);
  // A complete set whose execution still ended failed: a capture hook failed (BackupHookFailed,
  // with --continue-on-pre-hook-failure or in the post hook). On AWS the execution ends red and
  // alarms; here the exit code is that alarm. stdout stays the manifest alone under --json.
  if (manifest.status === 'complete' && outcome.status === 'FAILED') {
    if (!values.json)
      io.out(`error: the run failed although the set is complete: ${outcome.error}: ${outcome.cause}`);
    return 1;
  }
  return manifest.status === 'complete' ? 0 : 1;
}

function backupIdFromOutcome(outcome: WorkflowOutcome): string | undefined {
  if (outcome.status === 'SUCCEEDED') {
    return (outcome.output as { backup?: { backupId?: string } }).backup?.backupId;
  }
  // A failed run that got past Begin names its set in the failure cause (Commit's message).
  return /backup set (b\d{8}t\d{6}z-[0-9a-f]{4})/.exec(outcome.cause)?.[1];
}

async function restoreCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, options } = parseCommand('restore', args);
  if (values.help) return printHelp(io, helpText('restore', options));
  if (positionals.length !== 1)
    throw new InvalidInputError('restore needs one backup id or "latest" (run \'liferay-backup list\')');
  const progress = new ProgressPrinter(io.err, values.quiet === true);
  const rt = runtimeFor('restore', values, progress);
  if (rt.settings.configuredComponents.length === 0) {
    throw new InvalidInputError(
      `nothing to restore into: give one or more of ${restoreTargetFlags()
        .map(([, flag]) => flag)
        .join(', ')} (see --help)`,
    );
  }
  const components = parseComponents(values.components);
  // Validate would say "not configured in this deployment": on the command line, a target flag is missing.
  const targetFlags = new Map(restoreTargetFlags());
  const untargeted = (components ?? []).filter((name) => !rt.settings.configuredComponents.includes(name));
  if (untargeted.length > 0)
    throw new InvalidInputError(
      `--components ${untargeted.join(',')}: give ${untargeted.map((name) => targetFlags.get(name) ?? `${name}'s target flag`).join(', ')} (where ${untargeted.length === 1 ? 'it is' : 'they are'} restored; see --help)`,
    );
  const request: Record<string, unknown> = {
    backupId: positionals[0],
    requestedBy: 'cli',
    ...(components ? { components } : {}),
    ...(values['allow-partial'] ? { allowPartial: true } : {}),
  };
  for (const module of COMPONENT_MODULES) {
    const part = module.local?.restoreRequestFromOptions?.(values);
    if (part !== undefined) request[module.name] = part;
  }
  const run = await runStoppable(WORKFLOWS.restore, request, rt, (say) => restoreStopPlan(rt, say), {
    progress,
    err: io.err,
  });
  if ('exitCode' in run) return run.exitCode;
  const { outcome } = run;
  progress.clear();
  if (outcome.status === 'SUCCEEDED') {
    const report = (outcome.output as { report: { backupId: string; restoreId: string } }).report;
    const code = await printRestoreReport(
      io,
      rt.store,
      report.backupId,
      report.restoreId,
      values.json === true,
    );
    if (!components && !values.json) await noteLeftOut(io, rt, report.backupId);
    return code;
  }
  const named = restoreNamedIn(outcome.cause);
  if (named) {
    await printRestoreReport(io, rt.store, named.backupId, named.restoreId, values.json === true);
    if (!components && !values.json) await noteLeftOut(io, rt, named.backupId);
    return 1;
  }
  io.out(describeFailure('restore failed', outcome, values.json === true));
  return exitCodeOfFailure(outcome);
}

/**
 * Each component's restore target flag (the first string flag of the restore command it owns):
 * `--to DIR`, `--app-server DIR`, `--database-url URL`, `--search-url URL`, `--git-target URL`.
 */
function restoreTargetFlags(): [ComponentName, string][] {
  const flags: [ComponentName, string][] = [];
  for (const module of COMPONENT_MODULES) {
    const entry = Object.entries(module.local?.options ?? {}).find(
      ([, option]) => option.type === 'string' && option.commands.includes('restore'),
    );
    if (entry) flags.push([module.name, `--${entry[0]} ${/(url|target)$/.test(entry[0]) ? 'URL' : 'DIR'}`]);
  }
  return flags;
}

/**
 * A restore without --components restores what the set holds and the flags give a target for;
 * it names the rest, so that "complete" is not read as "everything the set holds".
 */
async function noteLeftOut(io: CliIo, rt: Runtime, backupId: string): Promise<void> {
  let manifest: Awaited<ReturnType<typeof readManifest>>;
  try {
    manifest = await readManifest(rt.store, backupId);
  } catch {
    return;
  }
  const configured = new Set<string>(rt.settings.configuredComponents);
  const flags = new Map(restoreTargetFlags());
  for (const name of manifest.components) {
    if (manifest.results[name]?.status !== 'complete' || configured.has(name)) continue;
    io.out(
      `  note: the set also holds ${name}, not restored: give ${flags.get(name) ?? 'its target flag'} to restore it`,
    );
  }
}

async function printRestoreReport(
  io: CliIo,
  store: import('#store/content-store.ts').ContentStore,
  backupId: string,
  restoreId: string,
  json: boolean,
): Promise<number> {
  const report = await readRestoreReport(store, backupId, restoreId);
  if (json) {
    io.out(JSON.stringify(report, null, 2));
  } else {
    io.out(
      `restore ${report.restoreId} of ${report.backupId}: ${report.status}, took ${formatDuration(report.startedAt, report.finishedAt)}`,
    );
    // The verdict, then what to do next, then the details: at night the first lines are read.
    const steps = report.nextSteps ?? restoreNextSteps(report);
    if (steps.length > 0) io.out('next:');
    steps.forEach((step, i) => {
      io.out(`  ${i + 1}. ${step}`);
    });
    for (const name of report.components) {
      const result = report.results[name];
      if (!result) continue;
      // The arrow names the folder already.
      const summaryShown = Object.entries(result.summary).filter(([key]) => key !== 'location');
      io.out(
        `  ${name}: ${result.status}${result.status === 'complete' ? ` → ${restoredWhere(result)}` : ''}${summaryShown.length > 0 ? `  ${formatSummary(Object.fromEntries(summaryShown))}` : ''}`,
      );
      if (result.error) io.out(`    error: ${result.error.name}: ${result.error.message}`);
      for (const line of describeRestoredWhere(name, result.details)) io.out(line);
      for (const warning of result.warnings) io.out(`    warning: ${warning}`);
    }
    for (const warning of report.warnings ?? []) io.out(`  warning: ${warning}`);
  }
  return report.status === 'complete' ? 0 : 1;
}

/** `list` and `show` take only the store flags and --json (and --help, as every command does). */
const STORE_COMMAND_USAGE: Readonly<Record<'list' | 'show', string>> = {
  list: 'usage: liferay-backup list [--store DIR | --bucket NAME [--endpoint URL] [--region R]] [--json]',
  show: 'usage: liferay-backup show ID|latest [--store DIR | --bucket NAME [--endpoint URL] [--region R]] [--json]',
};

function storeCommandHelp(command: 'list' | 'show'): string {
  return [
    STORE_COMMAND_USAGE[command],
    '',
    'options:',
    ...(['store', 'bucket', 'endpoint', 'region', 'json'] as const).map(
      (name) =>
        `  --${name}${COMMON_OPTIONS[name]?.type === 'string' ? ' VALUE' : ''}`.padEnd(34) +
        (COMMON_OPTIONS[name]?.description ?? ''),
    ),
  ].join('\n');
}

function parseStoreCommand(command: 'list' | 'show', args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        store: { type: 'string' },
        bucket: { type: 'string' },
        endpoint: { type: 'string' },
        region: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new InvalidInputError(`${asError(error).message} (${STORE_COMMAND_USAGE[command]})`);
  }
}

/** A lock as `list` shows it: who holds it, since when, and what this machine can tell of that run. */
interface LockState {
  readonly holder: string;
  readonly since: string;
  readonly state: string;
}

/** The lock at `key`, undefined when it is free, or why it cannot be read: `list` shows that too. */
async function readLockForList(store: ContentStore, key: string): Promise<HeldLock | Error | undefined> {
  try {
    return await readBackupLock(store, key);
  } catch (error) {
    return asError(error);
  }
}

/**
 * Who holds a lock, and what this machine can tell of that run: what an SRE asks when a backup
 * ("a backup is already running") or a restore ("another restore is writing ...") was refused.
 * `nextRun` is the run that would take the lock over once its process has ended.
 */
function lockState(held: HeldLock | Error, nextRun: string): LockState {
  if (held instanceof Error) return { holder: '?', since: '?', state: `unreadable (${held.message})` };
  let state: string;
  if (held.process) {
    const judged = processState(held.process, new Date(held.acquiredAt));
    const where = `pid ${held.process.pid} on ${held.process.host}`;
    state =
      typeof judged === 'object'
        ? `${judged.ended}: the next ${nextRun} takes the lock over`
        : judged === 'running'
          ? `its process (${where}) is running`
          : `its process (${where}) cannot be checked from here`;
  } else if (held.executionId) {
    state = `its execution is ${held.executionId}`;
  } else {
    state = 'its run cannot be checked';
  }
  return { holder: held.backupId, since: held.acquiredAt, state };
}

async function runLockState(store: ContentStore, key: string, nextRun: string): Promise<LockState | null> {
  const held = await readLockForList(store, key);
  return held ? lockState(held, nextRun) : null;
}

/**
 * A store may hold many restore locks (one per target, and those of runs that died are only taken
 * over by the next restore into that target): `list` shows the newest, and says how many more.
 */
const RESTORE_LOCKS_LISTED = 20;

/** A restore's lock as `list` shows it; `?` where an unreadable lock cannot tell. */
interface RestoreLockState {
  readonly key: string;
  readonly target: string;
  readonly restoreId: string;
  /** The set it restores. */
  readonly backupId: string;
  readonly requestedBy?: string;
  readonly since: string;
  readonly state: string;
}

/** The newest restore locks (by when they were written), and how many more the store holds. */
async function restoreLockStates(
  store: ContentStore,
): Promise<{ restores: RestoreLockState[]; restoresNotListed: number }> {
  // Kept to the newest few while listing: the listing itself may be long, the reads are not.
  const newest: ListedObject[] = [];
  let count = 0;
  for await (const object of store.list(storeKeys.restoreLocksPrefix)) {
    count++;
    newest.push(object);
    newest.sort((a, b) => b.lastModified.getTime() - a.lastModified.getTime());
    if (newest.length > RESTORE_LOCKS_LISTED) newest.pop();
  }
  const states = await mapLimit(newest, 8, async ({ key }) => {
    const held = await readLockForList(store, key);
    // Given back between the listing and the read: that restore has ended.
    if (!held) return undefined;
    const { holder, since, state } = lockState(held, 'restore into that target');
    const about = held instanceof Error ? undefined : held.about;
    return {
      key,
      target: about?.target ?? '?',
      restoreId: holder,
      backupId: about?.backupId ?? '?',
      ...(about?.requestedBy ? { requestedBy: about.requestedBy } : {}),
      // A restore lock's acquiredAt is its last renewal (a lease); since is the restore's start.
      since: held instanceof Error ? since : restoreStartedAt(held),
      state,
    } satisfies RestoreLockState;
  });
  return {
    restores: states.filter((lock) => lock !== undefined),
    restoresNotListed: count - newest.length,
  };
}

function describeRestoreLock(lock: RestoreLockState): string {
  const holder =
    lock.restoreId === '?'
      ? '?'
      : `restore ${lock.restoreId} of ${lock.backupId}${lock.requestedBy ? `, requested by ${lock.requestedBy},` : ''}`;
  const target = lock.target === '?' ? '' : ` (${lock.target})`;
  return `${lock.key}${target}: held by ${holder} since ${lock.since}; ${lock.state}`;
}

async function listCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseStoreCommand('list', args);
  if (values.help) return printHelp(io, storeCommandHelp('list'));
  const store = storeFromOptions(values, { existing: true });
  const [ids, { backupId: latest, warning }, backupLock, retentionLock, restoreLocks] = await Promise.all([
    listBackupIds(store),
    resolveLatest(store),
    runLockState(store, storeKeys.backupLock, 'backup'),
    runLockState(store, storeKeys.retentionLock, 'retention run'),
    restoreLockStates(store),
  ]);
  // A store of a year of nightly and hourly sets holds hundreds of manifests: read side by side.
  const rows = await mapLimit(ids, 16, async (id) => {
    try {
      const manifest = await readManifest(store, id);
      return {
        id,
        status: manifest.status,
        startedAt: manifest.startedAt,
        took: formatDuration(manifest.startedAt, manifest.finishedAt),
        components: manifest.components.join(','),
      };
    } catch (error) {
      return {
        id,
        status: `unreadable (${asError(error).message})`,
        startedAt: '-',
        took: '-',
        components: '-',
      };
    }
  });
  if (values.json) {
    io.out(
      JSON.stringify(
        {
          latest: latest ?? null,
          ...(warning ? { warning } : {}),
          backups: rows,
          locks: { backup: backupLock, retention: retentionLock, ...restoreLocks },
        },
        null,
        2,
      ),
    );
    return 0;
  }
  if (rows.length === 0) io.out(`no backup sets in ${store.location}`);
  if (warning) io.out(`warning: ${warning}`);
  for (const row of rows) {
    io.out(
      `${row.id}${row.id === latest ? ' (latest)' : ''}  ${row.status}  ${row.startedAt}  ${row.took}  ${row.components}`,
    );
  }
  for (const [key, lock] of [
    [storeKeys.backupLock, backupLock],
    [storeKeys.retentionLock, retentionLock],
  ] as const) {
    if (lock) io.out(`${key}: held by ${lock.holder} since ${lock.since}; ${lock.state}`);
  }
  for (const lock of restoreLocks.restores) io.out(describeRestoreLock(lock));
  const notListed = restoreLocks.restoresNotListed;
  if (notListed > 0)
    io.out(
      `${notListed} more restore ${notListed === 1 ? 'lock' : 'locks'} under ${storeKeys.restoreLocksPrefix} ${notListed === 1 ? 'is' : 'are'} not listed (the ${RESTORE_LOCKS_LISTED} newest are)`,
    );
  return 0;
}

async function showCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseStoreCommand('show', args);
  if (values.help) return printHelp(io, storeCommandHelp('show'));
  if (positionals.length !== 1) throw new InvalidInputError('show needs one backup id or "latest"');
  const store = storeFromOptions(values, { existing: true });
  const requested = positionals[0] ?? '';
  if (requested !== 'latest' && !isBackupId(requested))
    throw new InvalidInputError(
      `"${requested}" is not a backup id (the form b20261127t020000z-7f3a) nor "latest" (run 'liferay-backup list')`,
    );
  const id = requested === 'latest' ? (await resolveLatest(store)).backupId : requested;
  if (!id) throw new InvalidInputError('"latest": there is no complete backup set yet');
  // A mistyped id is the caller's to fix (exit 2), not a store failure.
  const manifest = await readManifest(store, id).catch((error: unknown) => {
    throw error instanceof ObjectNotFoundError
      ? new InvalidInputError(`no backup set ${id} in ${store.location} (run 'liferay-backup list')`)
      : error;
  });
  if (values.json) io.out(JSON.stringify(manifest, null, 2));
  else {
    for (const line of describeManifest(manifest)) io.out(line);
    for (const line of describeSetRuns(await setRuns(store, id, new Date()))) io.out(line);
  }
  return 0;
}

function printHelp(io: CliIo, text: string): number {
  io.out(text);
  return 0;
}

export type CommandHandler = (args: string[], io: CliIo) => Promise<number>;

/** Extra commands (demo, verify) register here so this file stays the dispatcher. */
export const EXTRA_COMMANDS = new Map<string, CommandHandler>();

/** Runs the CLI; returns the exit code (0 only when the set or restore is complete). */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case 'backup':
        return await backupCommand(args, io);
      case 'restore':
        return await restoreCommand(args, io);
      case 'list':
        return await listCommand(args, io);
      case 'show':
        return await showCommand(args, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      default: {
        const extra = EXTRA_COMMANDS.get(command);
        if (extra) return await extra(args, io);
        // With --json, stdout stays one JSON object here too (a script's typo in the command).
        io.out(
          argv.includes('--json')
            ? describeFailure(
                'liferay-backup',
                {
                  status: 'FAILED',
                  error: 'InvalidInputError',
                  cause: `unknown command ${command}; the commands: ${['backup', 'restore', 'list', 'show', ...EXTRA_COMMANDS.keys()].join(', ')}`,
                  statesEntered: [],
                },
                true,
              )
            : `unknown command ${command}\n${USAGE}`,
        );
        return 2;
      }
    }
  } catch (error) {
    const failure = asError(error);
    // With --json, stdout stays one JSON object, as for a run that failed (describeFailure).
    const flags = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
    io.out(
      flags.includes('--json')
        ? describeFailure(
            `${command} failed`,
            { status: 'FAILED', error: failure.name, cause: failure.message, statesEntered: [] },
            true,
          )
        : `error: ${failure.message}`,
    );
    return failure instanceof InvalidInputError || failure.name === 'ConfigError' ? 2 : 1;
  }
}
