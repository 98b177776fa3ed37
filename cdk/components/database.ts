import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import * as z from 'zod';
import { snapshotPrefix } from '#components/database/naming.ts';
import { accountIdSchema, rdsIdentifierSchema, regionSchema } from '#components/database/schemas.ts';
import { kmsKeyArnSchema } from '../arns.ts';
import type { LiferayBackupConfig } from '../config.ts';
import { acknowledgeWildcards, type NagReasons } from '../nag.ts';
import { invokeTask } from '../workflow-tasks.ts';
import type { ComponentContext, ComponentDefinition, WorkflowComponent } from './component.ts';

/**
 * The database component's stack part: its four Lambdas (start/check × backup/restore), their
 * least-privilege permissions, and its workflow states (a prepare step that starts the snapshot
 * or takes the dump before any file is copied, and Wait + describe loops).
 */

const kmsKeyArn = kmsKeyArnSchema;

export const databaseConfigSchema = z
  .strictObject({
    enabled: z.boolean(),
    /** rds-instance: an RDS DB instance; aurora-cluster: an Aurora DB cluster; dump: a self-managed database reached by URL. */
    mode: z.enum(['rds-instance', 'aurora-cluster', 'dump']),
    /** The DB instance or cluster identifier (rds-instance, aurora-cluster). */
    identifier: rdsIdentifierSchema.optional(),
    /** Copy every snapshot to this region... */
    drRegion: regionSchema.optional(),
    /** ...encrypted with this customer managed key of that region. */
    drKmsKeyArn: kmsKeyArn.optional(),
    /** Share every snapshot (and its DR copy) with this account (restore permission). */
    shareWithAccount: accountIdSchema.optional(),
    /** Seconds between two status checks. @default 60 */
    waitIntervalSeconds: z.number().int().min(1).max(3600).default(60),
    /** Status checks before giving up (with the interval, bounds the wait). @default 240 (4 hours at 60 s) */
    maxWaitAttempts: z.number().int().min(1).max(100_000).default(240),
    /** When the source is not available (backing up, modifying, stopped): retry the start this often. @default 300 s × 6 */
    notAvailableRetry: z
      .strictObject({
        intervalSeconds: z.number().int().min(1).max(3600).default(300),
        maxAttempts: z.number().int().min(0).max(100).default(6),
      })
      .default({ intervalSeconds: 300, maxAttempts: 6 }),
    /** dump: SSM SecureString parameter holding the database URL with its password. */
    urlParameterName: z
      .string()
      .regex(/^\/?[A-Za-z0-9_.\-/]{1,1011}$/, 'an SSM parameter name like /liferay/database-url')
      .optional(),
    /** dump: customer managed key of that parameter. @default the AWS managed aws/ssm key */
    urlParameterKmsKeyArn: kmsKeyArn.optional(),
    /** dump: a Lambda layer (arm64) with mysqldump/mariadb-dump and mysql, or pg_dump, pg_restore and psql, in bin/. */
    toolsLayerArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$/,
        'a Lambda layer version ARN',
      )
      .optional(),
  })
  .superRefine((config, ctx) => {
    if (config.mode === 'dump') {
      if (!config.urlParameterName)
        ctx.addIssue({
          code: 'custom',
          path: ['urlParameterName'],
          message: 'dump mode needs the SSM parameter that holds the database URL',
        });
      if (!config.toolsLayerArn) {
        ctx.addIssue({
          code: 'custom',
          path: ['toolsLayerArn'],
          message:
            'dump mode on Lambda needs a layer with the dump and client programs (the Node.js runtime has none)',
        });
      }
      for (const key of ['identifier', 'drRegion', 'drKmsKeyArn', 'shareWithAccount'] as const) {
        if (config[key] !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: 'applies to rds-instance and aurora-cluster, not dump',
          });
      }
      return;
    }
    if (!config.identifier)
      ctx.addIssue({
        code: 'custom',
        path: ['identifier'],
        message: `${config.mode} needs the identifier of the DB ${config.mode === 'rds-instance' ? 'instance' : 'cluster'}`,
      });
    if ((config.drRegion === undefined) !== (config.drKmsKeyArn === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['drKmsKeyArn'],
        message: 'drRegion and drKmsKeyArn go together (a copy to another region needs a key of that region)',
      });
    }
    if (config.drRegion && config.drKmsKeyArn && config.drKmsKeyArn.split(':')[3] !== config.drRegion) {
      ctx.addIssue({
        code: 'custom',
        path: ['drKmsKeyArn'],
        message: `the key must be in drRegion ${config.drRegion}`,
      });
    }
    for (const key of ['urlParameterName', 'urlParameterKmsKeyArn', 'toolsLayerArn'] as const) {
      if (config[key] !== undefined)
        ctx.addIssue({ code: 'custom', path: [key], message: 'applies to dump mode only' });
    }
  });
