import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESULT_BUDGET_BYTES, utf8JsonBytes } from '#components/component.ts';
import { deletionsJournalKey } from '#components/source/deletions-journal.ts';
import { RestoreTargetNotEmptyError } from '#components/source/errors.ts';
import { finishSourceBackup, INLINE_REFS_BUDGET, NAMES_WHEN_CUT } from '#components/source/finish-backup.ts';
import { checkSourceRestore } from '#components/source/index.ts';
import { type MirrorInput, mirrorRepository, type SourceDeps } from '#components/source/mirror.ts';
import { mirrorSourceRepository } from '#components/source/mirror-repository.ts';
import { readRecord, recordOf, writeRecord } from '#components/source/records.ts';
import { readSourceDetails } from '#components/source/repository-list.ts';
import { restoreRepository } from '#components/source/restore.ts';
import {
  type RepositoryRecord,
  type RepositorySettings,
  type RestoreTarget,
  restoreTargetSchema,
  sourceDetailsSchema,
  sourceRestoreRequestSchema,
} from '#components/source/settings.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { type AslDefinition, definitionsFromTemplate } from '#local/template-definitions.ts';
import { RetryableError } from '#runtime/errors.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { parseConfig } from '../../../cdk/config.ts';
import { InlineFunctionFactory } from '../../../cdk/lambda-function.ts';
import { LiferayBackupStack } from '../../../cdk/liferay-backup-stack.ts';
import { synthTemplate } from '../../../cdk/synth.ts';
import { forEachRef, type GitHttpServer, git, startGitHttpServer } from '../../support/git-http-server.ts';
import { testRuntime } from '../../support/local-runtime.ts';
import { richRepository, WorkRepo } from './git-fixtures.ts';
import { PASSWORD_ENV, sourceAndMirror, testDeps } from './source-test-kit.ts';

/**
 * What happens when Step Functions runs a source task again after it did (some of) its work, and
 * what keeps the component's result within what a state can carry. Real git over its HTTP backend;
 * a fault is injected only where a host answers 503 after the push went through.
 */

let hosts: GitHttpServer;
beforeAll(async () => {
  hosts = await startGitHttpServer();
});
afterAll(async () => {
  await hosts.close();
});

const BACKUP_ID = 'b20260101t000000z-0abc';
const OTHER_BACKUP_ID = 'b20260102t000000z-0def';
/** Step Functions' limit on a state's input or output. */
const STATE_LIMIT = 256 * 1024;
const credentials = { passwordEnv: PASSWORD_ENV, username: 'git' };

const newStore = () => new LocalFolderStore(mkdtempSync(path.join(tmpdir(), 'source-retries-')));

function mirrorInput(
  repository: RepositorySettings,
  store: LocalFolderStore,
  extra: Partial<MirrorInput> = {},
): MirrorInput {
  return {
    repository,
    defaultCredentials: undefined,
    previous: undefined,
    store,
    scratchDir: tmpdir(),
    now: () => new Date(),
    ...extra,
  };
}

/**
 * Deps whose first upload-pack listing after a push answers as a host's 503 does (the handler
 * throws RetryableError, which Step Functions retries with the same input): the push went through.
 */
function failingListingAfterPush(base: SourceDeps): SourceDeps {
  const transport = base.transport;
  let pushed = false;
  let failed = false;
  const wrapped = Object.create(transport) as typeof transport;
  wrapped.push = async (...args: Parameters<typeof transport.push>) => {
    const result = await transport.push(...args);
    pushed = true;
    return result;
  };
  wrapped.discover = async (...args: Parameters<typeof transport.discover>) => {
    if (pushed && !failed && args[1] === 'git-upload-pack') {
      failed = true;
      throw new RetryableError('could not list the refs: HTTP 503 Service Unavailable');
    }
    return transport.discover(...args);
  };
  return { ...base, transport: wrapped };
}

