import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../cdk/config.ts';
import {
  asList,
  CDK_JSON,
  FULL_CONFIG,
  type Statement,
  statementsOfFunction,
  synthesize,
} from './support.ts';

/**
 * Grants that must hold on AWS, where nothing here can try them: each assertion cites the rule of
 * the AWS documentation it relies on.
 */

const DR_KEY = 'arn:aws:kms:eu-central-1:111111111111:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9';

function allowing(statements: Statement[], action: string, resource: (r: unknown) => boolean): Statement[] {
  return statements.filter(
    (s) => s.Effect === 'Allow' && asList(s.Action).includes(action) && asList(s.Resource).some(resource),
  );
}

const mentionsGrantCondition = (s: Statement) =>
  JSON.stringify(s.Condition ?? {}).includes('kms:GrantIsForAWSResource');

describe('the database DR copy (the cdk.json example: drRegion and drKmsKeyArn)', () => {
  let template: Template;
  beforeAll(() => {
    template = synthesize(CDK_JSON.context.liferayBackup);
  });

  // kms:GrantIsForAWSResource is in the request context of CreateGrant, ListGrants and RevokeGrant
  // only (KMS developer guide, "Controlling access to grants"): under it, DescribeKey never matches;
  // RDS needs both CreateGrant and DescribeKey on a customer managed key it encrypts with.
  it('may describe the DR key, and create grants on it for RDS only', () => {
    const statements = statementsOfFunction(template, 'DatabaseCheckBackup');
    const describe = allowing(statements, 'kms:DescribeKey', (r) => r === DR_KEY);
    expect(describe.length).toBeGreaterThan(0);
    expect(describe.filter(mentionsGrantCondition)).toEqual([]);
    const grants = allowing(statements, 'kms:CreateGrant', (r) => r === DR_KEY);
    expect(grants.length).toBeGreaterThan(0);
    expect(grants.every(mentionsGrantCondition)).toBe(true);
  });

  it('may describe the source snapshot key through RDS, without the grant-only condition', () => {
    const statements = statementsOfFunction(template, 'DatabaseCheckBackup');
    const sourceKey = (r: unknown) => typeof r === 'string' && r.startsWith('arn:aws:kms:eu-west-1:');
    const describe = allowing(statements, 'kms:DescribeKey', sourceKey);
    expect(describe.length).toBeGreaterThan(0);
    expect(describe.filter(mentionsGrantCondition)).toEqual([]);
    expect(describe.every((s) => JSON.stringify(s.Condition).includes('kms:ViaService'))).toBe(true);
  });
});

describe('KMS keys named in the configuration', () => {
  // In an IAM statement's Resource an alias ARN names the alias only, never the key behind it (KMS
  // developer guide, "Specifying KMS keys in IAM policy statements"): kms:Decrypt would be denied.
  it.each([
    [
      'components.search.credentialsKmsKeyArn',
      (config: Record<string, Record<string, unknown>>, arn: string) => {
        config.search = {
          ...config.search,
          credentialsParameter: '/liferay/search/credentials',
          credentialsKmsKeyArn: arn,
        };
      },
    ],
    [
      'components.source.credentialsKmsKeyArn',
      (config: Record<string, Record<string, unknown>>, arn: string) => {
        config.source = { ...config.source, credentialsKmsKeyArn: arn };
      },
    ],
  ])('%s refuses an alias ARN at synth', (key, set) => {
    const config = structuredClone(FULL_CONFIG) as { components: Record<string, Record<string, unknown>> };
    set(config.components, 'arn:aws:kms:eu-west-1:111111111111:alias/liferay-search');
    expect(() => parseConfig(config)).toThrow(
      new RegExp(
        `${key.split('.').slice(1).join('\\.')}.*a KMS key ARN \\(arn:aws:kms:REGION:ACCOUNT:key/ID\\), not an alias`,
      ),
    );
  });
});

describe("the Git mirror function (it holds the Git hosts' credentials)", () => {
  // It writes its records (backups/<id>/source/, functions/components/source/records.ts) and the
  // store copy's packs (objects/git/, store-copy.ts): nothing else of a set.
  it('may write only backups/*/source/* and objects/git/*', () => {
    const template = synthesize(CDK_JSON.context.liferayBackup);
    const writes = statementsOfFunction(template, 'SourceMirrorRepository')
      .filter((s) => s.Effect === 'Allow' && asList(s.Action).includes('s3:PutObject'))
      .flatMap((s) => asList(s.Resource))
      .map((r) => JSON.stringify(r));
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.filter((r) => !/\/backups\/\*\/source\/\*"|\/objects\/git\/\*"/.test(r))).toEqual([]);
  });
});

