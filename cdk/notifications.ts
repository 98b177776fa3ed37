import { Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

export interface NotificationsProps {
  /** Named at the head of every notification (several deployments may mail the same people). @default not named */
  readonly environment?: string;
  /** Subscribed by email (the recipient confirms). @default no subscription */
  readonly alarmEmail?: string;
  /** Executions whose failure is announced. */
  readonly stateMachines: readonly sfn.IStateMachine[];
}

/** The SNS topic for people, and the rule that tells them when a workflow did not succeed. */
export class Notifications extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    const key = new kms.Key(this, 'Key', {
      description: 'Encrypts liferay-backup notifications',
      enableKeyRotation: true,
    });
    // EventBridge and CloudWatch alarms publish to the encrypted topic through this key.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [
          new iam.ServicePrincipal('events.amazonaws.com'),
          new iam.ServicePrincipal('cloudwatch.amazonaws.com'),
        ],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'liferay-backup notifications',
      masterKey: key,
      enforceSSL: true,
    });
    // enforceSSL and the EventBridge target give the topic a policy of its own, which replaces SNS's
    // default one: without this statement every alarm would go into ALARM and fail to notify anyone.
    const stack = Stack.of(this);
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsOfThisAccountPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*`,
          },
        },
      }),
    );
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    new events.Rule(this, 'WorkflowDidNotSucceed', {
      description: 'A liferay-backup backup or restore ended FAILED, TIMED_OUT or ABORTED',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          status: ['FAILED', 'TIMED_OUT', 'ABORTED'],
          stateMachineArn: props.stateMachines.map((machine) => machine.stateMachineArn),
        },
      },
      targets: [
        new eventTargets.SnsTopic(this.topic, {
          message: events.RuleTargetInput.fromText(notificationText(props.environment)),
        }),
      ],
    });
  }
}

/**
 * The text people get by email or SMS when a workflow did not succeed. A failed execution has no
 * output in its event (`detail.output` is null): what happened is in `detail.cause`, which the
 * workflows' Fail states fill with Commit's or Report's message (the set, its status, each failed
 * component and what a restore of `latest` uses now). Stopped and timed-out executions carry no
 * cause (null), so the execution's ARN and console address always follow: they lead to the
 * execution's history whatever the cause says. One line: EventBridge sends a text template as it
 * is, quotes and escapes included, so a `\n` would arrive as two characters; the most useful words
 * come first, for an SMS that keeps only the start.
 */
function notificationText(environment: string | undefined): string {
  const field = (path: string) => events.EventField.fromPath(path);
  const executionArn = field('$.detail.executionArn');
  const region = field('$.region');
  return [
    `liferay-backup${environment ? ` ${environment}` : ''}: ${field('$.detail.status')} (${field('$.detail.error')}): ${field('$.detail.cause')}`,
    `Execution: ${executionArn}`,
    `Console: https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`,
    `CLI: aws stepfunctions describe-execution --execution-arn ${executionArn}`,
  ].join(' | ');
}
