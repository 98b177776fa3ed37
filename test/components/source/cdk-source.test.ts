import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { sourceSettingsSchema } from '#components/source/settings.ts';
import { definitionsFromTemplate } from '#local/template-definitions.ts';
import { sourceSettings } from '../../../cdk/components/source.ts';
import { parseConfig } from '../../../cdk/config.ts';
import { InlineFunctionFactory } from '../../../cdk/lambda-function.ts';
import { LiferayBackupStack } from '../../../cdk/liferay-backup-stack.ts';
import { TRANSIENT_ERRORS } from '../../../cdk/workflow-tasks.ts';

const source = {
  enabled: true,
  repositories: [
    {
      name: 'workspace',
      sourceUrl: 'https://github.com/acme/workspace.git',
      mirrorUrl: 'https://gitlab.example.com/backup/workspace.git',
      sourceCredentials: { tokenParameter: '/liferay-backup/git/github-token' },
      mirrorCredentials: { username: 'backup-bot', passwordParameter: '/liferay-backup/git/gitlab-password' },
      exclude: ['refs/pull/*'],
      storeCopy: true,
    },
    {
      name: 'theme',
      sourceUrl: 'https://github.com/acme/theme.git',
      mirrorUrl: 'https://gitlab.example.com/backup/theme.git',
    },
  ],
  defaultCredentials: { tokenParameter: '/liferay-backup/git/default-token' },
  restoreCredentialsPath: '/liferay-backup/git-restore/',
};

function config(components: Record<string, unknown> = { source }, extra: Record<string, unknown> = {}) {
  return { environment: 'liferay-test', components, ...extra };
}

function build(raw: unknown): { app: App; stack: LiferayBackupStack } {
  const app = new App();
  const stack = new LiferayBackupStack(app, 'LiferayBackup', {
    config: parseConfig(raw),
    env: { account: '111111111111', region: 'eu-west-1' },
    functionFactory: (options) => new InlineFunctionFactory(options),
  });
  return { app, stack };
}

