import { Duration, Stack } from 'aws-cdk-lib';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import * as z from 'zod';
import { compileSelection } from '#components/files/liferay-rules.ts';
import { FILES_COMPONENTS, type FilesComponentName, type FilesSettings } from '#components/files/settings.ts';
import type { LiferayBackupConfig } from '../config.ts';
import { acknowledgeWildcards } from '../nag.ts';
import { invokeTask } from '../workflow-tasks.ts';
import { allowDescribeExecutions, componentTitle } from '../workflows.ts';
import type { ComponentContext, ComponentDefinition, WorkflowComponent } from './component.ts';

/**
 * The files components' stack part (liferayHome and appServer: one engine, two configurations):
 * six Lambdas each, the EFS access point mounted (read-only for the backup side), and the
 * Backup and Restore branches: Plan → Distributed Map over the shard list in the bucket →
 * Finalize, which either sends the Map another round (shards that reached their time budget)
 * or ends with the component's result.
 */

/** Where the Lambdas mount the access point (Lambda requires /mnt/...). */
export const EFS_MOUNT_PATH = '/mnt/liferay';

/** A folder on the EFS file system, below the access point's root. */
export const efsPath = z
  .string()
  .regex(/^\/[^\0]*$/, 'a path on the file system, starting with /')
  .refine((value) => value !== '/' && !value.endsWith('/'), {
    message:
      'a folder below the access point root, without a trailing / (a restore creates its staging folder beside it)',
  })
  .refine((value) => !value.split('/').some((segment) => segment === '.' || segment === '..'), {
    message: 'no . or .. segments',
  });

const DEFAULT_SHARDS = { maxFiles: 100_000, maxGiB: 16, timeBudgetMinutes: 10 };
const DEFAULT_MAP = { maxConcurrency: 20, toleratedFailurePercentage: 0 };

function configSchemaFor(name: FilesComponentName) {
  return z
    .strictObject({
      enabled: z.boolean(),
      /** The tree's folder on the EFS file system, below the access point's root, e.g. `/liferay`. */
      path: efsPath,
      /** A document library outside the Liferay Home, as a folder on the same file system. */
      documentLibraryPath: efsPath.optional(),
      /** Rules added to the defaults (a `!rule` removes a default rule); see the README. */
      include: z.array(z.string()).max(200).optional(),
      exclude: z.array(z.string()).max(200).optional(),
      shards: z
        .strictObject({
          /** Entries per shard. @default 100000 */
          maxFiles: z.number().int().min(1000).max(10_000_000).default(DEFAULT_SHARDS.maxFiles),
          /** GiB of files per shard. @default 16 */
          maxGiB: z.number().min(0.1).max(1024).default(DEFAULT_SHARDS.maxGiB),
          /** A shard hands the rest of its range to the next round after this. @default 10 (Lambda's limit is 15) */
          timeBudgetMinutes: z.number().min(1).max(13).default(DEFAULT_SHARDS.timeBudgetMinutes),
        })
        .default(DEFAULT_SHARDS),
      map: z
        .strictObject({
          /** Shards copied (or restored) at once: bounds the load on EFS and S3. @default 20 */
          maxConcurrency: z.number().int().min(1).max(1000).default(DEFAULT_MAP.maxConcurrency),
          /**
           * Failed shards the Map tolerates before it stops; Finalize still fails the component if any
           * shard has no result, so this only lets the others finish (and be named). @default 0
           */
          toleratedFailurePercentage: z
            .number()
            .min(0)
            .max(100)
            .default(DEFAULT_MAP.toleratedFailurePercentage),
        })
        .default(DEFAULT_MAP),
    })
    .superRefine((config, ctx) => {
      try {
        compileSelection(name, {
          ...(config.include ? { include: config.include } : {}),
          ...(config.exclude ? { exclude: config.exclude } : {}),
        });
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['include'], message: (error as Error).message });
      }
      if (name === 'appServer' && config.documentLibraryPath) {
        ctx.addIssue({ code: 'custom', path: ['documentLibraryPath'], message: 'only for liferayHome' });
      }
    });
}

type FilesConfig = z.infer<ReturnType<typeof configSchemaFor>>;

