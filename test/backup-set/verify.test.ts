import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { verificationReportSchema } from '#backup-set/verify.ts';
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