export type DatabaseConfig = z.infer<typeof databaseConfigSchema>;

function databaseConfig(config: LiferayBackupConfig): DatabaseConfig {
  return databaseConfigSchema.parse(config.components.database);
}

/**
 * Validate's part of the database settings: all of them (no secret is in them), for its check that
 * this deployment's mode and engine can restore the set before any component restores.
 */
export function databaseValidateSettings(config: LiferayBackupConfig): unknown {
  return databaseSettings(config);
}

/** The Lambdas' settings: validated again at cold start by databaseSettingsSchema. No secret is ever in them. */
function databaseSettings(config: LiferayBackupConfig): unknown {
  const db = databaseConfig(config);
  const wait = { waitIntervalSeconds: db.waitIntervalSeconds, maxWaitAttempts: db.maxWaitAttempts };
  if (db.mode === 'dump')
    return { mode: 'dump', urlParameterName: db.urlParameterName, toolsDir: '/opt/bin', ...wait };
  return {
    mode: db.mode,
    identifier: db.identifier,
    ...(config.region ? { region: config.region } : {}),
    ...(db.drRegion ? { drRegion: db.drRegion, drKmsKeyArn: db.drKmsKeyArn } : {}),
    ...(db.shareWithAccount ? { shareWithAccount: db.shareWithAccount } : {}),
    ...wait,
  };
}

/** Every action that would change or remove the source database: denied outright to all four roles. */
const SOURCE_CHANGING_ACTIONS = [
  'rds:DeleteDBInstance',
  'rds:ModifyDBInstance',
  'rds:StopDBInstance',
  'rds:RebootDBInstance',
  'rds:PromoteReadReplica',
  'rds:DeleteDBCluster',
  'rds:ModifyDBCluster',
  'rds:StopDBCluster',
  'rds:RebootDBCluster',
  'rds:FailoverDBCluster',
  'rds:RemoveFromGlobalCluster',
  'rds:RemoveTagsFromResource',
  // Aurora: an instance created with the source's DBClusterIdentifier would join the source cluster.
  'rds:CreateDBInstance',
];

/**
 * The restore roles may tag any instance or cluster (the new one's name comes from the request):
 * not the source. The backup roles tag snapshots only, so they need no such deny.
 */
const RESTORE_SOURCE_DENIALS = ['rds:AddTagsToResource'];

function statement(
  sid: string,
  actions: string[],
  resources: string[],
  conditions?: Record<string, unknown>,
): iam.PolicyStatement {
  return new iam.PolicyStatement({ sid, actions, resources, ...(conditions ? { conditions } : {}) });
}

/** Every action that would change or remove the source, denied to a role that may touch RDS at all. */
function neverChangeTheSource(sid: string, sourceArn: string, extra: string[] = []): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    effect: iam.Effect.DENY,
    actions: [...SOURCE_CHANGING_ACTIONS, ...extra],
    resources: [sourceArn],
  });
}

