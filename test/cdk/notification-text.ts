import type { Template } from 'aws-cdk-lib/assertions';

/**
 * The rule that tells people a workflow did not succeed, and the text EventBridge makes of an event
 * with its input transformer, as the EventBridge user guide describes it: each `<name>` of the
 * template takes the value at its path; a string goes in unescaped; a null goes in as `null`; a
 * path missing from the event makes no variable and puts nothing. A text template is sent as it
 * is, its surrounding quotes included (the guide's SNS tutorial receives `"This event was ..."`).
 */
export interface RuleTransformer {
  readonly pattern: Record<string, unknown>;
  readonly paths: Record<string, string>;
  readonly template: string;
}

export function workflowRuleTransformer(template: Template): RuleTransformer {
  const rules = Object.values(template.findResources('AWS::Events::Rule')) as {
    Properties: {
      EventPattern: Record<string, unknown>;
      Targets: { InputTransformer?: { InputPathsMap: Record<string, string>; InputTemplate: unknown } }[];
    };
  }[];
  const rule = rules.find(
    (candidate) => candidate.Properties.EventPattern.source?.toString() === 'aws.states',
  );
  const transformer = rule?.Properties.Targets[0]?.InputTransformer;
  if (!rule || !transformer) throw new Error('no aws.states rule with an input transformer');
  if (typeof transformer.InputTemplate !== 'string')
    throw new Error(`the input template is not a plain string: ${JSON.stringify(transformer.InputTemplate)}`);
  return {
    pattern: rule.Properties.EventPattern,
    paths: transformer.InputPathsMap,
    template: transformer.InputTemplate,
  };
}

export function renderNotification(transformer: RuleTransformer, event: unknown): string {
  let text = transformer.template;
  for (const [name, path] of Object.entries(transformer.paths)) {
    let value: unknown = event;
    for (const key of path.replace(/^\$\./, '').split('.'))
      value =
        value === null || typeof value !== 'object' ? undefined : (value as Record<string, unknown>)[key];
    const inserted = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
    text = text.split(`<${name}>`).join(inserted);
  }
  return text;
}

/** A "Step Functions Execution Status Change" event as the Step Functions guide shows one. */
export function executionStatusChange(detail: {
  stateMachine: string;
  execution: string;
  status: 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  error?: string | null;
  cause?: string | null;
}): Record<string, unknown> {
  const stateMachineArn = `arn:aws:states:eu-west-1:111111111111:stateMachine:${detail.stateMachine}`;
  const executionArn = `arn:aws:states:eu-west-1:111111111111:execution:${detail.stateMachine}:${detail.execution}`;
  return {
    version: '0',
    id: '315c1398-40ff-a850-213b-158f73e60175',
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: '111111111111',
    time: '2026-11-28T02:41:07Z',
    region: 'eu-west-1',
    resources: [executionArn],
    detail: {
      executionArn,
      stateMachineArn,
      name: detail.execution,
      status: detail.status,
      startDate: 1_795_832_460_000,
      stopDate: 1_795_840_867_000,
      input: '{"requestedBy":"schedule","schedule":"nightly"}',
      inputDetails: { included: true },
      output: null,
      outputDetails: null,
      ...(detail.error === undefined ? {} : { error: detail.error }),
      ...(detail.cause === undefined ? {} : { cause: detail.cause }),
    },
  };
}