function filesConfig(config: LiferayBackupConfig, name: FilesComponentName): FilesConfig {
  return configSchemaFor(name).parse(config.components[name]);
}

/**
 * Where the restore drill restores the files components (below the Lambdas' EFS mount), or
 * undefined when it reads them back instead (no EFS, no files component, or scratchPath false).
 */
export function drillScratchRoot(config: LiferayBackupConfig): string | undefined {
  const { scratchPath } = config.verify;
  const filesEnabled = FILES_COMPONENTS.some(
    (name) => (config.components[name] as { enabled?: boolean } | undefined)?.enabled === true,
  );
  return config.efs && filesEnabled && scratchPath !== false ? `${EFS_MOUNT_PATH}${scratchPath}` : undefined;
}

/** The Lambdas' settings (validated again at cold start by filesSettingsSchema). */
export function filesSettingsFromConfig(
  config: LiferayBackupConfig,
  name: FilesComponentName,
): Partial<FilesSettings> {
  const files = filesConfig(config, name);
  return {
    root: `${EFS_MOUNT_PATH}${files.path}`,
    writableRoot: EFS_MOUNT_PATH,
    ...(files.documentLibraryPath
      ? { documentLibraryRoot: `${EFS_MOUNT_PATH}${files.documentLibraryPath}` }
      : {}),
    ...(files.include ? { include: files.include } : {}),
    ...(files.exclude ? { exclude: files.exclude } : {}),
    shard: {
      maxFiles: files.shards.maxFiles,
      maxBytes: Math.round(files.shards.maxGiB * 1024 ** 3),
      timeBudgetSeconds: Math.round(files.shards.timeBudgetMinutes * 60),
    },
  };
}

/** The shard list of a round, read by the Distributed Map; its permission is granted narrowly below. */
class ShardListReader extends sfn.S3JsonItemReader {
  // CDK's reader would grant s3:GetObject on the whole bucket; grantStateMachine grants work/* only.
  override providePolicyStatements(): iam.PolicyStatement[] {
    return [];
  }
}

/**
 * An EFS mount granted ClientMount only. lambda.FileSystem.fromEfsAccessPoint always adds
 * ClientWrite; its constructor is open to subclasses, which is how a read-only variant is built.
 */
class ReadOnlyEfsMount extends lambda.FileSystem {
  constructor(config: lambda.FileSystemConfig) {
    super(config);
  }
}

class FilesComponent extends Construct implements WorkflowComponent {
  private readonly planBackupFn: lambda.Function;
  private readonly copyShardFn: lambda.Function;
  private readonly finalizeBackupFn: lambda.Function;
  private readonly planRestoreFn: lambda.Function;
  private readonly restoreShardFn: lambda.Function;
  private readonly finalizeRestoreFn: lambda.Function;
  private readonly planVerifyFn: lambda.Function;
  private readonly verifyPartFn: lambda.Function;
  private readonly finishVerifyFn: lambda.Function;
  /** Removes the drill's scratch copy; only when the drill restores into scratch (verify.scratchPath). */
  private readonly drillCleanupFn: lambda.Function | undefined;
  private readonly files: FilesConfig;
  private readonly title: string;

