import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { GitAuthenticationError } from '#components/source/errors.ts';
import { sourceLocalOptions } from '#components/source/local-options.ts';
import { mirrorRepository } from '#components/source/mirror.ts';
import { sourceRestoreRequestSchema } from '#components/source/settings.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { type AslDefinition, definitionsFromTemplate } from '#local/template-definitions.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { synthTemplate } from '../../../cdk/synth.ts';
import { type GitHttpServer, startGitHttpServer } from '../../support/git-http-server.ts';
import { tempDir, testRuntime } from '../../support/local-runtime.ts';
import { richRepository } from './git-fixtures.ts';
import { sourceAndMirror, testDeps } from './source-test-kit.ts';

/**
 * The same Lambda code answers a request JSON (Step Functions console) and the CLI's flags and
 * environment: a message that tells the SRE how to give something names both ways.
 */

let server: GitHttpServer;
beforeAll(async () => {
  server = await startGitHttpServer();
});
afterAll(async () => {
  await server.close();
});

/** What a 401 without any credentials says: both ways of giving them. */
const NO_CREDENTIALS =
  /HTTP 401 Unauthorized: no credentials were given, and the host asks for them: on AWS, name the repository's credentials in the source configuration \(sourceCredentials, mirrorCredentials or defaultCredentials, naming SSM parameters; for a restore target, "credentials" in the request, naming one under restoreCredentialsPath\); on the CLI, set LIFERAY_BACKUP_GIT_TOKEN, or LIFERAY_BACKUP_GIT_USERNAME and LIFERAY_BACKUP_GIT_PASSWORD \(a restore target: LIFERAY_BACKUP_GIT_TARGET_TOKEN, or LIFERAY_BACKUP_GIT_TARGET_USERNAME and LIFERAY_BACKUP_GIT_TARGET_PASSWORD\), or put user:password@ in the --git \(or --git-target\) URL/;

describe('a host that asks for credentials when none were given', () => {
  it('says none were given and how to give them, not that the host "refused no credentials"', async () => {
    const { settings } = await sourceAndMirror(server, await richRepository(), {
      sourceCredentials: undefined,
      mirrorCredentials: undefined,
    });
    const { dir } = tempDir('source-no-credentials');
    const failure = await mirrorRepository(
      {
        repository: settings,
        defaultCredentials: undefined,
        previous: undefined,
        store: new LocalFolderStore(dir),
        scratchDir: dir,
        now: () => new Date(),
      },
      testDeps({}),
    ).then(
      () => new Error('mirrored without credentials'),
      (error: unknown) => error as Error,
    );
    expect(failure).toBeInstanceOf(GitAuthenticationError);
    expect(failure.message).toMatch(NO_CREDENTIALS);
    expect(failure.message).not.toContain('refused no credentials');
  });
});

describe("a failed restore target that names no repository: the set's only one is named", () => {
  it('runs the Restore workflow: the failure names the repository and how to give credentials', async () => {
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
    const { settings, name } = await sourceAndMirror(server, await richRepository(), {
      sourceCredentials: undefined,
      mirrorCredentials: undefined,
    });
    const rt = testRuntime({
      components: { source: { repositories: [settings], defaultCredentials: credentials } },
    });
    const backup = await runWorkflow(definitions.backup as AslDefinition, { requestedBy: 'cli' }, rt);
    expect(backup.status).toBe('SUCCEEDED');

    await server.createBareRepo(`${name}-target.git`);
    const restore = await runWorkflow(
      definitions.restore as AslDefinition,
      { backupId: 'latest', source: { targets: [{ url: server.repoUrl(`${name}-target.git`) }] } },
      rt,
    );
    expect(restore.status).toBe('FAILED');
    const ids = /restore (r\d{8}t\d{6}z-[0-9a-f]{4}) of (b\d{8}t\d{6}z-[0-9a-f]{4})/.exec(
      restore.status === 'FAILED' ? restore.cause : '',
    );
    const report = await readRestoreReport(rt.store, ids?.[2] ?? '', ids?.[1] ?? '');
    const message = report.results.source?.error?.message ?? '';
    expect(message).toContain(
      `1 of 1 restore target(s) failed: ${name} → ${server.repoUrl(`${name}-target.git`)}: GitAuthenticationError:`,
    );
    expect(message).not.toContain('(the repository)');
    expect(message).toMatch(NO_CREDENTIALS);
  }, 60_000);
});

describe('a --git-target URL whose user info the URL parser could not read', () => {
  it('is refused with the CLI way as well as the request way', () => {
    // An unencoded "/" in the password: the parser reads `bot:2024` as host and port.
    const request = sourceLocalOptions({}).restoreRequestFromOptions?.({
      'git-target': ['https://bot:2024/S3cret@git.example.com/acme/workspace.git'],
    });
    const parsed = sourceRestoreRequestSchema.safeParse(request);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe(
      'must not carry user info: name an SSM parameter under "credentials" instead ' +
        '(CLI: set LIFERAY_BACKUP_GIT_TARGET_TOKEN, or LIFERAY_BACKUP_GIT_TARGET_USERNAME and LIFERAY_BACKUP_GIT_TARGET_PASSWORD; ' +
        'user info in the --git-target URL is taken when "/", "?", "#" and "@" in it are percent-encoded: %2F, %3F, %23, %40)',
    );
    expect(JSON.stringify(parsed.error?.issues)).not.toContain('S3cret');
  });

  it('percent-encoded user info is handed over as the target variables, and the request passes', () => {
    const env: NodeJS.ProcessEnv = {};
    const request = sourceLocalOptions(env).restoreRequestFromOptions?.({
      'git-target': ['https://bot:2024%2FS3cret@git.example.com/acme/workspace.git'],
    });
    expect(sourceRestoreRequestSchema.safeParse(request).success).toBe(true);
    expect(env.LIFERAY_BACKUP_GIT_TARGET_PASSWORD).toBe('2024/S3cret');
  });
});
