import { z } from 'zod';
import { verificationReportSchema } from '#backup-set/verify.ts';
import { InvalidInputError } from '#runtime/errors.ts';
import { readJson } from '#store/content-store.ts';
import { type CliIo, EXTRA_COMMANDS, helpText, LOCAL_WAIT_MS, parseCommand, runtimeFor } from './cli.ts';
import { ProgressPrinter } from './progress.ts';
import { runWorkflow } from './run-workflow.ts';
import { WORKFLOWS } from './workflows.ts';

/**
 * `liferay-backup verify ID|latest`: the restore drill, locally. Runs the same Verify workflow the
 * stack deploys: every file's content is read back and its sha256 checked, the database dump or
 * snapshot, the search snapshot and the Git refs are checked; a report is written next to the set.
 */
async function verifyCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, options } = parseCommand('verify', args);
  if (values.help) {
    io.out(helpText('verify', options));
    return 0;
  }
  if (positionals.length > 1) throw new InvalidInputError('verify takes one backup id or "latest"');
  const progress = new ProgressPrinter(io.err, values.quiet === true);
  const rt = runtimeFor('verify', values, progress);
  const components =
    typeof values.components === 'string' ? values.components.split(',').map((c) => c.trim()) : undefined;
  const outcome = await runWorkflow(
    WORKFLOWS.verify,
    { backupId: positionals[0] ?? 'latest', requestedBy: 'cli', ...(components ? { components } : {}) },
    rt,
    { onStateEntered: (name) => progress.step(name), waitMs: LOCAL_WAIT_MS, validate: false },
  );
  progress.clear();
  const reportKey =
    outcome.status === 'SUCCEEDED'
      ? (outcome.output as { report: { reportKey: string } }).report.reportKey
      : /report (backups\/\S+\/verifications\/\S+\.json)/.exec(outcome.cause)?.[1];
  if (!reportKey) {
    io.out(
      `verification failed: ${outcome.status === 'FAILED' ? `${outcome.error}: ${outcome.cause}` : 'no report'}`,
    );
    return 1;
  }
  const report = verificationReportSchema.parse(await readJson(rt.store, reportKey));
  if (values.json) {
    io.out(JSON.stringify(report, null, 2));
  } else {
    io.out(`verification ${report.verifyId} of ${report.backupId}: ${report.status} (${reportKey})`);
    for (const name of report.components) {
      const result = report.results[name];
      io.out(`  ${name}: ${result?.status ?? 'no result'}`);
      for (const check of result?.checks ?? []) io.out(`    ok: ${check}`);
      for (const problem of result?.problems ?? []) io.out(`    PROBLEM: ${problem}`);
    }
  }
  return z.literal('verified').safeParse(report.status).success ? 0 : 1;
}

EXTRA_COMMANDS.set('verify', verifyCommand);
