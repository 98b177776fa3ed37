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

function runtime(store: LocalFolderStore, root: string, scratchRoot?: string) {
  const settings = parseSettings(
    {
      environment: 'test-env',
      configuredComponents: ['liferayHome'],
      components: { liferayHome: { root, blobThresholdBytes: 64 * 1024 } },
      ...(scratchRoot ? { verify: { scratchRoot } } : {}),
    },
    'test',
  );
  return localRuntime({ store, settings });
}

function output<T>(outcome: WorkflowOutcome): T {
  if (outcome.status !== 'SUCCEEDED') throw new Error(`${outcome.error}: ${outcome.cause}`);
  return outcome.output as T;
}

/** A small Liferay Home: one 300,000-byte document and portal-ext.properties. */
function sampleHome(prefix: string, properties = 'a=1\n'): { dir: string; root: string } {
  const { dir } = tempDir(prefix);
  const root = path.join(dir, 'home');
  fs.mkdirSync(path.join(root, 'data/document_library/1/2/doc'), { recursive: true });
  fs.writeFileSync(path.join(root, 'data/document_library/1/2/doc/1.0'), randomBytes(300_000));
  fs.writeFileSync(path.join(root, 'portal-ext.properties'), properties);
  return { dir, root };
}

/** Flips one byte of a stored object in place (same size): only reading it back can tell. */
function damage(file: string, offset: number): void {
  const bytes = fs.readFileSync(file);
  bytes[offset] = (bytes[offset] ?? 0) ^ 0xff;
  fs.writeFileSync(file, bytes);
}

