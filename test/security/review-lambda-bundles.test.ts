import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_ITEM_READER_HANDLER } from '#local/adapt-for-local-interpreter.ts';
import { allHandlers } from '#local/handlers.ts';
import { lambdaTasks, runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import {
  type AslDefinition,
  type CfnTemplate,
  definitionsFromTemplate,
  HANDLER_METADATA_KEY,
} from '#local/template-definitions.ts';
import type { Handler } from '#runtime/runtime.ts';
import { EFS_MOUNT_PATH } from '../../cdk/components/files.ts';
import { FULL_CONFIG } from '../cdk/support.ts';
import { WorkRepo } from '../components/source/git-fixtures.ts';
import { makeHome, writeTree } from '../reliability/support.ts';
import { type DatabaseServer, startMariaDb } from '../support/database-servers.ts';
import { forEachRef, type GitHttpServer, startGitHttpServer } from '../support/git-http-server.ts';
import { tempDir, testRuntime } from '../support/local-runtime.ts';
import { type LocalS3Server, startS3Server } from '../support/s3-server.ts';
import { SearchEngineStandIn } from '../support/search-engine-server.ts';
import {
  type BundledFunction,
  BundledFunctions,
  type FakeSsm,
  type SynthesizedStack,
  startFakeSsm,
  synthesizeBundled,
} from './support/lambda-bundles.ts';

/**
 * The Lambda bundles as deployed, not the TypeScript sources: the stack synthesized with the real
 * function factory (CDK NodejsFunction, the local esbuild, one CommonJS index.js per function),
 * and the Backup, Restore and Verify workflows of that template run with every Lambda Task bound
 * to its own function's bundle, loaded as Lambda loads it (`index.handler` from the asset folder),
 * in a container of its own (a worker thread) with that function's template environment. A defect
 * only a bundle has (a dynamic import's interop, a file read beside the source, a worker started
 * from a source path, a missing external) fails here instead of on AWS.
 *
 * What a local run must change in the environments (nothing else):
 * - STORE_BUCKET, STORE_KMS_KEY_ARN, SEARCH_SNAPSHOT_ROLE_ARN (CloudFormation Ref, GetAtt) →
 *   s3rver's bucket, ARNs of the same shape; AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SSM
 *   and credentials added (s3rver, the fake SSM endpoint);
 * - the EFS mount (/mnt/liferay) in LIFERAY_BACKUP_SETTINGS → a temp folder;
 * - the Git host: the stack takes https URLs only; the settings' https://git.invalid → the local
 *   git http-backend (plain http);
 * - SCRATCH_DIR → a temp folder (Lambda's /tmp).
 */

const GIT_HOST = 'https://git.invalid';
const DB_PARAMETER = '/liferay/bundles/db-url';
const GIT_PASSWORD_PARAMETER = '/liferay/bundles/git-password';
const GIT_RESTORE_PARAMETER = '/liferay-backup/git-restore/password';
const GIT_USER = 'bundler';
const GIT_PASSWORD = 'bundle-pw-4471';
const DB_PASSWORD = 'bundle-db-pw-9915';

const work = tempDir('lambda-bundles');
const dirs = {
  cdkOut: path.join(work.dir, 'cdk.out'),
  efs: path.join(work.dir, 'efs'),
  scratch: path.join(work.dir, 'scratch'),
};
let database: DatabaseServer;
let git: GitHttpServer;
let s3: LocalS3Server;
let search: SearchEngineStandIn;
let ssm: FakeSsm;
let stack: SynthesizedStack;
let bundles: BundledFunctions;

/** The stack of this run: every component, the database dumped, endpoints of the local servers. */
function stackConfig(): Record<string, unknown> {
  const components = FULL_CONFIG.components as Record<string, Record<string, unknown>>;
  const credentials = { username: GIT_USER, passwordParameter: GIT_PASSWORD_PARAMETER };
  return {
    ...FULL_CONFIG,
    environment: 'bundles',
    components: {
      ...components,
      database: {
        enabled: true,
        mode: 'dump',
        urlParameterName: DB_PARAMETER,
        toolsLayerArn: 'arn:aws:lambda:eu-west-1:111111111111:layer:db-clients:1',
      },
      // Amazon OpenSearch Service as cdk.json has it: requests signed with the role's credentials (SigV4).
      search: {
        enabled: true,
        engine: 'opensearch',
        endpoint: search.url,
        domainArn: 'arn:aws:es:eu-west-1:111111111111:domain/liferay-bundles',
        dxpVersion: '7.3',
        waitSeconds: 5,
        maxChecks: 5,
      },
      source: {
        enabled: true,
        repositories: [
          {
            name: 'workspace',
            sourceUrl: `${GIT_HOST}/source.git`,
            mirrorUrl: `${GIT_HOST}/mirror.git`,
            sourceCredentials: credentials,
            mirrorCredentials: credentials,
            storeCopy: true,
          },
        ],
        restoreCredentialsPath: '/liferay-backup/git-restore/',
      },
    },
  };
}

/** A function's template environment as it runs here (see the list above). */
function environmentOf(fn: BundledFunction): Record<string, string> {
  const overrides: Record<string, string> = {
    STORE_BUCKET: s3.bucket,
    // The store's key (a GetAtt): s3rver takes the SSE-KMS headers and ignores them.
    STORE_KMS_KEY_ARN: 'arn:aws:kms:eu-west-1:111111111111:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9',
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_SSM: ssm.endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    // The snapshot role (a GetAtt): the domain would assume it to reach the bucket.
    SEARCH_SNAPSHOT_ROLE_ARN: 'arn:aws:iam::111111111111:role/liferay-bundles-search-snapshot',
    SCRATCH_DIR: path.join(dirs.scratch, fn.logicalId),
  };
  fs.mkdirSync(overrides.SCRATCH_DIR ?? '', { recursive: true });
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? work.dir,
    LANG: 'C.UTF-8',
    AWS_REGION: 'eu-west-1',
    AWS_DEFAULT_REGION: 'eu-west-1',
    AWS_LAMBDA_FUNCTION_NAME: fn.logicalId,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMiB),
    LAMBDA_TASK_ROOT: fn.assetDir,
  };
  for (const [key, value] of Object.entries(fn.environment)) {
    if (typeof value !== 'string') {
      if (!(key in overrides))
        throw new Error(
          `${fn.logicalId}: ${key} is resolved by CloudFormation (${value.unresolved}): map it here`,
        );
      continue;
    }
    env[key] = value.replaceAll(EFS_MOUNT_PATH, dirs.efs).replaceAll(GIT_HOST, git.baseUrl);
  }
  return { ...env, ...overrides };
}

