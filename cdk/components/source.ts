import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import * as z from 'zod';
import { parameterNames } from '#components/source/credentials.ts';
import {
  refPatternSchema,
  repositoryNameSchema,
  type sourceSettingsSchema,
  ssmCredentialsSchema,
} from '#components/source/settings.ts';
import { kmsKeyArnSchema } from '../arns.ts';
import type { LiferayBackupConfig } from '../config.ts';
import { acknowledgeWildcards } from '../nag.ts';
import { invokeTask } from '../workflow-tasks.ts';
import { componentTitle } from '../workflows.ts';
import type { ComponentContext, ComponentDefinition, WorkflowComponent } from './component.ts';

/** An https URL without user info: a secret in cdk.json would end up in the template and the Lambda environment. */
const httpsGitUrl = z
  .url({
    protocol: /^https$/,
    error: 'an https URL of a Git repository, e.g. https://github.com/acme/workspace.git',
  })
  .refine((value) => new URL(value).username === '' && new URL(value).password === '', {
    message:
      'no credentials in the URL: name SSM SecureString parameters under sourceCredentials/mirrorCredentials',
  });

/**
 * `liferayBackup.components.source` in cdk.json: the Git repositories (workspace, themes,
 * plugins) to mirror, each from its source to a mirror remote, with credentials as SSM
 * SecureString parameter names.
 */
export const sourceConfigSchema = z
  .strictObject({
    enabled: z.boolean(),
    repositories: z
      .array(
        z.strictObject({
          name: repositoryNameSchema,
          sourceUrl: httpsGitUrl,
          mirrorUrl: httpsGitUrl,
          sourceCredentials: ssmCredentialsSchema.optional(),
          mirrorCredentials: ssmCredentialsSchema.optional(),
          /** Refs left out on both sides, e.g. ["refs/pull/*"] (GitHub refuses pushes to them). */
          exclude: z.array(refPatternSchema).max(100).default([]),
          /** Delete mirror refs the source no longer has. @default false */
          prune: z.boolean().default(false),
          /** Also keep the objects in the backup bucket (objects/git/), so a restore needs neither host. @default false */
          storeCopy: z.boolean().default(false),
        }),
      )
      .min(1)
      .max(200),
    /** Credentials for repositories that name none. */
    defaultCredentials: ssmCredentialsSchema.optional(),
    /** The KMS key of the SecureStrings when it is not the account's aws/ssm key (e.g. in another account). */
    credentialsKmsKeyArn: kmsKeyArnSchema.optional(),
    /** Repositories mirrored at once. @default 4 */
    concurrency: z.number().int().min(1).max(40).default(4),
    /**
     * The SSM path under which a restore request may name credentials for its target (e.g.
     * `/liferay-backup/git-restore/`). @default none: restore targets must accept anonymous pushes
     */
    restoreCredentialsPath: z
      .string()
      .regex(
        /^\/[A-Za-z0-9_.\-/]*\/$/,
        'an SSM path that starts and ends with /, e.g. /liferay-backup/git-restore/',
      )
      .optional(),
    /** Run the functions in the configured network (Git hosts reachable only from the VPC). @default false */
    vpc: z.boolean().default(false),
    /** Memory of the mirror and restore functions. @default 1024 */
    memoryMiB: z.number().int().min(256).max(10_240).default(1024),
    /** /tmp of the mirror and restore functions: holds one pack (and the store copy's) at a time. @default 2048 */
    ephemeralStorageMiB: z.number().int().min(512).max(10_240).default(2048),
  })
  .superRefine((config, ctx) => {
    const names = config.repositories.map((repository) => repository.name);
    const duplicate = names.find((name, index) => names.indexOf(name) !== index);
    if (duplicate)
      ctx.addIssue({
        code: 'custom',
        path: ['repositories'],
        message: `repository name ${duplicate} is used twice`,
      });
  });
export type SourceConfig = z.infer<typeof sourceConfigSchema>;

function sourceConfig(config: LiferayBackupConfig): SourceConfig {
  return config.components.source as SourceConfig;
}