describe('the search check-snapshot function', () => {
  // A long index list is stored beside the set (functions/components/search/index-list.ts).
  it('may write backups/*/search/* and nothing else of the store', () => {
    const template = synthesize(CDK_JSON.context.liferayBackup);
    const writes = statementsOfFunction(template, 'SearchCheckSnapshot')
      .filter((s) => s.Effect === 'Allow' && asList(s.Action).includes('s3:PutObject'))
      .flatMap((s) => asList(s.Resource))
      .map((r) => JSON.stringify(r));
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.filter((r) => !/\/backups\/\*\/search\/\*"/.test(r))).toEqual([]);
  });
});

describe('the source finish-backup function', () => {
  // Many repositories' entries are stored beside the set (functions/components/source/repository-list.ts).
  it('may write backups/*/source/_repositories.json and nothing else of the store', () => {
    const template = synthesize(CDK_JSON.context.liferayBackup);
    const writes = statementsOfFunction(template, 'SourceFinishBackup')
      .filter((s) => s.Effect === 'Allow' && asList(s.Action).includes('s3:PutObject'))
      .flatMap((s) => asList(s.Resource))
      .map((r) => JSON.stringify(r));
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.filter((r) => !/\/backups\/\*\/source\/_repositories\.json"/.test(r))).toEqual([]);
  });
});

describe('the restore steps that check their target lock before writing', () => {
  // The lock is a lease each of them renews (functions/backup-set/restore-lock.ts): a PUT, refused
  // without s3:PutObject, and the store-permissions run sees only the files restore's renewals.
  it.each([
    'LiferayHomeFilesPlanRestore',
    'LiferayHomeFilesRestoreShard',
    'LiferayHomeFilesFinalizeRestore',
    'AppServerFilesPlanRestore',
    'AppServerFilesRestoreShard',
    'AppServerFilesFinalizeRestore',
    'SearchStartRestore',
    'SourceRestoreRepository',
  ])('%s may renew locks/restores/*', (fn) => {
    const template = synthesize(CDK_JSON.context.liferayBackup);
    expect(renewals(template, fn).length).toBeGreaterThan(0);
  });

  it('DatabaseStartRestore may renew locks/restores/* in dump mode (a dump restore writes a live database)', () => {
    const dumpConfig = {
      ...FULL_CONFIG,
      components: {
        ...(FULL_CONFIG.components as Record<string, unknown>),
        database: {
          enabled: true,
          mode: 'dump',
          urlParameterName: '/liferay/db-url',
          toolsLayerArn: 'arn:aws:lambda:eu-west-1:111111111111:layer:db-clients:1',
        },
      },
    };
    expect(renewals(synthesize(dumpConfig), 'DatabaseStartRestore').length).toBeGreaterThan(0);
  });
});

function renewals(template: Template, fn: string): Statement[] {
  return allowing(statementsOfFunction(template, fn), 's3:PutObject', (r) =>
    JSON.stringify(r).includes('/locks/restores/*'),
  );
}

describe('the source finish-restore function', () => {
  // It names the repository of a failed push from the set's manifest (source/finish-restore.ts).
  it("may read the sets' manifests", () => {
    const template = synthesize(CDK_JSON.context.liferayBackup);
    const reads = allowing(statementsOfFunction(template, 'SourceFinishRestore'), 's3:GetObject', (r) =>
      JSON.stringify(r).includes('/backups/*/manifest.json'),
    );
    expect(reads.length).toBeGreaterThan(0);
  });
});

describe('the notification topic', () => {
  // The topic has a policy of its own (enforceSSL, the EventBridge target), which replaces SNS's
  // default one: CloudWatch alarms may publish only if it says so (SNS developer guide, "Amazon SNS
  // access control"; alarms publish as cloudwatch.amazonaws.com).
  it('lets CloudWatch alarms of this account publish, and only them besides EventBridge', () => {
    const template = synthesize(CDK_JSON.context.liferayBackup);
    const policies = Object.values(template.findResources('AWS::SNS::TopicPolicy')) as Array<{
      Properties: { PolicyDocument: { Statement: Array<Statement & { Principal?: unknown }> } };
    }>;
    expect(policies).toHaveLength(1);
    const statements = policies[0]?.Properties.PolicyDocument.Statement ?? [];
    const fromAlarms = statements.filter(
      (s) =>
        s.Effect === 'Allow' &&
        JSON.stringify(s.Principal) === JSON.stringify({ Service: 'cloudwatch.amazonaws.com' }) &&
        asList(s.Action).includes('sns:Publish'),
    );
    expect(fromAlarms).toHaveLength(1);
    expect(JSON.stringify(fromAlarms[0]?.Condition)).toMatch(/aws:SourceAccount/);
    expect(JSON.stringify(fromAlarms[0]?.Condition)).toMatch(/:alarm:\*/);
    const allowedServices = statements
      .filter((s) => s.Effect === 'Allow')
      .map((s) => JSON.stringify(s.Principal))
      .sort();
    expect(allowedServices).toEqual(
      [{ Service: 'cloudwatch.amazonaws.com' }, { Service: 'events.amazonaws.com' }].map((p) =>
        JSON.stringify(p),
      ),
    );
  });
});
