import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { compileSelection, type FilesKind } from '#components/files/liferay-rules.ts';
import { asError, InvalidInputError } from '#runtime/errors.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { type CliIo, EXTRA_COMMANDS, main } from './cli.ts';
import { compareTrees, restoredTreeOf } from './demo-compare.ts';
import { formatBytes } from './format.ts';
import { generateSampleHome } from './sample-home.ts';

/**
 * `liferay-backup demo` (what `npm start` runs): back up the bundled sample Liferay Home and its
 * Tomcat through the CLI's own `backup` and `restore` commands (the synthesized state machines on
 * the local interpreter), then compare the restored trees with the sources, entry by entry, and
 * say plainly whether they match. Exits 0 only when everything matches.
 */

export const DEFAULT_DEMO_DIR = './liferay-backup-demo';

// ------------------------------------------------------------------ the demo command

interface DemoOptions {
  readonly dir: string;
  readonly quiet: boolean;
}

function parseDemoArgs(args: string[]): DemoOptions & { help: boolean } {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { dir: { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean' } },
    });
    if (positionals.length > 0)
      throw new Error(`demo takes no positional arguments, got: ${positionals.join(' ')}`);
    return { dir: values.dir ?? DEFAULT_DEMO_DIR, quiet: values.quiet === true, help: values.help === true };
  } catch (error) {
    throw new InvalidInputError(
      `${asError(error).message} (usage: liferay-backup demo [--dir DIR] [--quiet])`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A time stamp for folder names: 20240501t080000z. */
function stamp(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace(/[-:]/g, '').toLowerCase()}z`;
}

/** Runs one CLI command, echoing its lines and keeping them to read the ids it printed. */
async function run(argv: string[], io: CliIo): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await main(argv, {
    out: (line) => {
      lines.push(line);
      io.out(`  ${line}`);
    },
    err: io.err,
  });
  return { code, lines };
}

export async function demoCommand(args: string[], io: CliIo): Promise<number> {
  const options = parseDemoArgs(args);
  if (options.help) {
    io.out(
      [
        'usage: liferay-backup demo [--dir DIR] [--quiet]',
        '',
        `Backs up a bundled sample Liferay Home (DIR/liferay-home, generated when absent; DIR defaults to ${DEFAULT_DEMO_DIR})`,
        'and its Tomcat into a store in DIR/store, restores the latest backup into DIR/restored-<time>, and compares',
        'the restored trees with the sources: content (sha256), modes, mtimes and symlink targets.',
      ].join('\n'),
    );
    return 0;
  }
  const base = resolve(options.dir);
  const home = join(base, 'liferay-home');
  const tomcat = join(home, 'tomcat');
  const store = join(base, 'store');
  const quiet = options.quiet ? ['--quiet'] : [];
  const started = Date.now();

  if (await exists(home)) {
    io.out(`Using the sample Liferay Home in ${home}`);
  } else {
    const summary = await generateSampleHome(home);
    io.out(
      `Generated a sample Liferay Home in ${home}: ${summary.files} files, ${summary.directories} folders, ${summary.symlinks} symlinks, ${formatBytes(summary.bytes)}`,
    );
  }

  io.out(`\n1. Back up the Liferay Home and its Tomcat into ${store}`);
  const backup = await run(
    ['backup', '--home', home, '--app-server', tomcat, '--store', store, ...quiet],
    io,
  );
  if (backup.code !== 0) {
    io.out(`\nverdict: FAILED — the backup did not complete (exit code ${backup.code}); see above`);
    return backup.code;
  }

  // The two trees go to sibling folders, as in the source: a Liferay Home restored into a folder
  // that the app server's restore is filling at the same time would find it in use.
  const to = join(base, `restored-${stamp(new Date())}`);
  const targets: Record<FilesKind, string> = {
    liferayHome: join(to, 'liferay-home'),
    appServer: join(to, 'tomcat'),
  };
  io.out(`\n2. Restore the latest backup into ${to}`);
  const restore = await run(
    [
      'restore',
      'latest',
      '--to',
      targets.liferayHome,
      '--app-server',
      targets.appServer,
      '--store',
      store,
      ...quiet,
    ],
    io,
  );
  if (restore.code !== 0) {
    io.out(`\nverdict: FAILED — the restore did not complete (exit code ${restore.code}); see above`);
    return restore.code;
  }
  const ids = restore.lines.map((line) => /^restore (\S+) of (\S+):/.exec(line)).find(Boolean);
  let results: Record<string, { details?: Record<string, unknown> } | undefined> = {};
  if (ids?.[1] && ids[2]) {
    results = (await readRestoreReport(new LocalFolderStore(store), ids[2], ids[1])).results;
  }

  io.out('\n3. Compare the restored trees with the sources (selected entries only)');
  const checks: Array<{ component: FilesKind; source: string }> = [
    { component: 'liferayHome', source: home },
    { component: 'appServer', source: tomcat },
  ];
  const allDifferences: string[] = [];
  let total = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
  for (const { component, source } of checks) {
    const restored = restoredTreeOf(results[component]?.details, targets[component]);
    if (!(await exists(restored))) {
      allDifferences.push(`${component}: no restored tree at ${restored}`);
      io.out(`  ${component}: no restored tree at ${restored}`);
      continue;
    }
    const comparison = await compareTrees(source, restored, compileSelection(component));
    total = {
      files: total.files + comparison.files,
      directories: total.directories + comparison.directories,
      symlinks: total.symlinks + comparison.symlinks,
      bytes: total.bytes + comparison.bytes,
    };
    io.out(
      `  ${component}: ${restored}: ${comparison.files} files (${formatBytes(comparison.bytes)}), ${comparison.directories} folders, ${comparison.symlinks} symlinks — ${comparison.differences.length === 0 ? 'identical' : `${comparison.differences.length} differences`}`,
    );
    allDifferences.push(...comparison.differences.map((difference) => `${component}: ${difference}`));
  }

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (allDifferences.length > 0) {
    io.out(
      `\nverdict: MISMATCH — ${allDifferences.length} differences between the restored trees and the sources:`,
    );
    for (const difference of allDifferences.slice(0, 30)) io.out(`  ${difference}`);
    if (allDifferences.length > 30) io.out(`  … and ${allDifferences.length - 30} more`);
    return 1;
  }
  io.out(
    `\nverdict: OK — ${total.files} files (${formatBytes(total.bytes)}), ${total.directories} folders and ${total.symlinks} symlinks restored identical to the source: content (sha256), modes, mtimes and symlink targets (${seconds} s).`,
  );
  io.out(`Try: liferay-backup list --store ${store}   |   liferay-backup show latest --store ${store}`);
  return 0;
}

EXTRA_COMMANDS.set('demo', demoCommand);
