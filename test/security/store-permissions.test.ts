import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { allHandlers } from '#local/handlers.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { HANDLER_METADATA_KEY } from '#local/template-definitions.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { asList, FULL_CONFIG, type Statement, statementsByRole, synthesize } from '../cdk/support.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * Every store request a Lambda handler makes in the workflows is allowed by that function's role
 * in the synthesized stack. The workflows run locally (no IAM), so a missing grant showed only on
 * AWS: garbage collection's sweep HEADs each object before deleting it, S3 authorises HEAD as
 * s3:GetObject, and its role had GetObject on work/* only, so every collection with something to
 * collect failed there. Here each handler's store calls are recorded (the action S3 would check,
 * the key) while the Backup, Restore, Verify and Retention workflows run over a Liferay Home and
 * its app server, and each is matched against the role's Allow statements.
 */

const DAY = 86_400_000;

/** The S3 action each store call needs, as S3 authorises it. */
const ACTIONS: Record<string, string> = {
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

interface StoreCall {
  readonly handlerId: string;
  readonly action: string;
  readonly key: string;
}

function recording(store: ContentStore, handlerId: string, calls: StoreCall[]): ContentStore {
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

describe('the store requests of every Lambda handler in the workflows', () => {
  const calls: StoreCall[] = [];
  const grantsByHandler = new Map<string, S3Grant[][]>();

  beforeAll(async () => {
    // The roles: every function of the stack with every component on, by the handler it runs.
    const template = synthesize(FULL_CONFIG);
    const byRole = statementsByRole(template);
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

    // The workflows, each handler seeing the store through a recorder.
    const { dir } = tempDir('store-permissions');
    const store = new LocalFolderStore(path.join(dir, 'store'));
    const home = path.join(dir, 'home');
    const tomcat = path.join(dir, 'tomcat-9.0.83');
    const write = (rel: string, content: Buffer | string) => {
      fs.mkdirSync(path.dirname(path.join(home, rel)), { recursive: true });
      fs.writeFileSync(path.join(home, rel), content);
    };
    write('portal-ext.properties', 'company.default.web.id=liferay.com\n');
    fs.mkdirSync(path.join(tomcat, 'conf'), { recursive: true });
    fs.writeFileSync(path.join(tomcat, 'conf/server.xml'), '<Server/>\n');
    const handlers = new Map<string, Handler>(
      [...allHandlers()].map(([id, handler]): [string, Handler] => [
        id,
        (event, rt) => handler(event, { ...rt, store: recording(rt.store, id, calls) }),
      ]),
    );
    const runtime = (
      components: Record<string, unknown>,
      now: () => Date,
      extra: Record<string, unknown> = {},
    ): Runtime =>
      localRuntime({
        store,
        settings: parseSettings(
          { environment: 'test-env', configuredComponents: Object.keys(components), components, ...extra },
          'test',
        ),
        now,
        scratchDir: path.join(dir, 'scratch'),
      });
    const succeeded = (outcome: WorkflowOutcome) => {
      if (outcome.status !== 'SUCCEEDED')
        throw new Error(`workflow failed: ${outcome.error}: ${outcome.cause}`);
      return outcome.output;
    };
    const files = (root: string, appServer: string) => ({
      liferayHome: { root, blobThresholdBytes: 64 * 1024 },
      appServer: { root: appServer },
    });
    const start = Date.now() - 10 * DAY;
    for (const day of [0, 1]) {
      // A document that changes (a pack and a blob each night: content left behind for the sweep).
      write('data/document_library/20101/0/1.txt/1.0', randomBytes(10_000));
      write('data/document_library/20101/0/2.bin/1.0', randomBytes(300_000));
      fs.mkdirSync(path.join(dir, 'scratch'), { recursive: true });
      succeeded(
        await runWorkflow(
          WORKFLOWS.backup,
          { requestedBy: 'cli' },
          runtime(files(home, tomcat), () => new Date(start + day * DAY)),
          { handlers },
        ),
      );
    }
    const restored = path.join(dir, 'restored');
    succeeded(
      await runWorkflow(
        WORKFLOWS.restore,
        {
          backupId: 'latest',
          requestedBy: 'cli',
          liferayHome: { target: path.join(restored, 'home') },
          appServer: { target: path.join(restored, 'tomcat') },
        },
        runtime(files(home, tomcat), () => new Date()),
        { handlers },
      ),
    );
    succeeded(
      await runWorkflow(
        WORKFLOWS.verify,
        { backupId: 'latest', requestedBy: 'cli' },
        runtime(files(home, tomcat), () => new Date()),
        {
          handlers,
        },
      ),
    );
    const later = () => new Date(Date.now() + 3 * DAY);
    succeeded(
      await runWorkflow(
        WORKFLOWS.retention,
        { dryRun: false },
        runtime(files(home, tomcat), later, {
          retention: { policy: { daily: 1, weekly: 0, monthly: 0, minComplete: 1 }, graceHours: 48 },
        }),
        { handlers },
      ),
    );
  }, 120_000);

  it('reach the store through every kind of call, from the handlers of every workflow', () => {
    const handlerIds = new Set(calls.map((call) => call.handlerId));
    for (const handlerId of ['begin-backup', 'commit-backup', 'sweep-prefix', 'delete-set', 'mark-set'])
      expect(handlerIds, handlerId).toContain(handlerId);
    expect(new Set(calls.map((call) => call.action))).toEqual(new Set(Object.values(ACTIONS)));
  });

  it('are each allowed by the role of every function that runs that handler', () => {
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
    expect([...denied].sort()).toEqual([]);
  });
});
