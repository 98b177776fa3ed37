import * as z from 'zod';
import { hooksSettingsSchema } from '#backup-set/hooks.ts';
import { REPORT_RUN_HOURS } from '#backup-set/report-run.ts';
import { retentionPolicySchema } from '#backup-set/retention-policy.ts';
import { COMPONENT_NAMES, componentNameSchema } from '#components/component.ts';
import { FILES_COMPONENTS } from '#components/files/settings.ts';
import { describeIssues } from '#runtime/errors.ts';
import { efsPath } from './components/files.ts';
import { CDK_COMPONENTS } from './components/registry.ts';
import { isTimeZone, scheduleConflicts } from './schedule-conflicts.ts';
import { scheduleExpressionProblem } from './schedule-expressions.ts';

/**
 * The deployment's configuration: `cdk.json` → context → `liferayBackup`. Validated once, at
 * synth; a bad value fails `cdk synth` with the key and what is allowed.
 */
const scheduleExpression = z
  .string()
  .regex(
    /^(cron\(\S+ \S+ \S+ \S+ \S+ \S+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\)|at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\))$/,
    'an EventBridge Scheduler expression: cron(min hour day-of-month month day-of-week year), rate(N unit) or at(yyyy-mm-ddThh:mm:ss)',
  )
  .superRefine((expression, ctx) => {
    const problem = scheduleExpressionProblem(expression);
    if (problem)
      ctx.addIssue({
        code: 'custom',
        message: `EventBridge Scheduler would refuse ${expression}: ${problem}`,
      });
  });

const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

export const networkSchema = z.strictObject({
  /** VPC of the Lambdas that reach EFS, the database and the search cluster. */
  vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, 'a VPC id like vpc-0123456789abcdef0'),
  availabilityZones: z.array(z.string().min(1)).min(1),
  /** Private subnets (one per availability zone) with a route to S3 (gateway endpoint) and the AWS APIs. */
  subnetIds: z
    .array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'a subnet id like subnet-0123456789abcdef0'))
    .min(1),
  /** Security group of the Lambdas; EFS (2049), the database and the search cluster must admit it. */
  securityGroupId: z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'a security group id like sg-0123456789abcdef0'),
});

export const efsSchema = z.strictObject({
  fileSystemId: z.string().regex(/^fs-[0-9a-f]{8,17}$/, 'an EFS file system id like fs-0123456789abcdef0'),
  /** Access point the Lambdas mount (read-only for backups; the restore functions write through it). */
  accessPointId: z
    .string()
    .regex(/^fsap-[0-9a-f]{8,17}$/, 'an EFS access point id like fsap-0123456789abcdef0'),
});

const objectLockSchema = z.strictObject({
  mode: z.enum(['GOVERNANCE', 'COMPLIANCE']),
  days: z.number().int().min(1).max(36_500),
});

const componentsSchema = z.strictObject(
  Object.fromEntries(CDK_COMPONENTS.map((component) => [component.name, component.configSchema.optional()])),
);

export const DEFAULT_DRILL_SCRATCH_PATH = '/liferay-backup-drills';