/**
 * Each Lambda Task state, by name, bound to the function the template's definition invokes. By
 * state, not by handler id: liferayHome and appServer (and each component's drill) share handler
 * ids with different settings, and each Task invokes its own function. The drill's child Restore
 * runs the committed definition (run-workflow.ts startChildExecution): its Task states have the
 * same names, so they reach the same bundles (an unbound state fails the run: no handler by id).
 */
function bindTasks(): Record<string, Handler> {
  const byLogicalId = structuredClone(stack.template) as CfnTemplate & {
    Resources: Record<string, { Metadata?: Record<string, unknown> }>;
  };
  for (const [logicalId, resource] of Object.entries(byLogicalId.Resources)) {
    if (resource.Metadata?.[HANDLER_METADATA_KEY] !== undefined)
      resource.Metadata[HANDLER_METADATA_KEY] = logicalId;
  }
  const bound: Record<string, Handler> = {};
  const owner = new Map<string, string>();
  for (const definition of Object.values(definitionsFromTemplate(byLogicalId))) {
    for (const { stateName, handlerId: logicalId } of lambdaTasks(definition)) {
      const previous = owner.get(stateName);
      if (previous && previous !== logicalId)
        throw new Error(`state "${stateName}" invokes ${previous} and ${logicalId}: bind by workflow`);
      owner.set(stateName, logicalId);
      bound[stateName] = async (event) => {
        try {
          return await bundles.invoke(logicalId, event);
        } catch (error) {
          (error as Error).message += `\n--- ${logicalId} printed:\n${bundles.outputOf(logicalId)}`;
          throw error;
        }
      };
    }
  }
  return bound;
}