describe('the restore drill (Verify workflow)', () => {
  it('reads every file back and checks its sha256; a damaged object fails the drill naming the file', async () => {
    const { dir, root } = sampleHome('verify', 'jdbc.default.url=jdbc:mariadb://db/lportal\n');
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

    const blob = (await allKeys(store)).find((key) => key.startsWith('objects/blobs/'));
    expect(blob).toBeDefined();
    damage(path.join(store.location, blob ?? ''), 1000);
    const damaged = await runWorkflow(WORKFLOWS.verify, { backupId: 'latest' }, rt);
    expect(damaged.status).toBe('FAILED');
    expect(damaged.status === 'FAILED' ? damaged.error : '').toBe('VerifyFailed');
    expect(damaged.status === 'FAILED' ? damaged.cause : '').toMatch(
      /liferayHome: data\/document_library\/1\/2\/doc\/1\.0: read 300000 bytes with sha256/,
    );
  });

  it('with a scratch folder, restores the files there with the Restore workflow, checks every sha256 and removes the copy', async () => {
    const { dir, root } = sampleHome('verify-scratch');
    // A folder restored without write permission must not keep the drill from removing its copy.
    fs.mkdirSync(path.join(root, 'osgi/configs'), { recursive: true });
    fs.writeFileSync(path.join(root, 'osgi/configs/a.config'), 'x=1\n');
    fs.chmodSync(path.join(root, 'osgi/configs'), 0o555);
    const scratchRoot = path.join(dir, 'drills');
    const store = new LocalFolderStore(path.join(dir, 'store'));
    const rt = runtime(store, root, scratchRoot);
    output(await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt));
    fs.chmodSync(path.join(root, 'osgi/configs'), 0o755);

    const ok = await runWorkflow(WORKFLOWS.verify, { backupId: 'latest' }, rt);
    expect(ok.statesEntered).toContain('Liferay Home restore into scratch');
    expect(ok.statesEntered).not.toContain('Liferay Home verify part');
    const report = verificationReportSchema.parse(
      await readJson(store, output<{ report: { reportKey: string } }>(ok).report.reportKey),
    );
    expect(report.status).toBe('verified');
    const checks = report.results.liferayHome?.checks ?? [];
    expect(checks[0]).toMatch(
      new RegExp(
        `^restore r\\S+ wrote 3 files, 300008 bytes into ${scratchRoot}/${report.verifyId}/liferayHome and checked the sha256 of 3 files as it wrote them$`,
      ),
    );
    expect(checks[1]).toBe(`the scratch copy ${scratchRoot}/${report.verifyId}/liferayHome was removed`);
    expect(fs.readdirSync(scratchRoot)).toEqual([]);
    const restores = (await allKeys(store)).filter((key) =>
      /^backups\/b\S+\/restores\/r\S+\.json$/.test(key),
    );
    expect(restores).toHaveLength(1);
    expect(fs.readFileSync(path.join(root, 'portal-ext.properties'), 'utf8')).toBe('a=1\n');

    // "scratch": false reads back instead, for this run.
    const readBack = await runWorkflow(WORKFLOWS.verify, { backupId: 'latest', scratch: false }, rt);
    expect(readBack.statesEntered).toContain('Liferay Home verify part');
    expect(readBack.statesEntered).not.toContain('Liferay Home restore into scratch');

    // A damaged blob: the restore fails, the drill says which file and why, and the copy is gone.
    const blob = (await allKeys(store)).find((key) => key.startsWith('objects/blobs/'));
    damage(path.join(store.location, blob ?? ''), 1000);
    const damaged = await runWorkflow(WORKFLOWS.verify, { backupId: 'latest' }, rt);
    expect(damaged.status).toBe('FAILED');
    expect(damaged.status === 'FAILED' ? damaged.cause : '').toMatch(
      /liferayHome: the restore into \S+\/liferayHome failed: RestoreFailed: .*data\/document_library\/1\/2\/doc\/1\.0/,
    );
    expect(fs.readdirSync(scratchRoot)).toEqual([]);
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

/** The CLI in this process: its exit code and what it printed. */
async function run(args: string[]) {
  const lines: string[] = [];
  const code = await main(args, { out: (line) => lines.push(line), err: process.stderr });
  return { code, text: lines.join('\n') };
}

describe('liferay-backup verify', () => {
  it('restores the files into a new scratch folder with the Restore workflow, then removes it', async () => {
    const { dir, root } = sampleHome('verify-cli');
    const storeDir = path.join(dir, 'store');
    const scratch = path.join(dir, 'scratch');
    fs.mkdirSync(scratch);
    expect((await run(['backup', '--home', root, '--store', storeDir, '--quiet'])).code).toBe(0);

    const drill = await run(['verify', 'latest', '--store', storeDir, '--scratch', scratch, '--quiet']);
    expect(drill.text).toMatch(
      /ok: restore r\S+ wrote 2 files, 300004 bytes into \S+\/liferay-backup-drill-b\S+\/v\S+\/liferayHome and checked the sha256 of 2 files as it wrote them/,
    );
    expect(drill.text).toMatch(/ok: the scratch copy \S+\/liferayHome was removed/);
    expect(drill.code).toBe(0);
    expect(fs.readdirSync(scratch)).toEqual([]);
    const store = new LocalFolderStore(storeDir);
    expect((await allKeys(store)).some((key) => /^backups\/b\S+\/restores\/r\S+\.json$/.test(key))).toBe(
      true,
    );

    // A pack damaged in place: the scratch restore fails, and the drill says why.
    const pack = (await allKeys(store)).find((key) => key.startsWith('objects/packs/'));
    if (!pack) throw new Error('no pack stored');
    damage(path.join(storeDir, pack), 10);
    const damaged = await run(['verify', 'latest', '--store', storeDir, '--scratch', scratch, '--quiet']);
    expect(damaged.code).toBe(1);
    expect(damaged.text).toMatch(
      /PROBLEM: the restore into \S+\/liferayHome failed: RestoreFailed: .*the stored copy is damaged/,
    );
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

    // --scratch none: read back only (the damaged pack is found that way too).
    const readOnly = await run(['verify', 'latest', '--store', storeDir, '--scratch', 'none', '--quiet']);
    expect(readOnly.text).not.toMatch(/scratch/);
    expect(readOnly.text).toMatch(
      /PROBLEM: data\/document_library\/1\/2\/doc\/1\.0: read 300000 bytes with sha256/,
    );
    // What was checked counts only the files that matched (it said every file matched, above the problems).
    expect(readOnly.text).toMatch(
      /ok: \d+ of \d+ files read back matched the index by size and sha256; [1-9]\d* lost or damaged/,
    );
    expect(readOnly.text).not.toMatch(/bytes read back and their sha256 matched/);
  });
});

describe('content the store lost or damaged, found by a drill', () => {
  it.each([
    [
      'a pack deleted',
      (storeDir: string, keys: string[]) => {
        const pack = keys.find((key) => key.startsWith('objects/packs/')) as string;
        fs.rmSync(path.join(storeDir, pack));
        return pack;
      },
    ],
    [
      'a blob damaged in place (same size)',
      (storeDir: string, keys: string[]) => {
        const blob = keys.find((key) => key.startsWith('objects/blobs/')) as string;
        damage(path.join(storeDir, blob), 1000);
        return blob;
      },
    ],
  ])('%s: the drill says to run a full backup; after `backup --full` the drill passes', async (_, lose) => {
    const { dir, root } = sampleHome('verify-lost');
    // Larger than the blob threshold (4 MiB): stored as a blob, not in a pack.
    fs.writeFileSync(path.join(root, 'data/document_library/1/2/doc/2.0'), randomBytes(5 * 1024 * 1024));
    const storeDir = path.join(dir, 'store');
    const scratch = path.join(dir, 'scratch');
    fs.mkdirSync(scratch);
    expect((await run(['backup', '--home', root, '--store', storeDir, '--quiet'])).code).toBe(0);
    const object = lose(storeDir, await allKeys(new LocalFolderStore(storeDir)));
    expect(object).toBeDefined();
    // The next night's incremental still references it: its files did not change.
    expect((await run(['backup', '--home', root, '--store', storeDir, '--quiet'])).code).toBe(0);

    const remedy =
      'the store lost or damaged content this set references, and the sets after it reference it too: run a backup with {"full": true} (CLI: backup --full), which stores every file again';
    for (const mode of [scratch, 'none']) {
      const drill = await run(['verify', 'latest', '--store', storeDir, '--scratch', mode, '--quiet']);
      expect(drill.code).toBe(1);
      expect(drill.text).toContain(remedy);
    }

    expect((await run(['backup', '--home', root, '--store', storeDir, '--full', '--quiet'])).code).toBe(0);
    for (const mode of [scratch, 'none']) {
      const drill = await run(['verify', 'latest', '--store', storeDir, '--scratch', mode, '--quiet']);
      expect(drill.text).not.toContain('PROBLEM');
      expect(drill.code).toBe(0);
    }
  });
});
