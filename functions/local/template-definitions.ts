/**
 * Turns the state machine definitions of a synthesized CloudFormation template into plain ASL
 * that the local interpreter runs. Lambda ARNs become `arn:aws:lambda:local:000000000000:function:
 * liferay-backup-<handlerId>` (the handler id comes from each function's metadata), so the local
 * runner binds each Task to the same handler code the Lambda bundles.
 */

export const WORKFLOW_METADATA_KEY = 'LiferayBackup:Workflow';
export const HANDLER_METADATA_KEY = 'LiferayBackup:Handler';
export const LOCAL_FUNCTION_ARN_PREFIX = 'arn:aws:lambda:local:000000000000:function:liferay-backup-';
export const LOCAL_STATE_MACHINE_ARN_PREFIX =
  'arn:aws:states:local:000000000000:stateMachine:liferay-backup-';

interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}

export interface CfnTemplate {
  Resources?: Record<string, CfnResource>;
}

export type AslDefinition = { StartAt: string; States: Record<string, unknown>; [key: string]: unknown };

/** Every state machine tagged with a workflow name, as resolved ASL, keyed by that name. */
export function definitionsFromTemplate(template: CfnTemplate): Record<string, AslDefinition> {
  const resources = template.Resources ?? {};
  const out: Record<string, AslDefinition> = {};
  for (const resource of Object.values(resources)) {
    if (resource.Type !== 'AWS::StepFunctions::StateMachine') continue;
    const name = resource.Metadata?.[WORKFLOW_METADATA_KEY];
    if (typeof name !== 'string') continue;
    const raw = resource.Properties?.DefinitionString;
    const text = resolveValue(raw, resources);
    if (typeof text !== 'string')
      throw new Error(`state machine ${name}: DefinitionString did not resolve to a string`);
    out[name] = JSON.parse(text) as AslDefinition;
  }
  return out;
}

function resolveValue(value: unknown, resources: Record<string, CfnResource>): unknown {
  if (typeof value === 'string' || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => resolveValue(item, resources));
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length === 1) {
    const [fn] = keys as [string];
    const arg = record[fn];
    switch (fn) {
      case 'Fn::Join': {
        const [separator, parts] = arg as [string, unknown[]];
        return parts.map((part) => String(resolveValue(part, resources))).join(separator);
      }
      case 'Fn::GetAtt': {
        const [logicalId, attribute] = arg as [string, string];
        return resolveAttribute(logicalId, attribute, resources);
      }
      case 'Ref':
        return resolveRef(arg as string, resources);
      case 'Fn::Select': {
        const [index, list] = arg as [number, unknown];
        const resolved = resolveValue(list, resources);
        return Array.isArray(resolved) ? resolved[Number(index)] : `local-select-${index}`;
      }
      case 'Fn::Split': {
        const [separator, source] = arg as [string, unknown];
        return String(resolveValue(source, resources)).split(separator);
      }
      default:
        break;
    }
  }
  return Object.fromEntries(
    Object.entries(record).map(([key, item]) => [key, resolveValue(item, resources)]),
  );
}

function resolveAttribute(
  logicalId: string,
  attribute: string,
  resources: Record<string, CfnResource>,
): string {
  const resource = resources[logicalId];
  const handlerId = resource?.Metadata?.[HANDLER_METADATA_KEY];
  if (resource?.Type === 'AWS::Lambda::Function' && attribute === 'Arn') {
    if (typeof handlerId !== 'string')
      throw new Error(`function ${logicalId} has no ${HANDLER_METADATA_KEY} metadata`);
    return `${LOCAL_FUNCTION_ARN_PREFIX}${handlerId}`;
  }
  return `local:${resource?.Type ?? 'unknown'}:${attribute}`;
}

function resolveRef(name: string, resources: Record<string, CfnResource>): string {
  switch (name) {
    case 'AWS::Partition':
      return 'aws';
    case 'AWS::Region':
      return 'local';
    case 'AWS::AccountId':
      return '000000000000';
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    default: {
      const resource = resources[name];
      // The local store ignores the bucket's name.
      if (resource?.Type === 'AWS::S3::Bucket') return 'local-backup-store';
      // A workflow that starts another (the drill's restore) names it by the workflow it is.
      const workflow = resource?.Metadata?.[WORKFLOW_METADATA_KEY];
      if (resource?.Type === 'AWS::StepFunctions::StateMachine' && typeof workflow === 'string')
        return `${LOCAL_STATE_MACHINE_ARN_PREFIX}${workflow}`;
      return `local:${resource?.Type ?? name}`;
    }
  }
}