export const configSchema = z
  .strictObject({
    /** Names the Liferay environment (prefix of resource names, one backup at a time per environment). */
    environment: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,38}[a-z0-9]$/, 'lower-case letters, digits and hyphens, 2-40 characters'),
    /** AWS account and region to deploy to. @default the CLI's */
    account: z
      .string()
      .regex(/^\d{12}$/, 'a 12-digit AWS account id')
      .optional(),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region like eu-west-1')
      .optional(),
    network: networkSchema.optional(),
    efs: efsSchema.optional(),
    components: componentsSchema,
    schedules: z
      .array(
        z.strictObject({
          name: z
            .string()
            .regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,39}$/, 'letters, digits and hyphens, up to 40 characters'),
          expression: scheduleExpression,
          /** IANA time zone of a cron expression. @default UTC */
          timezone: z
            .string()
            .min(1)
            .max(64)
            .refine(isTimeZone, 'an IANA time zone like Europe/Madrid or UTC')
            .default('UTC'),
          /** Components this schedule backs up. @default every configured component */
          components: z.array(componentNameSchema).min(1).optional(),
          /**
           * Backups that build on no earlier set (`{"full": true}`): every file read and stored again.
           * A monthly one bounds what an object the store loses can take with it: every object the
           * sets after it reference was written by it or later. @default false
           */
          full: z.boolean().default(false),
          enabled: z.boolean().default(true),
        }),
      )
      .default([]),
    /** Receives failure notifications (SNS email subscription, confirmed by the recipient). */
    alarmEmail: z.email('an email address').optional(),
    /**
     * Object Lock on the store bucket. S3 fixes it when the bucket is created, and CloudFormation
     * replaces the bucket when it changes (`ObjectLockEnabled`: "Update requires: Replacement"):
     * on a deployed stack the store would become a new, empty bucket. Set it before the first
     * deploy and keep it. @default false
     */
    objectLockEnabled: z.boolean().default(false),
    /** The default retention of a bucket created with `objectLockEnabled`. @default none */
    objectLock: objectLockSchema.optional(),
    /** Capture hooks: an SSM Run Command document or a Lambda, run before and after the capture. */
    hooks: hooksSettingsSchema.optional(),
    logRetentionDays: z
      .number()
      .refine((days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days), {
        message: `one of ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(90),
    /** Grandfather-father-son retention and garbage collection of unreferenced content. */
    retention: z
      .strictObject({
        /** When the Retention workflow runs. @default daily at 05:00 UTC */
        schedule: scheduleExpression.default('cron(0 5 * * ? *)'),
        policy: retentionPolicySchema.default(retentionPolicySchema.parse({})),
        /** Content younger than this is never collected (longer than any backup may run). @default 48 */
        graceHours: z.number().int().min(1).max(720).default(48),
      })
      .default({ schedule: 'cron(0 5 * * ? *)', policy: retentionPolicySchema.parse({}), graceHours: 48 }),
    verify: z
      .strictObject({
        /** The restore drill (Verify workflow) on a schedule. @default no schedule (start it from the console) */
        schedule: scheduleExpression.optional(),
        /**
         * The drill restores the Liferay Home and the app server for real into a new folder below
         * this one on the same EFS file system (removed afterwards); false: it reads every file
         * back from the store instead. Must lie outside the components' folders.
         * @default /liferay-backup-drills
         */
        scratchPath: z.union([efsPath, z.literal(false)]).default(DEFAULT_DRILL_SCRATCH_PATH),
      })
      .default({ scratchPath: DEFAULT_DRILL_SCRATCH_PATH }),
    /** Recovery point objective: alarm when the newest complete set is older than this. @default 26 */
    rpoHours: z
      .number()
      .int()
      .min(1)
      .max(24 * 7)
      .default(26),
    /**
     * Per-component recovery point objectives, e.g. `{"database": 2}` when the database is backed up
     * hourly. @default rpoHours for every component
     */
    componentRpoHours: z
      .partialRecord(
        componentNameSchema,
        z
          .number()
          .int()
          .min(1)
          .max(24 * 7),
      )
      .default({}),
    /** The Backup workflow gives up after this; a lock older than it is stale. @default 23 hours */
    backupTimeoutHours: z
      .number()
      .int()
      .min(1)
      .max(24 * 7)
      .default(23),
  })
  .superRefine((config, ctx) => {
    const configured = COMPONENT_NAMES.filter((name) => isEnabled(config.components[name]));
    if (config.objectLock && !config.objectLockEnabled) {
      // Were objectLock alone to switch Object Lock on, deleting it later would flip ObjectLockEnabled
      // and CloudFormation would replace the store bucket without a word: the switch is a key of its
      // own, out of reach of an edit to the default retention.
      ctx.addIssue({
        code: 'custom',
        path: ['objectLockEnabled'],
        message:
          'objectLock needs "objectLockEnabled": true beside it. If the stack was first deployed with objectLock, add it: nothing changes. ' +
          'If it was deployed without objectLock, do not: S3 fixes Object Lock when the bucket is created, so CloudFormation would replace the store bucket ' +
          'with a new, empty one (the old one is retained but no longer used: the backups look gone and "latest" restores nothing); ' +
          'remove objectLock, or deploy a new stack under another environment name (README "Upgrading the stack")',
      });
    }
    config.schedules.forEach((schedule, index) => {
      for (const name of schedule.components ?? []) {
        if (!configured.includes(name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['schedules', index, 'components'],
            message: `component ${name} is not enabled under components (enabled: ${configured.join(', ') || 'none'})`,
          });
        }
      }
    });
    for (const phase of ['pre', 'post'] as const) {
      if (config.hooks?.[phase]?.type === 'command') {
        ctx.addIssue({
          code: 'custom',
          path: ['hooks', phase, 'type'],
          message: '"command" hooks run only in local mode; use "ssm" or "lambda"',
        });
      }
    }
    if (config.retention.graceHours <= config.backupTimeoutHours) {
      ctx.addIssue({
        code: 'custom',
        path: ['retention', 'graceHours'],
        message: `must be longer than backupTimeoutHours (${config.backupTimeoutHours}), or a running backup's new content could be collected`,
      });
    }
    for (const conflict of scheduleConflicts(config.schedules)) {
      ctx.addIssue({
        code: 'custom',
        path: ['schedules', conflict.index, 'expression'],
        message: conflict.message,
      });
    }
    const names = config.schedules.map((schedule) => schedule.name);
    const duplicate = names.find((name, index) => names.indexOf(name) !== index);
    if (duplicate)
      ctx.addIssue({
        code: 'custom',
        path: ['schedules'],
        message: `schedule name ${duplicate} is used twice`,
      });
    const { scratchPath } = config.verify;
    for (const name of scratchPath === false ? [] : FILES_COMPONENTS) {
      const files = config.components[name] as { path?: unknown; documentLibraryPath?: unknown } | undefined;
      if (!isEnabled(files)) continue;
      for (const folder of [files?.path, files?.documentLibraryPath]) {
        if (typeof folder !== 'string') continue;
        if (`${scratchPath}/`.startsWith(`${folder}/`) || `${folder}/`.startsWith(`${scratchPath}/`)) {
          ctx.addIssue({
            code: 'custom',
            path: ['verify', 'scratchPath'],
            message: `${scratchPath} overlaps ${name}'s folder ${folder}: the drill's scratch copy must lie outside what is backed up and restored`,
          });
        }
      }
    }
    if (configured.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['components'], message: 'enable at least one component' });
    }
    for (const bound of waitBounds(config)) {
      const hooksSeconds =
        (config.hooks?.pre?.timeoutSeconds ?? 0) + (config.hooks?.post?.timeoutSeconds ?? 0);
      const limits = [
        {
          seconds: bound.backupSeconds + hooksSeconds,
          limit: config.backupTimeoutHours * 3600,
          what: `backupTimeoutHours (${config.backupTimeoutHours})${hooksSeconds > 0 ? ' with the capture hooks' : ''}`,
        },
        {
          seconds: bound.restoreSeconds,
          limit: REPORT_RUN_HOURS * 3600,
          what: `the Restore workflow's time-out (${REPORT_RUN_HOURS} h)`,
        },
      ];
      const over = limits.find(({ seconds, limit }) => seconds >= limit);
      if (!over) continue;
      ctx.addIssue({
        code: 'custom',
        path: ['components', bound.component, bound.key],
        message: `${bound.describe} may wait ${hoursText(over.seconds)}, not less than ${over.what}: Step Functions would end the whole execution (TIMED_OUT) before the component gives up, so no Commit or Report records the other components and the post hook does not run; lower it or raise the time-out`,
      });
    }
  });

