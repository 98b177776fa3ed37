import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '#backup-set/manifest.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { type AslDefinition, definitionsFromTemplate } from '#local/template-definitions.ts';
import { synthTemplate } from '../../../cdk/synth.ts';
import { forEachRef, type GitHttpServer, startGitHttpServer } from '../../support/git-http-server.ts';
import { testRuntime } from '../../support/local-runtime.ts';
import { richRepository } from './git-fixtures.ts';
import { closedPort } from './source-test-kit.ts';

/**
 * The source branches as Step Functions runs them: the definitions synthesized from the stack,
 * executed by the local interpreter with every Task bound to the same handler code.
 */
let definitions: Record<string, AslDefinition>;
let server: GitHttpServer;
const credentials = { passwordEnv: 'LIFERAY_BACKUP_GIT_PASSWORD', username: 'git' };

beforeAll(async () => {
  process.env.LIFERAY_BACKUP_GIT_PASSWORD = 'secret';
  definitions = definitionsFromTemplate(
    synthTemplate({
      environment: 'liferay-test',
      components: {
        source: {
          enabled: true,
          repositories: [{ name: 'x', sourceUrl: 'https://h/x.git', mirrorUrl: 'https://m/x.git' }],
        },
      },
    }) as never,
  );
  server = await startGitHttpServer();
});
afterAll(async () => {
  await server.close();
});

async function repositories(count: number) {
  const made = [];
  for (let i = 0; i < count; i++) {
    const name = `wf-${Date.now()}-${i}`;
    const sourcePath = await server.createBareRepo(`${name}-source.git`);
    const mirrorPath = await server.createBareRepo(`${name}-mirror.git`);
    await (await richRepository()).pushMirror(sourcePath);
    made.push({
      name,
      sourcePath,
      mirrorPath,
      settings: {
        name,
        sourceUrl: server.repoUrl(`${name}-source.git`),
        mirrorUrl: server.repoUrl(`${name}-mirror.git`),
        exclude: ['refs/pull/*'],
        storeCopy: true,
      },
    });
  }
  return made;
}

describe('the source component in the synthesized workflows', () => {
  it('backs up several repositories (a Map, bounded) into a complete set, and restores one from the store copy', async () => {
    const repos = await repositories(3);
    const rt = testRuntime({
      components: {
        source: {
          repositories: repos.map((repo) => repo.settings),
          defaultCredentials: credentials,
          concurrency: 2,
        },
      },
    });
    const backup = await runWorkflow(definitions.backup as AslDefinition, { requestedBy: 'cli' }, rt);
    expect(backup.status).toBe('SUCCEEDED');
    const backupId = (backup as { output: { backup: { backupId: string } } }).output.backup.backupId;
    const manifest = await readManifest(rt.store, backupId);
    expect(manifest.status).toBe('complete');
    const result = manifest.results.source;
    expect(result?.summary).toMatchObject({ repositories: 3, refs: 15, created: 15 });
    const details = result?.details as {
      repositories: { name: string; refs: Record<string, string>; storeCopy?: unknown }[];
    };
    for (const repo of repos) {
      const recorded = details.repositories.find((entry) => entry.name === repo.name);
      expect(recorded?.refs).toEqual(await forEachRef(repo.mirrorPath));
      expect(recorded?.storeCopy).toBeDefined();
    }

    const targetPath = await server.createBareRepo(`${repos[1]?.name}-target.git`);
    const restore = await runWorkflow(
      definitions.restore as AslDefinition,
      {
        backupId: 'latest',
        source: {
          targets: [
            { repository: repos[1]?.name, url: server.repoUrl(`${repos[1]?.name}-target.git`), credentials },
          ],
        },
      },
      rt,
    );
    expect(restore.status).toBe('SUCCEEDED');
    expect(await forEachRef(targetPath)).toEqual(
      details.repositories.find((entry) => entry.name === repos[1]?.name)?.refs,
    );
  });

  it('fails the component, naming the repository, when a mirror is unreachable; the other repositories are still mirrored', async () => {
    const [good, bad] = await repositories(2);
    if (!good || !bad) throw new Error('no repositories');
    const unreachable = { ...bad.settings, mirrorUrl: `http://127.0.0.1:${await closedPort()}/gone.git` };
    const rt = testRuntime({
      components: { source: { repositories: [good.settings, unreachable], defaultCredentials: credentials } },
    });
    const outcome = await runWorkflow(definitions.backup as AslDefinition, { requestedBy: 'cli' }, rt);
    const backupId = /backup set (b\d{8}t\d{6}z-[0-9a-f]{4})/.exec(
      outcome.status === 'FAILED' ? outcome.cause : '',
    )?.[1];
    expect(outcome.status).toBe('FAILED');
    const manifest = await readManifest(rt.store, backupId ?? '');
    expect(manifest.status).toBe('failed');
    expect(manifest.results.source?.error?.name).toBe('SourceComponentError');
    expect(manifest.results.source?.error?.message).toMatch(
      new RegExp(
        `1 of 2 repositories failed: ${bad.name}: GitRemoteError: could not list the refs of http://127\\.0\\.0\\.1:\\d+/gone\\.git: ECONNREFUSED.*\\(mirrored: ${good.name}\\)`,
      ),
    );
    expect(await forEachRef(good.mirrorPath)).toEqual(
      Object.fromEntries(
        Object.entries(await forEachRef(good.sourcePath)).filter(([ref]) => !ref.startsWith('refs/pull/')),
      ),
    );
  });

  it('refuses a restore that names no target in Validate, and a non-empty target in the restore branch', async () => {
    const [repo] = await repositories(1);
    if (!repo) throw new Error('no repository');
    const rt = testRuntime({
      components: { source: { repositories: [repo.settings], defaultCredentials: credentials } },
    });
    expect((await runWorkflow(definitions.backup as AslDefinition, { requestedBy: 'cli' }, rt)).status).toBe(
      'SUCCEEDED',
    );

    const noTarget = await runWorkflow(definitions.restore as AslDefinition, { backupId: 'latest' }, rt);
    expect(noTarget).toMatchObject({ status: 'FAILED', error: 'InvalidInputError' });
    expect(noTarget.status === 'FAILED' && noTarget.cause).toMatch(
      /source: name where to push the recorded refs/,
    );

    const nonEmpty = await runWorkflow(
      definitions.restore as AslDefinition,
      { backupId: 'latest', source: { targets: [{ url: repo.settings.sourceUrl, credentials }] } },
      rt,
    );
    expect(nonEmpty.status).toBe('FAILED');
    const ids = /restore (r\d{8}t\d{6}z-[0-9a-f]{4}) of (b\d{8}t\d{6}z-[0-9a-f]{4})/.exec(
      nonEmpty.status === 'FAILED' ? nonEmpty.cause : '',
    );
    const report = await readRestoreReport(rt.store, ids?.[2] ?? '', ids?.[1] ?? '');
    expect(report.results.source?.error?.message).toMatch(
      /RestoreTargetNotEmptyError: .*already has 6 ref\(s\).*"overwrite": true/,
    );
  });
});
