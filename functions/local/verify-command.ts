import { mkdtemp, readdir, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as z from 'zod';
import { isBackupId, isRunId } from '#backup-set/backup-id.ts';
import { storeKeys } from '#backup-set/keys.ts';
import { readManifest, resolveLatest } from '#backup-set/manifest.ts';
import { howRunEnded } from '#backup-set/report-run.ts';
import { verificationReportSchema } from '#backup-set/verify.ts';
import { COMPONENT_MODULES } from '#components/registry.ts';
import { InvalidInputError } from '#runtime/errors.ts';
import { parseSettings, type Settings } from '#runtime/settings.ts';
import { type ContentStore, readJson } from '#store/content-store.ts';
import { type CliIo, EXTRA_COMMANDS, helpText, parseCommand, runStoppable, runtimeFor } from './cli.ts';
import { formatBytes } from './format.ts';
import { drillStopPlan } from './interrupt.ts';
import { localRuntime } from './local-runtime.ts';
import { ProgressPrinter } from './progress.ts';
import { describeFailure, exitCodeOfFailure } from './run-workflow.ts';
import { WORKFLOWS } from './workflows.ts';

/**
 * `liferay-backup verify ID|latest`: the restore drill, locally. Runs the same Verify workflow the
 * stack deploys: the files components are restored for real (the Restore workflow, every sha256
 * checked as it writes) into a new scratch folder, which is removed afterwards (`--scratch none`:
 * every file is read back from the store instead); the database dump or snapshot, the search
 * snapshot and the Git refs are checked; a report is written next to the set.
 */
async function verifyCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, options } = parseCommand('verify', args);
  if (values.help) {
    io.out(helpText('verify', options));
    return 0;
  }
  if (positionals.length > 1) throw new InvalidInputError('verify takes one backup id or "latest"');
  // Checked before the drill starts: a mistyped folder is the caller's to fix, not a failed drill.
  if (
    typeof values.scratch === 'string' &&
    values.scratch !== 'none' &&
    !(await stat(values.scratch).catch(() => undefined))?.isDirectory()
  )
    throw new InvalidInputError(
      `--scratch ${path.resolve(values.scratch)}: that folder does not exist (give an existing folder to restore into, or --scratch none to read back only)`,
    );
  const progress = new ProgressPrinter(io.err, values.quiet === true);
  const base = runtimeFor('verify', values, progress);
  const backupId = positionals[0] ?? 'latest';
  const components =
    typeof values.components === 'string' ? values.components.split(',').map((c) => c.trim()) : undefined;
  // With --json the report alone goes to stdout.
  const say = values.json === true ? (line: string) => io.err.write(`${line}\n`) : io.out;
  const scratch = await scratchFolder(base.store, backupId, components, values, say);
  try {
    const rt = scratch.folder
      ? localRuntime({
          store: base.store,
          settings: drillSettings(base.settings, scratch.folder),
          progress: (message) => progress.update(message),
        })
      : base;
    const run = await runStoppable(
      WORKFLOWS.verify,
      {
        backupId,
        requestedBy: 'cli',
        ...(components ? { components } : {}),
        ...(scratch.folder ? {} : { scratch: false }),
      },
      rt,
      (said) => drillStopPlan(rt, said),
      { progress, err: io.err },
    );
    if ('exitCode' in run) return run.exitCode;
    const { outcome } = run;
    progress.clear();
    const reportKey =
      outcome.status === 'SUCCEEDED'
        ? (outcome.output as { report: { reportKey: string } }).report.reportKey
        : /report (backups\/\S+\/verifications\/\S+\.json)/.exec(outcome.cause)?.[1];
    if (!reportKey) {
      io.out(describeFailure('verification failed', outcome, values.json === true));
      return exitCodeOfFailure(outcome);
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
    return z.literal('verified').safeParse(report.status).success && scratch.usable ? 0 : 1;
  } finally {
    // Retries: after a signal, the drill's restore may still be writing into it for a moment.
    if (scratch.folder) await rm(scratch.folder, { recursive: true, force: true, maxRetries: 5 });
  }
}

/** The components a drill restores into a folder (the same rule Begin verify applies). */
const RESTORED_INTO_FOLDER = COMPONENT_MODULES.filter((module) => module.drillRestoresIntoFolder).map(
  (module) => module.name,
);

/**
 * A new folder under `--scratch` (default the system's temporary folder) for the drill's restore,
 * when the set's files fit the disk it is on. `usable` is false when the drill could not restore
 * for want of space: it then reads back only, and says why.
 */
