import { createHash } from 'node:crypto';
import * as z from 'zod';
import {
  COMPONENT_NAMES,
  type ComponentName,
  componentNameSchema,
  type RestoreTargetsInput,
} from '#components/component.ts';
import { componentModule } from '#components/registry.ts';
import {
  describeIssues,
  InvalidInputError,
  LiferayBackupError,
  ObjectNotFoundError,
} from '#runtime/errors.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { configuredComponents } from '#runtime/settings.ts';
import { isRecord, parseInput } from '#runtime/validate.ts';
import { newRunId } from './backup-id.ts';
import { storeKeys } from './keys.ts';
import { backupIdSchema, type Manifest, newestCompleteSet, readManifest, requestedSet } from './manifest.ts';
import { acquireRestoreLocks, RESTORE_LOCKS_PREFIX, releaseRestoreLocks } from './restore-lock.ts';
import { type RestoreReport, readRestoreReport, writeRestoreReport } from './restore-report.ts';
import { selectionFlags } from './selection.ts';

/**
 * The Restore execution input, as typed in the Step Functions console:
 * `{"backupId": "latest", "components": ["liferayHome"], "liferayHome": {"swap": true}}`.
 * Unknown keys are refused (a typo must not silently restore with defaults).
 */
export const restoreRequestSchema = z.looseObject({
  backupId: z.union([z.literal('latest'), backupIdSchema]),
  components: z.array(componentNameSchema).min(1).max(COMPONENT_NAMES.length).optional(),
  allowPartial: z.boolean().default(false),
  /** Who started it. Not `source`: that is a component's name. */
  requestedBy: z.enum(['console', 'cli', 'verify']).optional(),
});

/** What Validate hands to every restore branch (at `$.restore`). */
export const restoreContextSchema = z.object({
  restoreId: z.string().regex(/^r\d{8}t\d{6}z-[0-9a-f]{4}$/),
  backupId: backupIdSchema,
  components: z.array(componentNameSchema),
  selected: z.record(componentNameSchema, z.boolean()),
  /** Each selected component's validated request (its defaults applied). */
  requests: z.partialRecord(componentNameSchema, z.unknown()),
  startedAt: z.iso.datetime({ offset: true }),
  workPrefix: z.string(),
  /** The target locks this restore holds (restore-lock.ts): Report, or the CLI when stopped, gives them back. */
  locks: z.array(z.string().startsWith(RESTORE_LOCKS_PREFIX).max(256)).max(100).optional(),
});
export type RestoreContext = z.infer<typeof restoreContextSchema>;

const KNOWN_KEYS = new Set([
  'backupId',
  'components',
  'allowPartial',
  'requestedBy',
  // Step Functions adds it when another execution (the restore drill) starts this one.
  'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID',
  ...COMPONENT_NAMES,
]);

/**
 * What the Restore state machine hands Validate: the execution input, and the execution's id and
 * start time. The restore's id comes from them, so that a Validate retried after its answer was
 * lost (a time-out after it wrote the report) resumes the same restore, report and target locks
 * instead of starting a second one beside it. Called with a request alone (tests, tools), Validate
 * checks the request and records a running report under a new id, and takes no target lock: only
 * the workflow, whose Report gives the locks back on every path, restores anything.
 */
const validateInputSchema = z.strictObject({
  request: z.unknown(),
  executionId: z.string().min(1).max(2048),
  startTime: z.iso.datetime({ offset: true }),
});

/**
 * Resolves `latest` or an id, loads and validates the manifest, checks the request against what
 * the set holds and what this deployment can restore, and takes the lock of every live target it
 * writes. A bad request, or one whose targets another running restore writes, fails here, before
 * anything is written, with every problem named.
 */
