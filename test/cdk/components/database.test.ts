import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../cdk/config.ts';
import { InlineFunctionFactory } from '../../../cdk/lambda-function.ts';
import { LiferayBackupStack } from '../../../cdk/liferay-backup-stack.ts';
import { nagFindings } from '../../support/nag.ts';

const NETWORK = {
  vpcId: 'vpc-0a1b2c3d4e5f60718',
  availabilityZones: ['eu-west-1a'],
  subnetIds: ['subnet-0a1b2c3d4e5f60718'],
  securityGroupId: 'sg-0a1b2c3d4e5f60718',
};
const DR_KEY = 'arn:aws:kms:eu-central-1:111111111111:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9';

function synth(database: Record<string, unknown>) {
  const app = new App({ outdir: mkdtempSync(path.join(tmpdir(), 'db-cdk-')) });
  const stack = new LiferayBackupStack(app, 'LiferayBackup', {
    config: parseConfig({
      environment: 'liferay-prod',
      region: 'eu-west-1',
      account: '111111111111',
      network: NETWORK,
      components: { database: { enabled: true, ...database } },
    }),
    env: { account: '111111111111', region: 'eu-west-1' },
    functionFactory: (options) => new InlineFunctionFactory(options),
  });
  return { app, stack, template: Template.fromStack(stack) };
}

/** A policy value as text: the partition as `aws`, other tokens as `<Ref>` / `<Id.Attr>`. */
function flat(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(flat);
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  if (record.Ref === 'AWS::Partition') return 'aws';
  if (record.Ref !== undefined) return `<${String(record.Ref)}>`;
  const getAtt = record['Fn::GetAtt'] as [string, string] | undefined;
  if (getAtt) return `<${getAtt[0]}.${getAtt[1]}>`;
  const join = record['Fn::Join'] as [string, unknown[]] | undefined;
  if (join) return join[1].map((part) => String(flat(part))).join(join[0]);
  return Object.fromEntries(Object.entries(record).map(([key, item]) => [key, flat(item)]));
}

type Statement = {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Sid?: string;
  Condition?: unknown;
};

/** Every statement of the policies attached to the role of the function with this handler id. */
function statementsOf(template: Template, handlerId: string): Statement[] {
  const functions = template.findResources('AWS::Lambda::Function', {
    Metadata: { 'LiferayBackup:Handler': handlerId },
  });
  const fn = Object.values(functions)[0] as { Properties: { Role: { 'Fn::GetAtt': [string, string] } } };
  const role = fn.Properties.Role['Fn::GetAtt'][0];
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } });
  return Object.values(policies).flatMap((policy) =>
    (
      policy as { Properties: { PolicyDocument: { Statement: Statement[] } } }
    ).Properties.PolicyDocument.Statement.map((statement) => flat(statement) as Statement),
  );
}

function actions(statements: Statement[]): string[] {
  return statements
    .filter((s) => s.Effect === 'Allow')
    .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
}

function bySid(statements: Statement[], sid: string): Statement {
  const found = statements.find((s) => s.Sid === sid);
  if (!found) throw new Error(`no statement ${sid}: ${statements.map((s) => s.Sid).join(', ')}`);
  return found;
}

const HANDLERS = [
  'database-start-backup',
  'database-check-backup',
  'database-start-restore',
  'database-check-restore',
];

