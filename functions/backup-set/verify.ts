import * as z from 'zod';
import {
  COMPONENT_NAMES,
  type ComponentName,
  componentNameSchema,
  type VerifyOutcome,
} from '#components/component.ts';
import { componentModule } from '#components/registry.ts';
import {
  CorruptBackupError,
  describeIssues,
  InvalidInputError,
  ObjectNotFoundError,
} from '#runtime/errors.ts';
import { hostProcessSchema } from '#runtime/host-process.ts';
import { MetricUnit } from '#runtime/metrics.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { type ContentStore, jsonBody, readJson } from '#store/content-store.ts';
import { newRunId } from './backup-id.ts';
import { errorFromCatch } from './branch-output.ts';
import { storeKeys } from './keys.ts';
import { backupIdSchema, type Manifest, readManifest, requestedSet } from './manifest.ts';
import { deletePrefix } from './retention.ts';
import { selectionFlags } from './selection.ts';

/**
 * The restore drill: prove a set can be restored without restoring it over anything. Begin
 * resolves the set and records a running report; each component verifies its part (files: every
 * checksum by reading the content back; database: the snapshot or dump exists and is usable;
 * search: the snapshot exists and succeeded; source: every recorded ref exists on the mirror);
 * Report writes the verification report and a metric whose failure alarms.
 */

export const verifyRequestSchema = z.strictObject({
  backupId: z.union([z.literal('latest'), backupIdSchema]).default('latest'),
  components: z.array(componentNameSchema).min(1).max(COMPONENT_NAMES.length).optional(),
  requestedBy: z.enum(['schedule', 'console', 'cli']).optional(),
  /**
   * false: read the files back instead of restoring them into the scratch folder, for this run.
   * @default true when the deployment has a scratch folder (verify.scratchPath)
   */
  scratch: z.boolean().optional(),
});

export { type VerifyContext, verifyContextSchema } from './verify-context.ts';

import { type VerifyContext, verifyContextSchema } from './verify-context.ts';

const outcomeSchema = z.object({
  component: componentNameSchema,
  status: z.enum(['verified', 'failed', 'skipped']),
  checks: z.array(z.string().max(4096)).max(10_000).default([]),
  problems: z.array(z.string().max(4096)).max(10_000).default([]),
});
export type ComponentVerification = z.infer<typeof outcomeSchema>;

export const verificationReportSchema = z.object({
  verifyId: z.string(),
  backupId: backupIdSchema,
  status: z.enum(['running', 'verified', 'failed']),
  startedAt: z.iso.datetime({ offset: true }),
  finishedAt: z.iso.datetime({ offset: true }).optional(),
  components: z.array(componentNameSchema),
  results: z.partialRecord(componentNameSchema, outcomeSchema),
  /** The CLI's process while it runs (report-run.ts). */
  process: hostProcessSchema.optional().catch(undefined),
  /** Why a drill ended early (an interrupted CLI drill). */
  warnings: z.array(z.string()).optional(),
});
export type VerificationReport = z.infer<typeof verificationReportSchema>;