export async function validateRestore(input: unknown, rt: Runtime): Promise<RestoreContext> {
  const wrapped =
    typeof input === 'object' && input !== null && 'executionId' in input
      ? parseInput(validateInputSchema, input, 'Validate input')
      : undefined;
  const event = wrapped ? wrapped.request : input;
  // Every mistake of the request in one message: a misspelt key beside a bad value, or beside a
  // bad option of a component (checked below), is named at once, not one per attempt.
  const unknownKeys = isRecord(event) ? Object.keys(event).filter((key) => !KNOWN_KEYS.has(key)) : [];
  const unknownKeysProblem =
    unknownKeys.length > 0
      ? `unknown key(s) ${unknownKeys.join(', ')}; allowed: ${[...KNOWN_KEYS].filter((key) => !key.startsWith('AWS_')).join(', ')}`
      : undefined;
  const parsedRequest = restoreRequestSchema.safeParse(event);
  if (!parsedRequest.success) {
    const issues = describeIssues(parsedRequest.error.issues);
    throw new InvalidInputError(
      `invalid restore request: ${unknownKeysProblem ? `${unknownKeysProblem}; ${issues}` : issues}`,
    );
  }
  const request = parsedRequest.data;

  const INVALID = 'invalid restore request: ';
  /** The set's own refusal, with the misspelt keys named too. */
  const withUnknownKeys = (error: unknown): unknown =>
    error instanceof InvalidInputError && unknownKeysProblem && error.message.startsWith(INVALID)
      ? new InvalidInputError(`${INVALID}${unknownKeysProblem}; ${error.message.slice(INVALID.length)}`)
      : error;
  let resolved: Awaited<ReturnType<typeof requestedSet>>;
  try {
    resolved = await requestedSet(rt.store, request.backupId, 'invalid restore request');
  } catch (error) {
    throw withUnknownKeys(error);
  }
  const { backupId, warning } = resolved;
  let manifest: Manifest;
  try {
    manifest = await readManifest(rt.store, backupId);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) {
      throw withUnknownKeys(
        new InvalidInputError(`${INVALID}backupId ${backupId}: no such backup set in ${rt.store.location}`),
      );
    }
    throw error;
  }
  rt.logger.appendKeys({ backupId });

  const problems: string[] = unknownKeysProblem ? [unknownKeysProblem] : [];
  if (await rt.store.stat(storeKeys.deletionMarker(backupId))) {
    problems.push(`backup set ${backupId} is being deleted by retention`);
  }
  if (manifest.status === 'running' || manifest.status === 'failed') {
    problems.push(
      `backup set ${backupId} is ${manifest.status}; only complete (or, with allowPartial, partial) sets can be restored`,
    );
  } else if (manifest.status === 'partial' && !request.allowPartial) {
    problems.push(
      `backup set ${backupId} is partial; set "allowPartial": true to restore the components it holds`,
    );
  }

  const restorable = configuredComponents(rt.settings).filter((name) => componentModule(name) !== undefined);
  const inSet = manifest.components.filter((name) => manifest.results[name]?.status === 'complete');
  const components: ComponentName[] = request.components ?? inSet.filter((name) => restorable.includes(name));
  const requests: Partial<Record<ComponentName, unknown>> = {};
  /** Components asked for that this set holds no complete copy of. */
  const lacking: ComponentName[] = [];
  for (const name of components) {
    const module = componentModule(name);
    const result = manifest.results[name];
    if (!restorable.includes(name) || !module) {
      problems.push(
        `${name}: not configured in this deployment (configured: ${restorable.join(', ') || 'none'})`,
      );
      continue;
    }
    if (result?.status !== 'complete') {
      problems.push(
        `${name}: backup set ${backupId} holds no complete copy of it (${result ? result.status : 'not backed up'})`,
      );
      lacking.push(name);
      continue;
    }
    const parsed = module.restoreRequest.safeParse((request as Record<string, unknown>)[name] ?? {});
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        problems.push(`${[name, ...issue.path.map(String)].join('.')}: ${issue.message}`);
      }
      continue;
    }
    requests[name] = parsed.data;
    const check = { backup: result, request: parsed.data, settings: rt.settings.components[name] };
    for (const problem of module.checkRestore?.(check) ?? []) {
      problems.push(`${name}: ${problem}`);
    }
  }
  // Refused components the request names nowhere: picked only because "components" was left out.
  const refusedUnasked = components.filter(
    (name) =>
      (request as Record<string, unknown>)[name] === undefined &&
      problems.some((problem) => problem.startsWith(`${name}:`) || problem.startsWith(`${name}.`)),
  );
  for (const name of COMPONENT_NAMES) {
    if ((request as Record<string, unknown>)[name] !== undefined && !components.includes(name)) {
      const result = manifest.results[name];
      // Adding it to "components" cannot help when the set has nothing of it to restore.
      problems.push(
        result?.status === 'complete'
          ? `${name}: options were given but the component is not being restored (add it to "components")`
          : `${name}: options were given, but backup set ${backupId} holds no complete copy of it (${result ? result.status : 'not backed up'}): ` +
              `leave them out, or restore another set (\`liferay-backup show ${backupId}\`, or the manifest ${storeKeys.manifest(backupId)}, lists what it holds)`,
      );
    }
  }
  if (components.length === 0)
    problems.push('nothing to restore: the set holds no complete component this deployment can restore');
  if (request.backupId === 'latest' && request.components && lacking.length > 0) {
    // Sets of different schedules hold different components (hourly database-only sets beside the
    // nightly full one): "latest" is the newest complete set, which may lack what was asked for.
    // Which set to take instead (older data, or components from two points in time) is the
    // person's choice; the message names the newest set that holds everything asked for.
    problems.push(await newestHolding(rt, backupId, request.components));
  }
  if (refusedUnasked.length > 0 && !request.components) {
    // `{"backupId": "latest"}` alone selects every component the set holds: a component that cannot
    // restore without options of its own (source needs a target) is refused, and the SRE who gave
    // no "components" must learn that it is the list to write.
    problems.push(
      `"components" was not given, so every complete component of the set that this deployment restores was selected (${components.join(', ')}): give "components" to restore only some`,
    );
  }
  if (problems.length > 0) throw new InvalidInputError(`invalid restore request: ${problems.join('; ')}`);

  const started = wrapped ? new Date(wrapped.startTime) : rt.now();
  const restoreId = wrapped ? restoreIdOf(wrapped.executionId, started) : newRunId('r', started);
  // A report under this id that another execution wrote (two executions whose ids hash alike in
  // one second) is never taken over: refused before anything is written.
  const earlier = await ownEarlierReport(rt, backupId, restoreId, wrapped?.executionId);
  const targets = wrapped
    ? components.flatMap((name) => {
        const backup = manifest.results[name];
        return backup
          ? restoreTargets(name, { request: requests[name], settings: rt.settings.components[name], backup })
          : [];
      })
    : [];
  // The locks come before the report: a refused restore writes nothing.
  const locks = await acquireRestoreLocks(
    rt,
    {
      restoreId,
      backupId,
      startedAt: started,
      executionId: wrapped?.executionId,
      requestedBy: request.requestedBy,
    },
    targets,
  );
  try {
    const context: RestoreContext = {
      restoreId,
      backupId,
      components,
      selected: selectionFlags(components),
      requests,
      startedAt: started.toISOString(),
      workPrefix: storeKeys.workPrefix(restoreId),
      locks: locks.keys,
    };
    // A retry says again what the first attempt found (a takeover it alone saw), once.
    const warnings = [
      ...new Set([...(earlier?.warnings ?? []), ...(warning ? [warning] : []), ...locks.warnings]),
    ];
    // Marks the set as being read (retention leaves it alone) and leaves a trace even if the run dies.
    const report: RestoreReport = {
      restoreId,
      backupId,
      status: 'running',
      startedAt: context.startedAt,
      components,
      requests,
      results: {},
      ...(warnings.length > 0 ? { warnings } : {}),
      ...(wrapped ? { executionId: wrapped.executionId } : {}),
      ...(rt.process ? { process: rt.process } : {}),
    };
    await writeRestoreReport(rt.store, report);
    // Retention writes its deletion marker and then looks for running reports; this side writes its
    // report and then looks for the marker: of two that start together, at least one sees the other.
    if (await rt.store.stat(storeKeys.deletionMarker(backupId))) {
      const reason = `backup set ${backupId} is being deleted by retention`;
      await writeRestoreReport(rt.store, {
        ...report,
        status: 'failed',
        finishedAt: rt.now().toISOString(),
        warnings: [...warnings, reason],
      });
      throw new InvalidInputError(`invalid restore request: ${reason}`);
    }
    if (earlier) rt.logger.info('Validate retried: resuming the restore it started', { restoreId });
    rt.logger.info('restore validated', { restoreId, components, targets });
    return context;
  } catch (error) {
    // Nothing may be left holding a target: the retry (or the next restore) takes it afresh.
    await releaseRestoreLocks(rt.store, locks.keys, restoreId).catch(() => undefined);
    throw error;
  }
}

