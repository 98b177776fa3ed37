import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import { Notifications } from '../../cdk/notifications.ts';
import {
  executionStatusChange,
  type RuleTransformer,
  renderNotification,
  workflowRuleTransformer,
} from './notification-text.ts';
import { FULL_CONFIG, synthesize } from './support.ts';

/**
 * The text people get when a workflow did not succeed, rendered from the synthesized rule's input
 * transformer (test/backup-set/review-failure-messages.test.ts renders it for real Backup runs),
 * and the alarms' own words, which are all an alarm mail says.
 */

let template: Template;
let transformer: RuleTransformer;
beforeAll(() => {
  template = synthesize(FULL_CONFIG);
  transformer = workflowRuleTransformer(template);
});

const ARN =
  'arn:aws:states:eu-west-1:111111111111:execution:WorkflowsRestoreED196DA7-Qw8eR7tY6uI5:drill-night';

describe('the notification of a workflow that did not succeed', () => {
  it('fits EventBridge (a template of at most 8,192 characters) and reads the execution and its region from the event', () => {
    expect(transformer.template.length).toBeLessThanOrEqual(8192);
    expect(Object.values(transformer.paths).sort()).toEqual(
      ['$.detail.cause', '$.detail.error', '$.detail.executionArn', '$.detail.status', '$.region'].sort(),
    );
  });

  it('a failed execution: status, error and cause first, then the execution, its console page and the CLI command', () => {
    const text = renderNotification(
      transformer,
      executionStatusChange({
        stateMachine: 'WorkflowsRestoreED196DA7-Qw8eR7tY6uI5',
        execution: 'drill-night',
        status: 'FAILED',
        error: 'RestoreFailed',
        cause: 'restore r20261128t031500z-1a2b of b20261127t020000z-7f3a is failed: database: ...',
      }),
    );
    expect(text).toBe(
      `"liferay-backup local: FAILED (RestoreFailed): restore r20261128t031500z-1a2b of b20261127t020000z-7f3a is failed: database: ... | Execution: ${ARN} | Console: https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${ARN} | CLI: aws stepfunctions describe-execution --execution-arn ${ARN}"`,
    );
  });

  it('a stopped or timed-out execution has no error nor cause: the execution and its console page still say where to look', () => {
    for (const status of ['ABORTED', 'TIMED_OUT'] as const) {
      const text = renderNotification(
        transformer,
        executionStatusChange({
          stateMachine: 'WorkflowsRestoreED196DA7-Qw8eR7tY6uI5',
          execution: 'drill-night',
          status,
          error: null,
          cause: null,
        }),
      );
      expect(text).toMatch(
        new RegExp(
          `^"liferay-backup local: ${status} \\(null\\): null \\| Execution: ${ARN} \\| Console: https://eu-west-1\\.console`,
        ),
      );
    }
  });

  it('names the environment it was given (several deployments may mail the same people)', () => {
    const stack = new Stack(new App(), 'S', { env: { account: '111111111111', region: 'eu-west-1' } });
    const machine = new sfn.StateMachine(stack, 'Backup', {
      definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Nothing')),
    });
    new Notifications(stack, 'Notifications', { environment: 'production', stateMachines: [machine] });
    const text = renderNotification(
      workflowRuleTransformer(Template.fromStack(stack)),
      executionStatusChange({
        stateMachine: 'Backup-1',
        execution: 'x',
        status: 'FAILED',
        error: 'BackupPartial',
        cause: 'c',
      }),
    );
    expect(text).toMatch(/^"liferay-backup production: FAILED \(BackupPartial\): c \| Execution: /);
  });
});

describe('what the alarm mails say', () => {
  const descriptions = () =>
    Object.fromEntries(
      Object.entries(template.findResources('AWS::CloudWatch::Alarm')).map(([id, alarm]) => [
        id,
        (alarm as { Properties: { AlarmDescription: string } }).Properties.AlarmDescription,
      ]),
    );

  it('a partial set points to the notification that names it and to the command that shows it', () => {
    const partial = Object.entries(descriptions()).find(([id]) =>
      id.startsWith('MonitoringBackupSetPartial'),
    )?.[1];
    expect(partial).toContain('names the set, each failed component with its error');
    expect(partial).toContain("'liferay-backup show <backup id> --bucket <the store bucket>'");
  });

  it('each recovery point alarm says where to look and how to see what a restore of latest uses', () => {
    const rpo = Object.entries(descriptions()).filter(([id]) =>
      id.startsWith('MonitoringRecoveryPointObjective'),
    );
    expect(rpo.length).toBe(6);
    for (const [, description] of rpo) {
      expect(description).toContain("Backup state machine's recent executions");
      expect(description).toContain("'liferay-backup list --bucket <the store bucket>'");
      expect(description.length).toBeLessThanOrEqual(1024);
    }
  });
});
