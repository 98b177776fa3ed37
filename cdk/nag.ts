import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag acknowledgements that hold for the whole stack, each with its reason. A finding is
 * acknowledged only when its exact text matches a pattern below; anything else stays a finding
 * (the stack test fails on it). Components acknowledge their own specific findings the same way,
 * with `acknowledgeWildcards(construct, reasons)`.
 */

export type NagReasons = ReadonlyArray<readonly [RegExp, string]>;

/** cdk-nag's text for a policy value: tokens as `<Ref>` / `<LogicalId.Attr>`, joins flattened. */
export function nagText(value: unknown): string {
  if (typeof value === 'string') return value;
  const record = value as Record<string, unknown>;
  if (record.Ref !== undefined) return `<${String(record.Ref)}>`;
  const getAtt = record['Fn::GetAtt'] as [string, string] | undefined;
  if (getAtt) return `<${getAtt[0]}.${getAtt[1]}>`;
  const join = record['Fn::Join'] as [string, unknown[]] | undefined;
  if (join) return join[1].map(nagText).join(join[0]);
  return JSON.stringify(value);
}

/** The AwsSolutions-IAM5 findings a policy document will produce. */
export function wildcardFindings(document: iam.PolicyDocument, scope: IConstruct): string[] {
  const findings = new Set<string>();
  const resolved = Stack.of(scope).resolve(document.toJSON()) as
    | { Statement?: Record<string, unknown>[] }
    | undefined;
  for (const statement of resolved?.Statement ?? []) {
    if (statement.Effect !== 'Allow') continue;
    for (const action of ([] as unknown[]).concat(statement.Action ?? [])) {
      if (String(action).includes('*')) findings.add(`Action::${String(action)}`);
    }
    for (const resource of ([] as unknown[]).concat(statement.Resource ?? [])) {
      const text = nagText(resource);
      if (text.includes('*')) findings.add(`Resource::${text}`);
    }
  }
  return [...findings];
}

/** Acknowledges, finding by finding, the IAM5 wildcards under `scope` that match a reason. */
export function acknowledgeWildcards(scope: IConstruct, reasons: NagReasons): void {
  for (const node of scope.node.findAll()) {
    if (!(node instanceof iam.Policy)) continue;
    for (const finding of wildcardFindings(node.document, node)) {
      // Patterns are written with the partition token; with partition literals on (cdk.json) the
      // same ARN reads `arn:aws:`, so both forms match the same reason.
      const normalised = finding.replace(/arn:aws(-[a-z]+)*:/g, 'arn:<AWS::Partition>:');
      const reason = reasons.find(([pattern]) => pattern.test(finding) || pattern.test(normalised))?.[1];
      if (reason) Validations.of(node).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });
    }
  }
}

/** Reasons that hold for every role in this stack. */
export const STACK_WIDE_REASONS: NagReasons = [
  [
    /^Resource::\*$/,
    'only actions without resource-level permissions use "*": X-Ray trace writes of traced functions and state machines, ' +
      'CloudWatch Logs delivery of the state machines, ENI management of VPC functions and SSM ListCommands/CancelCommand; ' +
      'test/cdk/security.test.ts fails on any other action granted on "*"',
  ],
  [
    /^Resource::<StoreBucket[A-Za-z0-9]+\.Arn>\/(?!\*$)[a-z0-9*/._-]+$/,
    'objects under one store prefix (backups/, objects/, work/, dumps/, pointers/, locks/): keys are made per backup set; the prefix is the narrowest scope',
  ],
  [
    /^Resource::arn:<AWS::Partition>:states:[^:]+:[^:]+:execution:.*\*$/,
    "the executions a state machine starts and watches (DescribeExecution/StopExecution): a Distributed Map's child executions, and the Restore executions the restore drill waits for; the Backup executions whose end Begin checks before taking over their lock, and the Restore executions whose end PlanRestore checks before removing their partial staging tree (DescribeExecution); Step Functions names them at run time",
  ],
  [
    /^Resource::<[A-Za-z0-9]+\.Arn>:\*$/,
    'the version and alias qualifiers of a function the state machine or scheduler invokes (granted by the CDK task construct)',
  ],
];

/** Acknowledges the findings every function of this stack has by construction. */
export function acknowledgeFunctionBaseline(scope: IConstruct): void {
  for (const node of scope.node.findAll()) {
    if (!(node instanceof lambda.Function)) continue;
    Validations.of(node).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Node.js 22 is the runtime this project builds for and tests against (esbuild target node22)',
    });
    Validations.of(node).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: "AWS's minimal managed policy for a function to write its own logs",
    });
    Validations.of(node).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
      reason: "AWS's minimal managed policy for a function attached to the configured VPC (ENI management)",
    });
  }
}
