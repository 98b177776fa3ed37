import { HANDLER_METADATA_KEY } from '#local/template-definitions.ts';
import type { Handler } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';
import { asList, FULL_CONFIG, type Statement, statementsByRole, synthesize } from '../../cdk/support.ts';

/**
 * Recording a Lambda handler's store calls as the S3 actions they need, and matching them against
 * the roles of the synthesized stack (test/security/store-permissions.test.ts says why).
 */

/** The S3 action each store call needs, as S3 authorises it. */
export const ACTIONS: Record<string, string> = {
  put: 's3:PutObject',
  createIfAbsent: 's3:PutObject',
  replaceIfMatch: 's3:PutObject',
  get: 's3:GetObject',
  getRange: 's3:GetObject',
  read: 's3:GetObject',
  contentSource: 's3:GetObject',
  // HEAD
  stat: 's3:GetObject',
  // ListObjectsV2 is authorised on the bucket.
  list: 's3:ListBucket',
  delete: 's3:DeleteObject',
  // On the stack's versioned bucket the version seen is deleted.
  deleteAsSeen: 's3:DeleteObjectVersion',
};

export interface StoreCall {
  readonly handlerId: string;
  readonly action: string;
  readonly key: string;
}

export function recording(store: ContentStore, handlerId: string, calls: StoreCall[]): ContentStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      const action = typeof property === 'string' ? ACTIONS[property] : undefined;
      if (!action || typeof value !== 'function') return value;
      return (first: unknown, ...rest: unknown[]) => {
        const keys =
          property === 'delete'
            ? (first as string[])
            : property === 'deleteAsSeen'
              ? (first as { key: string }[]).map((object) => object.key)
              : [first as string];
        for (const key of keys) calls.push({ handlerId, action, key });
        return (value as (...args: unknown[]) => unknown).call(target, first, ...rest);
      };
    },
  });
}

/** What a role allows on the bucket: each Allow statement's S3 actions and key patterns. */
interface S3Grant {
  readonly actions: readonly string[];
  /** Key patterns (`objects/*`), or '' for the bucket itself. */
  readonly keys: readonly string[];
}

function s3Grants(statements: readonly Statement[]): S3Grant[] {
  return statements
    .filter((statement) => statement.Effect === 'Allow' && !statement.Condition)
    .map((statement) => ({
      actions: asList(statement.Action).filter((action) => action.startsWith('s3:')),
      keys: asList(statement.Resource).flatMap((resource) => {
        const text = JSON.stringify(resource);
        if (/^\{"Fn::GetAtt":\["StoreBucket[0-9A-F]+","Arn"\]\}$/.test(text)) return [''];
        const match =
          /^\{"Fn::Join":\["",\[\{"Fn::GetAtt":\["StoreBucket[0-9A-F]+","Arn"\]\},"\/(.+)"\]\]\}$/.exec(text);
        return match?.[1] ? [match[1]] : [];
      }),
    }))
    .filter((grant) => grant.actions.length > 0 && grant.keys.length > 0);
}

function allows(grants: readonly S3Grant[], call: StoreCall): boolean {
  const resource = call.action === 's3:ListBucket' ? '' : call.key;
  return grants.some(
    (grant) =>
      grant.actions.includes(call.action) &&
      grant.keys.some((pattern) =>
        pattern === ''
          ? resource === ''
          : new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`).test(resource),
      ),
  );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

/** The handlers, each seeing the runtime's store through a recorder that adds to `calls`. */
export function recordingHandlers(
  handlers: ReadonlyMap<string, Handler>,
  calls: StoreCall[],
): Map<string, Handler> {
  return new Map(
    [...handlers].map(([id, handler]): [string, Handler] => [
      id,
      (event, rt) => handler(event, { ...rt, store: recording(rt.store, id, calls) }),
    ]),
  );
}

/**
 * The calls no role allows, one line per handler, action and shape of key: each must be allowed by
 * the role of every function of the stack (every component on, unless `config` says otherwise)
 * that runs its handler.
 */
export function deniedStoreCalls(
  calls: readonly StoreCall[],
  /** The stack's configuration (the database's mode decides its grants). */
  config: unknown = FULL_CONFIG,
): string[] {
  const template = synthesize(config);
  const byRole = statementsByRole(template);
  const grantsByHandler = new Map<string, S3Grant[][]>();
  for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
    const { Metadata, Properties } = fn as {
      Metadata?: Record<string, unknown>;
      Properties: { Role: { 'Fn::GetAtt': [string, string] } };
    };
    const handlerId = Metadata?.[HANDLER_METADATA_KEY];
    if (typeof handlerId !== 'string') continue;
    const grants = s3Grants(byRole.get(Properties.Role['Fn::GetAtt'][0]) ?? []);
    grantsByHandler.set(handlerId, [...(grantsByHandler.get(handlerId) ?? []), grants]);
  }
  const denied = new Set<string>();
  // The local stand-in for the Distributed Map's ItemReader: on AWS the state machine reads the
  // shard list itself (its grant: FilesComponent.grantStateMachine, test/cdk/grants.test.ts).
  for (const call of calls.filter((recorded) => recorded.handlerId !== 'local-item-reader')) {
    const roles = grantsByHandler.get(call.handlerId);
    if (!roles) {
      denied.add(`${call.handlerId}: no function in the stack runs it`);
      continue;
    }
    // Store keys name backup ids and hashes: the pattern of the key is what the grant covers.
    const shape = call.key.replace(/[0-9a-f]{64}/g, '<sha256>').replace(/b\d{8}t\d{6}z-[0-9a-z]+/g, '<id>');
    if (roles.some((grants) => !allows(grants, call)))
      denied.add(`${call.handlerId}: ${call.action} ${shape}`);
  }
  return [...denied].sort();
}