export async function readVerificationReport(
  store: ContentStore,
  backupId: string,
  verifyId: string,
): Promise<VerificationReport> {
  const key = storeKeys.verificationReport(backupId, verifyId);
  const parsed = verificationReportSchema.safeParse(await readJson(store, key));
  if (!parsed.success)
    throw new CorruptBackupError(`${key} is not valid: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}

export async function beginVerify(event: unknown, rt: Runtime): Promise<VerifyContext> {
  const request = parseInput(verifyRequestSchema, event ?? {}, 'verify request');
  const { backupId, warning } = await requestedSet(rt.store, request.backupId, 'invalid verify request');
  let manifest: Manifest;
  try {
    manifest = await readManifest(rt.store, backupId);
  } catch (error) {
    if (error instanceof ObjectNotFoundError)
      throw new InvalidInputError(`invalid verify request: no backup set ${backupId}`);
    throw error;
  }
  const held = manifest.components.filter((name) => manifest.results[name]?.status === 'complete');
  // A failed or still running set holds nothing to check: every branch would be skipped and the
  // drill reported `verified` having read nothing.
  if (held.length === 0)
    throw new InvalidInputError(
      `invalid verify request: set ${backupId} is ${manifest.status} and holds no complete component: nothing to verify`,
    );
  const components = request.components ?? held;
  const missing = components.filter((name) => !held.includes(name));
  if (missing.length > 0) {
    throw new InvalidInputError(
      `invalid verify request: set ${backupId} holds no complete ${missing.join(', ')}`,
    );
  }
  const now = rt.now();
  const verifyId = newRunId('v', now);
  const context: VerifyContext = {
    verifyId,
    backupId,
    components,
    selected: selectionFlags(components),
    startedAt: now.toISOString(),
    workPrefix: storeKeys.workPrefix(verifyId),
  };
  const scratchRoot = rt.settings.verify.scratchRoot;
  const restoresIntoFolder = components.some((name) => componentModule(name)?.drillRestoresIntoFolder);
  if (scratchRoot && request.scratch !== false && restoresIntoFolder) {
    context.scratch = { folder: `${scratchRoot}/${verifyId}`, allowPartial: manifest.status !== 'complete' };
  }
  const report: VerificationReport = {
    verifyId,
    backupId,
    status: 'running',
    startedAt: context.startedAt,
    components,
    results: {},
    ...(warning ? { warnings: [warning] } : {}),
    ...(rt.process ? { process: rt.process } : {}),
  };
  await rt.store.put(storeKeys.verificationReport(backupId, verifyId), jsonBody(report));
  // Written first, then the marker looked for (retention does the reverse): see validate-restore.ts.
  if (await rt.store.stat(storeKeys.deletionMarker(backupId))) {
    await rt.store.put(
      storeKeys.verificationReport(backupId, verifyId),
      jsonBody({ ...report, status: 'failed', finishedAt: rt.now().toISOString() }),
    );
    throw new InvalidInputError(
      `invalid verify request: backup set ${backupId} is being deleted by retention`,
    );
  }
  rt.logger.appendKeys({ backupId });
  return context;
}

const verifyComponentInputSchema = z.object({ verify: verifyContextSchema, component: componentNameSchema });

/** One component's check, through its module's verify hook. */
export async function verifyComponent(event: unknown, rt: Runtime): Promise<ComponentVerification> {
  const { verify, component } = parseInput(verifyComponentInputSchema, event, 'verify-component input');
  const manifest = await readManifest(rt.store, verify.backupId);
  const result = manifest.results[component];
  const module = componentModule(component);
  if (!result || !module?.verify) {
    return {
      component,
      status: 'failed',
      checks: [],
      problems: [`${component} cannot be verified by this build`],
    };
  }
  const outcome: VerifyOutcome = await module.verify({ backupId: verify.backupId, result }, rt);
  return { component, status: outcome.status, checks: outcome.checks, problems: outcome.problems };
}

const reportInputSchema = z.object({
  verify: verifyContextSchema,
  results: z.array(z.unknown()).optional(),
  failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
});

export interface VerifyOutput {
  readonly verifyId: string;
  readonly backupId: string;
  readonly status: 'verified' | 'failed';
  readonly reportKey: string;
  readonly message: string;
}

export async function reportVerify(event: unknown, rt: Runtime): Promise<VerifyOutput> {
  const { verify, results: outputs, failure } = parseInput(reportInputSchema, event, 'verify report input');
  const results = new Map<ComponentName, ComponentVerification>();
  for (const output of outputs ?? []) {
    const parsed = outcomeSchema.safeParse(output);
    if (parsed.success) {
      results.set(parsed.data.component, parsed.data);
      continue;
    }
    const caught = z
      .object({
        component: componentNameSchema,
        caught: z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
      })
      .safeParse(output);
    if (caught.success) {
      const error = errorFromCatch(caught.data.caught);
      results.set(caught.data.component, {
        component: caught.data.component,
        status: 'failed',
        checks: [],
        problems: [`${error.name}: ${error.message}`],
      });
    }
  }
  for (const name of verify.components) {
    if (!results.has(name))
      results.set(name, { component: name, status: 'failed', checks: [], problems: ['no result'] });
  }
  const failed = [...results.values()].filter((result) => result.status === 'failed');
  const status = failure || failed.length > 0 ? 'failed' : 'verified';
  const reportKey = storeKeys.verificationReport(verify.backupId, verify.verifyId);
  const previous = await readVerificationReport(rt.store, verify.backupId, verify.verifyId);
  await rt.store.put(
    reportKey,
    jsonBody({
      ...previous,
      status,
      finishedAt: rt.now().toISOString(),
      results: Object.fromEntries(results),
    }),
  );
  // The drill's scratch (part lists, part results) is of no use once the report is written.
  await deletePrefix(rt.store, verify.workPrefix, () => true);
  rt.metrics.publish([
    {
      name: 'VerifyFailed',
      unit: MetricUnit.Count,
      value: status === 'failed' ? 1 : 0,
      dimensions: { Environment: rt.settings.environment },
    },
  ]);
  const problems = [
    ...failed.flatMap((result) => result.problems.map((problem) => `${result.component}: ${problem}`)),
    ...(failure ? [`the workflow failed: ${errorFromCatch(failure).message}`] : []),
  ];
  return {
    verifyId: verify.verifyId,
    backupId: verify.backupId,
    status,
    reportKey,
    message: `verification ${verify.verifyId} of ${verify.backupId}: ${status}${problems.length > 0 ? `: ${problems.slice(0, 20).join('; ')}` : ''}; report ${reportKey}`,
  };
}
