import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { HookSpec, HooksSettings } from '#backup-set/hooks.ts';
import type { BackupFunctionProps } from './lambda-function.ts';
import { acknowledgeWildcards } from './nag.ts';

export interface CaptureHooksProps {
  readonly hooks: HooksSettings | undefined;
  readonly createFunction: (scope: Construct, id: string, props: BackupFunctionProps) => lambda.Function;
}

/**
 * The functions that run the capture hooks, allowed to run exactly the configured SSM document on
 * the configured instances, or to invoke the configured Lambda, and nothing else.
 */
export class CaptureHooks extends Construct {
  readonly runHook: lambda.Function;
  readonly checkHook: lambda.Function;

  constructor(scope: Construct, id: string, props: CaptureHooksProps) {
    super(scope, id);
    const longest = Math.max(props.hooks?.pre?.timeoutSeconds ?? 0, props.hooks?.post?.timeoutSeconds ?? 0);
    this.runHook = props.createFunction(this, 'RunHook', {
      handlerId: 'run-hook',
      entry: 'functions/backup-set/run-hook.ts',
      description: 'Start a capture hook (SSM Run Command or Lambda)',
      // A Lambda hook is invoked synchronously: wait for it, with a margin.
      timeout: Duration.seconds(Math.min(900, Math.max(60, longest + 30))),
    });
    this.checkHook = props.createFunction(this, 'CheckHook', {
      handlerId: 'check-hook',
      entry: 'functions/backup-set/check-hook.ts',
      description: 'Poll a running SSM capture hook',
    });
    const specs = [props.hooks?.pre, props.hooks?.post].filter(
      (spec): spec is HookSpec => spec !== undefined,
    );
    for (const spec of specs) this.grant(spec);
    acknowledgeWildcards(this, [
      [
        /^Resource::arn:<AWS::Partition>:ec2:[^:]+:[^:]+:instance\/\*$/,
        'Run Command targets the Liferay hosts by tag: the instances are not known at deploy time, and the statement is limited to instances carrying the configured tag (ssm:resourceTag condition)',
      ],
    ]);
  }

  private grant(spec: HookSpec): void {
    const stack = Stack.of(this);
    switch (spec.type) {
      case 'ssm': {
        const isAwsDocument = spec.documentName.startsWith('AWS-');
        const documentArn = isAwsDocument
          ? stack.formatArn({
              service: 'ssm',
              account: '',
              resource: 'document',
              resourceName: spec.documentName,
            })
          : stack.formatArn({ service: 'ssm', resource: 'document', resourceName: spec.documentName });
        this.runHook.addToRolePolicy(
          new iam.PolicyStatement({ actions: ['ssm:SendCommand'], resources: [documentArn] }),
        );
        const instanceIds = spec.targets
          .filter((target) => target.key === 'InstanceIds')
          .flatMap((target) => target.values);
        const tags = spec.targets.filter((target) => target.key.startsWith('tag:'));
        if (instanceIds.length > 0) {
          this.runHook.addToRolePolicy(
            new iam.PolicyStatement({
              actions: ['ssm:SendCommand'],
              resources: instanceIds.map((instanceId) =>
                stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: instanceId }),
              ),
            }),
          );
        }
        for (const tag of tags) {
          this.runHook.addToRolePolicy(
            new iam.PolicyStatement({
              actions: ['ssm:SendCommand'],
              resources: [stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' })],
              conditions: {
                StringEquals: { [`ssm:resourceTag/${tag.key.slice('tag:'.length)}`]: tag.values },
              },
            }),
          );
        }
        // ListCommands and CancelCommand have no resource-level permissions (Service Authorization Reference).
        this.checkHook.addToRolePolicy(
          new iam.PolicyStatement({ actions: ['ssm:ListCommands', 'ssm:CancelCommand'], resources: ['*'] }),
        );
        // A retried start looks for the command an earlier attempt sent before sending one (hook-runners.ts).
        this.runHook.addToRolePolicy(
          new iam.PolicyStatement({ actions: ['ssm:ListCommands'], resources: ['*'] }),
        );
        break;
      }
      case 'lambda':
        this.runHook.addToRolePolicy(
          new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [spec.functionArn] }),
        );
        break;
      case 'command':
        throw new Error('a "command" hook runs only in local mode; configure an "ssm" or "lambda" hook');
    }
  }
}
