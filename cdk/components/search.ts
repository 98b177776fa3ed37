import { Arn, ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import * as z from 'zod';
import { DEFAULT_REPOSITORY_NAME, SEARCH_HANDLER_IDS, SNAPSHOT_ROLE_ENV } from '#components/search/ids.ts';
import { DEFAULT_INDEX_NAME_PREFIX } from '#components/search/liferay-indexes.ts';
import {
  indexPatternSchema,
  repositoryNameSchema,
  type SearchSettings,
} from '#components/search/settings.ts';
import { cleartextToNetwork } from '#runtime/transport.ts';
import { kmsKeyArnSchema } from '../arns.ts';
import type { LiferayBackupConfig } from '../config.ts';
import { acknowledgeWildcards } from '../nag.ts';
import { invokeTask } from '../workflow-tasks.ts';
import { componentTitle } from '../workflows.ts';
import type { ComponentContext, ComponentDefinition, WorkflowComponent } from './component.ts';

/** The bucket prefix the search engine writes its snapshot repository under (DESIGN.md store layout). */
export const SNAPSHOT_PREFIX = 'search';

const domainArnSchema = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:es:[a-z]{2}(-[a-z]+)+-\d:\d{12}:domain\/[a-z][a-z0-9-]{2,27}$/,
    'an Amazon OpenSearch Service domain ARN like arn:aws:es:eu-west-1:111111111111:domain/liferay',
  );

/**
 * `liferayBackup.components.search` in cdk.json.
 * - `engine: "elasticsearch"`: a self-managed or Elastic Cloud cluster; the operator registers the
 *   snapshot repository (`repository`), the stack only verifies it; credentials in an SSM
 *   SecureString (`credentialsParameter`, JSON `{"username","password"}` or `{"apiKey"}`).
 * - `engine: "opensearch"`: an Amazon OpenSearch Service domain (`domainArn`); requests are signed
 *   with the Lambda role (SigV4), and the stack registers the repository in the backup bucket
 *   under `search/` through a snapshot role only the service can assume.
 */
