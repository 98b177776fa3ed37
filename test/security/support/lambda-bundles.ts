import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { App } from 'aws-cdk-lib';
import type { CfnTemplate } from '#local/template-definitions.ts';
import { HANDLER_METADATA_KEY } from '#local/template-definitions.ts';
import { parseConfig } from '../../../cdk/config.ts';
import { LiferayBackupStack } from '../../../cdk/liferay-backup-stack.ts';
import { CDK_JSON } from '../../cdk/support.ts';

/**
 * The stack's Lambda functions as they deploy: each bundle (CDK NodejsFunction, the local esbuild)
 * loaded from its asset folder by the handler the template names, in a worker thread of its own
 * with the environment the template gives that function: one warm Lambda container per function.
 */

interface CfnFunction {
  readonly Type: string;
  readonly Metadata?: Record<string, unknown>;
  readonly Properties?: {
    readonly Handler?: string;
    readonly Timeout?: number;
    readonly MemorySize?: number;
    readonly Environment?: { readonly Variables?: Record<string, unknown> };
  };
}

export interface BundledFunction {
  readonly logicalId: string;
  readonly handlerId: string;
  /** The asset folder (what Lambda unpacks into /var/task). */
  readonly assetDir: string;
  /** `index.handler`: the file and the export Lambda loads. */
  readonly handler: string;
  readonly timeoutSeconds: number;
  readonly memoryMiB: number;
  /** The template's variables; a value CloudFormation resolves at deploy time is kept as its JSON. */
  readonly environment: Record<string, string | { unresolved: string }>;
}

export interface SynthesizedStack {
  readonly outdir: string;
  readonly template: CfnTemplate & { Resources: Record<string, CfnFunction> };
  readonly functions: Map<string, BundledFunction>;
}

const FEATURE_FLAGS = Object.fromEntries(
  Object.entries(CDK_JSON.context).filter(([key]) => key.startsWith('@aws-cdk/')),
);

/** Synthesizes the stack with the real function factory (esbuild bundles) into outdir. */
export function synthesizeBundled(rawConfig: unknown, outdir: string): SynthesizedStack {
  const app = new App({
    outdir,
    // What the CDK CLI sets: the asset path in each function's metadata.
    context: { ...FEATURE_FLAGS, 'aws:cdk:enable-asset-metadata': true },
  });
  new LiferayBackupStack(app, 'LiferayBackup', {
    config: parseConfig(rawConfig),
    env: { account: '111111111111', region: 'eu-west-1' },
  });
  app.synth();
  const file = readdirSync(outdir).find((name) => name.endsWith('.template.json'));
  if (!file) throw new Error(`no template in ${outdir}`);
  const template = JSON.parse(readFileSync(path.join(outdir, file), 'utf8')) as SynthesizedStack['template'];
  const functions = new Map<string, BundledFunction>();
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const handlerId = resource.Metadata?.[HANDLER_METADATA_KEY];
    const asset = resource.Metadata?.['aws:asset:path'];
    if (typeof handlerId !== 'string' || typeof asset !== 'string')
      throw new Error(`function ${logicalId}: no ${HANDLER_METADATA_KEY} or aws:asset:path metadata`);
    const variables = resource.Properties?.Environment?.Variables ?? {};
    functions.set(logicalId, {
      logicalId,
      handlerId,
      assetDir: path.join(outdir, asset),
      handler: resource.Properties?.Handler ?? '',
      timeoutSeconds: resource.Properties?.Timeout ?? 3,
      memoryMiB: resource.Properties?.MemorySize ?? 128,
      environment: Object.fromEntries(
        Object.entries(variables).map(([key, value]) => [
          key,
          typeof value === 'string' ? value : { unresolved: JSON.stringify(value) },
        ]),
      ),
    });
  }
  return { outdir, template, functions };
}

/**
 * Runs in the worker: loads the bundle as the Node.js Lambda runtime does (require the handler's
 * file from the task root, take the named export) and answers each invocation. A bundle that
 * cannot load fails every invocation with the load error, as a Lambda's init error does.
 */