describe('database construct: RDS instance', () => {
  const { app, template } = synth({
    mode: 'rds-instance',
    identifier: 'liferay-db',
    drRegion: 'eu-central-1',
    drKmsKeyArn: DR_KEY,
    shareWithAccount: '222222222222',
  });
  const snapshots = (region: string) =>
    `arn:aws:rds:${region}:111111111111:snapshot:liferay-backup-liferay-prod-b*`;
  const source = 'arn:aws:rds:eu-west-1:111111111111:db:liferay-db';

  it('grants no * action of its own, and nothing that deletes or modifies a database', () => {
    for (const handler of HANDLERS) {
      const granted = actions(statementsOf(template, handler));
      // s3:GetObject* and friends come from the store's grant helpers (prefix-scoped), not from this construct.
      expect(
        granted.filter((action) => action.includes('*') && !/^(s3|kms):/.test(action)),
        handler,
      ).toEqual([]);
      expect(
        granted.filter((action) => /^(rds|kms):.*\*/.test(action)),
        handler,
      ).toEqual([]);
      expect(
        granted.filter((action) =>
          /^rds:(Delete|Modify(?!DB(Cluster)?SnapshotAttribute)|Stop|Reboot|Failover)/.test(action),
        ),
        handler,
      ).toEqual([]);
    }
  });

  it('backup side: snapshot the configured instance only, under the backup-id prefix, copy and share only ours', () => {
    const start = statementsOf(template, 'database-start-backup');
    expect(bySid(start, 'CreateSnapshot')).toMatchObject({
      Action: 'rds:CreateDBSnapshot',
      Resource: [source, snapshots('eu-west-1')],
    });
    expect(bySid(start, 'DescribeSource')).toMatchObject({
      Action: 'rds:DescribeDBInstances',
      Resource: source,
    });
    expect(bySid(start, 'TagSnapshot')).toMatchObject({
      Action: 'rds:AddTagsToResource',
      Resource: snapshots('eu-west-1'),
    });
    const check = statementsOf(template, 'database-check-backup');
    expect(bySid(check, 'CopyToDrRegion')).toMatchObject({
      Action: 'rds:CopyDBSnapshot',
      Resource: [snapshots('eu-west-1'), snapshots('eu-central-1')],
    });
    expect(bySid(check, 'ShareSnapshots')).toMatchObject({
      Action: 'rds:ModifyDBSnapshotAttribute',
      Resource: [snapshots('eu-west-1'), snapshots('eu-central-1')],
    });
    expect(bySid(check, 'EncryptCopy')).toMatchObject({ Resource: DR_KEY });
    expect(bySid(check, 'InspectSnapshotKeys')).toMatchObject({ Action: 'kms:DescribeKey' });
  });

  it('restore side: restore from our snapshots into new instances; the source is explicitly denied to every role', () => {
    const start = statementsOf(template, 'database-start-restore');
    const restore = bySid(start, 'RestoreFromOwnSnapshot');
    expect(restore.Action).toBe('rds:RestoreDBInstanceFromDBSnapshot');
    expect(restore.Resource).toEqual(
      expect.arrayContaining([
        snapshots('eu-west-1'),
        snapshots('eu-central-1'),
        'arn:aws:rds:eu-west-1:111111111111:db:*',
      ]),
    );
    for (const handler of HANDLERS) {
      expect(bySid(statementsOf(template, handler), 'NeverChangeTheSource'), handler).toMatchObject({
        Effect: 'Deny',
        Resource: source,
        Action: expect.arrayContaining([
          'rds:DeleteDBInstance',
          'rds:ModifyDBInstance',
          'rds:StopDBInstance',
          'rds:RemoveTagsFromResource',
        ]),
      });
    }
    // The restore roles may tag any instance (the new one is named by the request), never the source.
    for (const handler of ['database-start-restore', 'database-check-restore']) {
      const statements = statementsOf(template, handler);
      expect(bySid(statements, 'NeverChangeTheSource').Action, handler).toContain('rds:AddTagsToResource');
    }
    expect(bySid(statementsOf(template, 'database-start-restore'), 'TagRestored').Resource).toEqual([
      'arn:aws:rds:eu-west-1:111111111111:db:*',
      'arn:aws:rds:eu-central-1:111111111111:db:*',
    ]);
  });

  it('waits with Wait states whose seconds come from the handler, and retries an unavailable source in the configured window', () => {
    const machines = template.findResources('AWS::StepFunctions::StateMachine');
    const definitions = JSON.stringify(
      Object.values(machines).map((machine) => (machine as { Properties: unknown }).Properties),
    );
    expect(definitions).toContain('\\"SecondsPath\\":\\"$.database.waitSeconds\\"');
    expect(definitions).toContain(
      '\\"ErrorEquals\\":[\\"DatabaseNotAvailableError\\"],\\"IntervalSeconds\\":300,\\"MaxAttempts\\":6,\\"BackoffRate\\":1',
    );
  });

  it('keeps functions that only call RDS out of the VPC and passes its settings without secrets', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          LIFERAY_BACKUP_SETTINGS: Match.stringLikeRegexp('"mode":"rds-instance","identifier":"liferay-db"'),
        },
      },
    });
  });

  it("retention's DeleteSet may describe and delete this environment's snapshots in both regions, nothing else in RDS", () => {
    const deleteSet = statementsOf(template, 'delete-set');
    expect(bySid(deleteSet, 'DatabaseDeleteSetSnapshots')).toMatchObject({
      Effect: 'Allow',
      Action: 'rds:DeleteDBSnapshot',
      Resource: [snapshots('eu-west-1'), snapshots('eu-central-1')],
    });
    expect(bySid(deleteSet, 'DatabaseDescribeSetSnapshots')).toMatchObject({
      Action: 'rds:DescribeDBSnapshots',
      Resource: [snapshots('eu-west-1'), snapshots('eu-central-1')],
    });
    // No unsharing needed (the owner deletes a shared snapshot), and the source is denied outright.
    expect(
      actions(deleteSet)
        .filter((action) => action.startsWith('rds:'))
        .sort(),
    ).toEqual(['rds:DeleteDBSnapshot', 'rds:DescribeDBSnapshots']);
    expect(bySid(deleteSet, 'DatabaseNeverChangeTheSource')).toMatchObject({
      Effect: 'Deny',
      Resource: source,
      Action: expect.arrayContaining(['rds:DeleteDBInstance', 'rds:ModifyDBInstance']),
    });
    const rdsResources = deleteSet
      .filter((s) => s.Effect === 'Allow' && JSON.stringify(s.Action).includes('rds:'))
      .flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]));
    expect(rdsResources.every((arn) => String(arn).includes(':snapshot:liferay-backup-liferay-prod-b'))).toBe(
      true,
    );
  });

  it('the restore drill only describes: the snapshots, their sharing, their keys', () => {
    const drill = statementsOf(template, 'verify-component');
    expect(bySid(drill, 'DescribeSetSnapshots')).toMatchObject({
      Action: ['rds:DescribeDBSnapshots', 'rds:DescribeDBSnapshotAttributes'],
      Resource: [snapshots('eu-west-1'), snapshots('eu-central-1')],
    });
    expect(bySid(drill, 'InspectSnapshotKeys')).toMatchObject({
      Action: 'kms:DescribeKey',
      Resource: ['arn:aws:kms:eu-west-1:111111111111:key/*', DR_KEY],
    });
    expect(
      actions(drill).filter(
        (action) => /^(rds|kms):/.test(action) && !/^rds:Describe|^kms:(DescribeKey|Decrypt)$/.test(action),
      ),
    ).toEqual([]);
    expect(bySid(drill, 'NeverChangeTheSource')).toMatchObject({ Effect: 'Deny', Resource: source });
  });

  it('cdk-nag AwsSolutions: every wildcard of the construct is acknowledged with its reason', () => {
    // Only the common function construct's findings remain (managed basic-execution policy, runtime version).
    expect(nagFindings(app, (_rule, constructPath) => constructPath.includes('/Database/'))).toEqual([]);
  });
});