/** Why each wildcard of the database's grants is as narrow as it can be (cdk-nag AwsSolutions-IAM5). */
const SNAPSHOT_REASON: readonly [RegExp, string] = [
  /^Resource::.*:rds:.*:(snapshot|cluster-snapshot):liferay-backup-/,
  "only this environment's snapshots (liferay-backup-<env>-b<backup id>): their names are made per backup set",
];
const DATABASE_REASONS: NagReasons = [
  SNAPSHOT_REASON,
  [
    /^Resource::.*:rds:.*:(db|cluster|subgrp|pg|og|cluster-pg):\*$/,
    'restored instances and clusters are named by the restore request (never the source, which is explicitly denied), and it may name its subnet, parameter and option groups; describing is read-only; no delete or modify action is granted',
  ],
  [
    /^Resource::.*:kms:.*:key\/\*$/,
    "the database's KMS key is not known at synth: limited to DescribeKey, or to grants made through RDS (kms:ViaService)",
  ],
];
const DRILL_KEY_REASON: readonly [RegExp, string] = [
  /^Resource::.*:kms:.*:key\/\*$/,
  "kms:DescribeKey only (read-only): the restore drill checks that the key of the database's snapshot is enabled; that key is the database's own, not known at synth",
];

class DatabaseComponent extends Construct implements WorkflowComponent {
  readonly name = 'database' as const;
  private readonly startBackupFn: lambda.Function;
  private readonly checkBackupFn: lambda.Function;
  private readonly startRestoreFn: lambda.Function;
  private readonly checkRestoreFn: lambda.Function;
  private readonly environment: string;

  constructor(
    scope: Construct,
    id: string,
    private readonly db: DatabaseConfig,
    context: ComponentContext,
  ) {
    super(scope, id);
    this.environment = context.config.environment;
    const dump = db.mode === 'dump';
    const network = context.network;
    if (dump && !network)
      throw new Error(
        'components.database: dump mode reaches the database from the VPC: configure "network"',
      );
    if (db.drRegion && context.config.region === db.drRegion) {
      throw new Error(
        `components.database.drRegion ${db.drRegion} is the deployment's own region: choose another region`,
      );
    }
    // Dumps run inside the VPC with 15 minutes (Lambda's maximum); snapshot calls take seconds.
    const heavy = dump
      ? {
          timeout: Duration.minutes(15),
          memorySize: 1769,
          vpc: network?.vpc,
          vpcSubnets: network?.subnets,
          securityGroups: network ? [network.securityGroup] : [],
        }
      : { timeout: Duration.minutes(1) };
    const create = (fnId: string, handlerId: string, description: string, props: object) =>
      context.createFunction(this, fnId, {
        handlerId,
        entry: `functions/components/database/handlers/${handlerId.replace(/^database-/, '')}.ts`,
        description,
        ...props,
      });
    this.startBackupFn = create(
      'StartBackup',
      'database-start-backup',
      `Database: ${dump ? 'dump into the store' : 'start the snapshot'}`,
      heavy,
    );
    this.checkBackupFn = create(
      'CheckBackup',
      'database-check-backup',
      'Database: check the snapshot, copy to the DR region, share',
      { timeout: Duration.minutes(1) },
    );
    this.startRestoreFn = create(
      'StartRestore',
      'database-start-restore',
      `Database: ${dump ? 'load the dump' : 'restore to a new instance or cluster'}`,
      heavy,
    );
    this.checkRestoreFn = create(
      'CheckRestore',
      'database-check-restore',
      'Database: wait for the restored instance or cluster',
      { timeout: Duration.minutes(1) },
    );
    if (dump && db.toolsLayerArn) {
      const layer = lambda.LayerVersion.fromLayerVersionArn(this, 'ToolsLayer', db.toolsLayerArn);
      this.startBackupFn.addLayers(layer);
      this.startRestoreFn.addLayers(layer);
    }
    if (dump) this.grantDump(context);
    else this.grantSnapshots(context);
    acknowledgeWildcards(this, DATABASE_REASONS);
  }