const WORKER_CODE = `
const threads = require('node:worker_threads');
const { parentPort, workerData } = threads;
const { file, exportName, functionName, timeoutMs, memoryMiB } = workerData;
// Counts the worker threads the function starts (the files engine's), without changing them.
let threadsStarted = 0;
threads.Worker = class extends threads.Worker {
  constructor(...args) { super(...args); threadsStarted += 1; }
};
let loaded;
try { loaded = { module: require(file) }; } catch (error) { loaded = { error }; }
const describe = (error) => ({
  name: (error && error.name) || 'Error',
  message: String((error && error.message) || error),
  stack: String((error && error.stack) || ''),
});
parentPort.on('message', async ({ id, event, initOnly }) => {
  try {
    if (loaded.error) throw loaded.error;
    const handler = loaded.module[exportName];
    if (typeof handler !== 'function') throw new TypeError(file + ' exports no function ' + exportName);
    if (initOnly) return parentPort.postMessage({ id, threadsStarted, result: 'null' });
    const deadline = Date.now() + timeoutMs;
    const context = {
      functionName, functionVersion: '$LATEST', memoryLimitInMB: String(memoryMiB),
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:' + functionName,
      awsRequestId: id, logGroupName: '/aws/lambda/' + functionName, logStreamName: id,
      callbackWaitsForEmptyEventLoop: true, getRemainingTimeInMillis: () => deadline - Date.now(),
    };
    const result = await handler(event, context);
    parentPort.postMessage({ id, threadsStarted, result: JSON.stringify(result === undefined ? null : result) });
  } catch (error) {
    parentPort.postMessage({ id, threadsStarted, error: describe(error) });
  }
});
`;

interface WorkerReply {
  readonly id: string;
  readonly threadsStarted: number;
  readonly result?: string;
  readonly error?: Record<string, string>;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** One function's warm container: a worker with that function's environment. */
class FunctionContainer {
  private readonly worker: Worker;
  private readonly pending = new Map<string, Pending>();
  /** What the function printed (its logger, EMF metrics): shown when an invocation fails. */
  readonly output: string[] = [];
  invocations = 0;
  /** Worker threads the function itself started so far. */
  threadsStarted = 0;

  constructor(
    readonly fn: BundledFunction,
    env: Record<string, string>,
  ) {
    const [file, exportName] = fn.handler.split('.');
    this.worker = new Worker(WORKER_CODE, {
      eval: true,
      env,
      stdout: true,
      stderr: true,
      workerData: {
        file: path.join(fn.assetDir, `${file}.js`),
        exportName,
        functionName: fn.logicalId,
        timeoutMs: fn.timeoutSeconds * 1000,
        memoryMiB: fn.memoryMiB,
      },
    });
    this.worker.stdout.on('data', (chunk: Buffer) => this.output.push(chunk.toString('utf8')));
    this.worker.stderr.on('data', (chunk: Buffer) => this.output.push(chunk.toString('utf8')));
    this.worker.on('message', (message: WorkerReply) => {
      this.threadsStarted = message.threadsStarted;
      const waiting = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (!waiting) return;
      if (message.error) {
        const error = new Error(message.error.message);
        error.name = message.error.name ?? 'Error';
        error.stack = message.error.stack;
        waiting.reject(error);
      } else waiting.resolve(JSON.parse(message.result ?? 'null'));
    });
    // A crash of the container (an uncaught error, a worker the bundle could not start) fails what waits.
    this.worker.on('error', (error) => this.failAll(error));
    this.worker.on('exit', (code) =>
      this.failAll(new Error(`${fn.logicalId}: its container exited (${code})`)),
    );
  }

  invoke(event: unknown): Promise<unknown> {
    this.invocations += 1;
    return this.send({ event });
  }

  /** Whether the bundle loads and exports its handler (a Lambda's init), without invoking it. */
  init(): Promise<unknown> {
    return this.send({ initOnly: true });
  }