function succeeded(what: string, outcome: WorkflowOutcome): Record<string, unknown> {
  if (outcome.status !== 'SUCCEEDED') throw new Error(`${what} failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output as Record<string, unknown>;
}

beforeAll(async () => {
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { recursive: true });
  makeHome(path.join(dirs.efs, 'liferay-home'), 30);
  writeTree(path.join(dirs.efs, 'tomcat'), {
    'conf/server.xml': '<Server port="8005"/>',
    'bin/setenv.sh': 'CATALINA_OPTS="-Xmx4g"\n',
    'webapps/ROOT/WEB-INF/web.xml': '<web-app/>',
  });
  [database, git, s3, search] = await Promise.all([
    startMariaDb(),
    startGitHttpServer({ users: { [GIT_USER]: GIT_PASSWORD } }),
    startS3Server(),
    SearchEngineStandIn.start({
      flavour: 'opensearch',
      version: '2.11.0',
      // The signature is checked: the credentials are the ones the functions get (s3rver's).
      auth: {
        type: 'sigv4',
        accessKeyId: 'S3RVER',
        secretAccessKey: 'S3RVER',
        region: 'eu-west-1',
        service: 'es',
      },
      indices: {
        'liferay-0': { docs: 12 },
        'liferay-20097': { docs: 40 },
        'liferay-20097-search-tuning-rankings': { docs: 3 },
        'liferay-20097-workflow-metrics-sla-task-results': { docs: 5 },
      },
    }),
  ]);
  database.admin(
    [
      'CREATE DATABASE lportal',
      'CREATE TABLE lportal.User_ (userId BIGINT PRIMARY KEY, screenName VARCHAR(75))',
      "INSERT INTO lportal.User_ VALUES (20123, 'test'), (20124, 'joe')",
      `CREATE USER 'bundles'@'%' IDENTIFIED BY '${DB_PASSWORD}'`,
      "GRANT ALL PRIVILEGES ON *.* TO 'bundles'@'%'",
    ].join('; '),
  );
  const sourcePath = await git.createBareRepo('source.git');
  await git.createBareRepo('mirror.git');
  await git.createBareRepo('target.git');
  const repo = await WorkRepo.create();
  await repo.commit('first');
  await repo.commit('second');
  await repo.pushMirror(sourcePath);
  ssm = await startFakeSsm({
    [DB_PARAMETER]: `mariadb://bundles:${encodeURIComponent(DB_PASSWORD)}@127.0.0.1:${database.port}/lportal`,
    [GIT_PASSWORD_PARAMETER]: GIT_PASSWORD,
    [GIT_RESTORE_PARAMETER]: GIT_PASSWORD,
  });
  stack = synthesizeBundled(stackConfig(), dirs.cdkOut);
  bundles = new BundledFunctions(stack, environmentOf);
}, 240_000);

afterAll(async () => {
  await bundles?.stop();
  await Promise.all([database?.stop(), git?.close(), s3?.stop(), search?.stop(), ssm?.stop()]);
  work.cleanup();
});