function paramArn(name: string) {
  return {
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:ssm:eu-west-1:111111111111:parameter${name}`]],
  };
}

/** A function's logical id by its handler id (the local runner's metadata tag). */
function functionId(template: Template, handlerId: string): string {
  const found = Object.entries(template.findResources('AWS::Lambda::Function')).find(
    ([, resource]) =>
      (resource as { Metadata?: Record<string, unknown> }).Metadata?.['LiferayBackup:Handler'] === handlerId,
  );
  if (!found) throw new Error(`no function ${handlerId}`);
  return found[0];
}

function policyOf(
  template: Template,
  handlerId: string,
): { Action: unknown; Resource: unknown; Condition?: unknown; Sid?: string }[] {
  const fn = template.toJSON().Resources[functionId(template, handlerId)];
  const roleId = fn.Properties.Role['Fn::GetAtt'][0];
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
    (policy as { Properties: { Roles: { Ref: string }[] } }).Properties.Roles.some(
      (role) => role.Ref === roleId,
    ),
  );
  return policies.flatMap(
    (policy) =>
      (policy as { Properties: { PolicyDocument: { Statement: never[] } } }).Properties.PolicyDocument
        .Statement,
  );
}

describe('the source construct', () => {
  let app: App;
  let template: Template;
  beforeAll(() => {
    const built = build(config());
    app = built.app;
    template = Template.fromStack(built.stack);
  });

  it('creates the five source functions; the transfer functions get 15 minutes, the configured memory and /tmp', () => {
    for (const id of [
      'source-plan-backup',
      'source-finish-backup',
      'source-restore-repository',
      'source-finish-restore',
    ]) {
      functionId(template, id);
    }
    const mirror = template.toJSON().Resources[functionId(template, 'source-mirror-repository')];
    expect(mirror.Properties).toMatchObject({
      Timeout: 900,
      MemorySize: 1024,
      EphemeralStorage: { Size: 2048 },
    });
    expect(mirror.Properties.VpcConfig).toBeUndefined();
  });

  it('lets the mirror function read exactly the configured SSM parameters, and decrypt only through SSM for them', () => {
    const statements = policyOf(template, 'source-mirror-repository');
    const read = statements.find((statement) => statement.Sid === 'ReadGitCredentials');
    expect(read?.Action).toBe('ssm:GetParameter');
    expect(read?.Resource).toEqual([
      paramArn('/liferay-backup/git/default-token'),
      paramArn('/liferay-backup/git/github-token'),
      paramArn('/liferay-backup/git/gitlab-password'),
    ]);
    const decrypt = statements.find((statement) => statement.Sid === 'DecryptGitCredentials');
    expect(decrypt).toMatchObject({
      Action: 'kms:Decrypt',
      Condition: {
        StringEquals: { 'kms:ViaService': 'ssm.eu-west-1.amazonaws.com' },
        StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': read?.Resource },
      },
    });
    expect(JSON.stringify(statements)).not.toContain('git-restore');
    expect(
      policyOf(template, 'source-plan-backup').some((statement) => statement.Sid === 'ReadGitCredentials'),
    ).toBe(false);
  });

  it('lets the restore function read the mirror credentials and the restore path, nothing else', () => {
    const statements = policyOf(template, 'source-restore-repository');
    expect(
      statements.find((statement) => statement.Sid === 'ReadRestoreTargetCredentials')?.Resource,
    ).toEqual(paramArn('/liferay-backup/git-restore/*'));
    // The mirrors' credentials (the theme's mirror uses the defaults), never the sources' token.
    const read = statements.find((statement) => statement.Sid === 'ReadGitCredentials');
    expect(read?.Resource).toEqual([
      paramArn('/liferay-backup/git/default-token'),
      paramArn('/liferay-backup/git/gitlab-password'),
    ]);
    expect(
      statements.find((statement) => statement.Sid === 'DecryptGitCredentials')?.Condition,
    ).toMatchObject({ StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': read?.Resource } });
    expect(JSON.stringify(statements)).not.toContain('github-token');
  });

  it("lets the restore drill read the mirrors' credentials (it lists each mirror's refs), never the sources'", () => {
    const found = Object.entries(template.findResources('AWS::Lambda::Function')).find(
      ([, resource]) =>
        (resource as { Properties: { Description?: string } }).Properties.Description ===
        'Verify the source of a backup set (restore drill)',
    );
    if (!found) throw new Error('no source verifier');
    const roleId = (found[1] as { Properties: { Role: { 'Fn::GetAtt': string[] } } }).Properties.Role[
      'Fn::GetAtt'
    ][0];
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((policy) =>
        (policy as { Properties: { Roles: { Ref: string }[] } }).Properties.Roles.some(
          (role) => role.Ref === roleId,
        ),
      )
      .flatMap(
        (policy) =>
          (policy as { Properties: { PolicyDocument: { Statement: { Sid?: string; Resource: unknown }[] } } })
            .Properties.PolicyDocument.Statement,
      );
    expect(statements.find((statement) => statement.Sid === 'ReadGitCredentials')?.Resource).toEqual([
      paramArn('/liferay-backup/git/default-token'),
      paramArn('/liferay-backup/git/gitlab-password'),
    ]);
    expect(JSON.stringify(statements)).not.toContain('github-token');
    expect(JSON.stringify(statements)).not.toContain('git-restore');
  });

  it('mirrors the repositories in a Map with the planned concurrency, each failure caught, then one finish step', () => {
    const { backup, restore } = definitionsFromTemplate(template.toJSON());
    const text = JSON.stringify(backup);
    const map = findState(backup, 'Source mirror repositories');
    expect(map).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.sourcePlan.repositories',
      MaxConcurrencyPath: '$.sourcePlan.concurrency',
      ItemSelector: { 'backup.$': '$.backup', 'repository.$': '$$.Map.Item.Value.name' },
    });
    const mirror = findState(backup, 'Source mirror repository');
    expect(mirror?.Retry).toEqual([
      expect.objectContaining({ ErrorEquals: TRANSIENT_ERRORS, MaxAttempts: 3 }),
    ]);
    expect(mirror?.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Source repository failed' },
    ]);
    expect(text).toContain('Source finish backup');
    expect(findState(restore, 'Source restore targets')).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.restore.requests.source.targets',
      MaxConcurrency: 2,
    });
  });

  it('leaves cdk-nag nothing to report on the source resources (its own wildcards acknowledged one by one)', () => {
    const report = new AwsSolutionsChecks().validateScope(app);
    const ours = report.violations.flatMap((violation) =>
      violation.violatingResources
        .filter((resource) => resource.constructPath?.includes('/Source/'))
        .map((resource) => `${violation.ruleName} ${resource.constructPath}`),
    );
    expect(ours).toEqual([]);
  });
});

describe('the source configuration', () => {
  it('hands the functions settings without defaults (4 KB of environment), which they read back whole', () => {
    const settings = sourceSettings(parseConfig(config()));
    expect(settings.repositories?.[1]).toEqual({
      name: 'theme',
      sourceUrl: 'https://github.com/acme/theme.git',
      mirrorUrl: 'https://gitlab.example.com/backup/theme.git',
    });
    expect(sourceSettingsSchema.parse(settings).repositories[1]).toMatchObject({
      exclude: [],
      prune: false,
      storeCopy: false,
    });
    expect(sourceSettingsSchema.parse(settings).repositories[0]).toMatchObject({
      exclude: ['refs/pull/*'],
      storeCopy: true,
    });
  });

  it('refuses credentials in a URL, plain http, duplicate names and an unknown key, naming the key', () => {
    const bad = (repository: Record<string, unknown>, message: RegExp) =>
      expect(() => parseConfig(config({ source: { enabled: true, repositories: [repository] } }))).toThrow(
        message,
      );
    const ok = { name: 'a', sourceUrl: 'https://h/a.git', mirrorUrl: 'https://m/a.git' };
    bad(
      { ...ok, sourceUrl: 'https://user:pw@h/a.git' },
      /components\.source\.repositories\.0\.sourceUrl: no credentials in the URL/,
    );
    bad({ ...ok, mirrorUrl: 'http://m/a.git' }, /repositories\.0\.mirrorUrl: an https URL/);
    bad({ ...ok, token: 'x' }, /repositories\.0: Unrecognized key/);
    expect(() => parseConfig(config({ source: { enabled: true, repositories: [ok, ok] } }))).toThrow(
      /repository name a is used twice/,
    );
  });

  it('puts the functions in the network when asked, and says what is missing without one', () => {
    const network = {
      vpcId: 'vpc-0a1b2c3d4e5f60718',
      availabilityZones: ['eu-west-1a'],
      subnetIds: ['subnet-0a1b2c3d4e5f60718'],
      securityGroupId: 'sg-0a1b2c3d4e5f60718',
    };
    const inVpc = { ...source, vpc: true };
    expect(() => build(config({ source: inVpc }))).toThrow(/source\.vpc: true needs liferayBackup\.network/);
    const template = Template.fromStack(build(config({ source: inVpc }, { network })).stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Source: mirror one Git repository'),
      VpcConfig: { SubnetIds: ['subnet-0a1b2c3d4e5f60718'], SecurityGroupIds: ['sg-0a1b2c3d4e5f60718'] },
    });
  });
});

function findState(definition: unknown, name: string): Record<string, unknown> | undefined {
  let found: Record<string, unknown> | undefined;
  const visit = (states: Record<string, unknown>) => {
    for (const [stateName, raw] of Object.entries(states)) {
      const state = raw as Record<string, unknown>;
      if (stateName === name) found = state;
      for (const branch of (state.Branches as { States: Record<string, unknown> }[] | undefined) ?? [])
        visit(branch.States);
      const processor = (state.ItemProcessor ?? state.Iterator) as
        | { States: Record<string, unknown> }
        | undefined;
      if (processor) visit(processor.States);
    }
  };
  visit((definition as { States: Record<string, unknown> }).States);
  return found;
}
