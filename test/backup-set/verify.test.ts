import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readLatest, readManifest, writeManifest } from '#backup-set/manifest.ts';
import { verificationReportSchema } from '#backup-set/verify.ts';
import { main } from '#local/cli.ts';
import '#local/verify-command.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import { parseSettings } from '#runtime/settings.ts';
import { readJson } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { allKeys, tempDir } from '../support/local-runtime.ts';

function runtime(store: LocalFolderStore, root: string) {
  const settings = parseSettings(
    {
      environment: 'test-env',
      configuredComponents: ['liferayHome'],
      components: { liferayHome: { root, blobThresholdBytes: 64 * 1024 } },
    },
    'test',
  );
  return localRuntime({ store, settings });
}

function output<T>(outcome: WorkflowOutcome): T {
  if (outcome.status !== 'SUCCEEDED') throw new Error(`${outcome.error}: ${outcome.cause}`);
  return outcome.output as T;
}

describe('the restore drill (Verify workflow)', () => {
  it('reads every file back and checks its sha256; a damaged object fails the drill naming the file', async () => {
    const { dir } = tempDir('verify');
    const root = path.join(dir, 'home');
    fs.mkdirSync(path.join(root, 'data/document_library/1/2/doc'), { recursive: true });
    fs.writeFileSync(path.join(root, 'data/document_library/1/2/doc/1.0'), randomBytes(300_000));
    fs.writeFileSync(
      path.join(root, 'portal-ext.properties'),
      'jdbc.default.url=jdbc:mariadb://db/lportal\n',
    );
    const store = new LocalFolderStore(path.join(dir, 'store'));
    const rt = runtime(store, root);
    output(await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt));

    const ok = output<{ report: { status: string; reportKey: string } }>(
      await runWorkflow(WORKFLOWS.verify, { backupId: 'latest' }, rt),
    );
    expect(ok.report.status).toBe('verified');
    const report = verificationReportSchema.parse(await readJson(store, ok.report.reportKey));
    expect(report.results.liferayHome?.checks[0]).toMatch(
      /files, \d+ bytes read back and their sha256 matched/,
    );

    // Damage the document's blob in place (same size): only reading it back can tell.
    const blob = (await allKeys(store)).find((key) => key.startsWith('objects/blobs/'));
    expect(blob).toBeDefined();
    const file = path.join(store.location, blob ?? '');
    const bytes = fs.readFileSync(file);
    bytes[1000] = (bytes[1000] ?? 0) ^ 0xff;
    fs.writeFileSync(file, bytes);
    const damaged = await runWorkflow(WORKFLOWS.verify, { backupId: 'latest' }, rt);
    expect(damaged.status).toBe('FAILED');
    expect(damaged.status === 'FAILED' ? damaged.error : '').toBe('VerifyFailed');
    expect(damaged.status === 'FAILED' ? damaged.cause : '').toMatch(
      /liferayHome: data\/document_library\/1\/2\/doc\/1\.0: read 300000 bytes with sha256/,
    );
  });

  it('refuses a set that does not exist, writing nothing', async () => {
    const { dir } = tempDir('verify-missing');
    const store = new LocalFolderStore(dir);
    const outcome = await runWorkflow(
      WORKFLOWS.verify,
      { backupId: 'b20200101t000000z-0000' },
      runtime(store, dir),
    );
    expect(outcome.status === 'FAILED' ? outcome.cause : '').toMatch(/no backup set b20200101t000000z-0000/);
    expect(await allKeys(store)).toEqual([]);
  });
});

describe('liferay-backup verify', () => {
  it('restores the files into a new scratch folder with the Restore workflow, then removes it', async () => {
    const { dir } = tempDir('verify-cli');
    const root = path.join(dir, 'home');
    fs.mkdirSync(path.join(root, 'data/document_library/1/2/doc'), { recursive: true });
    fs.writeFileSync(path.join(root, 'data/document_library/1/2/doc/1.0'), randomBytes(300_000));
    fs.writeFileSync(path.join(root, 'portal-ext.properties'), 'a=1\n');
    const storeDir = path.join(dir, 'store');
    const scratch = path.join(dir, 'scratch');
    fs.mkdirSync(scratch);
    const run = async (args: string[]) => {
      const lines: string[] = [];
      const code = await main(args, { out: (line) => lines.push(line), err: process.stderr });
      return { code, text: lines.join('\n') };
    };
    expect((await run(['backup', '--home', root, '--store', storeDir, '--quiet'])).code).toBe(0);

    const drill = await run(['verify', 'latest', '--store', storeDir, '--scratch', scratch, '--quiet']);
    expect(drill.text).toMatch(
      /scratch restore r\S+ of liferayHome into \S+liferay-backup-drill-b\S+: complete, every file's sha256 checked as written \(folder removed\)/,
    );
    expect(drill.code).toBe(0);
    expect(fs.readdirSync(scratch)).toEqual([]);
    const store = new LocalFolderStore(storeDir);
    expect((await allKeys(store)).some((key) => /^backups\/b\S+\/restores\/r\S+\.json$/.test(key))).toBe(
      true,
    );

    // A pack damaged in place: the read-back fails, and so does the scratch restore, which says why.
    const pack = (await allKeys(store)).find((key) => key.startsWith('objects/packs/'));
    if (!pack) throw new Error('no pack stored');
    const file = path.join(storeDir, pack);
    const bytes = fs.readFileSync(file);
    bytes[10] = (bytes[10] ?? 0) ^ 0xff;
    fs.writeFileSync(file, bytes);
    const damaged = await run(['verify', 'latest', '--store', storeDir, '--scratch', scratch, '--quiet']);
    expect(damaged.code).toBe(1);
    expect(damaged.text).toMatch(/scratch restore into \S+: FAILED: \S+: .*the stored copy is damaged/);
    expect(fs.readdirSync(scratch)).toEqual([]);

    // A set larger than the scratch disk's free space: not restored there, and the drill says why.
    const latest = (await readLatest(store)) ?? '';
    const manifest = await readManifest(store, latest);
    const home = manifest.results.liferayHome;
    if (!home) throw new Error('no liferayHome result');
    await writeManifest(store, {
      ...manifest,
      results: {
        ...manifest.results,
        liferayHome: { ...home, summary: { ...home.summary, bytes: 2 ** 60 } },
      },
    });
    const tooBig = await run(['verify', 'latest', '--store', storeDir, '--scratch', scratch, '--quiet']);
    expect(tooBig.code).toBe(1);
    expect(tooBig.text).toMatch(
      /scratch restore skipped: the files need [\d.]+ \w+ and \S+ has [\d.]+ \w+ free; give --scratch DIR on a larger disk, or --scratch none to read back only/,
    );
    expect(fs.readdirSync(scratch)).toEqual([]);

    // --scratch none: read back only.
    const readOnly = await run(['verify', 'latest', '--store', storeDir, '--scratch', 'none', '--quiet']);
    expect(readOnly.text).not.toMatch(/scratch restore/);
  });
});