  constructor(
    scope: Construct,
    id: string,
    readonly name: FilesComponentName,
    private readonly context: ComponentContext,
  ) {
    super(scope, id);
    const { config, network, store } = context;
    this.files = filesConfig(config, name);
    this.title = componentTitle(name);
    if (!config.efs || !network) {
      throw new Error(
        `liferayBackup.components.${name}: the files are read from EFS by Lambdas in the VPC: configure liferayBackup.efs (fileSystemId, accessPointId) and liferayBackup.network`,
      );
    }
    const fileSystem = efs.FileSystem.fromFileSystemAttributes(this, 'FileSystem', {
      fileSystemId: config.efs.fileSystemId,
      // The Lambdas' security group: EFS must admit it on 2049 (the stack does not change imported groups).
      securityGroup: network.securityGroup,
    });
    const accessPoint = efs.AccessPoint.fromAccessPointAttributes(this, 'AccessPoint', {
      accessPointId: config.efs.accessPointId,
      fileSystem,
    });
    // Backups only read: the mount is granted ClientMount without ClientWrite (read-only when the
    // file system policy requires IAM authorization, as it should).
    const readOnlyMount = new ReadOnlyEfsMount({
      arn: accessPoint.accessPointArn,
      localMountPath: EFS_MOUNT_PATH,
      connections: fileSystem.connections,
      dependency: [fileSystem.mountTargetsAvailable],
      policies: [
        new iam.PolicyStatement({
          actions: ['elasticfilesystem:ClientMount'],
          resources: [
            Stack.of(this).formatArn({
              service: 'elasticfilesystem',
              resource: 'file-system',
              resourceName: config.efs.fileSystemId,
            }),
          ],
          conditions: { StringEquals: { 'elasticfilesystem:AccessPointArn': accessPoint.accessPointArn } },
        }),
      ],
    });
    const writableMount = lambda.FileSystem.fromEfsAccessPoint(accessPoint, EFS_MOUNT_PATH);
    // EFS answers each call in a millisecond or more: many calls in flight hide that, and Node.js
    // runs filesystem calls on libuv's thread pool (4 threads unless told otherwise).
    const inVpc = {
      vpc: network.vpc,
      vpcSubnets: network.subnets,
      securityGroups: [network.securityGroup],
      environment: { UV_THREADPOOL_SIZE: '64' },
    };
    const create = (fnId: string, handlerId: string, description: string, props: object) =>
      context.createFunction(this, fnId, {
        handlerId,
        entry: `functions/components/files/handlers/${handlerId.replace(/^files-/, '')}.ts`,
        description: `${this.title}: ${description}`,
        ...props,
      });

    // Plan walks the whole tree on a first backup (one process, bounded concurrency): up to 15
    // minutes. One full vCPU: with the 0.58 vCPU of 1,024 MB its own CPU, not EFS, bounds how large
    // a tree it lists in that time (bench/plan-cpu.ts, bench/scale-simulation.ts).
    this.planBackupFn = create('PlanBackup', 'files-plan-backup', 'discover, plan the shards', {
      ...inVpc,
      filesystem: readOnlyMount,
      memorySize: 1769,
      timeout: Duration.minutes(15),
    });
    // A shard hashes and uploads: one full vCPU (1769 MB) and the network bandwidth that comes with
    // it; 15 minutes with a 10-minute budget per shard; scratch for packs (16 MiB each, a few in
    // flight), the index part and the content list.
    this.copyShardFn = create('CopyShard', 'files-copy-shard', 'copy one shard into the store', {
      ...inVpc,
      filesystem: readOnlyMount,
      memorySize: 1769,
      timeout: Duration.minutes(15),
      ephemeralStorageMiB: 2048,
    });
    // Finalize only reads and writes the store (merging index parts and content lists): no mount, no VPC.
    this.finalizeBackupFn = create(
      'FinalizeBackup',
      'files-finalize-backup',
      'merge the shards into the index and catalog',
      {
        memorySize: 1024,
        timeout: Duration.minutes(15),
        ephemeralStorageMiB: 1024,
      },
    );
    this.planRestoreFn = create(
      'PlanRestore',
      'files-plan-restore',
      'check the index, create the staging folder',
      {
        ...inVpc,
        filesystem: writableMount,
        memorySize: 1024,
        timeout: Duration.minutes(15),
      },
    );
    this.restoreShardFn = create(
      'RestoreShard',
      'files-restore-shard',
      'restore one index part and verify it',
      {
        ...inVpc,
        filesystem: writableMount,
        memorySize: 1769,
        timeout: Duration.minutes(15),
      },
    );
    this.finalizeRestoreFn = create(
      'FinalizeRestore',
      'files-finalize-restore',
      'folder metadata, swap into place',
      {
        ...inVpc,
        filesystem: writableMount,
        memorySize: 512,
        timeout: Duration.minutes(5),
      },
    );

    // Least privilege per function, by store prefix.
    store.grantRead(this.planBackupFn, 'backups/*');
    store.grantReadWrite(this.planBackupFn, 'work/*');
    store.grantRead(this.copyShardFn, 'backups/*');
    store.grantReadWrite(this.copyShardFn, 'objects/*', 'backups/*/files/*', 'work/*');
    store.grantRead(this.finalizeBackupFn, 'work/*');
    store.grantReadWrite(this.finalizeBackupFn, 'backups/*/files/*', 'work/*');
    store.grantRead(this.planRestoreFn, 'backups/*');
    store.grantReadWrite(this.planRestoreFn, 'work/*');
    store.grantRead(this.restoreShardFn, 'objects/*', 'backups/*/files/*');
    store.grantReadWrite(this.restoreShardFn, 'work/*');
    // The list of the files a skipLost restore went on without lands beside its report.
    store.grantReadWrite(this.finalizeRestoreFn, 'work/*', 'backups/*/restores/*');
    // A redriven restore checks that its target locks still name it before it writes, and renews
    // them (the lock is a lease: restore-lock.ts).
    for (const fn of [this.planRestoreFn, this.restoreShardFn, this.finalizeRestoreFn])
      store.grantReadWrite(fn, 'locks/restores/*');

    // The restore drill reads the store only: no file system, no VPC needed.
    this.planVerifyFn = create('PlanVerify', 'files-plan-verify', 'list the index parts to check', {});
    this.verifyPartFn = create(
      'VerifyPart',
      'files-verify-part',
      'read back one index part and check every sha256',
      {
        memorySize: 1024,
        timeout: Duration.minutes(15),
      },
    );
    this.finishVerifyFn = create('FinishVerify', 'files-finish-verify', 'add up the checked parts', {});
    for (const fn of [this.planVerifyFn, this.verifyPartFn, this.finishVerifyFn])
      store.grantRead(fn, 'backups/*');
    store.grantRead(this.verifyPartFn, 'objects/*');
    store.grantReadWrite(this.planVerifyFn, 'work/*');
    store.grantReadWrite(this.verifyPartFn, 'work/*');
    store.grantRead(this.finishVerifyFn, 'work/*');

    // The drill that restores for real runs the Restore workflow (its own functions) into the
    // scratch folder; this one removes that copy afterwards, in 10-minute rounds, and reads the
    // restore's report. It writes only below verify.scratchRoot (checked in the function).
    if (drillScratchRoot(config)) {
      this.drillCleanupFn = create(
        'DrillCleanup',
        'files-drill-cleanup',
        'remove the drill copy, report it',
        {
          ...inVpc,
          filesystem: writableMount,
          memorySize: 512,
          timeout: Duration.minutes(15),
        },
      );
      store.grantRead(this.drillCleanupFn, 'backups/*/restores/*');
    }
  }

