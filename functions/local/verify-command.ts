import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { readManifest } from '#backup-set/manifest.ts';
import { verificationReportSchema } from '#backup-set/verify.ts';
import { InvalidInputError } from '#runtime/errors.ts';
import { readJson } from '#store/content-store.ts';
import { type CliIo, EXTRA_COMMANDS, helpText, LOCAL_WAIT_MS, parseCommand, runtimeFor } from './cli.ts';
import { formatBytes } from './format.ts';
import { ProgressPrinter } from './progress.ts';
import { runWorkflow } from './run-workflow.ts';
import { WORKFLOWS } from './workflows.ts';

/**
 * `liferay-backup verify ID|latest`: the restore drill, locally. Runs the same Verify workflow the
 * stack deploys: every file's content is read back and its sha256 checked, the database dump or
 * snapshot, the search snapshot and the Git refs are checked; a report is written next to the set.
 * Then the files components are restored for real (the Restore workflow, every sha256 checked as
 * it writes) into a new scratch folder, which is removed afterwards.
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
  const verified = z.literal('verified').safeParse(report.status).success;
  const restored = await restoreIntoScratch(
    report.backupId,
    report.components,
    values,
    rt.store,
    io,
    progress,
  );
  return verified && restored ? 0 : 1;
}

/** The files components a restore writes into folders (the CLI option that names each folder). */
const FILES_TARGETS = { liferayHome: 'to', appServer: 'app-server' } as const;

/**
 * Restores the set's complete files components into a new folder under `--scratch` (default the
 * system's temporary folder) with the Restore workflow, then removes it. True when nothing was to
 * be restored or the restore completed.
 */
async function restoreIntoScratch(
  backupId: string,
  drilled: readonly string[],
  values: Record<string, unknown>,
  store: ReturnType<typeof runtimeFor>['store'],
  io: CliIo,
  progress: ProgressPrinter,
): Promise<boolean> {
  if (values.scratch === 'none') return true;
  const manifest = await readManifest(store, backupId);
  const components = (Object.keys(FILES_TARGETS) as (keyof typeof FILES_TARGETS)[]).filter(
    (name) => drilled.includes(name) && manifest.results[name]?.status === 'complete',
  );
  if (components.length === 0) return true;
  // With --json the report alone goes to stdout.
  const say = values.json === true ? (line: string) => io.err.write(`${line}\n`) : io.out;
  const base = typeof values.scratch === 'string' ? path.resolve(values.scratch) : tmpdir();
  // A drill of a large set must not fill the disk it runs on (the system's temporary folder by default).
  const needed = components.reduce(
    (sum, name) => sum + Number(manifest.results[name]?.summary.bytes ?? 0),
    0,
  );
  const disk = await statfs(base);
  const free = disk.bavail * disk.bsize;
  if (needed > free * 0.9) {
    say(
      `  scratch restore skipped: the files need ${formatBytes(needed)} and ${base} has ${formatBytes(free)} free; give --scratch DIR on a larger disk, or --scratch none to read back only`,
    );
    return false;
  }
  const scratch = await mkdtemp(path.join(base, `liferay-backup-drill-${backupId}-`));
  try {
    const restoreValues: Record<string, unknown> = { ...values };
    for (const name of components) restoreValues[FILES_TARGETS[name]] = path.join(scratch, name);
    const rt = runtimeFor('restore', restoreValues, progress);
    const outcome = await runWorkflow(
      WORKFLOWS.restore,
      {
        backupId,
        requestedBy: 'cli',
        components,
        allowPartial: manifest.status === 'partial',
        ...Object.fromEntries(components.map((name) => [name, { swap: false }])),
      },
      rt,
      { onStateEntered: (name) => progress.step(name), waitMs: LOCAL_WAIT_MS, validate: false },
    );
    progress.clear();
    if (outcome.status !== 'SUCCEEDED') {
      say(`  scratch restore into ${scratch}: FAILED: ${outcome.error}: ${outcome.cause}`);
      return false;
    }
    const { restoreId } = (outcome.output as { report: { restoreId: string } }).report;
    say(
      `  scratch restore ${restoreId} of ${components.join(', ')} into ${scratch}: complete, every file's sha256 checked as written (folder removed)`,
    );
    return true;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

EXTRA_COMMANDS.set('verify', verifyCommand);