describe('the Lambda bundles, run as deployed', () => {
  it('back up, restore and verify every component with each Task bound to its bundled function', async () => {
    const definitions = definitionsFromTemplate(stack.template) as Record<string, AslDefinition>;
    const itemReader = allHandlers().get(LOCAL_ITEM_READER_HANDLER);
    if (!itemReader) throw new Error(`no ${LOCAL_ITEM_READER_HANDLER}`);
    const options = {
      // Only the local interpreter's own item reader runs from the sources; every Lambda Task is a bundle.
      handlers: new Map([[LOCAL_ITEM_READER_HANDLER, itemReader]]),
      taskOverrides: bindTasks(),
      validate: false,
    };
    // The item reader reads the store as Step Functions' ItemReader does (S3, not a Lambda).
    const rt = testRuntime({ store: s3.store() });
    const run = (name: string, input: unknown) => {
      const definition = definitions[name];
      if (!definition) throw new Error(`no ${name} workflow in the template`);
      return runWorkflow(definition, input, rt, options);
    };

    const backup = succeeded(
      'backup',
      await run('backup', { requestedBy: 'schedule', schedule: 'nightly' }),
    ) as { backup: { backupId: string } };
    const backupId = backup.backup.backupId;
    const manifest = JSON.parse(
      (await s3.store().read(`backups/${backupId}/manifest.json`)).toString('utf8'),
    ) as {
      status: string;
      results: Record<string, { status: string }>;
    };
    expect(manifest.status, JSON.stringify(manifest.results)).toBe('complete');
    expect(Object.keys(manifest.results).sort()).toEqual(
      ['appServer', 'database', 'liferayHome', 'search', 'source'].sort(),
    );

    const restoreTo = (name: string) => path.join(dirs.efs, 'restored', name);
    succeeded(
      'restore',
      await run('restore', {
        backupId,
        requestedBy: 'console',
        database: { targetDatabase: 'lportal_r' },
        liferayHome: { target: restoreTo('home') },
        appServer: { target: restoreTo('tomcat') },
        search: { onConflict: 'rename' },
        source: {
          targets: [
            {
              url: git.repoUrl('target.git'),
              credentials: { username: GIT_USER, passwordParameter: GIT_RESTORE_PARAMETER },
            },
          ],
        },
      }),
    );
    const verifyRun = await run('verify', { backupId, requestedBy: 'schedule' });
    const verify = succeeded('verify', verifyRun) as { report: { status: string; message: string } };
    expect(verify.report.status, verify.report.message).toBe('verified');
    // The drill restored the trees into the scratch folder (a child Restore execution, its Tasks bundles too).
    expect(verifyRun.statesEntered).toEqual(
      expect.arrayContaining(['Liferay Home restore into scratch', 'App server restore into scratch']),
    );
    succeeded('retention', await run('retention', { dryRun: false }));
    // The schedule's function, outside the workflows.
    const checkAge = [...stack.functions.values()].find((fn) => fn.handlerId === 'check-backup-age');
    await bundles.invoke(checkAge?.logicalId ?? 'CheckBackupAge', {});

    // What the bundles did is real: the trees, the rows, the refs, the snapshot.
    const read = (root: string, file: string) => fs.readFileSync(path.join(root, file));
    for (const file of ['portal-ext.properties', 'data/document_library/20101/006/1.0']) {
      expect(read(restoreTo('home'), file)).toEqual(read(path.join(dirs.efs, 'liferay-home'), file));
    }
    expect(read(restoreTo('tomcat'), 'conf/server.xml')).toEqual(
      read(path.join(dirs.efs, 'tomcat'), 'conf/server.xml'),
    );
    expect(database.admin('SELECT COUNT(*) FROM lportal_r.User_').trim()).toMatch(/2$/);
    expect(await forEachRef(git.repoPath('target.git'))).toEqual(
      await forEachRef(git.repoPath('source.git')),
    );
    // The snapshot taken and restored on the cluster, by requests it accepted as signed (SigV4).
    expect(search.snapshots.get('liferay-backup')?.size).toBeGreaterThan(0);
    expect(search.requests.some((r) => r.segments.at(-1) === '_restore' && r.status === 200)).toBe(true);
    expect(search.requests.every((r) => String(r.headers.authorization).startsWith('AWS4-HMAC-SHA256'))).toBe(
      true,
    );
    expect(ssm.requests).toEqual(
      expect.arrayContaining([`GetParameter ${DB_PARAMETER}`, `GetParameter ${GIT_PASSWORD_PARAMETER}`]),
    );

    const invoked = bundles.invoked();
    const ran = new Set(invoked.map((fn) => fn.handlerId));
    // The restore shards' worker threads (fetch, finish) started inside the bundles, none fell back.
    expect(bundles.threadsStartedBy('files-restore-shard')).toBeGreaterThan(0);
    const fallbacks = bundles
      .allOutput()
      .split('\n')
      .filter((line) => /no (fetch )?worker threads?/.test(line));
    expect(fallbacks).toEqual([]);

    // The functions these runs did not need (branches not taken: the database's status checks of a
    // dump finished at once, the drill's in-place checks as it restored into scratch, hooks not
    // configured, no set old enough to delete) at least start: each bundle loads, as a cold start.
    const idle = [...stack.functions.values()].filter((fn) => !invoked.includes(fn));
    expect(idle.length).toBeLessThan(stack.functions.size / 3);
    for (const fn of idle) await bundles.init(fn.logicalId);

    // Every component's functions ran from their bundles (the files engine's workers included).
    expect([...ran].sort()).toEqual(
      expect.arrayContaining(['begin-backup', 'commit-backup', 'validate-restore']),
    );
    for (const prefix of ['files-', 'database-', 'search-', 'source-', 'verify-component']) {
      expect(
        [...ran].some((id) => id.startsWith(prefix)),
        `${prefix}: ${[...ran].join(', ')}`,
      ).toBe(true);
    }
  }, 180_000);

  it('each bundle requires nothing but Node.js built-ins (Lambda ships no node_modules beside it)', () => {
    const allowed = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
    // Not a call: the S3 SDK's SigV4a error message tells the reader to `require("@aws-sdk/signature-v4-crt")`.
    allowed.add('@aws-sdk/signature-v4-crt');
    const outside: string[] = [];
    for (const fn of stack.functions.values()) {
      const code = fs.readFileSync(path.join(fn.assetDir, 'index.js'), 'utf8');
      for (const [, name] of code.matchAll(/\brequire\("([^"]+)"\)/g)) {
        if (name && !allowed.has(name)) outside.push(`${fn.logicalId}: require("${name}")`);
      }
    }
    expect(stack.functions.size).toBeGreaterThan(30);
    expect([...new Set(outside)]).toEqual([]);
  });
});