describe('database construct: Aurora and dump modes', () => {
  it('Aurora: cluster snapshot actions on the cluster and cluster-snapshot ARNs', () => {
    const { template } = synth({ mode: 'aurora-cluster', identifier: 'liferay-aurora' });
    const start = statementsOf(template, 'database-start-backup');
    expect(bySid(start, 'CreateSnapshot')).toMatchObject({
      Action: 'rds:CreateDBClusterSnapshot',
      Resource: [
        'arn:aws:rds:eu-west-1:111111111111:cluster:liferay-aurora',
        'arn:aws:rds:eu-west-1:111111111111:cluster-snapshot:liferay-backup-liferay-prod-b*',
      ],
    });
    const checkRestore = statementsOf(template, 'database-check-restore');
    expect(bySid(checkRestore, 'CreateWriter').Action).toBe('rds:CreateDBInstance');
    // CreateWriter covers any cluster (the new one is named by the request): never an instance
    // joining the source cluster, nor its tags.
    expect(bySid(checkRestore, 'NeverChangeTheSource')).toMatchObject({
      Effect: 'Deny',
      Resource: 'arn:aws:rds:eu-west-1:111111111111:cluster:liferay-aurora',
      Action: expect.arrayContaining([
        'rds:CreateDBInstance',
        'rds:AddTagsToResource',
        'rds:DeleteDBCluster',
        'rds:ModifyDBCluster',
      ]),
    });
  });

  it('Aurora: retention deletes cluster snapshots, the drill describes them', () => {
    const { template } = synth({ mode: 'aurora-cluster', identifier: 'liferay-aurora' });
    const clusterSnapshots =
      'arn:aws:rds:eu-west-1:111111111111:cluster-snapshot:liferay-backup-liferay-prod-b*';
    expect(bySid(statementsOf(template, 'delete-set'), 'DatabaseDeleteSetSnapshots')).toMatchObject({
      Action: 'rds:DeleteDBClusterSnapshot',
      Resource: clusterSnapshots,
    });
    expect(bySid(statementsOf(template, 'verify-component'), 'DescribeSetSnapshots')).toMatchObject({
      Action: ['rds:DescribeDBClusterSnapshots', 'rds:DescribeDBClusterSnapshotAttributes'],
      Resource: clusterSnapshots,
    });
  });

  it('dump: retention and the drill get no RDS or KMS permission of the component (the store grants cover dumps/)', () => {
    const { template } = synth({
      mode: 'dump',
      urlParameterName: '/liferay/database-url',
      toolsLayerArn: 'arn:aws:lambda:eu-west-1:111111111111:layer:db-clients:3',
    });
    for (const handler of ['delete-set', 'verify-component']) {
      expect(
        actions(statementsOf(template, handler)).filter((action) => action.startsWith('rds:')),
        handler,
      ).toEqual([]);
    }
  });

  it('dump: in the VPC with the tools layer, reads only its SSM parameter and its store prefixes', () => {
    const { template } = synth({
      mode: 'dump',
      urlParameterName: '/liferay/database-url',
      toolsLayerArn: 'arn:aws:lambda:eu-west-1:111111111111:layer:db-clients:3',
    });
    const start = statementsOf(template, 'database-start-backup');
    expect(bySid(start, 'ReadDatabaseUrl')).toMatchObject({
      Action: 'ssm:GetParameter',
      Resource: 'arn:aws:ssm:eu-west-1:111111111111:parameter/liferay/database-url',
    });
    expect(actions(start).filter((action) => action.startsWith('rds:'))).toEqual([]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 900,
      Layers: ['arn:aws:lambda:eu-west-1:111111111111:layer:db-clients:3'],
      VpcConfig: { SubnetIds: ['subnet-0a1b2c3d4e5f60718'] },
    });
  });

  it('refuses at synth what cannot work', () => {
    expect(() => synth({ mode: 'rds-instance' })).toThrow(/needs the identifier/);
    expect(() => synth({ mode: 'rds-instance', identifier: 'db', drRegion: 'eu-central-1' })).toThrow(
      /drRegion and drKmsKeyArn go together/,
    );
    expect(() =>
      synth({ mode: 'rds-instance', identifier: 'db', drRegion: 'us-east-1', drKmsKeyArn: DR_KEY }),
    ).toThrow(/must be in drRegion/);
    expect(() =>
      synth({
        mode: 'rds-instance',
        identifier: 'db',
        drRegion: 'eu-central-1',
        drKmsKeyArn: 'arn:aws:kms:eu-central-1:111111111111:alias/aws/rds',
      }),
    ).toThrow(/not an alias/);
    expect(() => synth({ mode: 'dump', urlParameterName: '/x' })).toThrow(/toolsLayerArn/);
  });
});
