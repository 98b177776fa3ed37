import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { redactUrl, resolveRemote } from '#components/source/credentials.ts';
import { finishSourceBackup, INLINE_REFS_BUDGET } from '#components/source/finish-backup.ts';
import { checkSourceRestore } from '#components/source/index.ts';
import { GIT_ENV, nameFromUrl, parseGitPair, sourceLocalOptions } from '#components/source/local-options.ts';
import { recordKey, recordOf, writeRecord } from '#components/source/records.ts';
import { checkTargetCredentials } from '#components/source/restore-repository.ts';
import {
  type RepositoryRecord,
  sourceDetailsSchema,
  sourceRestoreRequestSchema,
  sourceSettingsSchema,
} from '#components/source/settings.ts';
import { SsmSecretReader } from '#components/source/ssm-secrets.ts';
import { ConfigError, InvalidInputError } from '#runtime/errors.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { testRuntime } from '../../support/local-runtime.ts';

const OID = 'a'.repeat(40);
const BACKUP_ID = 'b20260101t000000z-0abc';

function record(
  name: string,
  refs: Record<string, string>,
  extra: Partial<RepositoryRecord> = {},
): RepositoryRecord {
  return {
    name,
    sourceUrl: `https://git.example.com/${name}.git`,
    mirrorUrl: `https://mirror.example.com/${name}.git`,
    capturedAt: '2026-01-01T00:00:00.000Z',
    head: 'refs/heads/main',
    refs,
    exclude: [],
    prune: false,
    keptOnMirror: [],
    deletedOnMirror: [],
    stats: {
      created: 1,
      updated: 0,
      deleted: 0,
      packBytes: 100,
      packObjects: 3,
      storedBytes: 0,
      seconds: 0.1,
    },
    warnings: [],
    ...extra,
  };
}

describe('credentials', () => {
  const noSecrets = { parameter: async (name: string) => `value-of-${name}` };

  it('prefers the URL user info, then the given credentials, and says where they came from', async () => {
    const fromUrl = await resolveRemote(
      'https://bot:p%40ss@git.example.com/a.git',
      { tokenParameter: '/t', username: 'x' },
      noSecrets,
    );
    expect(fromUrl).toEqual({
      url: 'https://git.example.com/a.git',
      authorization: `Basic ${Buffer.from('bot:p@ss').toString('base64')}`,
      credentialsLabel: "the URL's user info",
    });
    const token = await resolveRemote(
      'https://git.example.com/a.git',
      { tokenParameter: '/t', username: 'x-access-token' },
      noSecrets,
    );
    expect(token.authorization).toBe(`Basic ${Buffer.from('x-access-token:value-of-/t').toString('base64')}`);
    expect(token.credentialsLabel).toBe('the token in SSM parameter /t');
    const env = await resolveRemote(
      'https://git.example.com/a.git',
      { passwordEnv: 'P', usernameEnv: 'U' },
      noSecrets,
      { P: 'pw', U: 'me' },
    );
    expect(env.authorization).toBe(`Basic ${Buffer.from('me:pw').toString('base64')}`);
    expect(
      (await resolveRemote('https://git.example.com/a.git', undefined, noSecrets)).authorization,
    ).toBeUndefined();
    await expect(
      resolveRemote('https://git.example.com/a.git', { tokenEnv: 'MISSING', username: 'x' }, noSecrets, {}),
    ).rejects.toThrow(ConfigError);
  });

  it('redacts user info from URLs', () => {
    expect(redactUrl('https://bot:secret@git.example.com/a.git')).toBe('https://git.example.com/a.git');
    expect(redactUrl('not a url')).toBe('(invalid URL)');
    // A password with an unencoded '/' or '?' is parsed as host and path: still hidden.
    expect(redactUrl('https://bot:2024/S3cret@git.example.com/a.git')).toBe(
      'https://***@git.example.com/a.git',
    );
    expect(redactUrl('https://bot:2024?S3cret@git.example.com/a.git')).not.toContain('S3cret');
  });

  it('reads SecureStrings from SSM with decryption, and names a missing parameter without its value', async () => {
    const ssm = mockClient(SSMClient);
    ssm.on(GetParameterCommand, { Name: '/liferay/git/token' }).resolves({ Parameter: { Value: 'tok' } });
    ssm
      .on(GetParameterCommand, { Name: '/liferay/git/missing' })
      .rejects(new ParameterNotFound({ message: 'not found', $metadata: {} }));
    const reader = new SsmSecretReader(new SSMClient({ region: 'eu-west-1' }));
    expect(await reader.parameter('/liferay/git/token')).toBe('tok');
    expect(ssm.commandCalls(GetParameterCommand)[0]?.args[0].input).toEqual({
      Name: '/liferay/git/token',
      WithDecryption: true,
    });
    await expect(reader.parameter('/liferay/git/missing')).rejects.toThrow(
      /could not read SSM parameter \/liferay\/git\/missing \(Git credentials\): ParameterNotFound/,
    );
    ssm.restore();
  });
});