async function scratchFolder(
  store: ContentStore,
  requested: string,
  components: readonly string[] | undefined,
  values: Record<string, unknown>,
  say: (line: string) => void,
): Promise<{ folder?: string; usable: boolean }> {
  if (values.scratch === 'none') return { usable: true };
  const backupId = requested === 'latest' ? (await resolveLatest(store)).backupId : requested;
  // A set that cannot be read is the workflow's to report, with its own message.
  const manifest = backupId ? await readManifest(store, backupId).catch(() => undefined) : undefined;
  if (!manifest) return { usable: true };
  const restored = RESTORED_INTO_FOLDER.filter(
    (name) => (components ?? [name]).includes(name) && manifest.results[name]?.status === 'complete',
  );
  if (restored.length === 0) return { usable: true };
  const base = typeof values.scratch === 'string' ? path.resolve(values.scratch) : tmpdir();
  await removeEndedDrillCopies(store, base, say);
  // A drill of a large set must not fill the disk it runs on (the system's temporary folder by default).
  const needed = restored.reduce((sum, name) => sum + Number(manifest.results[name]?.summary.bytes ?? 0), 0);
  const disk = await statfs(base);
  const free = disk.bavail * disk.bsize;
  if (needed > free * 0.9) {
    say(
      `  scratch restore skipped: the files need ${formatBytes(needed)} and ${base} has ${formatBytes(free)} free; give --scratch DIR on a larger disk, or --scratch none to read back only`,
    );
    return { usable: false };
  }
  return {
    folder: await mkdtemp(path.join(base, `liferay-backup-drill-${manifest.backupId}-`)),
    usable: true,
  };
}

/** `liferay-backup-drill-<backupId>-XXXXXX` (mkdtemp's six characters). */
const DRILL_FOLDER = /^liferay-backup-drill-(.+)-[A-Za-z0-9]{6}$/;

/**
 * A drill killed before it could remove its scratch copy (SIGKILL, the OOM killer, a restart)
 * leaves a whole restored tree under the scratch folder, and the next drill might then find too
 * little space to restore. Before taking its own folder, a drill removes the folders of earlier
 * drills of this store that have certainly ended (their reports say so, or say `running` of a run
 * that ended: report-run.ts). Anything it cannot judge is left alone.
 */
async function removeEndedDrillCopies(store: ContentStore, base: string, say: (line: string) => void) {
  let names: string[];
  try {
    names = await readdir(base);
  } catch {
    return;
  }
  for (const name of names) {
    const backupId = DRILL_FOLDER.exec(name)?.[1];
    if (!backupId || !isBackupId(backupId)) continue;
    const folder = path.join(base, name);
    const ended = await drillsEnded(store, backupId, folder);
    if (ended === undefined) continue;
    await rm(folder, { recursive: true, force: true, maxRetries: 5 });
    say(`  removed ${folder}, the scratch copy of ${ended}`);
  }
}

/** How the drills that restored into a scratch folder ended, or undefined if one may still run. */
async function drillsEnded(
  store: ContentStore,
  backupId: string,
  folder: string,
): Promise<string | undefined> {
  const drills = (await readdir(folder).catch(() => [])).filter((name) => isRunId(name, 'v'));
  if (drills.length === 0) return undefined;
  const how: string[] = [];
  for (const verifyId of drills) {
    const report = verificationReportSchema.safeParse(
      await readJson(store, storeKeys.verificationReport(backupId, verifyId)).catch(() => undefined),
    );
    if (!report.success) return undefined;
    const ended = howRunEnded(report.data, new Date());
    if (ended === undefined) return undefined;
    how.push(`drill ${verifyId} (${ended})`);
  }
  return how.join(', ');
}

/**
 * The drill's settings: the scratch root, and the files components configured (their default
 * root inside it) so that the Restore workflow the drill runs may restore them; the request it
 * makes names each target anyway.
 */
function drillSettings(settings: Settings, folder: string): Settings {
  return parseSettings(
    {
      ...settings,
      verify: { scratchRoot: folder },
      configuredComponents: [...new Set([...settings.configuredComponents, ...RESTORED_INTO_FOLDER])],
      components: {
        ...Object.fromEntries(RESTORED_INTO_FOLDER.map((name) => [name, { root: path.join(folder, name) }])),
        ...settings.components,
      },
    },
    'the restore drill',
  );
}

EXTRA_COMMANDS.set('verify', verifyCommand);