  private fanOut(
    stateBase: string,
    shardFn: lambda.Function,
    finalizeFn: lambda.Function,
    context: '$.backup' | '$.restore',
    doneName: string,
  ): { map: sfn.DistributedMap; finalize: sfn.TaskStateBase; done: sfn.Pass; more: sfn.Choice } {
    const contextKey = context === '$.backup' ? 'backup.$' : 'restore.$';
    const map = new sfn.DistributedMap(this, `${stateBase} shards`, {
      stateName: `${stateBase} shards`,
      comment: 'One item per shard; the items are read from the store, each shard writes its result there',
      itemReader: new ShardListReader({
        bucket: this.context.store.bucket,
        key: sfn.JsonPath.stringAt('$.files.shardListKey'),
      }),
      itemSelector: { [contextKey]: context, component: this.name, 'shard.$': '$$.Map.Item.Value' },
      maxConcurrency: this.files.map.maxConcurrency,
      toleratedFailurePercentage: this.files.map.toleratedFailurePercentage,
      // Shard results go to the store; the Map's own output is dropped (it could exceed 256 KB).
      resultPath: sfn.JsonPath.DISCARD,
    });
    const shard = invokeTask(this, `${stateBase} shard`, shardFn, { mapItem: true });
    // A shard cut off by Lambda's timeout (slow EFS, one huge file) runs again: a copy shard reuses
    // the packs it checkpointed and a restore shard replaces what it had written, so the re-run
    // converges instead of failing the component. Lambda reports a timeout as Sandbox.Timedout
    // (Lambda.Unknown before), a Task state's own TimeoutSeconds as States.Timeout.
    shard.addRetry({
      errors: ['Sandbox.Timedout', 'Lambda.Unknown', 'States.Timeout'],
      interval: Duration.seconds(5),
      maxAttempts: 2,
      backoffRate: 2,
    });
    map.itemProcessor(shard);
    const finalize = invokeTask(this, `${stateBase} finalize`, finalizeFn, {
      payload: { [contextKey]: context, component: this.name, 'files.$': '$.files' },
      resultPath: '$.files',
      comment: 'Every shard finished? Another round for shards that reached their time budget, or the result',
    });
    const done = new sfn.Pass(this, doneName, { stateName: doneName, outputPath: '$.files.result' });
    const more = new sfn.Choice(this, `${stateBase} another round?`, {
      stateName: `${stateBase} another round?`,
    })
      .when(sfn.Condition.booleanEquals('$.files.next', true), map)
      .otherwise(done);
    return { map, finalize, done, more };
  }

