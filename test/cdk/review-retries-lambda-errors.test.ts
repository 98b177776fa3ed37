import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '#runtime/errors.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Handler } from '#runtime/runtime.ts';
import { TRANSIENT_ERRORS } from '../../cdk/workflow-tasks.ts';

/**
 * Step Functions matches a failed Lambda task's Retry on the thrown error's `name`, and every task
 * retries only TRANSIENT_ERRORS (Lambda's own faults and RetryableError). Every handler reads and
 * writes the backup store through the AWS SDK: when S3 still throttles (503 SlowDown) or drops the
 * connection after the SDK's own attempts, the error reached Step Functions as `SlowDown` or
 * `Error`, which no Retry names, and a whole component (or the backup) failed on a blip.
 * Permanent refusals (403 AccessDenied) must still fail at once.
 */

type Answer = (respond: { status: number; code: string } | 'reset') => void;

let server: Server;
let endpoint: string;
let answer: { status: number; code: string } | 'reset' = 'reset';
const setAnswer: Answer = (next) => {
  answer = next;
};

beforeAll(async () => {
  server = createServer((request, response) => {
    request.resume();
    if (answer === 'reset') {
      request.socket.destroy();
      return;
    }
    response.writeHead(answer.status, { 'content-type': 'application/xml' });
    response.end(
      `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${answer.code}</Code><Message>${answer.code} from the test server</Message><RequestId>r1</RequestId></Error>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

afterEach(() => {
  vi.unstubAllEnvs();
});

function wrapped(handler: Handler) {
  vi.stubEnv('LIFERAY_BACKUP_SETTINGS', JSON.stringify({ environment: 'prod' }));
  vi.stubEnv('STORE_BUCKET', 'backups');
  vi.stubEnv('AWS_ENDPOINT_URL_S3', endpoint);
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('AWS_LAMBDA_LOG_LEVEL', 'SILENT');
  return lambdaHandler(handler);
}

const readsTheStore: Handler = async (_event, runtime) => runtime.store.read('backups/prod/lock.json');

async function nameOfFailure(
  invoke: (event: unknown) => Promise<unknown>,
): Promise<{ name: string; message: string }> {
  try {
    await invoke({});
  } catch (error) {
    return { name: (error as Error).name, message: (error as Error).message };
  }
  throw new Error('the handler did not fail');
}

describe('the Lambda wrapper names library errors for the Retry rules', () => {
  it('a store that still answers 500 InternalError after the SDK attempts is retried', async () => {
    setAnswer({ status: 500, code: 'InternalError' });
    const failure = await nameOfFailure(wrapped(readsTheStore));
    expect(TRANSIENT_ERRORS).toContain(failure.name);
    expect(failure.message).toContain('InternalError');
  });

  it('a store that still throttles (503 SlowDown) is retried', async () => {
    setAnswer({ status: 503, code: 'SlowDown' });
    const failure = await nameOfFailure(wrapped(readsTheStore));
    expect(TRANSIENT_ERRORS).toContain(failure.name);
    expect(failure.message).toContain('SlowDown');
  }, 30_000);

  it('a connection to the store that is cut is retried', async () => {
    setAnswer('reset');
    const failure = await nameOfFailure(wrapped(readsTheStore));
    expect(TRANSIENT_ERRORS).toContain(failure.name);
  });

  it('a fetch that failed on a reset connection (undici) is retried', async () => {
    setAnswer('reset');
    const failure = await nameOfFailure(
      wrapped(async () => {
        await fetch(`${endpoint}/anything`);
      }),
    );
    expect(TRANSIENT_ERRORS).toContain(failure.name);
    expect(failure.message).toContain('fetch failed');
  });

  it('a refusal (403 AccessDenied) is not retried and keeps its name', async () => {
    setAnswer({ status: 403, code: 'AccessDenied' });
    const failure = await nameOfFailure(wrapped(readsTheStore));
    expect(failure.name).toBe('AccessDenied');
    expect(TRANSIENT_ERRORS).not.toContain(failure.name);
  });

  it('a full disk (ENOSPC) and the named errors pass through unchanged', async () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    expect(
      await nameOfFailure(
        wrapped(async () => {
          throw enospc;
        }),
      ),
    ).toEqual({ name: 'Error', message: enospc.message });
    expect(
      await nameOfFailure(
        wrapped(async () => {
          throw new ConfigError('bad');
        }),
      ),
    ).toEqual({ name: 'ConfigError', message: 'bad' });
  });
});
