import { parseArgs } from 'node:util';
import type { RetentionOutcome, RetentionPlan } from '#backup-set/retention.ts';
import { retentionSettingsSchema } from '#backup-set/retention-policy.ts';
import { asError, describeIssues, InvalidInputError } from '#runtime/errors.ts';
import { parseSettings } from '#runtime/settings.ts';
import { readJson } from '#store/content-store.ts';
import { type CliIo, EXTRA_COMMANDS, runStoppable } from './cli.ts';
import { formatBytes } from './format.ts';
import { retentionStopPlan } from './interrupt.ts';
import { localRuntime } from './local-runtime.ts';
import { ProgressPrinter } from './progress.ts';
import { describeFailure, exitCodeOfFailure } from './run-workflow.ts';
import { storeFromOptions } from './store-options.ts';
import { WORKFLOWS } from './workflows.ts';

/** The policy a run without flags applies, from the schema: `--help` shows it before anyone deletes. */
const DEFAULTS = retentionSettingsSchema.parse({});

const USAGE = `usage: liferay-backup retention [--dry-run] [--daily N] [--weekly N] [--monthly N] [--min-complete N]
                                [--incomplete-days N] [--grace-hours N] [--environment NAME] [--json] [--quiet]
                                [--store DIR | --bucket NAME [--endpoint URL] [--region R]]

Deletes the backup sets the grandfather-father-son policy no longer keeps (the newest complete set of
each of the last N days, weeks and months; never the newest --min-complete complete sets, a running
set, or one a restore is reading), then collects content no remaining set references and that is
older than --grace-hours. --dry-run lists what would go and why, and changes nothing.
Defaults: --daily ${DEFAULTS.policy.daily} --weekly ${DEFAULTS.policy.weekly} --monthly ${DEFAULTS.policy.monthly} --min-complete ${DEFAULTS.policy.minComplete} --incomplete-days ${DEFAULTS.policy.incompleteDays} --grace-hours ${DEFAULTS.graceHours}.`;

interface Decision {
  backupId: string;
  keep: boolean;
  reasons: string[];
  status?: string;
}

function integer(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value))
    throw new InvalidInputError(`--${name} must be a whole number, got ${String(raw)}`);
  return value;
}

async function retentionCommand(args: string[], io: CliIo): Promise<number> {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({
      args,
      strict: true,
      options: {
        'dry-run': { type: 'boolean' },
        daily: { type: 'string' },
        weekly: { type: 'string' },
        monthly: { type: 'string' },
        'min-complete': { type: 'string' },
        'incomplete-days': { type: 'string' },
        'grace-hours': { type: 'string' },
        store: { type: 'string' },
        bucket: { type: 'string' },
        endpoint: { type: 'string' },
        region: { type: 'string' },
        environment: { type: 'string' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (error) {
    throw new InvalidInputError(`${asError(error).message}\n${USAGE}`);
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const policy = Object.fromEntries(
    (
      [
        ['daily', 'daily'],
        ['weekly', 'weekly'],
        ['monthly', 'monthly'],
        ['minComplete', 'min-complete'],
        ['incompleteDays', 'incomplete-days'],
      ] as const
    ).flatMap(([key, flag]) => {
      const value = integer(values, flag);
      return value === undefined ? [] : [[key, value]];
    }),
  );
  const graceHours = integer(values, 'grace-hours');
  const retention = retentionSettingsSchema.safeParse({
    policy,
    ...(graceHours !== undefined ? { graceHours } : {}),
  });
  if (!retention.success)
    throw new InvalidInputError(`invalid retention flags: ${describeIssues(retention.error.issues)}`);
  const store = storeFromOptions(values, { existing: true });
  const progress = new ProgressPrinter(io.err, values.quiet === true);
  const settings = parseSettings(
    {
      environment: typeof values.environment === 'string' ? values.environment : 'local',
      retention: retention.data,
    },
    'the command line',
  );
  const rt = localRuntime({ store, settings, progress: (message) => progress.update(message) });
  const run = await runStoppable(
    WORKFLOWS.retention,
    { dryRun: values['dry-run'] === true, requestedBy: 'cli' },
    rt,
    (say) => retentionStopPlan(rt, say),
    { progress, err: io.err },
  );
  if ('exitCode' in run) return run.exitCode;
  const { outcome } = run;
  progress.clear();
  const output =
    outcome.status === 'SUCCEEDED'
      ? (outcome.output as { plan: RetentionPlan; outcome?: RetentionOutcome })
      : undefined;
  const reportKey =
    output?.plan.reportKey ??
    /report (reports\/retention\/\S+\.json)/.exec(outcome.status === 'FAILED' ? outcome.cause : '')?.[1];
  if (!reportKey) {
    io.out(describeFailure('retention failed', outcome, values.json === true));
    return exitCodeOfFailure(outcome);
  }
  const report = (await readJson(store, reportKey)) as {
    dryRun: boolean;
    status: string;
    decisions: Decision[];
    deletedSets?: string[];
    garbageCollection?: { sweptObjects?: number; sweptBytes?: number; skipped?: string };
    failure?: string;
    warnings?: string[];
  };
  if (values.json) {
    io.out(JSON.stringify(report, null, 2));
  } else {
    io.out(`retention ${report.dryRun ? '(dry run) ' : ''}${report.status}: ${reportKey}`);
    for (const decision of report.decisions) {
      io.out(
        `  ${decision.keep ? 'keep  ' : report.dryRun ? 'would delete' : 'delete'} ${decision.backupId} (${decision.status ?? '?'}): ${decision.reasons.join('; ')}`,
      );
    }
    const gc = report.garbageCollection;
    if (gc?.skipped) io.out(`  content collection skipped: ${gc.skipped}`);
    else if (gc)
      io.out(`  collected ${gc.sweptObjects ?? 0} unreferenced objects (${formatBytes(gc.sweptBytes ?? 0)})`);
    for (const warning of report.warnings ?? []) io.out(`  warning: ${warning}`);
    if (report.failure) io.out(`  failed: ${report.failure}`);
  }
  return outcome.status === 'SUCCEEDED' ? 0 : 1;
}

EXTRA_COMMANDS.set('retention', retentionCommand);