export const searchConfigSchema = z
  .strictObject({
    enabled: z.boolean(),
    engine: z.enum(['elasticsearch', 'opensearch']),
    /** The cluster URL, e.g. https://vpc-liferay-abc.eu-west-1.es.amazonaws.com. */
    endpoint: z
      .url({ protocol: /^https?$/, error: 'an http(s) URL like https://search.example.com:9200' })
      // Anywhere in it: a password with an unencoded "/" puts its "@" in the path, and no user info is seen.
      .refine((value) => !value.includes('@') && new URL(value).username === '', {
        message: 'no credentials in the URL: use credentialsParameter',
      }),
    /** @default liferay-backup */
    repository: repositoryNameSchema.default(DEFAULT_REPOSITORY_NAME),
    /** The Liferay connector's `indexNamePrefix`. @default liferay- */
    indexNamePrefix: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,99}$/)
      .default(DEFAULT_INDEX_NAME_PREFIX),
    /** Index names or `*` patterns instead of Liferay's indexes. */
    indices: z.array(indexPatternSchema).min(1).max(100).optional(),
    /** The DXP version (`7.3`, `7.4.13-u92`, `2024.q1.1`): decides which indexes are primary storage. */
    dxpVersion: z.string().max(64).optional(),
    /** Elasticsearch: SSM SecureString parameter name holding the credentials. */
    credentialsParameter: z
      .string()
      .regex(/^\/?[a-zA-Z0-9_.\-/]{1,2048}$/, 'an SSM parameter name like /liferay/search/credentials')
      .optional(),
    /**
     * Elasticsearch: the SecureString the restore tasks use instead (a user allowed to close,
     * delete and create indexes, which the backup user need not be). @default credentialsParameter
     */
    restoreCredentialsParameter: z
      .string()
      .regex(
        /^\/?[a-zA-Z0-9_.\-/]{1,2048}$/,
        'an SSM parameter name like /liferay/search/restore-credentials',
      )
      .optional(),
    /** The KMS key of those SecureStrings when it is not the account's aws/ssm key. */
    credentialsKmsKeyArn: kmsKeyArnSchema.optional(),
    /** Amazon OpenSearch Service domain (engine opensearch). */
    domainArn: domainArnSchema.optional(),
    /** Seconds between status checks of a snapshot or restore. @default 60 */
    waitSeconds: z.number().int().min(5).max(3600).default(60),
    /** Status checks before giving up. @default 720 (12 hours at 60 s) */
    maxChecks: z.number().int().min(1).max(100_000).default(720),
    /** Run the functions in the configured network (needed for VPC domains). @default true */
    vpc: z.boolean().default(true),
  })
  .superRefine((config, ctx) => {
    if (
      (config.credentialsParameter || config.restoreCredentialsParameter) &&
      cleartextToNetwork(config.endpoint)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoint'],
        message:
          'an https:// URL: the credentials from SSM travel in a header on every request, and plain http:// would carry them in clear text (the functions refuse it)',
      });
    }
    if (config.engine === 'opensearch' && !config.domainArn) {
      ctx.addIssue({ code: 'custom', path: ['domainArn'], message: 'required with engine "opensearch"' });
    }
    if (config.engine === 'elasticsearch' && config.domainArn) {
      ctx.addIssue({ code: 'custom', path: ['domainArn'], message: 'only for engine "opensearch"' });
    }
    if (config.engine === 'opensearch' && config.credentialsParameter) {
      ctx.addIssue({
        code: 'custom',
        path: ['credentialsParameter'],
        message:
          'Amazon OpenSearch Service requests are signed with the Lambda role (SigV4): map that role instead',
      });
    }
    if (config.restoreCredentialsParameter && !config.credentialsParameter) {
      ctx.addIssue({
        code: 'custom',
        path: ['restoreCredentialsParameter'],
        message: 'only with credentialsParameter (Elasticsearch)',
      });
    }
    if (config.credentialsKmsKeyArn && !config.credentialsParameter) {
      ctx.addIssue({
        code: 'custom',
        path: ['credentialsKmsKeyArn'],
        message: 'only with credentialsParameter',
      });
    }
  });
export type SearchConfig = z.infer<typeof searchConfigSchema>;