/** How long a component's Wait + check loops may run before they give up and fail the component. */
interface WaitBound {
  readonly component: string;
  /** The key that sets the number of checks. */
  readonly key: string;
  readonly describe: string;
  readonly backupSeconds: number;
  readonly restoreSeconds: number;
}

function waitBounds(config: { components: Record<string, unknown> }): WaitBound[] {
  const bounds: WaitBound[] = [];
  const database = config.components.database as
    | {
        enabled?: boolean;
        mode?: string;
        waitIntervalSeconds?: number;
        maxWaitAttempts?: number;
        notAvailableRetry?: { intervalSeconds?: number; maxAttempts?: number };
      }
    | undefined;
  if (database?.enabled === true && database.mode !== 'dump') {
    const interval = database.waitIntervalSeconds ?? 0;
    const checks = database.maxWaitAttempts ?? 0;
    const waits = interval * checks;
    const notAvailable =
      (database.notAvailableRetry?.intervalSeconds ?? 0) * (database.notAvailableRetry?.maxAttempts ?? 0);
    bounds.push({
      component: 'database',
      key: 'maxWaitAttempts',
      describe: `${checks} checks ${interval} s apart${notAvailable > 0 ? ` (and the not-available retries before them)` : ''}`,
      backupSeconds: waits + notAvailable,
      restoreSeconds: waits,
    });
  }
  const search = config.components.search as
    | { enabled?: boolean; waitSeconds?: number; maxChecks?: number }
    | undefined;
  if (search?.enabled === true) {
    const waits = (search.waitSeconds ?? 0) * (search.maxChecks ?? 0);
    bounds.push({
      component: 'search',
      key: 'maxChecks',
      describe: `${search.maxChecks} checks ${search.waitSeconds} s apart (and the retries of a busy repository before them)`,
      backupSeconds: waits + SEARCH_BUSY_RETRY_SECONDS,
      restoreSeconds: waits + SEARCH_BUSY_RETRY_SECONDS,
    });
  }
  return bounds;
}

/** The start of a search snapshot or restore retried while the repository is busy: 60 s doubling, 6 times (cdk/components/search.ts). */
const SEARCH_BUSY_RETRY_SECONDS = 60 * (2 ** 6 - 1);

function hoursText(seconds: number): string {
  const hours = seconds / 3600;
  return `${Number.isInteger(hours) ? hours : hours.toFixed(1)} h`;
}

export type LiferayBackupConfig = z.infer<typeof configSchema>;

function isEnabled(componentConfig: unknown): boolean {
  return (componentConfig as { enabled?: unknown } | undefined)?.enabled === true;
}

/** The enabled components, in workflow order. */
export function enabledComponents(config: LiferayBackupConfig): (typeof COMPONENT_NAMES)[number][] {
  return COMPONENT_NAMES.filter((name) => isEnabled(config.components[name]));
}

export class ConfigValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigValidationError';
  }
}

/** Validates the `liferayBackup` context value; throws one message listing every bad key. */
export function parseConfig(raw: unknown): LiferayBackupConfig {
  if (raw === undefined) {
    throw new ConfigValidationError(
      'cdk.json context has no "liferayBackup" key: copy the example from README.md',
    );
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const where = parsed.error.issues.map((issue) => ({ ...issue, path: ['liferayBackup', ...issue.path] }));
    throw new ConfigValidationError(`invalid configuration: ${describeIssues(where)}`);
  }
  return parsed.data;
}