  private send(message: Record<string, unknown>): Promise<unknown> {
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...message });
    });
  }

  private failAll(error: Error): void {
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }

  async stop(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

/**
 * The functions' containers, started on first use. `environment` turns a function's template
 * variables into what it runs with here (the overrides a local run needs, said by the caller).
 */
export class BundledFunctions {
  private readonly containers = new Map<string, FunctionContainer>();

  constructor(
    private readonly stack: SynthesizedStack,
    private readonly environment: (fn: BundledFunction) => Record<string, string>,
  ) {}

  invoke(logicalId: string, event: unknown): Promise<unknown> {
    return this.container(logicalId).invoke(event);
  }

  /** Loads the function's bundle in its container, as a cold start does, and checks its handler export. */
  init(logicalId: string): Promise<unknown> {
    return this.container(logicalId).init();
  }

  private container(logicalId: string): FunctionContainer {
    let container = this.containers.get(logicalId);
    if (!container) {
      const fn = this.stack.functions.get(logicalId);
      if (!fn) throw new Error(`no function ${logicalId} in the template`);
      container = new FunctionContainer(fn, this.environment(fn));
      this.containers.set(logicalId, container);
    }
    return container;
  }

  /** The functions invoked at least once. */
  invoked(): BundledFunction[] {
    return [...this.containers.values()].filter((c) => c.invocations > 0).map((c) => c.fn);
  }

  /** Worker threads started by the functions with this handler id. */
  threadsStartedBy(handlerId: string): number {
    return [...this.containers.values()]
      .filter((c) => c.fn.handlerId === handlerId)
      .reduce((sum, c) => sum + c.threadsStarted, 0);
  }

  /** Everything every function printed. */
  allOutput(): string {
    return [...this.containers.values()].map((c) => c.output.join('')).join('\n');
  }

  /** The last lines a function printed, for a failure's message. */
  outputOf(logicalId: string, lines = 20): string {
    return (this.containers.get(logicalId)?.output.join('') ?? '').split('\n').slice(-lines).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.containers.values()].map((container) => container.stop()));
    this.containers.clear();
  }
}

export interface FakeSsm {
  readonly endpoint: string;
  /** `Action Name-or-Path` of every request answered. */
  readonly requests: string[];
  stop(): Promise<void>;
}

/**
 * SSM's GetParameter and GetParametersByPath in the AWS JSON 1.1 protocol (X-Amz-Target
 * AmazonSSM.<Action>, errors as {"__type", "message"} with status 400), for bundles that carry
 * their own copy of the SDK (no client mock reaches them): AWS_ENDPOINT_URL_SSM points them here.
 */
export async function startFakeSsm(parameters: Readonly<Record<string, string>>): Promise<FakeSsm> {
  const requests: string[] = [];
  const parameter = (name: string) => ({
    Name: name,
    Type: 'SecureString',
    Value: parameters[name],
    Version: 1,
    ARN: `arn:aws:ssm:eu-west-1:111111111111:parameter${name.startsWith('/') ? '' : '/'}${name}`,
    DataType: 'text',
  });
  const readBody = async (request: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
  };
  const server: Server = createServer((request, response) => {
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      response.end(JSON.stringify(body));
    };
    readBody(request).then(
      (body) => {
        const action = String(request.headers['x-amz-target'] ?? '').replace(/^AmazonSSM\./, '');
        if (action === 'GetParameter') {
          const name = String(body.Name ?? '');
          requests.push(`${action} ${name}`);
          if (parameters[name] === undefined)
            return reply(400, { __type: 'ParameterNotFound', message: `parameter ${name} not found` });
          return reply(200, { Parameter: parameter(name) });
        }
        if (action === 'GetParametersByPath') {
          const prefix = String(body.Path ?? '').replace(/\/?$/, '/');
          requests.push(`${action} ${prefix}`);
          const names = Object.keys(parameters).filter(
            (name) =>
              name.startsWith(prefix) &&
              (body.Recursive === true || !name.slice(prefix.length).includes('/')),
          );
          return reply(200, { Parameters: names.map(parameter) });
        }
        requests.push(`${action} (unsupported)`);
        return reply(400, { __type: 'InvalidAction', message: `the fake SSM does not answer ${action}` });
      },
      (error: unknown) => reply(400, { __type: 'SerializationException', message: String(error) }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
