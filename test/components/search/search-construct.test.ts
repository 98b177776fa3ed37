import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { searchSettingsSchema } from '#components/search/settings.ts';
import { HANDLER_METADATA_KEY } from '#local/template-definitions.ts';
import { parseSettings } from '#runtime/settings.ts';
import { parseConfig } from '../../../cdk/config.ts';
import { InlineFunctionFactory } from '../../../cdk/lambda-function.ts';
import { LiferayBackupStack } from '../../../cdk/liferay-backup-stack.ts';
import { nagFindings } from '../../support/nag.ts';

/** The search construct in the synthesized template: functions, grants, snapshot role, states, cdk-nag. */

const DOMAIN_ARN = 'arn:aws:es:eu-west-1:111111111111:domain/liferay-prod';
const NETWORK = {
  vpcId: 'vpc-0a1b2c3d4e5f60718',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  subnetIds: ['subnet-0a1b2c3d4e5f60718', 'subnet-0f1e2d3c4b5a69788'],
  securityGroupId: 'sg-0a1b2c3d4e5f60718',
};
const OPENSEARCH = {
  enabled: true,
  engine: 'opensearch',
  endpoint: 'https://vpc-liferay-prod-abc123.eu-west-1.es.amazonaws.com',
  domainArn: DOMAIN_ARN,
  dxpVersion: '7.4.13-u92',
  waitSeconds: 45,
  maxChecks: 100,
};
const ELASTICSEARCH = {
  enabled: true,
  engine: 'elasticsearch',
  endpoint: 'https://liferay.es.eu-west-1.aws.found.io:9243',
  repository: 'found-snapshots',
  credentialsParameter: '/liferay/search/credentials',
  credentialsKmsKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9',
};

function build(search: unknown, network: unknown = NETWORK) {
  const app = new App();
  const stack = new LiferayBackupStack(app, 'LiferayBackup', {
    config: parseConfig({
      environment: 'liferay-prod',
      account: '111111111111',
      region: 'eu-west-1',
      ...(network ? { network } : {}),
      components: { search },
    }),
    env: { account: '111111111111', region: 'eu-west-1' },
    functionFactory: (options) => new InlineFunctionFactory(options),
  });
  return { app, stack, template: Template.fromStack(stack) };
}

type Resource = { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, unknown> };

/** The search functions by handler id, with the logical id of each. */
function searchFunctions(template: Template): Map<string, { id: string; fn: Resource }> {
  const found = new Map<string, { id: string; fn: Resource }>();
  for (const [id, fn] of Object.entries(
    template.findResources('AWS::Lambda::Function') as Record<string, Resource>,
  )) {
    const handlerId = fn.Metadata?.[HANDLER_METADATA_KEY];
    if (typeof handlerId === 'string' && handlerId.startsWith('search-')) found.set(handlerId, { id, fn });
  }
  return found;
}

type Statement = {
  Sid?: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
  Effect: string;
};