/** What the source Lambdas get (validated again by functions/components/source/settings.ts). */
export function sourceSettings(config: LiferayBackupConfig): z.input<typeof sourceSettingsSchema> {
  const source = sourceConfig(config);
  // Defaults are left out: the functions apply them again, and Lambda's environment holds 4 KB.
  const repositories = source.repositories.map(({ exclude, prune, storeCopy, ...repository }) => ({
    ...repository,
    ...(exclude.length > 0 ? { exclude } : {}),
    ...(prune ? { prune } : {}),
    ...(storeCopy ? { storeCopy } : {}),
  }));
  return {
    repositories,
    ...(source.defaultCredentials ? { defaultCredentials: source.defaultCredentials } : {}),
    concurrency: source.concurrency,
    ...(source.restoreCredentialsPath ? { restoreCredentialsPath: source.restoreCredentialsPath } : {}),
  };
}

/**
 * What the Restore workflow's Validate gets of the source settings: only restoreCredentialsPath, so
 * that it refuses a target's credentials outside it before any target is pushed. It compares names
 * and reads no parameter (it has no SSM grant); the restore function checks again and reads them.
 */
export function sourceValidateSettings(config: LiferayBackupConfig): z.input<typeof sourceSettingsSchema> {
  const { restoreCredentialsPath } = sourceConfig(config);
  return restoreCredentialsPath ? { restoreCredentialsPath } : {};
}

/** Every SSM parameter the configuration names (the mirror function reads only these). */
export function configuredParameters(source: SourceConfig): string[] {
  const names = [
    ...parameterNames(source.defaultCredentials),
    ...source.repositories.flatMap((repository) => [
      ...parameterNames(repository.sourceCredentials),
      ...parameterNames(repository.mirrorCredentials),
    ]),
  ];
  return [...new Set(names)].sort();
}

