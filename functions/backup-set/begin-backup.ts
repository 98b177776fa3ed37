import { z } from 'zod';
import { type ComponentName, componentNameSchema } from '#components/component.ts';
import { componentModule } from '#components/registry.ts';
import { InvalidInputError } from '#runtime/errors.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { configuredComponents } from '#runtime/settings.ts';
import { parseInput } from '#runtime/validate.ts';
import { newBackupId } from './backup-id.ts';
import { storeKeys } from './keys.ts';
import { acquireBackupLock } from './lock.ts';
import { backupIdSchema, type Manifest, readLatest, TOOL, writeManifest } from './manifest.ts';
import { selectionFlags } from './selection.ts';

/** The Backup execution input: what EventBridge Scheduler sends, or what someone types in the console. */
export const backupRequestSchema = z.strictObject({
  schedule: z.string().max(64).optional(),
  components: z.array(componentNameSchema).min(1).max(5).optional(),
  /** Who started it (recorded in the manifest). Not `source`: that is a component's name. */
  requestedBy: z.enum(['schedule', 'console', 'cli']).optional(),
});
export type BackupRequest = z.infer<typeof backupRequestSchema>;

/** What Begin hands to every branch (at `$.backup` in the Backup state machine). */
export const backupContextSchema = z.object({
  backupId: backupIdSchema,
  environment: z.string(),
  components: z.array(componentNameSchema),
  selected: z.record(componentNameSchema, z.boolean()),
  previousBackupId: backupIdSchema.optional(),
  startedAt: z.iso.datetime({ offset: true }),
  workPrefix: z.string(),
  /** Which capture hooks run (the workflow's Choice states read these flags). */
  hooks: z.object({ pre: z.boolean(), post: z.boolean(), continueOnPreHookFailure: z.boolean() }),
  /** Filled by the hook states: `{pre, post}` outcomes (or a caught `{Error, Cause}`). */
  hookOutcomes: z.record(z.string(), z.unknown()).default({}),
});
export type BackupContext = z.infer<typeof backupContextSchema>;

export async function beginBackup(event: unknown, rt: Runtime): Promise<BackupContext> {
  const request = parseInput(backupRequestSchema, event ?? {}, 'backup request');
  const configured = configuredComponents(rt.settings).filter((name) => componentModule(name) !== undefined);
  const components = request.components ?? configured;
  const unavailable = components.filter((name) => !configured.includes(name));
  if (unavailable.length > 0) {
    throw new InvalidInputError(
      `components not configured in this deployment: ${unavailable.join(', ')}; configured: ${configured.join(', ') || '(none)'}`,
    );
  }
  if (components.length === 0) throw new InvalidInputError('no component is configured, nothing to back up');
  const ordered = configured.filter((name): name is ComponentName => components.includes(name));

  const now = rt.now();
  const backupId = newBackupId(now);
  // The lock comes first: a refused run must create nothing.
  const lock = await acquireBackupLock(
    rt.store,
    storeKeys.backupLock,
    backupId,
    now,
    rt.settings.lockTimeoutMinutes,
  );
  const previousBackupId = await readLatest(rt.store);
  const manifest: Manifest = {
    schemaVersion: 1,
    backupId,
    environment: rt.settings.environment,
    status: 'running',
    trigger: {
      source: request.requestedBy ?? (request.schedule ? 'schedule' : 'console'),
      ...(request.schedule ? { schedule: request.schedule } : {}),
    },
    components: ordered,
    ...(previousBackupId ? { previousBackupId } : {}),
    startedAt: now.toISOString(),
    tool: TOOL,
    results: {},
    warnings: lock.tookOverFrom
      ? [
          `took over the lock of ${lock.tookOverFrom}, which ran longer than ${rt.settings.lockTimeoutMinutes} minutes`,
        ]
      : [],
  };
  await writeManifest(rt.store, manifest);
  rt.logger.appendKeys({ backupId });
  rt.logger.info('backup started', { components: ordered, previousBackupId });
  return {
    backupId,
    environment: rt.settings.environment,
    components: ordered,
    selected: selectionFlags(ordered),
    ...(previousBackupId ? { previousBackupId } : {}),
    startedAt: now.toISOString(),
    workPrefix: storeKeys.workPrefix(backupId),
    hooks: {
      pre: rt.settings.hooks?.pre !== undefined,
      post: rt.settings.hooks?.post !== undefined,
      continueOnPreHookFailure: rt.settings.hooks?.onPreHookFailure === 'continue',
    },
    hookOutcomes: {},
  };
}

export const handler = lambdaHandler(beginBackup);