/** The statements of the default policy of a function's role. */
function statementsOf(template: Template, functionId: string): Statement[] {
  const fn = template.findResources('AWS::Lambda::Function')[functionId] as Resource;
  const roleId = ((fn.Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'] ?? [])[0];
  const policies = Object.values(
    template.findResources('AWS::IAM::Policy') as Record<string, Resource>,
  ).filter((policy) => (policy.Properties.Roles as { Ref: string }[]).some((role) => role.Ref === roleId));
  return policies.flatMap(
    (policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
  );
}

/** The statements of the policies attached to a role. */
function roleStatements(template: Template, roleId: string | undefined): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy') as Record<string, Resource>)
    .filter((policy) => (policy.Properties.Roles as { Ref: string }[]).some((role) => role.Ref === roleId))
    .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

/** A function's environment variables. */
function variablesOf(fn: Resource | undefined): Record<string, unknown> {
  if (!fn) throw new Error('no such function');
  return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
}

function actions(statements: Statement[]): string[] {
  return statements.flatMap((statement) => ([] as string[]).concat(statement.Action)).sort();
}

describe('search construct, Amazon OpenSearch Service', () => {
  const { app, template } = build(OPENSEARCH);
  const functions = searchFunctions(template);

  it('creates the five handlers, in the VPC, with settings their own schema accepts', () => {
    expect([...functions.keys()].sort()).toEqual([
      'search-check-recovery',
      'search-check-snapshot',
      'search-prepare-repository',
      'search-start-restore',
      'search-start-snapshot',
    ]);
    for (const { fn } of functions.values()) {
      expect(fn.Properties.VpcConfig).toMatchObject({ SecurityGroupIds: ['sg-0a1b2c3d4e5f60718'] });
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      const settings = parseSettings(JSON.parse(String(variables.LIFERAY_BACKUP_SETTINGS)), 'test');
      const search = searchSettingsSchema.parse(settings.components.search);
      expect(search).toMatchObject({
        engine: 'opensearch',
        credentials: { type: 'sigv4', region: 'eu-west-1' },
        repository: { name: 'liferay-backup', s3: { basePath: 'search', region: 'eu-west-1' } },
        dxpVersion: '7.4.13-u92',
        maxChecks: 100,
      });
      expect(variables.STORE_BUCKET).toBeDefined();
      expect(variables.STORE_KMS_KEY_ARN).toBeDefined();
    }
  });

  it('creates the snapshot role for the service, limited to search/ in the backup bucket and the store key', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'es.amazonaws.com' } },
        ],
      },
      Description: Match.stringLikeRegexp('OpenSearch Service'),
    });
    const roles = template.findResources('AWS::IAM::Role', {
      Properties: {
        AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: 'es.amazonaws.com' } }] },
      },
    });
    const [roleId] = Object.keys(roles);
    const statements = roleStatements(template, roleId);
    const objects = statements.find((statement) => statement.Sid === 'ReadWriteSnapshotPrefix');
    expect(JSON.stringify(objects?.Resource)).toContain('/search/*');
    const list = statements.find((statement) => statement.Sid === 'ListSnapshotPrefix');
    expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': ['search', 'search/*'] } });
    const kms = statements.find((statement) => actions([statement]).includes('kms:GenerateDataKey'));
    expect(actions(kms ? [kms] : [])).toEqual(['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey']);
    expect(JSON.stringify(kms?.Resource)).toContain('StoreKey');
  });

  it('lets only the registering function pass the role, and only to the service', () => {
    for (const [handlerId, { id }] of functions) {
      const passRole = statementsOf(template, id).filter((statement) =>
        actions([statement]).includes('iam:PassRole'),
      );
      if (handlerId === 'search-prepare-repository') {
        expect(passRole).toHaveLength(1);
        expect(passRole[0]?.Condition).toEqual({
          StringEquals: { 'iam:PassedToService': 'es.amazonaws.com' },
        });
        expect(JSON.stringify(passRole[0]?.Resource)).toMatch(/SearchSnapshotRole/);
      } else {
        expect(passRole, handlerId).toEqual([]);
      }
    }
    // Nor may any other role of the stack (retention, Begin, the other components) pass a role.
    const prepareFn = functions.get('search-prepare-repository')?.fn;
    if (!prepareFn) throw new Error('no search-prepare-repository function');
    const prepareRole = (prepareFn.Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
    const passers = Object.entries(template.findResources('AWS::IAM::Policy') as Record<string, Resource>)
      .filter(([, policy]) =>
        (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement.some(
          (statement) =>
            statement.Effect === 'Allow' &&
            actions([statement]).some((action) => /^(\*|iam:\*|iam:PassRole)$/.test(action)),
        ),
      )
      .flatMap(([, policy]) => (policy.Properties.Roles as { Ref: string }[]).map((role) => role.Ref));
    expect(passers).toEqual([prepareRole]);
    const prepare = functions.get('search-prepare-repository')?.fn;
    expect(variablesOf(prepare).SEARCH_SNAPSHOT_ROLE_ARN).toBeDefined();
    const start = functions.get('search-start-snapshot')?.fn;
    expect(variablesOf(start).SEARCH_SNAPSHOT_ROLE_ARN).toBeUndefined();
  });

  it('scopes es:ESHttp* to the domain, each function to the methods it sends', () => {
    const expected: Record<string, string[]> = {
      'search-prepare-repository': ['es:ESHttpGet', 'es:ESHttpPost', 'es:ESHttpPut'],
      'search-start-snapshot': ['es:ESHttpGet', 'es:ESHttpPost', 'es:ESHttpPut'],
      'search-check-snapshot': ['es:ESHttpDelete', 'es:ESHttpGet'],
      'search-start-restore': ['es:ESHttpDelete', 'es:ESHttpGet', 'es:ESHttpPost'],
      'search-check-recovery': ['es:ESHttpGet'],
    };
    // What the domain-wide grant would allow but the function's side must not do.
    const denied: Record<string, { Action: string; Resource: string }[]> = {
      'search-prepare-repository': [
        { Action: 'es:ESHttpPost', Resource: `${DOMAIN_ARN}/_snapshot/*/_restore` },
      ],
      'search-start-snapshot': [{ Action: 'es:ESHttpPost', Resource: `${DOMAIN_ARN}/_snapshot/*/_restore` }],
      'search-check-snapshot': [],
      'search-start-restore': [{ Action: 'es:ESHttpDelete', Resource: `${DOMAIN_ARN}/_snapshot/*` }],
      'search-check-recovery': [],
    };
    for (const [handlerId, { id }] of functions) {
      const http = statementsOf(template, id).filter((statement) =>
        actions([statement]).some((action) => action.startsWith('es:')),
      );
      const allows = http.filter((statement) => statement.Effect === 'Allow');
      expect(actions(allows), handlerId).toEqual(expected[handlerId]);
      for (const statement of allows) expect(statement.Resource).toEqual([DOMAIN_ARN, `${DOMAIN_ARN}/*`]);
      expect(
        http
          .filter((statement) => statement.Effect === 'Deny')
          .map((statement) => ({ Action: statement.Action, Resource: statement.Resource })),
        handlerId,
      ).toEqual(denied[handlerId]);
    }
  });

  it("gives the store only to the restore, to read the set's manifest and renew its lock, and to check-snapshot for a long index list", () => {
    for (const [handlerId, { id }] of functions) {
      const s3 = actions(statementsOf(template, id)).filter((action) => action.startsWith('s3:'));
      if (handlerId === 'search-start-restore') {
        // It writes nothing but its restore lock, a lease it renews (backup-set/restore-lock.ts).
        const writes = statementsOf(template, id).filter((statement) =>
          actions([statement]).some((action) => action.startsWith('s3:') && !/^s3:(Get|List)/.test(action)),
        );
        expect(writes.length).toBeGreaterThan(0);
        for (const statement of writes) {
          expect(JSON.stringify(statement.Resource)).toContain('/locks/restores/*');
          expect(JSON.stringify(statement.Resource)).not.toMatch(/\/(backups|objects|work|dumps)\//);
        }
        expect(s3).toContain('s3:GetObject');
      } else if (handlerId === 'search-check-snapshot') {
        // Where it may write is checked in test/cdk/grants.test.ts (backups/*/search/* only).
        expect(s3).toContain('s3:PutObject');
      } else if (handlerId === 'search-check-recovery') {
        // A long list of restored indexes beside the report (review-restore-payload-grant.test.ts).
        expect(s3).toContain('s3:PutObject');
      } else {
        expect(s3, handlerId).toEqual([]);
      }
    }
  });

  it("lets retention's set deletion read the repository and delete the snapshot, nothing more", () => {
    const [deleteSetId] = Object.entries(
      template.findResources('AWS::Lambda::Function') as Record<string, Resource>,
    ).find(([, fn]) => fn.Metadata?.[HANDLER_METADATA_KEY] === 'delete-set') ?? [undefined];
    expect(deleteSetId).toBeDefined();
    const http = statementsOf(template, deleteSetId ?? '').filter((statement) =>
      actions([statement]).some((action) => action.startsWith('es:')),
    );
    expect(actions(http)).toEqual(['es:ESHttpDelete', 'es:ESHttpGet']);
    expect(http[0]?.Resource).toEqual([DOMAIN_ARN, `${DOMAIN_ARN}/*`]);
    const markSetId = Object.entries(
      template.findResources('AWS::Lambda::Function') as Record<string, Resource>,
    ).find(([, fn]) => fn.Metadata?.[HANDLER_METADATA_KEY] === 'mark-set')?.[0];
    expect(
      actions(statementsOf(template, markSetId ?? '')).filter((action) => action.startsWith('es:')),
    ).toEqual([]);
  });

  it('puts a Wait + check loop with the configured interval in both workflows, and retries a busy repository', () => {
    const machines = template.findResources('AWS::StepFunctions::StateMachine');
    const definitions = Object.values(machines).map((machine) =>
      JSON.stringify(machine.Properties?.DefinitionString),
    );
    const all = definitions.join('\n');
    for (const state of [
      'Search prepare repository',
      'Search start snapshot',
      'Search wait for snapshot',
      'Search check snapshot',
      'Search snapshot finished?',
      'Search start restore',
      'Search wait for recovery',
      'Search check recovery',
      'Search recovery finished?',
    ]) {
      expect(all).toContain(state);
    }
    expect(all).toContain('\\"Seconds\\":45');
    expect(all).toMatch(
      /\\"ErrorEquals\\":\[\\"SearchSnapshotBusyError\\"\],\\"IntervalSeconds\\":60,\\"MaxAttempts\\":6/,
    );
  });

  it('cdk-nag AwsSolutions: every wildcard of the construct is acknowledged with its reason', () => {
    // What remains comes from the common function construct (managed execution-role policies, runtime version).
    expect(
      nagFindings(
        app,
        (rule, constructPath) => constructPath.includes('/Search/') || rule.includes(DOMAIN_ARN),
      ),
    ).toEqual([]);
  });
});

describe('search construct, Elasticsearch', () => {
  const { app, template } = build(ELASTICSEARCH, null);
  const functions = searchFunctions(template);

  it('reads the credentials parameter (and its key) and nothing of OpenSearch', () => {
    for (const [handlerId, { id, fn }] of functions) {
      const statements = statementsOf(template, id);
      const ssm = statements.find((statement) => actions([statement]).includes('ssm:GetParameter'));
      expect(JSON.stringify(ssm?.Resource), handlerId).toContain(':parameter/liferay/search/credentials');
      const kms = statements.find(
        (statement) =>
          actions([statement]).includes('kms:Decrypt') &&
          statement.Resource === ELASTICSEARCH.credentialsKmsKeyArn,
      );
      expect(kms, handlerId).toBeDefined();
      expect(
        actions(statements).filter((action) => action.startsWith('es:') || action === 'iam:PassRole'),
      ).toEqual([]);
      expect(fn.Properties.VpcConfig).toBeUndefined();
    }
    expect(
      Object.keys(
        template.findResources('AWS::IAM::Role', {
          Properties: {
            AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: 'es.amazonaws.com' } }] },
          },
        }),
      ),
    ).toEqual([]);
    const settings = String(variablesOf(functions.get('search-start-snapshot')?.fn).LIFERAY_BACKUP_SETTINGS);
    expect(JSON.parse(settings).components.search).toMatchObject({
      engine: 'elasticsearch',
      credentials: { type: 'ssm', parameterName: '/liferay/search/credentials' },
      repository: { name: 'found-snapshots' },
    });
  });

  it('with restoreCredentialsParameter, the restore tasks read only that one, the other functions never', () => {
    const restoreParameter = '/liferay/search/restore-credentials';
    const split = build({ ...ELASTICSEARCH, restoreCredentialsParameter: restoreParameter }, null).template;
    const parametersRead = (handlerId: string) => {
      const entry = searchFunctions(split).get(handlerId);
      if (!entry) throw new Error(`no function ${handlerId}`);
      return statementsOf(split, entry.id)
        .filter((statement) => actions([statement]).includes('ssm:GetParameter'))
        .map((statement) => JSON.stringify(statement.Resource));
    };
    for (const handlerId of ['search-start-restore', 'search-check-recovery']) {
      const read = parametersRead(handlerId);
      expect(read, handlerId).toHaveLength(1);
      expect(read[0], handlerId).toContain(`:parameter${restoreParameter}`);
    }
    for (const handlerId of ['search-prepare-repository', 'search-start-snapshot', 'search-check-snapshot']) {
      const read = parametersRead(handlerId);
      expect(read.join(), handlerId).toContain(':parameter/liferay/search/credentials');
      expect(read.join(), handlerId).not.toContain('restore-credentials');
    }
    const entry = searchFunctions(split).get('search-start-restore');
    const settings = JSON.parse(String(variablesOf(entry?.fn).LIFERAY_BACKUP_SETTINGS)).components.search;
    expect(settings.restoreCredentials).toEqual({ type: 'ssm', parameterName: restoreParameter });
    expect(() =>
      build({ ...ELASTICSEARCH, credentialsParameter: undefined, restoreCredentialsParameter: '/x' }, null),
    ).toThrow(/components\.search\.restoreCredentialsParameter: only with credentialsParameter/);
  });

  it('cdk-nag AwsSolutions: nothing of its own to acknowledge', () => {
    expect(
      nagFindings(
        app,
        (rule, constructPath) => constructPath.includes('/Search/') || rule.includes(DOMAIN_ARN),
      ),
    ).toEqual([]);
  });
});

describe('search configuration', () => {
  it.each([
    [
      { ...OPENSEARCH, domainArn: undefined },
      /components\.search\.domainArn: required with engine "opensearch"/,
    ],
    [
      { ...ELASTICSEARCH, domainArn: DOMAIN_ARN },
      /components\.search\.domainArn: only for engine "opensearch"/,
    ],
    [
      { ...OPENSEARCH, credentialsParameter: '/x' },
      /components\.search\.credentialsParameter: Amazon OpenSearch Service requests are signed/,
    ],
    [
      { ...ELASTICSEARCH, endpoint: 'https://elastic:secret@es.example.com' },
      /components\.search\.endpoint: no credentials in the URL/,
    ],
    [
      { ...ELASTICSEARCH, endpoint: 'http://10.0.1.5:9200' },
      /components\.search\.endpoint: an https:\/\/ URL: the credentials from SSM travel in a header/,
    ],
    [
      { ...OPENSEARCH, domainArn: 'arn:aws:es:eu-west-1:111111111111:domain/Bad_Name' },
      /components\.search\.domainArn: an Amazon OpenSearch Service domain ARN/,
    ],
    [{ ...OPENSEARCH, waitSeconds: 1 }, /components\.search\.waitSeconds/],
    [{ ...ELASTICSEARCH, indices: ['Liferay-*'] }, /components\.search\.indices\.0: a lower-case index name/],
    [{ ...ELASTICSEARCH, surprise: true }, /components\.search: Unrecognized key: "surprise"/],
  ])('refuses %j at synth', (search, message) => {
    expect(() => build(search)).toThrow(message);
  });

  it('accepts the examples in cdk.json and the local workflow configuration', () => {
    const root = path.resolve(import.meta.dirname, '../../..');
    const example = (
      JSON.parse(readFileSync(path.join(root, 'cdk.json'), 'utf8')) as {
        context: { liferayBackup: { components: { search: unknown } } };
      }
    ).context.liferayBackup.components.search;
    const local = (
      JSON.parse(readFileSync(path.join(root, 'functions/local/workflows/config.json'), 'utf8')) as {
        components: { search: unknown };
      }
    ).components.search;
    expect(() => build(example)).not.toThrow();
    expect(() => build(local, null)).not.toThrow();
  });
});