describe('a retried restore', () => {
  let counter = 0;
  async function backedUp(): Promise<{ record: RepositoryRecord; store: LocalFolderStore }> {
    const repo = await sourceAndMirror(hosts, await richRepository(), { exclude: ['refs/pull/*'] });
    const store = newStore();
    return { record: await mirrorRepository(mirrorInput(repo.settings, store), testDeps()), store };
  }
  async function emptyTarget(): Promise<{ path: string; url: string }> {
    counter += 1;
    const name = `retried-target-${counter}.git`;
    const dir = await hosts.createBareRepo(name);
    await git(['config', 'receive.fsckObjects', 'true'], dir);
    return { path: dir, url: hosts.repoUrl(name) };
  }
  const target = (url: string, extra: Partial<RestoreTarget> = {}) =>
    restoreTargetSchema.parse({ url, credentials, ...extra });
  const input = (record: RepositoryRecord, store: LocalFolderStore, restoreTarget: RestoreTarget) => ({
    record,
    target: restoreTarget,
    mirrorCredentials: credentials,
    store,
    scratchDir: tmpdir(),
  });

  it('succeeds when its first attempt pushed every recorded ref and then failed listing the target', async () => {
    // Prepare
    const { record, store } = await backedUp();
    const { path: targetPath, url } = await emptyTarget();
    await expect(
      restoreRepository(input(record, store, target(url)), failingListingAfterPush(testDeps())),
    ).rejects.toBeInstanceOf(RetryableError);
    expect(await forEachRef(targetPath)).toEqual(record.refs);

    // Act: the same input again, as Step Functions retries it
    const retried = await restoreRepository(input(record, store, target(url)), testDeps());

    // Assess
    expect(retried).toMatchObject({ refs: Object.keys(record.refs).length, pushed: 0 });
    expect(retried.warnings.join(' ')).toMatch(/already held 5 of the 5 ref\(s\).*earlier attempt/);
    expect(await forEachRef(targetPath)).toEqual(record.refs);
  });

  it('pushes only the refs still missing when the target holds some of the selected refs at their recorded ids', async () => {
    const { record, store } = await backedUp();
    const { path: targetPath, url } = await emptyTarget();
    await restoreRepository(input(record, store, target(url, { refs: ['refs/tags/*'] })), testDeps());

    const outcome = await restoreRepository(input(record, store, target(url)), testDeps());

    expect(outcome).toMatchObject({ refs: 5, pushed: 3 });
    expect(await forEachRef(targetPath)).toEqual(record.refs);
    await git(['fsck', '--strict', '--no-progress'], targetPath);
  });

  it('still refuses a target holding a recorded ref at another object id, or a ref this request does not restore', async () => {
    const { record, store } = await backedUp();
    const moved = await emptyTarget();
    await restoreRepository(input(record, store, target(moved.url)), testDeps());
    await git(['update-ref', 'refs/heads/main', String(record.refs['refs/heads/feature'])], moved.path);
    const before = await forEachRef(moved.path);
    const unselected = await emptyTarget();
    await restoreRepository(
      input(record, store, target(unselected.url, { refs: ['refs/tags/*'] })),
      testDeps(),
    );

    // Both at once, settled together: a refusal that came while the other was awaited would be an
    // unhandled rejection (it failed a CI run under load).
    const [differs, notRequested] = await Promise.allSettled([
      restoreRepository(input(record, store, target(moved.url)), testDeps()),
      restoreRepository(input(record, store, target(unselected.url, { refs: ['refs/heads/*'] })), testDeps()),
    ]);

    const reason = (outcome: PromiseSettledResult<unknown>) =>
      outcome.status === 'rejected' ? outcome.reason : new Error('it was not refused');
    expect(reason(differs)).toBeInstanceOf(RestoreTargetNotEmptyError);
    expect(String(reason(differs))).toMatch(
      /1 of them not as this backup recorded them \(refs\/heads\/main\)/,
    );
    expect(String(reason(notRequested))).toMatch(
      /2 of them not as this backup recorded them \(refs\/tags\/v1\.0/,
    );
    expect(await forEachRef(moved.path)).toEqual(before);
    expect(Object.keys(await forEachRef(unselected.path))).toEqual(['refs/tags/v1.0', 'refs/tags/v1.1']);
  });
});

describe('a retried mirror with prune', () => {
  /** A mirrored repository whose source then loses `feature`: the next run with prune deletes it. */
  async function featureDeletedAtSource() {
    const work = await richRepository();
    const repo = await sourceAndMirror(hosts, work, { exclude: ['refs/pull/*'], prune: true });
    await mirrorRepository(mirrorInput(repo.settings, newStore()), testDeps());
    await work.git('branch', '-D', 'feature');
    await work.pushMirror(repo.sourcePath);
    expect((await forEachRef(repo.mirrorPath))['refs/heads/feature']).toBeDefined();
    return { work, repo };
  }

  it('records the ref its first attempt deleted on the mirror, within the same set', async () => {
    // Prepare: the first attempt deletes refs/heads/feature, then a listing fails
    const { repo } = await featureDeletedAtSource();
    const store = newStore();
    const attempt = mirrorInput(repo.settings, store, { backupId: BACKUP_ID });
    await expect(mirrorRepository(attempt, failingListingAfterPush(testDeps()))).rejects.toBeInstanceOf(
      RetryableError,
    );
    expect((await forEachRef(repo.mirrorPath))['refs/heads/feature']).toBeUndefined();

    // Act
    const retried = await mirrorRepository(attempt, testDeps());

    // Assess: the record is the only trace of what prune deleted
    expect(retried.deletedOnMirror).toEqual(['refs/heads/feature']);
    expect(retried.stats.deleted).toBe(1);
    expect(await store.stat(deletionsJournalKey(repo.name, BACKUP_ID))).toBeDefined();
    await git(['fsck', '--strict', '--no-progress'], repo.mirrorPath);

    // ...and another set does not claim it
    const next = await mirrorRepository(
      mirrorInput(repo.settings, store, { backupId: OTHER_BACKUP_ID }),
      testDeps(),
    );
    expect(next.deletedOnMirror).toEqual([]);
  });

  it('records it through the handler, which keeps the note in the set it writes', async () => {
    const { repo } = await featureDeletedAtSource();
    const rt = testRuntime({
      components: { source: { repositories: [repo.settings] } },
    });
    process.env[PASSWORD_ENV] = 'secret';
    const attempt = mirrorInput(repo.settings, rt.store as LocalFolderStore, { backupId: BACKUP_ID });
    await expect(mirrorRepository(attempt, failingListingAfterPush(testDeps()))).rejects.toBeInstanceOf(
      RetryableError,
    );

    const result = await mirrorSourceRepository(
      { backup: { backupId: BACKUP_ID }, repository: repo.name },
      rt,
    );

    expect((await readRecord(rt.store, result.recordKey)).deletedOnMirror).toEqual(['refs/heads/feature']);
  });

  it('outside a workflow run, does not lend a finished run’s deletions to the next, nor claim a ref that came back', async () => {
    const { work, repo } = await featureDeletedAtSource();
    const store = newStore();
    const first = await mirrorRepository(mirrorInput(repo.settings, store), testDeps());
    expect(first.deletedOnMirror).toEqual(['refs/heads/feature']);
    const second = await mirrorRepository(mirrorInput(repo.settings, store), testDeps());
    expect(second.deletedOnMirror).toEqual([]);

    // A first attempt deletes `release`; before the retry the source creates it again.
    await work.git('branch', 'release');
    await work.pushMirror(repo.sourcePath);
    await mirrorRepository(mirrorInput(repo.settings, newStore()), testDeps());
    await work.git('branch', '-D', 'release');
    await work.pushMirror(repo.sourcePath);
    await expect(
      mirrorRepository(mirrorInput(repo.settings, store), failingListingAfterPush(testDeps())),
    ).rejects.toBeInstanceOf(RetryableError);
    await work.git('branch', 'release');
    await work.pushMirror(repo.sourcePath);

    const retried = await mirrorRepository(mirrorInput(repo.settings, store), testDeps());

    expect(retried.deletedOnMirror).toEqual([]);
    expect(retried.stats.created).toBe(1);
  });
});

describe('Validate and the credentials of restore targets', () => {
  const details = {
    repositories: [
      {
        name: 'ws',
        sourceUrl: 'https://git.example.com/ws.git',
        mirrorUrl: 'https://mirror.example.com/ws.git',
        capturedAt: '2026-01-01T00:00:00.000Z',
        refs: { 'refs/heads/main': 'a'.repeat(40) },
        prune: false,
        stats: {
          created: 1,
          updated: 0,
          deleted: 0,
          packBytes: 1,
          packObjects: 1,
          storedBytes: 0,
          seconds: 1,
        },
        refCount: 1,
        recordKey: 'k',
      },
    ],
  };
  const check = (request: unknown, settings: unknown) =>
    checkSourceRestore({ backup: { details }, request: sourceRestoreRequestSchema.parse(request), settings });

  it('refuses an SSM parameter outside restoreCredentialsPath (or any, with none configured), by name only', () => {
    const targets = [
      { url: 'https://t/a.git', credentials: { tokenParameter: '/liferay-backup/git-restore/token' } },
      { url: 'https://t/b.git', credentials: { tokenParameter: '/liferay-backup/git/github-token' } },
    ];
    expect(check({ targets }, { restoreCredentialsPath: '/liferay-backup/git-restore/' })).toEqual([
      'targets.1.credentials: SSM parameter /liferay-backup/git/github-token is not under the configured restoreCredentialsPath (/liferay-backup/git-restore/)',
    ]);
    expect(check({ targets: targets.slice(0, 1) }, undefined)).toEqual([
      'targets.0.credentials: SSM parameter /liferay-backup/git-restore/token is not under the configured restoreCredentialsPath (none configured)',
    ]);
  });

  it('fails the Restore workflow in Validate, before any target is pushed', async () => {
    // Prepare: a complete set of one repository, and two targets, the second naming the source's token
    const definitions = definitionsFromTemplate(
      synthTemplate({
        environment: 'liferay-test',
        components: {
          source: {
            enabled: true,
            repositories: [{ name: 'x', sourceUrl: 'https://h/x.git', mirrorUrl: 'https://m/x.git' }],
            restoreCredentialsPath: '/liferay-backup/git-restore/',
          },
        },
      }) as never,
    );
    process.env.LIFERAY_BACKUP_GIT_PASSWORD = 'secret';
    const cliCredentials = { passwordEnv: 'LIFERAY_BACKUP_GIT_PASSWORD', username: 'git' };
    const repo = await sourceAndMirror(hosts, await richRepository(), {
      exclude: ['refs/pull/*'],
      sourceCredentials: cliCredentials,
      mirrorCredentials: cliCredentials,
    });
    const rt = testRuntime({
      components: {
        source: { repositories: [repo.settings], restoreCredentialsPath: '/liferay-backup/git-restore/' },
      },
    });
    const backedUp = await runWorkflow(definitions.backup as AslDefinition, { requestedBy: 'cli' }, rt);
    expect(backedUp.status).toBe('SUCCEEDED');
    const good = await hosts.createBareRepo(`${repo.name}-validate-a.git`);
    await hosts.createBareRepo(`${repo.name}-validate-b.git`);

    // Act
    const restore = await runWorkflow(
      definitions.restore as AslDefinition,
      {
        backupId: 'latest',
        source: {
          targets: [
            { url: hosts.repoUrl(`${repo.name}-validate-a.git`), credentials: cliCredentials },
            {
              url: hosts.repoUrl(`${repo.name}-validate-b.git`),
              credentials: { tokenParameter: '/liferay-backup/git/github-token' },
            },
          ],
        },
      },
      rt,
    );

    // Assess
    expect(restore.status).toBe('FAILED');
    if (restore.status !== 'FAILED') return;
    expect(restore.error).toBe('InvalidInputError');
    expect(restore.cause).toContain(
      'source: targets.1.credentials: SSM parameter /liferay-backup/git/github-token is not under the configured restoreCredentialsPath (/liferay-backup/git-restore/)',
    );
    expect(restore.statesEntered).not.toContain('Source restore repository');
    expect(await forEachRef(good)).toEqual({});
  }, 120_000);

  it('gives the Validate function the source restoreCredentialsPath and nothing else of source, and no SSM access', () => {
    const stack = new LiferayBackupStack(new App(), 'LiferayBackup', {
      config: parseConfig({
        environment: 'liferay-test',
        components: {
          source: {
            enabled: true,
            repositories: [
              {
                name: 'ws',
                sourceUrl: 'https://github.com/acme/ws.git',
                mirrorUrl: 'https://gitlab.example.com/backup/ws.git',
                sourceCredentials: { tokenParameter: '/liferay-backup/git/github-token' },
              },
            ],
            restoreCredentialsPath: '/liferay-backup/git-restore/',
          },
        },
      }),
      env: { account: '111111111111', region: 'eu-west-1' },
      functionFactory: (options) => new InlineFunctionFactory(options),
    });
    const template = Template.fromStack(stack).toJSON();
    const resources = Object.values(template.Resources) as {
      Type: string;
      Metadata?: Record<string, unknown>;
      Properties: Record<string, unknown>;
    }[];
    const validate = resources.find(
      (resource) => resource.Metadata?.['LiferayBackup:Handler'] === 'validate-restore',
    );
    if (!validate) throw new Error('no validate-restore function');
    const environment = (validate.Properties.Environment as { Variables: Record<string, string> }).Variables;
    const settings = JSON.parse(String(environment.LIFERAY_BACKUP_SETTINGS));
    expect(settings.components).toEqual({
      source: { restoreCredentialsPath: '/liferay-backup/git-restore/' },
    });

    const roleId = (validate.Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
    const statements = resources
      .filter(
        (resource) =>
          resource.Type === 'AWS::IAM::Policy' &&
          (resource.Properties.Roles as { Ref: string }[]).some((role) => role.Ref === roleId),
      )
      .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: unknown[] }).Statement);
    expect(statements.length).toBeGreaterThan(0);
    expect(JSON.stringify(statements)).not.toMatch(/ssm:|git-restore|github-token/);
  });
});

