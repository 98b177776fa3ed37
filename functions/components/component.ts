import * as z from 'zod';
import type { Handler, Runtime } from '#runtime/runtime.ts';

/** Liferay's backup areas (DESIGN.md). The order is the order of the workflow branches. */
export const COMPONENT_NAMES = ['database', 'liferayHome', 'appServer', 'search', 'source'] as const;
export type ComponentName = (typeof COMPONENT_NAMES)[number];
export const componentNameSchema = z.enum(COMPONENT_NAMES, {
  error: (issue) =>
    `unknown component ${JSON.stringify(issue.input)}; allowed: ${COMPONENT_NAMES.join(', ')}`,
});

const isoTime = z.iso.datetime({ offset: true });
/** What a result keeps: warnings (and error names) of at most this many characters, ... */
export const RESULT_MAX_TEXT = 4096;
/** ... at most this many warnings, ... */
export const RESULT_MAX_WARNINGS = 1000;
/** ... and summary texts of at most this many characters. */
export const RESULT_MAX_SUMMARY_TEXT = 1024;
/** A failed result's error message is cut to this many characters (the schema allows a little more). */
export const RESULT_ERROR_MESSAGE_CHARS = 16_000;
const shortText = z.string().max(RESULT_MAX_TEXT);

/**
 * What every component branch returns and Commit writes into the manifest.
 * `details` is the component's own record (validated by the component's `resultDetails` schema
 * when it is read back for a restore); `summary` holds the few numbers people want to see.
 */
export const componentResultSchema = z.object({
  component: componentNameSchema,
  status: z.enum(['complete', 'failed', 'skipped']),
  startedAt: isoTime.optional(),
  finishedAt: isoTime.optional(),
  error: z.object({ name: shortText, message: z.string().max(16_384) }).optional(),
  warnings: z.array(shortText).max(RESULT_MAX_WARNINGS).default([]),
  summary: z
    .record(z.string().max(128), z.union([z.number(), z.string().max(RESULT_MAX_SUMMARY_TEXT), z.boolean()]))
    .default({}),
  details: z.record(z.string().max(128), z.unknown()).default({}),
});
export type ComponentResult = z.infer<typeof componentResultSchema>;

/**
 * The result of one component's restore, as the Report step writes it: the same record as a
 * backup's (status, times, error, warnings, summary, details), so the two cannot drift apart.
 */
export const componentRestoreResultSchema = componentResultSchema;
export type ComponentRestoreResult = z.infer<typeof componentRestoreResultSchema>;

/**
 * Each component's result, as UTF-8 JSON, keeps within this (withinResultBudget). The Backup's
 * Parallel gathers the five results into Commit's input, the Restore's into Report's, beside the
 * context (backup or restore context, request, the database's prepared state: about 10 KB), and
 * Step Functions takes at most 262,144 bytes per state. Each component bounds its own result
 * without seeing the others'. Details are never cut (a restore reads them): the components keep
 * them small themselves (search stores a long index list beside the set, source bounds its
 * restore targets' warnings); source's 50 repositories at their inline budget still take about
 * 65 KB. 5 x 32 KiB = 160 KiB leaves 96 KiB for that and the context.
 */
export const RESULT_BUDGET_BYTES = 32 * 1024;

/**
 * What a result keeps of its first warnings even when its details alone pass the budget: the
 * first are those that matter most (what a restore deleted, or could not restore, comes first).
 */
const WARNINGS_KEPT_BYTES = 4096;

/** A value's size as Step Functions counts a payload: its JSON in UTF-8 bytes. */
export const utf8JsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

/**
 * The result within RESULT_BUDGET_BYTES (and RESULT_MAX_WARNINGS): the first warnings whole, then
 * one line that says how many more there are and where to read them (`fullList`, when the
 * component keeps them somewhere; else that the first ones are shown). Only warnings are left
 * out: the details are what a restore reads, and the summary is a few numbers. A result whose
 * details alone pass the budget keeps them all, its first warnings within WARNINGS_KEPT_BYTES,
 * and the line (so at most its details plus about 4.5 KB).
 */
export function withinResultBudget<T extends ComponentResult>(result: T, fullList?: string): T {
  const { warnings } = result;
  if (warnings.length <= RESULT_MAX_WARNINGS && utf8JsonBytes(result) <= RESULT_BUDGET_BYTES) return result;
  const leftOut = (count: number) =>
    `... and ${count} more warnings, left out to keep this result within ${RESULT_BUDGET_BYTES} bytes (Step Functions passes at most 256 KiB between states); ${fullList ? `see ${fullList}` : 'the first ones are above'}`;
  // The line for the most left out, so that it fits whatever its count; a comma before each warning.
  const rest = utf8JsonBytes({ ...result, warnings: [] });
  let room =
    Math.max(RESULT_BUDGET_BYTES - rest, WARNINGS_KEPT_BYTES) - utf8JsonBytes(leftOut(warnings.length));
  const kept: string[] = [];
  for (const warning of warnings) {
    const bytes = utf8JsonBytes(warning) + 1;
    if (kept.length >= RESULT_MAX_WARNINGS - 1 || bytes > room) break;
    kept.push(warning);
    room -= bytes;
  }
  // Details alone over the budget, and every warning within what is kept anyway: nothing to leave out.
  if (kept.length === warnings.length) return result;
  return { ...result, warnings: [...kept, leftOut(warnings.length - kept.length)] };
}