  captureBranch(): sfn.IChainable {
    const plan = invokeTask(this, `${this.title} plan`, this.planBackupFn, {
      payload: { 'backup.$': '$.backup', component: this.name },
      resultPath: '$.files',
      comment: 'Discover the tree, find the previous index, write the shard list',
    });
    const { map, finalize, more } = this.fanOut(
      `${this.title} copy`,
      this.copyShardFn,
      this.finalizeBackupFn,
      '$.backup',
      `${this.title} backed up`,
    );
    return plan.next(map).next(finalize).next(more);
  }

  restoreBranch(): sfn.IChainable {
    const plan = invokeTask(this, `${this.title} plan restore`, this.planRestoreFn, {
      // The execution's id goes into the plan: a later restore asks whether this one has ended.
      payload: { 'restore.$': '$.restore', component: this.name, 'executionId.$': '$$.Execution.Id' },
      resultPath: '$.files',
      comment: 'Check every index entry, create the staging folder, write the shard list',
    });
    const { map, finalize, more } = this.fanOut(
      `${this.title} restore`,
      this.restoreShardFn,
      this.finalizeRestoreFn,
      '$.restore',
      `${this.title} restored`,
    );
    return plan.next(map).next(finalize).next(more);
  }

  /**
   * The restore drill. With a scratch folder (verify.scratchPath): the Restore workflow restores
   * this component into `<scratch>/<component>` (every sha256 checked as it writes), then the copy
   * is removed, in rounds, whatever the restore's outcome. Without one, or when the drill's input
   * says `"scratch": false`: one Distributed Map item per index part, each read back and checked.
   */
  verifyBranch(_scope: Construct, workflows: { readonly restore: sfn.IStateMachine }): sfn.IChainable {
    const readBack = this.readBackBranch();
    if (!this.drillCleanupFn) return readBack;
    const restore = new tasks.StepFunctionsStartExecution(this, `${this.title} restore into scratch`, {
      stateName: `${this.title} restore into scratch`,
      comment: 'The Restore workflow, into the drill folder; its report lands beside the set',
      stateMachine: workflows.restore,
      integrationPattern: sfn.IntegrationPattern.RUN_JOB,
      // Links the restore execution to this drill in the console, and its name says it is a drill
      // (a failure notification of the Restore workflow names the execution).
      associateWithParent: true,
      name: sfn.JsonPath.format(`drill-{}-${this.name}`, sfn.JsonPath.stringAt('$.verify.verifyId')),
      input: sfn.TaskInput.fromObject({
        backupId: sfn.JsonPath.stringAt('$.verify.backupId'),
        components: [this.name],
        allowPartial: sfn.JsonPath.stringAt('$.verify.scratch.allowPartial'),
        requestedBy: 'verify',
        [this.name]: {
          target: sfn.JsonPath.format(`{}/${this.name}`, sfn.JsonPath.stringAt('$.verify.scratch.folder')),
          swap: false,
        },
      }),
      resultSelector: {
        'restoreId.$': '$.Output.report.restoreId',
        'status.$': '$.Output.report.status',
        'message.$': '$.Output.report.message',
      },
      resultPath: '$.drill',
    });
    const cleanup = invokeTask(this, `${this.title} remove scratch copy`, this.drillCleanupFn, {
      payload: { 'verify.$': '$.verify', component: this.name, 'restore.$': '$.drill' },
      resultPath: '$.cleanup',
      comment: 'Remove what the restore wrote (10 minutes per round); then the verification',
    });
    // A failed restore (the child execution's Error and Cause) is a failed drill, reported by cleanup.
    restore.addCatch(cleanup, { resultPath: '$.drill' });
    const removed = new sfn.Choice(this, `${this.title} scratch copy removed?`, {
      stateName: `${this.title} scratch copy removed?`,
    })
      .when(sfn.Condition.booleanEquals('$.cleanup.done', false), cleanup)
      .otherwise(
        new sfn.Pass(this, `${this.title} drill result`, {
          stateName: `${this.title} drill result`,
          outputPath: '$.cleanup.verification',
        }),
      );
    return new sfn.Choice(this, `${this.title} restore into scratch?`, {
      stateName: `${this.title} restore into scratch?`,
    })
      .when(sfn.Condition.isPresent('$.verify.scratch'), restore.next(cleanup).next(removed))
      .otherwise(readBack);
  }