describe('the CLI flags', () => {
  it('splits SOURCE=MIRROR at the second URL and names repositories after their URLs', () => {
    expect(parseGitPair('https://h/a.git?x=1=https://m/a.git')).toEqual({
      sourceUrl: 'https://h/a.git?x=1',
      mirrorUrl: 'https://m/a.git',
    });
    expect(() => parseGitPair('https://user:pw@h/a.git')).toThrow(/expected SOURCE_URL=MIRROR_URL/);
    expect(() => parseGitPair('https://user:pw@h/a.git')).not.toThrow(/pw/);
    expect(nameFromUrl('https://h/acme/theme.git', new Set(['theme']))).toBe('theme-2');
  });

  it('configures backups from --git and the environment, keeping only variable names in the settings', () => {
    const local = sourceLocalOptions({ [GIT_ENV.token]: 'tok' });
    const settings = local.settingsFromOptions(
      { git: ['https://h/ws.git=https://m/ws.git'], 'git-exclude': ['refs/pull/*'], 'git-prune': true },
      'backup',
    );
    expect(sourceSettingsSchema.parse(settings)).toMatchObject({
      repositories: [
        {
          name: 'ws',
          sourceUrl: 'https://h/ws.git',
          mirrorUrl: 'https://m/ws.git',
          exclude: ['refs/pull/*'],
          prune: true,
        },
      ],
      defaultCredentials: { tokenEnv: GIT_ENV.token },
    });
    expect(JSON.stringify(settings)).not.toContain('tok"');
    expect(local.settingsFromOptions({}, 'backup')).toBeUndefined();
  });

  it('keeps the user info of --git-target out of the restore request (it is recorded in the report)', () => {
    const env: NodeJS.ProcessEnv = {};
    const local = sourceLocalOptions(env);
    const request = local.restoreRequestFromOptions?.({
      'git-target': ['ws=https://bot:s3cret@target.example.com/ws.git'],
      'git-refs': ['refs/heads/*'],
      'git-overwrite': true,
    });
    expect(JSON.stringify(request)).not.toContain('s3cret');
    expect(sourceRestoreRequestSchema.parse(request)).toEqual({
      targets: [
        {
          repository: 'ws',
          url: 'https://target.example.com/ws.git',
          credentials: { passwordEnv: GIT_ENV.targetPassword, usernameEnv: GIT_ENV.targetUsername },
          refs: ['refs/heads/*'],
          from: 'auto',
          overwrite: true,
        },
      ],
    });
    expect(env[GIT_ENV.targetPassword]).toBe('s3cret');
    expect(local.settingsFromOptions({ 'git-target': ['https://t/x.git'] }, 'restore')).toEqual({
      repositories: [],
    });
  });
});

describe('checkRestore (in Validate)', () => {
  const details = {
    repositories: [
      { ...record('ws', { 'refs/heads/main': OID, 'refs/tags/v1': OID }), refCount: 2, recordKey: 'k1' },
      { ...record('theme', { 'refs/heads/main': OID }), refCount: 1, recordKey: 'k2' },
    ],
  };
  const backup = { details };
  const check = (request: unknown) =>
    checkSourceRestore({ backup, request: sourceRestoreRequestSchema.parse(request) });

  it('accepts a target that names a recorded repository and matching refs', () => {
    expect(
      check({ targets: [{ repository: 'ws', url: 'https://t/ws.git', refs: ['refs/tags/*'] }] }),
    ).toEqual([]);
  });

  it('names every problem: no target, an unknown or unnamed repository, no matching ref, no store copy, a URL twice', () => {
    expect(check({})[0]).toMatch(/name where to push the recorded refs/);
    expect(
      check({
        targets: [
          { url: 'https://t/a.git' },
          { repository: 'nope', url: 'https://t/b.git' },
          { repository: 'ws', url: 'https://t/c.git', refs: ['refs/notes/*'] },
          { repository: 'ws', url: 'https://t/c.git', from: 'store' },
          { repository: 'ws', url: 'https://t/d.git', credentials: { tokenEnv: 'AWS_SECRET_ACCESS_KEY' } },
        ],
      }),
    ).toEqual([
      'targets.0.repository: the backup holds 2 repositories, name one of ws, theme',
      'targets.1.repository: nope is not in this backup (it has ws, theme)',
      'targets.2.refs: no recorded ref of ws matches refs/notes/*',
      'targets.3.url: https://t/c.git is a target twice',
      'targets.3.from: the backup has no store copy of ws (storeCopy was off); use "mirror"',
      'targets.4.credentials: environment variable AWS_SECRET_ACCESS_KEY must start with LIFERAY_BACKUP_GIT_',
    ]);
  });

  it('refuses credentials in a target URL', () => {
    expect(sourceRestoreRequestSchema.safeParse({ targets: [{ url: 'https://u:p@t/x.git' }] }).success).toBe(
      false,
    );
  });
});

