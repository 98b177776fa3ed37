import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { finishSourceRestore } from '#components/source/finish-restore.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { type AslDefinition, definitionsFromTemplate } from '#local/template-definitions.ts';
import { synthTemplate } from '../../../cdk/synth.ts';
import { forEachRef, type GitHttpServer, startGitHttpServer } from '../../support/git-http-server.ts';
import { testRuntime } from '../../support/local-runtime.ts';
import { richRepository } from './git-fixtures.ts';
import { sourceAndMirror } from './source-test-kit.ts';

/**
 * A Git restore with one target that fails: the others still got their refs, and the failed
 * result and its next step say which got them, which failed and why, and which were not tried.
 */

let server: GitHttpServer;
beforeAll(async () => {
  server = await startGitHttpServer();
});
afterAll(async () => {
  await server.close();
});

const RESTORE = { restoreId: 'r20261128t100000z-1a2b', backupId: 'b20261127t020000z-7f3a' };

describe('a failed Git restore lists each target’s outcome', () => {
  it('runs the Restore workflow: the pushed target and the failed one are both in the result and the next step', async () => {
    // Prepare
    const credentials = { passwordEnv: 'LIFERAY_BACKUP_GIT_PASSWORD', username: 'git' };
    process.env.LIFERAY_BACKUP_GIT_PASSWORD = 'secret';
    const definitions = definitionsFromTemplate(
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
    const { settings, name, sourcePath } = await sourceAndMirror(server, await richRepository(), {
      sourceCredentials: undefined,
      mirrorCredentials: undefined,
    });
    const rt = testRuntime({
      components: { source: { repositories: [settings], defaultCredentials: credentials } },
    });
    const backup = await runWorkflow(definitions.backup as AslDefinition, { requestedBy: 'cli' }, rt);
    expect(backup.status).toBe('SUCCEEDED');
    const goodPath = await server.createBareRepo(`${name}-good.git`);
    const good = server.repoUrl(`${name}-good.git`);
    const missing = server.repoUrl(`${name}-missing.git`);
    // Act
    const restore = await runWorkflow(
      definitions.restore as AslDefinition,
      {
        backupId: 'latest',
        source: {
          targets: [
            { url: good, credentials },
            { url: missing, credentials },
          ],
        },
      },
      rt,
    );
    // Assess
    expect(restore.status).toBe('FAILED');
    const ids = /restore (r\d{8}t\d{6}z-[0-9a-f]{4}) of (b\d{8}t\d{6}z-[0-9a-f]{4})/.exec(
      restore.status === 'FAILED' ? restore.cause : '',
    );
    const report = await readRestoreReport(rt.store, ids?.[2] ?? '', ids?.[1] ?? '');
    const result = report.results.source;
    const recorded = await forEachRef(sourcePath);
    const refs = Object.keys(recorded).length;
    expect(await forEachRef(goodPath)).toEqual(recorded);
    expect(result?.status).toBe('failed');
    expect(result?.error?.name).toBe('SourceComponentError');
    expect(result?.error?.message).toMatch(
      new RegExp(`^1 of 2 restore target\\(s\\) failed: ${name} → ${missing}: GitRemoteError`),
    );
    expect(result?.summary).toEqual({ targets: 2, pushed: 1, failed: 1 });
    expect(result?.details.targets).toEqual([
      { repository: name, url: good, status: 'pushed', refs, pushed: refs, from: 'mirror' },
      { repository: name, url: missing, status: 'failed', error: expect.stringMatching(/^GitRemoteError: /) },
    ]);
    const step = report.nextSteps?.[0] ?? '';
    expect(step).toContain(
      `source failed: Git targets got their refs: ${good} (${name}), ${refs} ref(s) (a retry leaves them as they are); failed (check their refs: a push that failed part way may have updated some): ${missing} (${name}): GitRemoteError: `,
    );
    expect(step).not.toContain('the targets the error does not name');
  }, 60_000);

  it('a target the Map never reached is listed as not tried', async () => {
    const rt = testRuntime({});
    const good = 'https://git.example.com/acme/a.git';
    const bad = 'https://git.example.com/acme/b.git';
    const late = 'https://git.example.com/acme/c.git';
    const result = await finishSourceRestore(
      {
        restore: {
          ...RESTORE,
          requests: { source: { targets: [{ url: good }, { url: bad, repository: 'b' }, { url: late }] } },
        },
        targets: [
          {
            repository: 'a',
            url: good,
            from: 'mirror',
            refs: 3,
            pushed: 3,
            packBytes: 10,
            seconds: 1,
            warnings: [],
          },
          {
            target: { url: bad, repository: 'b' },
            error: {
              Error: 'RestoreTargetNotEmptyError',
              Cause: JSON.stringify({
                errorType: 'RestoreTargetNotEmptyError',
                errorMessage: 'b: not empty',
              }),
            },
          },
        ],
      },
      rt,
    );
    expect(result.status).toBe('failed');
    expect(result.error?.message).toBe(
      `1 of 3 restore target(s) failed: b → ${bad}: RestoreTargetNotEmptyError: b: not empty`,
    );
    expect(result.details.targets).toEqual([
      { repository: 'a', url: good, status: 'pushed', refs: 3, pushed: 3, from: 'mirror' },
      { repository: 'b', url: bad, status: 'failed', error: 'RestoreTargetNotEmptyError: b: not empty' },
      { url: late, status: 'not tried' },
    ]);
  });
});