function searchConfig(config: LiferayBackupConfig): SearchConfig {
  return config.components.search as SearchConfig;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function domainRegion(domainArn: string): string {
  return Arn.split(domainArn, ArnFormat.SLASH_RESOURCE_NAME).region ?? '';
}

/**
 * The settings of the search Lambdas. The bucket, the KMS key and the snapshot role are tokens of
 * this stack: the functions read them from STORE_BUCKET, STORE_KMS_KEY_ARN and
 * SEARCH_SNAPSHOT_ROLE_ARN (see functions/components/search/handlers/context.ts).
 */
export function searchSettings(config: LiferayBackupConfig): SearchSettings {
  const search = searchConfig(config);
  const region = search.domainArn ? domainRegion(search.domainArn) : undefined;
  return {
    engine: search.engine,
    endpoint: search.endpoint.replace(/\/$/, ''),
    credentials:
      search.engine === 'opensearch' && region
        ? { type: 'sigv4', region }
        : search.credentialsParameter
          ? { type: 'ssm', parameterName: search.credentialsParameter }
          : { type: 'none' },
    ...(search.restoreCredentialsParameter
      ? { restoreCredentials: { type: 'ssm' as const, parameterName: search.restoreCredentialsParameter } }
      : {}),
    repository: {
      name: search.repository,
      ...(search.engine === 'opensearch'
        ? { s3: { basePath: SNAPSHOT_PREFIX, region: config.region ?? region ?? '' } }
        : {}),
    },
    indexNamePrefix: search.indexNamePrefix,
    ...(search.indices ? { indices: search.indices } : {}),
    ...(search.dxpVersion ? { dxpVersion: search.dxpVersion } : {}),
    maxChecks: search.maxChecks,
    waitSeconds: search.waitSeconds,
    requestTimeoutSeconds: 30,
  };
}

/** The HTTP methods each function sends to the domain (es:ESHttp<Method>). */
/** The functions of the Restore workflow that change indexes (they use restoreCredentialsParameter). */
const RESTORE_TASKS: ReadonlySet<string> = new Set(['startRestore', 'checkRecovery']);

const DOMAIN_METHODS = {
  prepare: ['Get', 'Put', 'Post'],
  startSnapshot: ['Get', 'Put', 'Post'],
  checkSnapshot: ['Get', 'Delete'],
  startRestore: ['Get', 'Post', 'Delete'],
  checkRecovery: ['Get'],
} as const;

/**
 * Paths under the domain a function's methods must not reach although its grant covers the domain:
 * the backup side may not POST a restore, the restore side may not DELETE a snapshot
 * (es:ESHttp<Method> is authorized per HTTP path; an explicit Deny wins over the domain-wide Allow).
 */
const DOMAIN_DENIED: Partial<Record<keyof typeof DOMAIN_METHODS, { method: string; path: string }>> = {
  prepare: { method: 'Post', path: '_snapshot/*/_restore' },
  startSnapshot: { method: 'Post', path: '_snapshot/*/_restore' },
  startRestore: { method: 'Delete', path: '_snapshot/*' },
};

/** The search component's functions, grants and workflow branches. */
class SearchComponent implements WorkflowComponent {
  readonly name = 'search' as const;
  private readonly prepare: lambda.Function;
  private readonly startSnapshot: lambda.Function;
  private readonly checkSnapshot: lambda.Function;
  private readonly startRestore: lambda.Function;
  private readonly checkRecovery: lambda.Function;

  constructor(
    scope: Construct,
    context: ComponentContext,
    private readonly config: SearchConfig,
  ) {
    const network =
      config.vpc && context.network
        ? {
            vpc: context.network.vpc,
            vpcSubnets: context.network.subnets,
            securityGroups: [context.network.securityGroup],
          }
        : {};
    const create = (
      id: string,
      handlerId: string,
      file: string,
      description: string,
      timeout = Duration.minutes(1),
    ) =>
      context.createFunction(scope, id, {
        handlerId,
        entry: `functions/components/search/handlers/${file}.ts`,
        description,
        memorySize: 256,
        timeout,
        ...network,
      });
    this.prepare = create(
      'PrepareRepository',
      SEARCH_HANDLER_IDS.prepareRepository,
      'prepare-repository',
      'Search: register or find, and verify, the snapshot repository',
    );
    this.startSnapshot = create(
      'StartSnapshot',
      SEARCH_HANDLER_IDS.startSnapshot,
      'start-snapshot',
      "Search: select Liferay's indexes and start the snapshot",
    );
    this.checkSnapshot = create(
      'CheckSnapshot',
      SEARCH_HANDLER_IDS.checkSnapshot,
      'check-snapshot',
      'Search: check the snapshot, record the result',
    );
    this.startRestore = create(
      'StartRestore',
      SEARCH_HANDLER_IDS.startRestore,
      'start-restore',
      'Search: check conflicts and start the restore',
      Duration.minutes(2),
    );
    this.checkRecovery = create(
      'CheckRecovery',
      SEARCH_HANDLER_IDS.checkRecovery,
      'check-recovery',
      'Search: check the recovery, compare document counts',
    );
    // The restore reads the set's search record from its manifest, and a long index list beside it;
    // a redriven one checks that its target lock still names it and renews it (locks/restores/*).
    context.store.grantRead(this.startRestore, 'backups/*');
    context.store.grantReadWrite(this.startRestore, 'locks/restores/*');
    // Check snapshot stores a long index list beside the set (search/index-list.ts), and Check
    // recovery a restore's beside its report: the restore side writes nothing else of a set.
    context.store.grantReadWrite(this.checkSnapshot, 'backups/*/search/*');
    context.store.grantReadWrite(this.checkRecovery, 'backups/*/restores/*');

    for (const [key, fn] of Object.entries(this.functions()) as [
      keyof typeof DOMAIN_METHODS,
      lambda.Function,
    ][]) {
      this.grantEngine(fn, DOMAIN_METHODS[key], DOMAIN_DENIED[key], RESTORE_TASKS.has(key));
    }
    if (config.engine === 'opensearch') this.createSnapshotRole(scope, context);
  }

  private functions(): Record<keyof typeof DOMAIN_METHODS, lambda.Function> {
    return {
      prepare: this.prepare,
      startSnapshot: this.startSnapshot,
      checkSnapshot: this.checkSnapshot,
      startRestore: this.startRestore,
      checkRecovery: this.checkRecovery,
    };
  }

  /**
   * What a function needs to talk to the cluster: on Amazon OpenSearch Service `es:ESHttp<Method>`
   * on the domain only, for the methods it sends; on Elasticsearch, reading (and decrypting) the
   * SecureString with the credentials.
   */
  private grantEngine(
    fn: lambda.Function,
    methods: readonly string[],
    denied?: { readonly method: string; readonly path: string },
    restoreTask = false,
  ): void {
    const { config } = this;
    if (config.engine === 'opensearch' && config.domainArn) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'SearchDomainHttp',
          actions: methods.map((method) => `es:ESHttp${method}`),
          resources: [config.domainArn, `${config.domainArn}/*`],
        }),
      );
      if (denied) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            sid: 'SearchDomainHttpDenied',
            effect: iam.Effect.DENY,
            actions: [`es:ESHttp${denied.method}`],
            resources: [`${config.domainArn}/${denied.path}`],
          }),
        );
      }
      acknowledgeWildcards(fn, [
        [
          new RegExp(`^Resource::${escapeRegExp(config.domainArn)}/\\*$`),
          'Amazon OpenSearch Service authorizes HTTP paths under the domain ARN: the grant covers one domain and only the methods this function sends',
        ],
      ]);
      return;
    }
    // The restore tasks read the restore credentials when there are some, and only those.
    const parameter = (restoreTask && config.restoreCredentialsParameter) || config.credentialsParameter;
    if (!parameter) return;
    const parameterArn = Stack.of(fn).formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: parameter.replace(/^\//, ''),
    });
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ssm:GetParameter'], resources: [parameterArn] }));
    if (config.credentialsKmsKeyArn) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [config.credentialsKmsKeyArn] }),
      );
    }
  }

  /** The role Amazon OpenSearch Service assumes to read and write the repository, and who may pass it. */
  private createSnapshotRole(scope: Construct, context: ComponentContext): void {
    const snapshotRole = new iam.Role(scope, 'SnapshotRole', {
      assumedBy: new iam.ServicePrincipal('es.amazonaws.com'),
      description:
        'Assumed by Amazon OpenSearch Service to write liferay-backup search snapshots under search/',
    });
    const bucket = context.store.bucket;
    snapshotRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ListSnapshotPrefix',
        actions: ['s3:ListBucket', 's3:GetBucketLocation', 's3:ListBucketMultipartUploads'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [SNAPSHOT_PREFIX, `${SNAPSHOT_PREFIX}/*`] } },
      }),
    );
    snapshotRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadWriteSnapshotPrefix',
        actions: [
          's3:GetObject',
          's3:PutObject',
          's3:DeleteObject',
          's3:AbortMultipartUpload',
          's3:ListMultipartUploadParts',
        ],
        resources: [bucket.arnForObjects(`${SNAPSHOT_PREFIX}/*`)],
      }),
    );
    context.store.key.grant(snapshotRole, 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey');
    // Only the registering function may hand the role to the service.
    this.prepare.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PassSnapshotRole',
        actions: ['iam:PassRole'],
        resources: [snapshotRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'es.amazonaws.com' } },
      }),
    );
    this.prepare.addEnvironment(SNAPSHOT_ROLE_ENV, snapshotRole.roleArn);
    acknowledgeWildcards(snapshotRole, [
      [
        new RegExp(`^Resource::<StoreBucket[A-Za-z0-9]+\\.Arn>/${SNAPSHOT_PREFIX}/\\*$`),
        "the snapshot repository is a tree of objects the service names itself: the snapshot role may touch only the bucket's search/ prefix",
      ],
    ]);
  }

  /** Retention deletes a set's snapshot (GET the repository, DELETE the snapshot). */
  grantRetention(functions: {
    readonly deleteSet: lambda.Function;
    readonly markSet: lambda.Function;
  }): void {
    this.grantEngine(functions.deleteSet, ['Get', 'Delete']);
  }

  /** The restore drill reads the repository and the snapshot. */
  grantVerify(fn: lambda.Function): void {
    this.grantEngine(fn, ['Get']);
  }

  /** Prepare → Start → (Wait → Check)* → the result. */
  private loop(
    scope: Construct,
    mode: 'backup' | 'restore',
    start: lambda.Function,
    check: lambda.Function,
    names: { start: string; wait: string; check: string; done: string; finished: string },
  ): sfn.IChainable {
    const title = componentTitle(this.name);
    const contextPath = mode === 'backup' ? 'backup' : 'restore';
    const prepare = invokeTask(scope, `${title} prepare repository`, this.prepare, {
      payload: { mode, [`${contextPath}.$`]: `$.${contextPath}` },
      resultPath: '$.search',
      comment: 'Register or find the snapshot repository, verify it, read the engine version',
    });
    const startTask = invokeTask(scope, `${title} ${names.start}`, start, {
      payload: { [`${contextPath}.$`]: `$.${contextPath}`, 'search.$': '$.search' },
      resultPath: '$.search',
    });
    // Another snapshot (an Amazon OpenSearch Service automated one, a deletion) holds the repository.
    startTask.addRetry({
      errors: ['SearchSnapshotBusyError'],
      interval: Duration.seconds(60),
      maxAttempts: 6,
      backoffRate: 2,
      jitterStrategy: sfn.JitterType.FULL,
    });
    const wait = new sfn.Wait(scope, `${title} ${names.wait}`, {
      stateName: `${title} ${names.wait}`,
      time: sfn.WaitTime.duration(Duration.seconds(this.config.waitSeconds)),
    });
    const checkTask = invokeTask(scope, `${title} ${names.check}`, check, {
      payload: { [`${contextPath}.$`]: `$.${contextPath}`, 'search.$': '$.search' },
      resultPath: '$.search',
      comment: `One status check; fails after ${this.config.maxChecks} checks`,
    });
    const done = new sfn.Pass(scope, `${title} ${names.done}`, {
      stateName: `${title} ${names.done}`,
      outputPath: '$.search.result',
    });
    const finished = new sfn.Choice(scope, `${title} ${names.finished}`, {
      stateName: `${title} ${names.finished}`,
    })
      .when(sfn.Condition.booleanEquals('$.search.done', true), done)
      .otherwise(wait);
    return sfn.Chain.start(prepare).next(startTask).next(wait).next(checkTask).next(finished);
  }

  captureBranch(scope: Construct): sfn.IChainable {
    return this.loop(scope, 'backup', this.startSnapshot, this.checkSnapshot, {
      start: 'start snapshot',
      wait: 'wait for snapshot',
      check: 'check snapshot',
      done: 'snapshot recorded',
      finished: 'snapshot finished?',
    });
  }

  restoreBranch(scope: Construct): sfn.IChainable {
    return this.loop(scope, 'restore', this.startRestore, this.checkRecovery, {
      start: 'start restore',
      wait: 'wait for recovery',
      check: 'check recovery',
      done: 'restore recorded',
      finished: 'recovery finished?',
    });
  }
}

/** The search component as the stack sees it (cdk/components/registry.ts). */
export const searchDefinition: ComponentDefinition = {
  name: 'search',
  configSchema: searchConfigSchema,
  settings: searchSettings,
  create: (scope, context) => new SearchComponent(scope, context, searchConfig(context.config)),
};
