import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../../cdk/config.ts';
import { InlineFunctionFactory } from '../../cdk/lambda-function.ts';
import { LiferayBackupStack } from '../../cdk/liferay-backup-stack.ts';

/** What the template tests share: the two configurations, the stack as synthesized, its roles' statements. */

const ROOT = path.resolve(import.meta.dirname, '../..');
/** Every component on (the configuration the local workflows are generated from). */
export const FULL_CONFIG = JSON.parse(
  readFileSync(path.join(ROOT, 'functions/local/workflows/config.json'), 'utf8'),
) as Record<string, unknown>;
export const CDK_JSON = JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown> & { liferayBackup: unknown };
};
const FEATURE_FLAGS = Object.fromEntries(
  Object.entries(CDK_JSON.context).filter(([key]) => key.startsWith('@aws-cdk/')),
);

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

export const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

export function synthesize(rawConfig: unknown): Template {
  const app = new App({ context: FEATURE_FLAGS });
  const stack = new LiferayBackupStack(app, 'LiferayBackup', {
    config: parseConfig(rawConfig),
    env: { account: '111111111111', region: 'eu-west-1' },
    functionFactory: (options) => new InlineFunctionFactory(options),
  });
  return Template.fromStack(stack);
}

/** Every policy statement of every role, by the role's logical id. */
export function statementsByRole(template: Template): Map<string, Statement[]> {
  const byRole = new Map<string, Statement[]>();
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    const props = (
      policy as { Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } } }
    ).Properties;
    for (const role of props.Roles)
      byRole.set(role.Ref, [...(byRole.get(role.Ref) ?? []), ...props.PolicyDocument.Statement]);
  }
  return byRole;
}

/** The logical id of the role of the function whose logical id starts with functionPrefix. */
export function roleOf(template: Template, functionPrefix: string): string {
  const functions = template.findResources('AWS::Lambda::Function');
  const entry = Object.entries(functions).find(([id]) => id.startsWith(functionPrefix));
  if (!entry) throw new Error(`no function ${functionPrefix}`);
  return (entry[1] as { Properties: { Role: { 'Fn::GetAtt': [string, string] } } }).Properties.Role[
    'Fn::GetAtt'
  ][0];
}

export function statementsOfFunction(template: Template, functionPrefix: string): Statement[] {
  return statementsByRole(template).get(roleOf(template, functionPrefix)) ?? [];
}