/**
 * The restore id of an execution: its start second, and four hex digits of its id's hash. Every
 * attempt of one execution's Validate derives the same id.
 */
function restoreIdOf(executionId: string, started: Date): string {
  return newRunId('r', started, () => createHash('sha256').update(executionId).digest('hex').slice(0, 4));
}

/** Another execution's report holds this restore's id. Not retried: every attempt would find it. */
export class RestoreIdInUseError extends LiferayBackupError {
  constructor(message: string) {
    super('RestoreIdInUseError', message);
  }
}

/** The report an earlier attempt of this execution's Validate wrote under `restoreId`, if any. */
async function ownEarlierReport(
  rt: Runtime,
  backupId: string,
  restoreId: string,
  executionId: string | undefined,
): Promise<RestoreReport | undefined> {
  if (!(await rt.store.stat(storeKeys.restoreReport(backupId, restoreId)))) return undefined;
  const earlier = await readRestoreReport(rt.store, backupId, restoreId);
  if (executionId === undefined || earlier.executionId !== executionId)
    throw new RestoreIdInUseError(
      `restore id ${restoreId} is already used by another execution${
        earlier.executionId ? ` (${earlier.executionId})` : ''
      }: nothing was changed; start the restore again (it gets another id)`,
    );
  return earlier;
}

/** Where the newest complete set holding every one of `components` is, for a "latest" that lacks some. */
async function newestHolding(
  rt: Runtime,
  latest: string,
  components: readonly ComponentName[],
): Promise<string> {
  const asked = components.join(', ');
  const id = await newestCompleteSet(rt.store, { before: latest, holding: components });
  if (id)
    return `"latest" is ${latest}; the newest complete set holding ${asked} is ${id}: give "backupId": "${id}" (or restore from ${latest} only what it holds)`;
  return `"latest" is ${latest}; no older complete set holds all of ${asked} (restore each from a set that holds it)`;
}

export const handler = lambdaHandler(validateRestore);

/**
 * The live targets one component's restore writes (ComponentModule.restoreTargets), which
 * Validate locks (restore-lock.ts). Here and not in restore-lock.ts: the components' restore steps
 * import restore-lock.ts to renew their locks, and the registry would bring every component into
 * each of their bundles (and an import cycle).
 */
export function restoreTargets(name: ComponentName, input: RestoreTargetsInput): string[] {
  return componentModule(name)?.restoreTargets?.(input) ?? [];
}
