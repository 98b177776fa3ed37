/**
 * Writes a store format fixture (test/fixtures/store-format-*): a local folder store holding two
 * sets of the tiny Liferay Home of test/support/store-format-fixture.ts, a full backup of
 * generation 1 and an incremental of generation 2 built on it, plus a restore report and a drill
 * report of the second, as the CLI writes them. test/project/review-store-format.test.ts reads it
 * with the current code.
 *
 *   npx tsx scripts/make-format-fixture.ts [--out DIR] [--cli PATH/TO/dist/cli.mjs --commit SHA]
 *
 * Without --cli the CLI is this tree's code, run in this process (--commit defaults to HEAD). With
 * --cli it is a built CLI of another version (`git archive <sha> | tar -x -C /tmp/v`, npm ci,
 * npm run build there), run with node: what that version wrote, for a fixture of its format.
 * DIR/store must not exist (default DIR: test/fixtures/store-format-1); DIR's README.md is kept.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cp, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  FORMAT_TREE_APP_SERVER,
  type FormatGeneration,
  writeFormatTree,
} from '../test/support/store-format-fixture.ts';

const ROOT = resolve(import.meta.dirname, '..');

const { values } = parseArgs({
  options: { out: { type: 'string' }, cli: { type: 'string' }, commit: { type: 'string' } },
});
const out = resolve(values.out ?? join(ROOT, 'test/fixtures/store-format-1'));
const exists = await stat(join(out, 'store')).then(
  () => true,
  () => false,
);
if (exists) throw new Error(`${out}/store exists: remove it and fixture.json first, or choose another --out`);
if (values.cli && !values.commit)
  throw new Error('--cli needs --commit: the version that CLI was built from');
const commit =
  values.commit ??
  execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();

type Run = (args: string[]) => Promise<{ code: number; output: string }>;

async function inProcessCli(): Promise<Run> {
  await import('../functions/local/zod-jitless.ts');
  const { main } = await import('../functions/local/cli.ts');
  await import('../functions/local/verify-command.ts');
  return async (args) => {
    const lines: string[] = [];
    const code = await main(args, { out: (line) => lines.push(line), err: process.stderr });
    return { code, output: lines.join('\n') };
  };
}

function builtCli(cli: string): Run {
  return async (args) => {
    const run = spawnSync(process.execPath, [resolve(cli), ...args], { encoding: 'utf8' });
    return { code: run.status ?? 1, output: `${run.stdout}${run.stderr}` };
  };
}

const cli = values.cli ? builtCli(values.cli) : await inProcessCli();
const work = await mkdtemp(join(tmpdir(), 'store-format-fixture-'));
try {
  const home = join(work, 'home');
  const store = join(work, 'store');
  const must = async (args: string[]) => {
    const run = await cli([...args, '--quiet']);
    if (run.code !== 0)
      throw new Error(`liferay-backup ${args.join(' ')} exited ${run.code}:\n${run.output}`);
    return run.output;
  };
  const sets: { backupId: string; generation: FormatGeneration }[] = [];
  for (const generation of [1, 2] as const) {
    // Set ids name the second they began: one second apart, they sort as they were taken.
    if (generation > 1) await new Promise((done) => setTimeout(done, 1100));
    await writeFormatTree(home, generation);
    const output = await must([
      'backup',
      '--home',
      home,
      '--app-server',
      join(home, FORMAT_TREE_APP_SERVER),
      '--store',
      store,
    ]);
    const backupId = /backup set (b\S+): complete/.exec(output)?.[1];
    if (!backupId) throw new Error(`no complete set in the backup's output:\n${output}`);
    sets.push({ backupId, generation });
  }
  const restored = join(work, 'restored');
  const restore = await must([
    'restore',
    'latest',
    '--to',
    join(restored, 'home'),
    '--app-server',
    join(restored, 'tomcat'),
    '--store',
    store,
  ]);
  const verify = await must(['verify', 'latest', '--store', store]);
  // work/ is a run's scratch space (shard lists, plans), not part of any set's format.
  await cp(store, join(out, 'store'), {
    recursive: true,
    verbatimSymlinks: true,
    filter: (source) => !source.startsWith(join(store, 'work')),
  });
  await writeFile(
    join(out, 'fixture.json'),
    `${JSON.stringify(
      {
        producedBy: commit,
        createdAt: new Date().toISOString(),
        appServer: FORMAT_TREE_APP_SERVER,
        sets,
        restoreId: /restore (r\S+) of/.exec(restore)?.[1],
        verifyId: /(v\d{8}t\d{6}z-[0-9a-f]{4})/.exec(verify)?.[1],
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${out}: sets ${sets.map((set) => set.backupId).join(', ')} (made by ${commit})`);
} finally {
  await rm(work, { recursive: true, force: true });
}
