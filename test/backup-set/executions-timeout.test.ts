import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Begin's question to Step Functions is best effort: an endpoint that never answers costs it
 * seconds, not its one-minute time-out. (The SDK's requestTimeout alone only logs a warning and
 * goes on waiting: this test hung before throwOnRequestTimeout was set.) A real SDK client, sent to
 * a local server that accepts connections and never answers.
 */

let server: net.Server;
const sockets: net.Socket[] = [];
beforeAll(async () => {
  server = net.createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.env.AWS_ENDPOINT_URL_SFN = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  process.env.AWS_REGION = 'eu-west-1';
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
});
afterAll(() => {
  for (const socket of sockets) socket.destroy();
  server.close();
  delete process.env.AWS_ENDPOINT_URL_SFN;
});

describe('asking Step Functions about the lock holder', () => {
  it('gives up within seconds when Step Functions does not answer', async () => {
    const { endedStatus } = await import('#backup-set/executions.ts');
    const started = Date.now();
    await expect(endedStatus('arn:aws:states:eu-west-1:111111111111:execution:Backup:x')).rejects.toThrow(
      /requestTimeout/,
    );
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThan(4_000);
    expect(waited).toBeLessThan(20_000);
    // Two attempts, each its own connection.
    expect(sockets.length).toBe(2);
  }, 30_000);
});
