import * as z from 'zod';

/**
 * Capture hooks (DESIGN.md, Consistency): optional commands run before and after the capture,
 * e.g. to pause writes or drain the load balancer, like Velero's backup hooks. The post hook runs
 * even when the capture failed. Outputs are never stored (they could hold secrets): the manifest
 * records what ran, its status and how long it took.
 */
/** Seconds between two polls of a running SSM hook (the workflow's Wait state uses the same value). */
export const HOOK_POLL_SECONDS = 15;

const timeoutSeconds = z.number().int().min(1).max(3600).default(600);

export const hookSpecSchema = z.discriminatedUnion('type', [
  z.strictObject({
    /** An SSM Run Command document on the Liferay hosts. */
    type: z.literal('ssm'),
    documentName: z.string().min(1).max(128),
    /** Hosts by tag (`{"key": "tag:Role", "values": ["liferay"]}`) or instance ids. */
    targets: z
      .array(
        z.strictObject({
          key: z.string().min(1).max(163),
          values: z.array(z.string().min(1).max(256)).min(1).max(50),
        }),
      )
      .min(1)
      .max(5),
    parameters: z.record(z.string().max(64), z.array(z.string().max(4096)).max(16)).default({}),
    timeoutSeconds,
  }),
  z.strictObject({
    /** A Lambda function, invoked synchronously with `{phase, backupId, environment}`. */
    type: z.literal('lambda'),
    functionArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9-_]+(:[A-Za-z0-9-_$]+)?$/,
        'a Lambda function ARN',
      ),
    timeoutSeconds: timeoutSeconds.pipe(z.number().max(840)),
  }),
  z.strictObject({
    /** A shell command on this machine: local mode only (self-managed Liferay on one VM). */
    type: z.literal('command'),
    command: z.string().min(1).max(4096),
    timeoutSeconds,
  }),
]);
export type HookSpec = z.infer<typeof hookSpecSchema>;

export const hooksSettingsSchema = z.strictObject({
  pre: hookSpecSchema.optional(),
  post: hookSpecSchema.optional(),
  /** `fail` (default): a failed pre hook skips the capture (the post hook still runs) and the set fails. */
  onPreHookFailure: z.enum(['fail', 'continue']).default('fail'),
});
export type HooksSettings = z.infer<typeof hooksSettingsSchema>;

export const hookPhaseSchema = z.enum(['pre', 'post']);
export type HookPhase = z.infer<typeof hookPhaseSchema>;

/** What the hook states put in the workflow state and Commit writes into the manifest. */
export const hookOutcomeSchema = z.object({
  phase: hookPhaseSchema,
  type: z.enum(['ssm', 'lambda', 'command']),
  /** What ran, for people: document name and targets, function ARN, or "local command". */
  target: z.string().max(1024),
  status: z.enum(['running', 'succeeded', 'failed', 'timed-out']),
  startedAt: z.iso.datetime({ offset: true }),
  finishedAt: z.iso.datetime({ offset: true }).optional(),
  /** Run Command id, for following up in the console. */
  commandId: z.string().max(64).optional(),
  /** Polls so far (SSM), bounded by the hook's timeout. */
  polls: z.number().int().min(0).default(0),
  message: z.string().max(2048).optional(),
});
export type HookOutcome = z.infer<typeof hookOutcomeSchema>;

export function describeHookTarget(spec: HookSpec): string {
  switch (spec.type) {
    case 'ssm':
      return `ssm document ${spec.documentName} on ${spec.targets.map((t) => `${t.key}=${t.values.join('|')}`).join(', ')}`;
    case 'lambda':
      return `lambda ${spec.functionArn}`;
    case 'command':
      return 'local command';
  }
}