  /** Reads every file back from the store: one Distributed Map item per index part. */
  private readBackBranch(): sfn.IChainable {
    const plan = invokeTask(this, `${this.title} plan verify`, this.planVerifyFn, {
      payload: { 'verify.$': '$.verify', component: this.name },
      resultPath: '$.files',
    });
    const map = new sfn.DistributedMap(this, `${this.title} verify parts`, {
      stateName: `${this.title} verify parts`,
      itemReader: new ShardListReader({
        bucket: this.context.store.bucket,
        key: sfn.JsonPath.stringAt('$.files.listKey'),
      }),
      itemSelector: { 'verify.$': '$.verify', component: this.name, 'part.$': '$$.Map.Item.Value' },
      maxConcurrency: this.files.map.maxConcurrency,
      resultPath: sfn.JsonPath.DISCARD,
    });
    map.itemProcessor(invokeTask(this, `${this.title} verify part`, this.verifyPartFn, { mapItem: true }));
    const finish = invokeTask(this, `${this.title} finish verify`, this.finishVerifyFn, {
      payload: { 'verify.$': '$.verify', component: this.name },
    });
    return plan.next(map).next(finish);
  }

  /** The Distributed Map reads its item list under work/ (and decrypts it with the store key). */
  grantStateMachine(role: iam.IGrantable, kind: 'backup' | 'restore' | 'verify'): void {
    if (kind === 'restore' && role instanceof sfn.StateMachine) this.grantReadRestoreExecutions(role);
    const { bucket, key } = this.context.store;
    role.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [bucket.arnForObjects('work/*')] }),
    );
    key.grantDecrypt(role);
    // The store prefix and the invoke qualifiers are acknowledged stack-wide (cdk/nag.ts); the
    // Distributed Map's own grant on its child executions is this component's to explain.
    if (role instanceof Construct) {
      acknowledgeWildcards(role, [
        [
          /^Resource::arn:[^:]+:states:.*:execution:.*\*$/,
          'the Distributed Map starts and watches child executions of this state machine; Step Functions names them at run time',
        ],
      ]);
    }
  }

  /**
   * PlanRestore asks whether an earlier Restore execution, whose report still says running, has
   * ended (a run stopped in the console) before it removes that run's partial staging tree
   * (functions/components/files/restore-plan.ts).
   */
  private grantReadRestoreExecutions(restore: sfn.StateMachine): void {
    allowDescribeExecutions(this, 'PlanRestoreReadsRestoreExecutions', this.planRestoreFn, restore);
  }
}

function definition(name: FilesComponentName): ComponentDefinition {
  return {
    name,
    configSchema: configSchemaFor(name),
    settings: (config) => filesSettingsFromConfig(config, name),
    create: (scope, context) => new FilesComponent(scope, 'Files', name, context),
  };
}

/** `liferayBackup.components.liferayHome`: the Liferay Home on EFS. */
export const liferayHomeDefinition: ComponentDefinition = definition('liferayHome');
/** `liferayBackup.components.appServer`: the application server (Tomcat) on EFS. */
export const appServerDefinition: ComponentDefinition = definition('appServer');