describe('restore target credentials (the restore function)', () => {
  const settings = sourceSettingsSchema.parse({ restoreCredentialsPath: '/liferay-backup/git-restore/' });

  it('allows SSM parameters under restoreCredentialsPath and LIFERAY_BACKUP_GIT_* variables only', () => {
    expect(() =>
      checkTargetCredentials({ tokenParameter: '/liferay-backup/git-restore/t', username: 'x' }, settings),
    ).not.toThrow();
    expect(() =>
      checkTargetCredentials({ tokenParameter: '/liferay-backup/git/github-token', username: 'x' }, settings),
    ).toThrow(InvalidInputError);
    expect(() =>
      checkTargetCredentials({ tokenEnv: 'AWS_SECRET_ACCESS_KEY', username: 'x' }, settings),
    ).toThrow(/must start with/);
    expect(() =>
      checkTargetCredentials({ tokenParameter: '/x', username: 'x' }, sourceSettingsSchema.parse({})),
    ).toThrow(/none configured/);
  });
});

describe('finish backup', () => {
  const store = () => new LocalFolderStore(mkdtempSync(path.join(tmpdir(), 'source-finish-')));
  const plan = { startedAt: '2026-01-01T00:00:00.000Z' };

  it('fails the component naming each failed repository and the ones that were mirrored', async () => {
    const rt = testRuntime({ store: store() });
    await writeRecord(rt.store, BACKUP_ID, record('ok', { 'refs/heads/main': OID }));
    const event = {
      backup: { backupId: BACKUP_ID },
      plan,
      repositories: [
        { repository: 'ok', recordKey: recordKey(BACKUP_ID, 'ok'), refs: 1, seconds: 1 },
        {
          repository: 'bad',
          error: {
            Error: 'GitAuthenticationError',
            Cause: JSON.stringify({ errorType: 'GitAuthenticationError', errorMessage: 'HTTP 401' }),
          },
        },
      ],
    };
    await expect(finishSourceBackup(event, rt)).rejects.toThrow(
      '1 of 2 repositories failed: bad: GitAuthenticationError: HTTP 401 (mirrored: ok)',
    );
  });

  it('keeps refs inline up to the budget, then records the key of the full record, which a restore reads back', async () => {
    const rt = testRuntime({ store: store() });
    const many = Object.fromEntries(
      Array.from({ length: 1500 }, (_, i) => [`refs/heads/branch-${String(i).padStart(5, '0')}`, OID]),
    );
    expect(JSON.stringify(many).length).toBeGreaterThan(INLINE_REFS_BUDGET);
    await writeRecord(rt.store, BACKUP_ID, record('small', { 'refs/heads/main': OID }));
    await writeRecord(rt.store, BACKUP_ID, record('large', many));
    const result = await finishSourceBackup(
      {
        backup: { backupId: BACKUP_ID },
        plan,
        repositories: ['small', 'large'].map((name) => ({
          repository: name,
          recordKey: recordKey(BACKUP_ID, name),
          refs: 1,
          seconds: 1,
        })),
      },
      rt,
    );
    expect(result).toMatchObject({
      component: 'source',
      status: 'complete',
      summary: { repositories: 2, refs: 1501 },
    });
    const details = sourceDetailsSchema.parse(result.details);
    expect(details.repositories[0]?.refs).toEqual({ 'refs/heads/main': OID });
    expect(details.repositories[1]?.refs).toBeUndefined();
    expect(details.repositories[1]?.refCount).toBe(1500);
    expect(result.warnings.join(' ')).toMatch(
      /large: 1500 refs are recorded in backups\/b20260101t000000z-0abc\/source\/large\.json/,
    );
    expect(JSON.stringify(result).length).toBeLessThan(INLINE_REFS_BUDGET + 8 * 1024);
    const entry = details.repositories[1];
    if (!entry) throw new Error('no entry');
    expect((await recordOf(rt.store, entry)).refs).toEqual(many);
  });
});