describe('the component result within a Step Functions state', () => {
  it('keeps counts and the first names of 5,000 refs kept on the mirror inline, the full list in the record', async () => {
    // Prepare: 5,000 branches mirrored, then merged and deleted at the source (prune is off)
    const work = await WorkRepo.create();
    await work.commit('initial');
    const head = await work.head();
    const branches = Array.from(
      { length: 5000 },
      (_, i) => `refs/heads/feature/LPS-${100000 + i}-fix-the-document-library-preview`,
    );
    await git(['update-ref', '--stdin'], work.dir, branches.map((ref) => `create ${ref} ${head}\n`).join(''));
    const repo = await sourceAndMirror(hosts, work);
    await mirrorRepository(mirrorInput(repo.settings, newStore()), testDeps());
    await git(['update-ref', '--stdin'], work.dir, branches.map((ref) => `delete ${ref}\n`).join(''));
    await work.pushMirror(repo.sourcePath);
    const rt = testRuntime({});
    const record = await mirrorRepository(
      mirrorInput(repo.settings, rt.store as LocalFolderStore),
      testDeps(),
    );
    expect(record.keptOnMirror).toHaveLength(5000);
    const key = await writeRecord(rt.store, BACKUP_ID, record);

    // Act
    const result = await finishSourceBackup(
      {
        backup: { backupId: BACKUP_ID },
        plan: { startedAt: '2026-01-01T00:00:00.000Z' },
        repositories: [{ repository: record.name, recordKey: key, refs: 1, seconds: 1 }],
      },
      rt,
    );

    // Assess
    expect(JSON.stringify(result).length).toBeLessThan(STATE_LIMIT / 4);
    const entry = sourceDetailsSchema.parse(result.details).repositories[0];
    if (!entry) throw new Error('no entry');
    expect(entry.refs).toEqual({ 'refs/heads/main': head });
    expect(entry.keptOnMirror).toEqual(branches.slice(0, NAMES_WHEN_CUT));
    expect(entry.fullLengths).toEqual({ keptOnMirror: 5000 });
    expect(result.warnings.join(' ')).toContain(
      `the full keptOnMirror (5000, ${NAMES_WHEN_CUT} inline) is recorded in ${key}`,
    );
    expect((await recordOf(rt.store, entry)).keptOnMirror).toEqual(branches);
  }, 120_000);

  it('counts deletions, exclusions and warnings against the budget along with refs, down to counts only', async () => {
    // Prepare: one repository whose refs take nearly all of the budget, then three with long lists
    const rt = testRuntime({});
    const oid = 'a'.repeat(40);
    const stats = {
      created: 0,
      updated: 0,
      deleted: 0,
      packBytes: 0,
      packObjects: 0,
      storedBytes: 0,
      seconds: 1,
    };
    const base = (name: string) => ({
      name,
      sourceUrl: `https://git.example.com/${name}.git`,
      mirrorUrl: `https://mirror.example.com/${name}.git`,
      capturedAt: '2026-01-01T00:00:00.000Z',
      prune: true,
      keptOnMirror: [],
      stats,
    });
    const manyRefs: Record<string, string> = {};
    for (let i = 0; JSON.stringify(manyRefs).length < INLINE_REFS_BUDGET - 2048; i++) {
      manyRefs[`refs/heads/branch-${String(i).padStart(6, '0')}`] = oid;
    }
    const records: RepositoryRecord[] = [
      { ...base('big'), refs: manyRefs, exclude: [], deletedOnMirror: [], warnings: [] },
      ...['r1', 'r2', 'r3'].map((name) => ({
        ...base(name),
        refs: { 'refs/heads/main': oid },
        exclude: Array.from({ length: 100 }, (_, i) => `refs/review/${i}/*`),
        deletedOnMirror: Array.from(
          { length: 2000 },
          (_, i) => `refs/heads/gone/${String(i).padStart(6, '0')}-a-rather-long-branch-name`,
        ),
        warnings: Array.from({ length: 40 }, (_, i) => `${name}: warning ${i} `.padEnd(200, '.')),
      })),
    ];
    const repositories = [];
    for (const record of records) {
      const recordKey = await writeRecord(rt.store, BACKUP_ID, record);
      repositories.push({ repository: record.name, recordKey, refs: 1, seconds: 1 });
    }

    // Act
    const result = await finishSourceBackup(
      { backup: { backupId: BACKUP_ID }, plan: { startedAt: '2026-01-01T00:00:00.000Z' }, repositories },
      rt,
    );

    // Assess: the big refs stay in their entry; the others keep their one ref and the lengths of
    // their lists. The entries pass 16 KiB: they are in the list stored beside the set.
    expect(utf8JsonBytes(result)).toBeLessThanOrEqual(RESULT_BUDGET_BYTES);
    const [big, ...others] = (await readSourceDetails(rt.store, result.details, BACKUP_ID)).repositories;
    expect(big?.refs).toEqual(manyRefs);
    expect(big?.fullLengths).toBeUndefined();
    expect(others).toHaveLength(3);
    for (const entry of others) {
      expect(entry.refs).toEqual({ 'refs/heads/main': oid });
      expect(entry.fullLengths).toEqual({ deletedOnMirror: 2000, exclude: 100, warnings: 40 });
      expect([entry.deletedOnMirror, entry.exclude, entry.warnings]).toEqual([[], [], []]);
      const full = await recordOf(rt.store, entry);
      expect([full.deletedOnMirror.length, full.exclude.length, full.warnings.length]).toEqual([
        2000, 100, 40,
      ]);
    }
    expect(result.warnings).toHaveLength(3);
    expect(result.warnings[0]).toMatch(
      /^r1: the full deletedOnMirror \(2000, 0 inline\), exclude \(100, 0 inline\), warnings \(40, 0 inline\) are recorded in backups\/.*\/source\/r1\.json/,
    );
  });
});