/** The ARN of an SSM parameter of this account and region, named with or without its leading '/'. */
function ssmParameterArn(scope: Construct, name: string): string {
  return Stack.of(scope).formatArn({
    service: 'ssm',
    resource: 'parameter',
    resourceName: name.replace(/^\//, ''),
  });
}

/**
 * The SSM parameters a restore from a mirror reads: each repository's mirror credentials, or the
 * defaults where it names none (never the sources' credentials: a restore does not contact them).
 */
export function mirrorParameters(source: SourceConfig): string[] {
  const names = source.repositories.flatMap((repository) =>
    parameterNames(repository.mirrorCredentials ?? source.defaultCredentials),
  );
  return [...new Set(names)].sort();
}

/** The source component's functions, grants and workflow branches. */
class SourceComponent implements WorkflowComponent {
  readonly name = 'source' as const;
  private readonly planBackup: lambda.Function;
  private readonly mirrorRepository: lambda.Function;
  private readonly finishBackup: lambda.Function;
  private readonly restoreRepository: lambda.Function;
  private readonly finishRestore: lambda.Function;

  private readonly store: ComponentContext['store'];
  private readonly config: SourceConfig;

  constructor(scope: Construct, context: ComponentContext, config: SourceConfig) {
    this.store = context.store;
    this.config = config;
    if (config.vpc && !context.network) {
      throw new Error(
        'liferayBackup.components.source.vpc: true needs liferayBackup.network (vpcId, subnetIds, securityGroupId)',
      );
    }
    const network =
      config.vpc && context.network
        ? {
            vpc: context.network.vpc,
            vpcSubnets: context.network.subnets,
            securityGroups: [context.network.securityGroup],
          }
        : {};
    const file = (name: string) => `functions/components/source/${name}.ts`;
    // Small steps: they read settings or records, nothing else.
    this.planBackup = context.createFunction(scope, 'PlanBackup', {
      handlerId: 'source-plan-backup',
      entry: file('plan-backup'),
      description: 'Source: list the Git repositories to mirror',
      memorySize: 256,
    });
    this.finishBackup = context.createFunction(scope, 'FinishBackup', {
      handlerId: 'source-finish-backup',
      entry: file('finish-backup'),
      description: "Source: the component's result from the repositories' records",
      memorySize: 256,
    });
    this.finishRestore = context.createFunction(scope, 'FinishRestore', {
      handlerId: 'source-finish-restore',
      entry: file('finish-restore'),
      description: "Source: the component's restore result",
      memorySize: 256,
    });
    // One repository per invocation. Lambda's whole 15 minutes: a first mirror (or a restore) of a
    // large repository streams its full pack from one host to another, and /tmp holds that pack.
    const transfer = {
      memorySize: config.memoryMiB,
      timeout: Duration.minutes(15),
      ephemeralStorageMiB: config.ephemeralStorageMiB,
      ...network,
    };
    this.mirrorRepository = context.createFunction(scope, 'MirrorRepository', {
      handlerId: 'source-mirror-repository',
      entry: file('mirror-repository'),
      description: 'Source: mirror one Git repository (every ref, one push), verify, record',
      ...transfer,
    });
    this.restoreRepository = context.createFunction(scope, 'RestoreRepository', {
      handlerId: 'source-restore-repository',
      entry: file('restore-repository'),
      description: 'Source: push the recorded refs of one repository to a target remote',
      ...transfer,
    });

    // Records of this set (and the previous set's manifest, for the store copy); the store copy's packs.
    // It writes only its own records (backups/<id>/source/) and the packs: the function that holds the
    // Git hosts' credentials may not rewrite a set's manifest, file index or reports.
    context.store.grantRead(this.mirrorRepository, 'backups/*', 'objects/git/*');
    context.store.grantReadWrite(this.mirrorRepository, 'backups/*/source/*', 'objects/git/*');
    context.store.grantRead(this.finishBackup, 'backups/*');
    // A failed push whose target named no repository is reported with the set's only repository's name.
    context.store.grantRead(this.finishRestore, 'backups/*/manifest.json');
    // Many repositories' entries go beside the set instead of into the result (repository-list.ts).
    context.store.grantReadWrite(this.finishBackup, 'backups/*/source/_repositories.json');
    // locks/restores/*: a redriven push checks that its target lock still names its restore, and
    // renews it (the lock is a lease: functions/backup-set/restore-lock.ts).
    context.store.grantRead(this.restoreRepository, 'backups/*', 'objects/git/*');
    context.store.grantReadWrite(this.restoreRepository, 'locks/restores/*');

    const parameterArn = (name: string) => ssmParameterArn(scope, name);
    const configured = configuredParameters(config).map(parameterArn);
    if (configured.length > 0) {
      this.grantParameters(this.mirrorRepository, configured, config, 'GitCredentials');
    }
    // A restore from the mirror reads it with the mirror's credentials (and only those).
    const mirrors = mirrorParameters(config).map(parameterArn);
    if (mirrors.length > 0) {
      this.grantParameters(this.restoreRepository, mirrors, config, 'GitCredentials');
    }
    if (config.restoreCredentialsPath) {
      const pathArn = `${parameterArn(config.restoreCredentialsPath)}*`;
      this.grantParameters(this.restoreRepository, [pathArn], config, 'RestoreTargetCredentials');
    }
    acknowledgeWildcards(scope, [
      [
        /^Resource::arn:<AWS::Partition>:kms:[^:]+:[^:]+:key\/\*$/,
        'kms:Decrypt on key/* is bounded by kms:ViaService (SSM only) and by the encryption context naming the credential parameters: the key is whichever encrypts them (aws/ssm unless credentialsKmsKeyArn is set)',
      ],
      [
        /^Resource::arn:<AWS::Partition>:ssm:[^:]+:[^:]+:parameter\/.+\/\*$/,
        `a restore request names its target's credentials at run time: the function may read only parameters under ${config.restoreCredentialsPath ?? '(none configured)'} (and refuses any other name itself), and decrypt them only through SSM`,
      ],
    ]);
  }

  /**
   * The restore drill reads the records, hashes every pack of the store copy, and lists each
   * mirror's refs with the mirror's credentials (never the sources').
   */
  grantVerify(fn: lambda.Function): void {
    this.store.grantRead(fn, 'backups/*', 'objects/git/*');
    const mirrors = mirrorParameters(this.config).map((name) => ssmParameterArn(fn, name));
    if (mirrors.length === 0) return;
    this.grantParameters(fn, mirrors, this.config, 'GitCredentials');
    acknowledgeWildcards(fn, [
      [
        /^Resource::arn:<AWS::Partition>:kms:[^:]+:[^:]+:key\/\*$/,
        'kms:Decrypt on key/* is bounded by kms:ViaService (SSM only) and by the encryption context naming the mirror credential parameters: the key is whichever encrypts them (aws/ssm unless credentialsKmsKeyArn is set)',
      ],
    ]);
  }

  /**
   * ssm:GetParameter on exactly these parameters, and kms:Decrypt only through SSM and only for
   * them (the encryption context SSM sets names the parameter), with the configured key or
   * whichever key of this account encrypts them (aws/ssm by default).
   */
  private grantParameters(
    fn: lambda.Function,
    arns: readonly string[],
    config: SourceConfig,
    what: string,
  ): void {
    const stack = Stack.of(fn);
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: `Read${what}`, actions: ['ssm:GetParameter'], resources: [...arns] }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: `Decrypt${what}`,
        actions: ['kms:Decrypt'],
        resources: [
          config.credentialsKmsKeyArn ??
            stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' }),
        ],
        conditions: {
          StringEquals: { 'kms:ViaService': `ssm.${stack.region}.amazonaws.com` },
          StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': [...arns] },
        },
      }),
    );
  }

  captureBranch(scope: Construct): sfn.IChainable {
    const title = componentTitle(this.name);
    const plan = invokeTask(scope, `${title} plan`, this.planBackup, {
      payload: { 'backup.$': '$.backup' },
      resultPath: '$.sourcePlan',
      comment: 'The repositories to mirror and how many at once',
    });
    const mirror = invokeTask(scope, `${title} mirror repository`, this.mirrorRepository, {
      payload: { 'backup.$': '$.backup', 'repository.$': '$.repository' },
      comment: 'Every ref in one push, then both sides listed and compared; the record goes to the store',
    });
    // Every repository is attempted: a failure is recorded and the finish step fails the component.
    mirror.addCatch(
      new sfn.Pass(scope, `${title} repository failed`, {
        stateName: `${title} repository failed`,
        parameters: { 'repository.$': '$.repository', 'error.$': '$.error' },
      }),
      { resultPath: '$.error' },
    );
    const repositories = new sfn.Map(scope, `${title} mirror repositories`, {
      stateName: `${title} mirror repositories`,
      itemsPath: '$.sourcePlan.repositories',
      itemSelector: { 'backup.$': '$.backup', 'repository.$': '$$.Map.Item.Value.name' },
      maxConcurrencyPath: '$.sourcePlan.concurrency',
      resultPath: '$.sourceRepositories',
    });
    repositories.itemProcessor(mirror);
    const finish = invokeTask(scope, `${title} finish backup`, this.finishBackup, {
      payload: { 'backup.$': '$.backup', 'plan.$': '$.sourcePlan', 'repositories.$': '$.sourceRepositories' },
      comment: "The component's result: every ref of every repository, or the failures",
    });
    return sfn.Chain.start(plan).next(repositories).next(finish);
  }

  restoreBranch(scope: Construct): sfn.IChainable {
    const title = componentTitle(this.name);
    const restore = invokeTask(scope, `${title} restore repository`, this.restoreRepository, {
      payload: { 'restore.$': '$.restore', 'target.$': '$.target' },
      comment:
        'Refuse a non-empty target unless overwrite; push the recorded refs in one request; check the target',
    });
    restore.addCatch(
      new sfn.Pass(scope, `${title} restore target failed`, {
        stateName: `${title} restore target failed`,
        parameters: { 'target.$': '$.target', 'error.$': '$.error' },
      }),
      { resultPath: '$.error' },
    );
    const targets = new sfn.Map(scope, `${title} restore targets`, {
      stateName: `${title} restore targets`,
      itemsPath: '$.restore.requests.source.targets',
      itemSelector: { 'restore.$': '$.restore', 'target.$': '$$.Map.Item.Value' },
      maxConcurrency: 2,
      resultPath: '$.sourceTargets',
    });
    targets.itemProcessor(restore);
    const finish = invokeTask(scope, `${title} finish restore`, this.finishRestore, {
      payload: { 'restore.$': '$.restore', 'targets.$': '$.sourceTargets' },
    });
    return sfn.Chain.start(targets).next(finish);
  }
}

/** The source component as the stack sees it (cdk/components/registry.ts). */
export const sourceDefinition: ComponentDefinition = {
  name: 'source',
  configSchema: sourceConfigSchema,
  settings: sourceSettings,
  create: (scope, context) => new SourceComponent(scope, context, sourceConfig(context.config)),
};