  private grantDump(context: ComponentContext): void {
    const stack = Stack.of(this);
    const parameterName = (this.db.urlParameterName ?? '').replace(/^\//, '');
    const parameterArn = stack.formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: parameterName,
    });
    for (const fn of [this.startBackupFn, this.startRestoreFn]) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadDatabaseUrl',
          actions: ['ssm:GetParameter'],
          resources: [parameterArn],
        }),
      );
      if (this.db.urlParameterKmsKeyArn) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            sid: 'DecryptDatabaseUrl',
            actions: ['kms:Decrypt'],
            resources: [this.db.urlParameterKmsKeyArn],
            conditions: { StringEquals: { 'kms:ViaService': `ssm.${stack.region}.amazonaws.com` } },
          }),
        );
      }
    }
    context.store.grantReadWrite(this.startBackupFn, 'dumps/*');
    // locks/restores/*: a redriven dump restore checks that its target lock still names it, and
    // renews it (the lock is a lease: functions/backup-set/restore-lock.ts).
    context.store.grantRead(this.startRestoreFn, 'dumps/*', 'backups/*');
    context.store.grantReadWrite(this.startRestoreFn, 'locks/restores/*');
  }

  /** The ARNs the snapshot grants are scoped to (rds-instance, aurora-cluster). */
  private rdsScope() {
    const stack = Stack.of(this);
    const cluster = this.db.mode === 'aurora-cluster';
    const regions = [stack.region, ...(this.db.drRegion ? [this.db.drRegion] : [])];
    const rdsArn = (resource: string, resourceName: string, region = stack.region) =>
      stack.formatArn({
        service: 'rds',
        resource,
        resourceName,
        region,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
    const snapshotType = cluster ? 'cluster-snapshot' : 'snapshot';
    const prefix = `${snapshotPrefix(this.environment)}b*`;
    return {
      stack,
      cluster,
      regions,
      rdsArn,
      /** This environment's snapshots (liferay-backup-<env>-b*) in the given regions, by default the source's and the DR region. */
      ourSnapshots: (regionList = regions) =>
        regionList.map((region) => rdsArn(snapshotType, prefix, region)),
      sourceArn: rdsArn(cluster ? 'cluster' : 'db', this.db.identifier ?? ''),
      kmsKeys: regions.map((region) =>
        stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*', region }),
      ),
    };
  }

  private grantSnapshots(context: ComponentContext): void {
    const { stack, cluster, regions, rdsArn, ourSnapshots, sourceArn, kmsKeys } = this.rdsScope();

    // Backup: describe and snapshot the configured source, only under this environment's snapshot prefix.
    const startBackup = this.startBackupFn;
    startBackup.addToRolePolicy(
      statement(
        'DescribeSource',
        [cluster ? 'rds:DescribeDBClusters' : 'rds:DescribeDBInstances'],
        [sourceArn],
      ),
    );
    startBackup.addToRolePolicy(
      statement(
        'CreateSnapshot',
        [cluster ? 'rds:CreateDBClusterSnapshot' : 'rds:CreateDBSnapshot'],
        [sourceArn, ...ourSnapshots([stack.region])],
      ),
    );
    startBackup.addToRolePolicy(
      statement('TagSnapshot', ['rds:AddTagsToResource'], ourSnapshots([stack.region])),
    );
    startBackup.addToRolePolicy(
      statement(
        'FindOwnSnapshot',
        [cluster ? 'rds:DescribeDBClusterSnapshots' : 'rds:DescribeDBSnapshots'],
        [sourceArn, ...ourSnapshots([stack.region])],
      ),
    );
    if (cluster) {
      // The cluster's member instances have names unknown at synth time; describing is read-only.
      startBackup.addToRolePolicy(
        statement('DescribeClusterMembers', ['rds:DescribeDBInstances'], [rdsArn('db', '*')]),
      );
    }
    context.store.grantRead(startBackup, 'backups/*');

    const checkBackup = this.checkBackupFn;
    checkBackup.addToRolePolicy(
      statement(
        'DescribeSnapshots',
        [cluster ? 'rds:DescribeDBClusterSnapshots' : 'rds:DescribeDBSnapshots'],
        ourSnapshots(),
      ),
    );
    if (this.db.drRegion && this.db.drKmsKeyArn) {
      checkBackup.addToRolePolicy(
        statement(
          'CopyToDrRegion',
          [cluster ? 'rds:CopyDBClusterSnapshot' : 'rds:CopyDBSnapshot'],
          ourSnapshots(),
        ),
      );
      checkBackup.addToRolePolicy(
        statement('TagCopy', ['rds:AddTagsToResource'], ourSnapshots([this.db.drRegion])),
      );
      // kms:GrantIsForAWSResource is in the request context of grant operations only: DescribeKey,
      // which RDS also needs on both keys, gets statements of its own.
      checkBackup.addToRolePolicy(
        statement('EncryptCopy', ['kms:CreateGrant'], [this.db.drKmsKeyArn], {
          Bool: { 'kms:GrantIsForAWSResource': 'true' },
        }),
      );
      checkBackup.addToRolePolicy(statement('DescribeDrKey', ['kms:DescribeKey'], [this.db.drKmsKeyArn]));
      // The copy reads the source snapshot through its key, which is the database's own (unknown at synth).
      const throughRds = { 'kms:ViaService': `rds.${stack.region}.amazonaws.com` };
      checkBackup.addToRolePolicy(
        statement('ReadSourceKeyThroughRds', ['kms:CreateGrant'], kmsKeys.slice(0, 1), {
          StringEquals: throughRds,
          Bool: { 'kms:GrantIsForAWSResource': 'true' },
        }),
      );
      checkBackup.addToRolePolicy(
        statement('DescribeSourceKeyThroughRds', ['kms:DescribeKey'], kmsKeys.slice(0, 1), {
          StringEquals: throughRds,
        }),
      );
    }
    if (this.db.shareWithAccount) {
      checkBackup.addToRolePolicy(
        statement(
          'ShareSnapshots',
          [cluster ? 'rds:ModifyDBClusterSnapshotAttribute' : 'rds:ModifyDBSnapshotAttribute'],
          ourSnapshots(),
        ),
      );
      // Tells an AWS managed key (aws/rds, not shareable) from a customer key before sharing.
      checkBackup.addToRolePolicy(statement('InspectSnapshotKeys', ['kms:DescribeKey'], kmsKeys));
    }

    // Restore: create new instances/clusters from our snapshots (their names come from the request); delete nothing.
    const anyInstance = regions.map((region) => rdsArn('db', '*', region));
    const anyCluster = regions.map((region) => rdsArn('cluster', '*', region));
    const groups = regions.flatMap((region) => [
      rdsArn('subgrp', '*', region),
      rdsArn('pg', '*', region),
      rdsArn('og', '*', region),
      ...(cluster ? [rdsArn('cluster-pg', '*', region)] : []),
    ]);
    const startRestore = this.startRestoreFn;
    const checkRestore = this.checkRestoreFn;
    startRestore.addToRolePolicy(
      statement(
        'RestoreFromOwnSnapshot',
        [cluster ? 'rds:RestoreDBClusterFromSnapshot' : 'rds:RestoreDBInstanceFromDBSnapshot'],
        [...(cluster ? anyCluster : anyInstance), ...ourSnapshots(), ...groups],
      ),
    );
    startRestore.addToRolePolicy(
      statement('TagRestored', ['rds:AddTagsToResource'], cluster ? anyCluster : anyInstance),
    );
    startRestore.addToRolePolicy(
      statement(
        'FindOwnRestore',
        [cluster ? 'rds:DescribeDBClusters' : 'rds:DescribeDBInstances'],
        cluster ? anyCluster : anyInstance,
      ),
    );
    checkRestore.addToRolePolicy(
      statement(
        'WatchRestore',
        ['rds:DescribeDBInstances', ...(cluster ? ['rds:DescribeDBClusters'] : [])],
        [...anyInstance, ...(cluster ? anyCluster : [])],
      ),
    );
    if (cluster) {
      checkRestore.addToRolePolicy(
        statement('CreateWriter', ['rds:CreateDBInstance'], [...anyInstance, ...anyCluster, ...groups]),
      );
      checkRestore.addToRolePolicy(statement('TagWriter', ['rds:AddTagsToResource'], anyInstance));
    }
    // An encrypted snapshot is restored through its key (the database's own, or the DR key).
    startRestore.addToRolePolicy(
      statement('UseSnapshotKeyThroughRds', ['kms:CreateGrant', 'kms:DescribeKey'], kmsKeys, {
        StringLike: { 'kms:ViaService': 'rds.*.amazonaws.com' },
      }),
    );
    context.store.grantRead(startRestore, 'backups/*');

    for (const fn of [this.startBackupFn, this.checkBackupFn])
      fn.addToRolePolicy(neverChangeTheSource('NeverChangeTheSource', sourceArn));
    for (const fn of [this.startRestoreFn, this.checkRestoreFn])
      fn.addToRolePolicy(neverChangeTheSource('NeverChangeTheSource', sourceArn, RESTORE_SOURCE_DENIALS));
  }

  /**
   * Retention's DeleteSet deletes a set's snapshot and its DR copy (functions/components/database/
   * retention.ts): describe (to check the name, tags and state first) and delete, on this
   * environment's snapshot names only, in the source and DR regions; never the source. No unsharing:
   * RDS lets the owner delete a shared snapshot. Dump mode needs nothing here: retention's own grant
   * deletes dumps/<id>/.
   */
  grantRetention({ deleteSet }: { readonly deleteSet: lambda.Function }): void {
    if (this.db.mode === 'dump') return;
    const { cluster, ourSnapshots, sourceArn } = this.rdsScope();
    deleteSet.addToRolePolicy(
      statement(
        'DatabaseDescribeSetSnapshots',
        [cluster ? 'rds:DescribeDBClusterSnapshots' : 'rds:DescribeDBSnapshots'],
        ourSnapshots(),
      ),
    );
    deleteSet.addToRolePolicy(
      statement(
        'DatabaseDeleteSetSnapshots',
        [cluster ? 'rds:DeleteDBClusterSnapshot' : 'rds:DeleteDBSnapshot'],
        ourSnapshots(),
      ),
    );
    deleteSet.addToRolePolicy(neverChangeTheSource('DatabaseNeverChangeTheSource', sourceArn));
    acknowledgeWildcards(deleteSet, [SNAPSHOT_REASON]);
  }

  /**
   * The restore drill describes the set's snapshot and DR copy, who they are shared with, and their
   * KMS keys' state: read-only. Dump mode: the stack's store read of dumps/ is all it needs.
   */
  grantVerify(fn: lambda.Function): void {
    if (this.db.mode === 'dump') return;
    const { cluster, ourSnapshots, sourceArn, kmsKeys } = this.rdsScope();
    fn.addToRolePolicy(
      statement(
        'DescribeSetSnapshots',
        cluster
          ? ['rds:DescribeDBClusterSnapshots', 'rds:DescribeDBClusterSnapshotAttributes']
          : ['rds:DescribeDBSnapshots', 'rds:DescribeDBSnapshotAttributes'],
        ourSnapshots(),
      ),
    );
    // The source region's key is the database's own (unknown at synth); the DR copy's is configured.
    fn.addToRolePolicy(
      statement(
        'InspectSnapshotKeys',
        ['kms:DescribeKey'],
        [...kmsKeys.slice(0, 1), ...(this.db.drKmsKeyArn ? [this.db.drKmsKeyArn] : [])],
      ),
    );
    fn.addToRolePolicy(neverChangeTheSource('NeverChangeTheSource', sourceArn));
    acknowledgeWildcards(fn, [SNAPSHOT_REASON, DRILL_KEY_REASON]);
  }

  prepareBackup(scope: Construct): sfn.IChainable {
    const start = invokeTask(scope, 'Database start backup', this.startBackupFn, {
      payload: { 'backup.$': '$.backup' },
      retries: 5,
      comment: 'Start the RDS/Aurora snapshot (or take the whole dump) before any file is copied',
    });
    // Backing up, modifying, stopped: wait and try again within the configured window.
    if (this.db.notAvailableRetry.maxAttempts > 0) {
      start.addRetry({
        errors: ['DatabaseNotAvailableError'],
        interval: Duration.seconds(this.db.notAvailableRetry.intervalSeconds),
        maxAttempts: this.db.notAvailableRetry.maxAttempts,
        backoffRate: 1,
      });
    }
    return start;
  }

  captureBranch(scope: Construct): sfn.IChainable {
    const failed = new sfn.Fail(scope, 'Database prepare failed', {
      stateName: 'Database prepare failed',
      errorPath: '$.prepared.database.Error',
      causePath: '$.prepared.database.Cause',
    });
    const take = new sfn.Pass(scope, 'Database take prepared state', {
      stateName: 'Database take prepared state',
      parameters: { 'backup.$': '$.backup', 'database.$': '$.prepared.database.result' },
    });
    const loop = this.waitLoop(scope, 'capture', 'Database check snapshot', this.checkBackupFn, {
      'backup.$': '$.backup',
    });
    return new sfn.Choice(scope, 'Database prepared?', { stateName: 'Database prepared?' })
      .when(sfn.Condition.isPresent('$.prepared.database.Error'), failed)
      .otherwise(take.next(loop));
  }

  restoreBranch(scope: Construct): sfn.IChainable {
    const start = invokeTask(scope, 'Database start restore', this.startRestoreFn, {
      payload: { 'restore.$': '$.restore' },
      resultPath: '$.database',
      retries: 5,
      comment: 'Restore into a NEW instance or cluster (or load the dump into the target database)',
    });
    return start.next(
      this.waitLoop(scope, 'restore', 'Database check restore', this.checkRestoreFn, {
        'restore.$': '$.restore',
      }),
    );
  }

  /** Choice on `$.database.done` → Wait (SecondsPath from the handler) → check → Choice; the result leaves at `$.database.result`. */
  private waitLoop(
    scope: Construct,
    verb: 'capture' | 'restore',
    checkName: string,
    fn: lambda.IFunction,
    context: Record<string, string>,
  ): sfn.IChainable {
    const done = new sfn.Choice(scope, `Database ${verb} done?`, { stateName: `Database ${verb} done?` });
    const result = new sfn.Pass(scope, `Database ${verb} result`, {
      stateName: `Database ${verb} result`,
      outputPath: '$.database.result',
    });
    const wait = new sfn.Wait(scope, `Database wait (${verb})`, {
      stateName: `Database wait (${verb})`,
      time: sfn.WaitTime.secondsPath('$.database.waitSeconds'),
    });
    const check = invokeTask(scope, checkName, fn, {
      payload: { ...context, 'database.$': '$.database' },
      resultPath: '$.database',
      retries: 5,
    });
    wait.next(check);
    check.next(done);
    return done.when(sfn.Condition.booleanEquals('$.database.done', true), result).otherwise(wait);
  }
}

export const databaseComponent: ComponentDefinition = {
  name: 'database',
  configSchema: databaseConfigSchema,
  settings: databaseSettings,
  create: (scope, context) =>
    new DatabaseComponent(scope, 'Database', databaseConfig(context.config), context),
};
