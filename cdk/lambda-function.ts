import * as path from 'node:path';
import { Duration, Size } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { HANDLER_METADATA_KEY } from '#local/template-definitions.ts';

/** Repository root: entries are given relative to it. */
export const PROJECT_ROOT = path.resolve(import.meta.dirname, '..');

/** Lambda limits the total size of environment variables to 4 KB. */
const LAMBDA_ENVIRONMENT_LIMIT = 4096;

export interface BackupFunctionProps {
  /** Unique handler id, e.g. `begin-backup`; the local runner binds the workflow task to the same code by it. */
  readonly handlerId: string;
  /** Entry file relative to the repository root, e.g. `functions/backup-set/begin-backup.ts`. */
  readonly entry: string;
  readonly description: string;
  /** @default 512 */
  readonly memorySize?: number;
  /** @default 1 minute */
  readonly timeout?: Duration;
  /** Scratch space in /tmp. @default 512 MiB */
  readonly ephemeralStorageMiB?: number;
  /** Merged last, over the common variables. */
  readonly environment?: Record<string, string>;
  readonly vpc?: ec2.IVpc;
  readonly vpcSubnets?: ec2.SubnetSelection;
  readonly securityGroups?: ec2.ISecurityGroup[];
  readonly filesystem?: lambda.FileSystem;
}

/**
 * Creates the stack's Lambdas. Tests that do not look at bundles use the inline factory, which
 * keeps every setting but skips esbuild (the Instance Scheduler habit).
 */
export interface FunctionFactory {
  create(scope: Construct, id: string, props: BackupFunctionProps): lambda.Function;
}

interface CommonOptions {
  readonly logRetentionDays: logs.RetentionDays;
  readonly environment: Record<string, string>;
}

function commonProps(scope: Construct, id: string, props: BackupFunctionProps, options: CommonOptions) {
  const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, { retention: options.logRetentionDays });
  const environment = {
    POWERTOOLS_SERVICE_NAME: 'liferay-backup',
    POWERTOOLS_LOG_LEVEL: 'INFO',
    NODE_OPTIONS: '--enable-source-maps',
    ...options.environment,
    ...props.environment,
  };
  const size = Object.entries(environment).reduce((sum, [key, value]) => sum + key.length + value.length, 0);
  if (size > LAMBDA_ENVIRONMENT_LIMIT) {
    throw new Error(
      `${id}: its environment is ${size} bytes, more than Lambda's ${LAMBDA_ENVIRONMENT_LIMIT}; shorten the component's settings in cdk.json`,
    );
  }
  return {
    description: props.description,
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: props.memorySize ?? 512,
    timeout: props.timeout ?? Duration.minutes(1),
    ephemeralStorageSize: props.ephemeralStorageMiB ? Size.mebibytes(props.ephemeralStorageMiB) : undefined,
    loggingFormat: lambda.LoggingFormat.JSON,
    applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
    systemLogLevelV2: lambda.SystemLogLevel.WARN,
    logGroup,
    tracing: lambda.Tracing.ACTIVE,
    environment,
    vpc: props.vpc,
    vpcSubnets: props.vpcSubnets,
    securityGroups: props.securityGroups,
    filesystem: props.filesystem,
  } satisfies Partial<lambda.FunctionProps>;
}

function tagHandler(fn: lambda.Function, handlerId: string): lambda.Function {
  (fn.node.defaultChild as lambda.CfnFunction).addMetadata(HANDLER_METADATA_KEY, handlerId);
  return fn;
}

/** Bundles each handler on its own with the locally installed esbuild (never Docker). */
export class BundledFunctionFactory implements FunctionFactory {
  constructor(private readonly options: CommonOptions) {}

  create(scope: Construct, id: string, props: BackupFunctionProps): lambda.Function {
    const fn = new nodejs.NodejsFunction(scope, id, {
      ...commonProps(scope, id, props, this.options),
      entry: path.join(PROJECT_ROOT, props.entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      bundling: {
        forceDockerBundling: false,
        format: nodejs.OutputFormat.CJS,
        target: 'node22',
        minify: true,
        keepNames: true,
        sourceMap: true,
        sourcesContent: false,
        // The runtime's SDK may lag behind the version the code was tested with: bundle ours.
        bundleAwsSDK: true,
      },
    });
    return tagHandler(fn, props.handlerId);
  }
}

/** Same settings, inline placeholder code: for template tests that do not inspect bundles. */
export class InlineFunctionFactory implements FunctionFactory {
  constructor(private readonly options: CommonOptions) {}

  create(scope: Construct, id: string, props: BackupFunctionProps): lambda.Function {
    const fn = new lambda.Function(scope, id, {
      ...commonProps(scope, id, props, this.options),
      code: lambda.Code.fromInline(
        `exports.handler = async () => { throw new Error('test bundle of ${props.entry}'); };`,
      ),
      handler: 'index.handler',
    });
    return tagHandler(fn, props.handlerId);
  }
}
