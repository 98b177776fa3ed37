import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  asList,
  CDK_JSON,
  FULL_CONFIG,
  roleOf,
  type Statement,
  statementsByRole,
  synthesize,
} from './support.ts';

/** Actions AWS offers no resource-level permission for; only these may be granted on "*". */
const NO_RESOURCE_LEVEL = new Set([
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
  'ssm:ListCommands',
  'ssm:CancelCommand',
  'rds:DescribeDBEngineVersions',
  'rds:DescribeOrderableDBInstanceOptions',
  'kms:ListAliases',
]);

/** Functions by logical id: what runs a restore, and what takes a backup. */
const RESTORE_SIDE = /Restore|Recovery/;
const BACKUP_SIDE =
  /BeginBackup|CommitBackup|PlanBackup|CopyShard|FinalizeBackup|StartBackup|CheckBackup(?!Age)|PrepareRepository|StartSnapshot|CheckSnapshot|MirrorRepository|FinishBackup/;

function actionsOf(statements: Statement[] | undefined): string[] {
  return (statements ?? []).filter((s) => s.Effect === 'Allow').flatMap((s) => asList(s.Action));
}

describe.each([
  ['every component on', FULL_CONFIG],
  ['the cdk.json example (hooks, schedules)', CDK_JSON.context.liferayBackup],
])('least privilege, proven on the synthesized template: %s', (_name, config) => {
  let template: Template;
  beforeAll(() => {
    template = synthesize(config);
  });

  it('grants no wildcard action anywhere', () => {
    for (const [role, statements] of statementsByRole(template)) {
      for (const action of actionsOf(statements)) expect(action, `${role}: ${action}`).not.toContain('*');
    }
  });

  it('grants on "*" only actions without resource-level permissions, or under a condition that scopes them', () => {
    const violations: string[] = [];
    for (const [role, statements] of statementsByRole(template)) {
      for (const statement of statements.filter(
        (s) => s.Effect === 'Allow' && asList(s.Resource).includes('*'),
      )) {
        // e.g. EFS ClientMount is limited to the access point by elasticfilesystem:AccessPointArn.
        if (statement.Condition) continue;
        for (const action of asList(statement.Action)) {
          if (!NO_RESOURCE_LEVEL.has(action)) violations.push(`${role}: ${action} on *`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('lets no function delete backups except Commit (its lock and scratch area) and retention', () => {
    for (const [role, statements] of statementsByRole(template)) {
      const deletes = (statements ?? []).filter(
        (s) => s.Effect === 'Allow' && asList(s.Action).includes('s3:DeleteObject'),
      );
      for (const statement of deletes) {
        const text = JSON.stringify(statement.Resource);
        // The search service manages its own snapshot repository under search/ (it deletes the
        // files of a snapshot it deletes); nothing else outside scratch areas and retention.
        const allowed =
          /locks\/\*|locks\/restores\/\*|work\/\*/.test(text) ||
          role.includes('Retention') ||
          (role.startsWith('SearchSnapshotRole') && /\/search\/\*"/.test(text));
        expect(allowed, `${role} may delete ${text}`).toBe(true);
      }
    }
  });

  it.each([
    ['Plan retention', 'RetentionPlanRetention'],
    ['Begin', 'BackupSetBeginBackup'],
  ])('lets %s delete the lock alone (it gives the lock back when it fails after taking it)', (_name, fn) => {
    const statements = statementsByRole(template).get(roleOf(template, fn)) ?? [];
    const deletes = statements.filter(
      (s) => s.Effect === 'Allow' && asList(s.Action).includes('s3:DeleteObject'),
    );
    expect(deletes.map((s) => JSON.stringify(s.Resource))).toEqual([
      expect.stringMatching(/\/locks\/\*"\]\]\}$/),
    ]);
  });

  it('lets the sweep alone delete versions, of content only, and read the Object Lock of what it deletes', () => {
    const byRole = statementsByRole(template);
    const sweepRole = roleOf(template, 'RetentionSweepPrefix');
    const versionDeletes = [...byRole].flatMap(([role, statements]) =>
      statements
        .filter((s) => s.Effect === 'Allow' && asList(s.Action).includes('s3:DeleteObjectVersion'))
        .map((s) => ({ role, resource: JSON.stringify(s.Resource), actions: asList(s.Action).sort() })),
    );
    expect(versionDeletes).toEqual([
      {
        role: sweepRole,
        resource: expect.stringMatching(/\/objects\/\*"\]\]\}$/),
        actions: [
          's3:DeleteObject',
          's3:DeleteObjectVersion',
          // HEAD is authorised as s3:GetObject: without it the sweep's look at each object is a 403.
          's3:GetObject',
          's3:GetObjectLegalHold',
          's3:GetObjectRetention',
        ],
      },
    ]);
  });

  it('keeps the restore side from deleting and the backup side from restoring', () => {
    const byRole = statementsByRole(template);
    const functions = Object.keys(template.findResources('AWS::Lambda::Function'));
    const restoreSide = functions.filter((id) => RESTORE_SIDE.test(id));
    const backupSide = functions.filter((id) => BACKUP_SIDE.test(id) && !RESTORE_SIDE.test(id));
    // Every enabled component has functions on both sides (a renamed function cannot slip out).
    expect(restoreSide.length).toBeGreaterThanOrEqual(6);
    expect(backupSide.length).toBeGreaterThanOrEqual(6);
    for (const fn of restoreSide) {
      const statements = byRole.get(roleOf(template, fn)) ?? [];
      // The search domain's DELETE is the open exception (see the OpenSearch test below); the
      // restore's target locks (locks/restores/*, Validate and Report) hold nothing of a backup.
      const deletes = statements.filter(
        (s) =>
          s.Effect === 'Allow' && asList(s.Action).some((a) => /Delete/.test(a) && a !== 'es:ESHttpDelete'),
      );
      for (const statement of deletes) {
        expect(
          asList(statement.Action).filter((a) => /Delete/.test(a)),
          `${fn} may delete`,
        ).toEqual(['s3:DeleteObject']);
        for (const resource of asList(statement.Resource))
          expect(JSON.stringify(resource), `${fn} may delete`).toMatch(/\/locks\/restores\/\*"/);
      }
      const writes = statements
        .filter((s) => s.Effect === 'Allow' && asList(s.Action).some((a) => /^s3:Put/.test(a)))
        .flatMap((s) => asList(s.Resource).map((r) => JSON.stringify(r)));
      for (const resource of writes)
        expect(resource, `${fn} may overwrite backups`).toMatch(
          /\/backups\/\*\/restores\/\*"|\/work\/\*"|\/locks\/restores\/\*"/,
        );
    }
    for (const fn of backupSide) {
      const actions = actionsOf(byRole.get(roleOf(template, fn)));
      expect(
        actions.filter((a) =>
          /Restore|CreateDBInstance|CreateDBCluster$|elasticfilesystem:ClientWrite/.test(a),
        ),
        `${fn} may restore`,
      ).toEqual([]);
    }
    for (const [role, statements] of byRole) {
      const actions = actionsOf(statements);
      const restores = actions.filter((a) => a.startsWith('rds:Restore'));
      const snapshots = actions.filter(
        (a) => a === 'rds:CreateDBSnapshot' || a === 'rds:CreateDBClusterSnapshot',
      );
      expect(restores.length > 0 && snapshots.length > 0, `${role} may both snapshot and restore`).toBe(
        false,
      );
    }
  });

  it('gives every function its own role', () => {
    const roles = Object.values(template.findResources('AWS::Lambda::Function')).map((fn) =>
      JSON.stringify((fn as { Properties: { Role: unknown } }).Properties.Role),
    );
    expect(new Set(roles).size).toBe(roles.length);
  });
});

describe('search on Amazon OpenSearch Service (the cdk.json example)', () => {
  // es:ESHttp<Method> is granted on the whole domain (cdk/components/search.ts); an explicit Deny
  // of es:ESHttpPost on `<domain>/_snapshot/*/_restore` for the backup side and of es:ESHttpDelete
  // on `<domain>/_snapshot/*` for the restore side keeps each side from the other's operation.
  it('the backup side cannot restore a snapshot and the restore side cannot delete one', () => {
    const template = synthesize(CDK_JSON.context.liferayBackup);
    const byRole = statementsByRole(template);
    const functions = Object.keys(template.findResources('AWS::Lambda::Function'));
    const denied = (fn: string, action: string, path: RegExp) =>
      (byRole.get(roleOf(template, fn)) ?? []).some(
        (s) =>
          s.Effect === 'Deny' &&
          asList(s.Action).includes(action) &&
          asList(s.Resource).some((r) => path.test(JSON.stringify(r))),
      );
    const allowed = (fn: string, action: string) =>
      actionsOf(byRole.get(roleOf(template, fn))).includes(action);
    const problems: string[] = [];
    for (const fn of functions.filter((id) => BACKUP_SIDE.test(id) && id.startsWith('Search'))) {
      if (allowed(fn, 'es:ESHttpPost') && !denied(fn, 'es:ESHttpPost', /_snapshot\/\*\/_restore/))
        problems.push(`${fn} may POST _restore`);
    }
    for (const fn of functions.filter((id) => RESTORE_SIDE.test(id) && id.startsWith('Search'))) {
      if (allowed(fn, 'es:ESHttpDelete') && !denied(fn, 'es:ESHttpDelete', /_snapshot\/\*/))
        problems.push(`${fn} may DELETE a snapshot`);
    }
    expect(problems).toEqual([]);
  });
});