/**
 * A component as the functions see it. Adding a component = one folder under
 * functions/components/ exporting one of these, plus one line in registry.ts.
 */
export interface ComponentModule {
  readonly name: ComponentName;
  /** Settings the component's Lambdas get from the stack (or the CLI from flags). */
  readonly settings: z.ZodType;
  /** The component's part of a restore request (the value under its name in the request). */
  readonly restoreRequest: z.ZodType;
  /**
   * Checks, with no side effect, that this component can be restored from this backup set with
   * this request; returns the problems (empty when it can). Runs in the Restore workflow's Validate.
   * `settings` is the component's part of the settings as Validate has it (on AWS only what the
   * checks need, e.g. source's restoreCredentialsPath; undefined when it has none).
   */
  checkRestore?(input: { backup: ComponentResult; request: unknown; settings?: unknown }): string[];
  /**
   * The live targets a restore of this component writes, one name each, so that two restores
   * writing the same thing name it alike: Validate locks one per name (backup-set/restore-lock.ts)
   * and a refusal says it. The name is hashed into the lock's key, so a name never changes: two
   * versions that named one target differently would each miss the other's lock. Kept to what the
   * request (its defaults applied) and the settings Validate has can tell; none (or no method) for
   * a restore that only creates something new. A drill restores into its own scratch folder and
   * never meets a live target's lock.
   */
  restoreTargets?(input: RestoreTargetsInput): string[];
  /** Every Lambda handler of the component, keyed by a handler id unique across components. */
  readonly handlers: Readonly<Record<string, Handler>>;
  /** How the local CLI configures the component from its flags. */
  readonly local?: LocalOptions;
  /** What retention needs from the component to delete a set and collect unreferenced content. */
  readonly retention?: RetentionHooks;
  /** The restore drill's check of this component in a set (restorable, every checksum, exists). */
  readonly verify?: (input: SetComponent, rt: Runtime) => Promise<VerifyOutcome>;
  /**
   * The drill restores this component for real into a scratch folder (`<scratch>/<component>`)
   * when the deployment has one (settings.verify.scratchRoot), instead of reading it back.
   */
  readonly drillRestoresIntoFolder?: boolean;
}

/** What restoreTargets reads: the validated request, the settings Validate has (undefined for none), the set's result. */
export interface RestoreTargetsInput {
  readonly request: unknown;
  readonly settings: unknown;
  readonly backup: ComponentResult;
}

/**
 * A URL as a restore target names the thing it points to: origin (host in lower case, no default
 * port) and path, without user info, query or fragment (where a password or a token may sit).
 */
export function targetUrl(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const url = new URL(value);
    return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  } catch {
    return undefined;
  }
}

/** One component's record in one backup set. */
export interface SetComponent {
  readonly backupId: string;
  readonly result: ComponentResult;
}

export interface RetentionHooks {
  /**
   * The disjoint listing prefixes under `objects/` that hold everything this component stores
   * there (e.g. `objects/blobs/00/` ... `objects/blobs/ff/`). Garbage collection sweeps each prefix
   * on its own; an object under `objects/` outside every component's prefixes is never deleted.
   */
  sweepPrefixes?(): string[];
  /**
   * Every store key outside `backups/<id>/` that this component's record in the set references
   * (content shared between sets, under `objects/`). Garbage collection keeps exactly these.
   */
  references?(input: SetComponent, rt: Runtime): AsyncIterable<string>;
  /**
   * Deletes what the set owns outside the store (database snapshots and their DR copies, the
   * search snapshot). Idempotent: something already gone is not an error. Returns one line per
   * thing deleted, for the retention report. Objects under `backups/<id>/` and `dumps/<id>/` are
   * removed by retention itself.
   */
  deleteArtifacts?(input: SetComponent, rt: Runtime): Promise<string[]>;
  /**
   * Why the set cannot be deleted right now (a snapshot of it still running), or undefined when it
   * may go. Asked of every component before any deletes, so that a set left for the next retention
   * run is left whole.
   */
  postponeDeletion?(input: SetComponent, rt: Runtime): Promise<string | undefined>;
}

export interface VerifyOutcome {
  readonly status: 'verified' | 'failed';
  /** What was checked, one line each (for the verification report). */
  readonly checks: string[];
  /** What is wrong, one line each; empty when verified. */
  readonly problems: string[];
}

export type CliCommand = 'backup' | 'restore' | 'verify';

/** A CLI flag (node:util parseArgs form) with the help text the CLI prints. */
export interface CliOption {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly description: string;
  /** Commands that accept it. */
  readonly commands: readonly CliCommand[];
}

export interface LocalOptions {
  /** Flags, without the leading `--`. Names must be unique across components. */
  readonly options: Readonly<Record<string, CliOption>>;
  /**
   * The component's settings for this command from the parsed flags, or undefined when the flags
   * do not configure it (then the component is not part of the run).
   */
  settingsFromOptions(values: Readonly<Record<string, unknown>>, command: CliCommand): unknown | undefined;
  /** The component's part of the restore request from the flags (restore command); undefined for none. */
  restoreRequestFromOptions?(values: Readonly<Record<string, unknown>>): unknown | undefined;
}
