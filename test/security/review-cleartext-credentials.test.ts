import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeEngines, engineFor } from '#components/search/connect.ts';
import { searchSettingsSchema } from '#components/search/settings.ts';
import { resolveRemote } from '#components/source/credentials.ts';
import { sourceDeps } from '#components/source/records.ts';
import { cleartextToNetwork } from '#runtime/transport.ts';

/**
 * Credentials read from SSM SecureString parameters (the AWS side) went over plain http:// to any
 * host. cdk.json asks for https:// Git URLs (cdk/components/source.ts), but a Restore request's
 * Git target is any http(s) URL (restoreTargetSchema) and the search endpoint may be http:// in
 * cdk.json and the settings: the Restore function read the Git password from SSM and sent it in
 * Basic auth in clear text; the search functions sent the Elasticsearch user's password (or API
 * key) the same way, on every request. Only loopback (tests, a CLI beside its cluster) may.
 *
 * A plain HTTP server on this machine's non-loopback address stands in for the remote host and
 * records every Authorization header it gets.
 */

const SECRET = 'clearText~Pw^7734';

const address = Object.values(networkInterfaces())
  .flat()
  .find((info) => info && info.family === 'IPv4' && !info.internal)?.address;

const ssm = mockClient(SSMClient);
const received: string[] = [];
let server: Server;
let base = '';

beforeAll(async () => {
  ssm.on(GetParameterCommand).callsFake((input: { Name: string }) => ({
    Parameter: {
      Name: input.Name,
      Type: 'SecureString',
      Value: input.Name.includes('search')
        ? JSON.stringify({ username: 'elastic', password: SECRET })
        : SECRET,
    },
  }));
  if (!address) return;
  server = createServer((req, res) => {
    received.push(`${req.method} ${req.url} ${req.headers.authorization ?? '(none)'}`);
    res.writeHead(401, { 'www-authenticate': 'Basic realm="x"', 'content-type': 'application/json' });
    res.end('{"error":{"type":"security_exception","reason":"unauthorized"},"status":401}');
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  base = `http://${address}:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  ssm.restore();
  await closeEngines();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
});

function basicCarried(): string[] {
  const encoded = Buffer.from(SECRET).toString('base64').slice(0, 8);
  return received.filter(
    (line) =>
      line.includes(SECRET) ||
      line.includes(encoded) ||
      (line.includes('Basic ') &&
        Buffer.from(line.split('Basic ')[1] ?? '', 'base64')
          .toString('utf8')
          .includes(SECRET)),
  );
}

describe('credentials from SSM are never sent over plain http:// to another host', () => {
  it('tells cleartext to a network host from loopback and TLS', () => {
    expect(cleartextToNetwork('http://git.example.com/a.git')).toBe(true);
    expect(cleartextToNetwork('http://10.0.3.7:9200')).toBe(true);
    expect(cleartextToNetwork('https://git.example.com/a.git')).toBe(false);
    expect(cleartextToNetwork('http://127.0.0.1:9200')).toBe(false);
    expect(cleartextToNetwork('http://localhost:9200')).toBe(false);
    expect(cleartextToNetwork('http://[::1]:9200')).toBe(false);
  });

  it.skipIf(!address)('a Git restore target: the password in SSM is not sent', async () => {
    received.length = 0;
    const deps = sourceDeps();
    const run = async () => {
      const remote = await resolveRemote(
        `${base}/target.git`,
        { passwordParameter: '/liferay-backup/git-restore/password', username: 'bot' },
        deps.secrets,
      );
      return deps.transport.discover(remote, 'git-receive-pack');
    };
    const error = await run().then(
      () => undefined,
      (thrown: unknown) => thrown as Error,
    );
    expect(basicCarried()).toEqual([]);
    expect(error?.name).toBe('ConfigError');
    expect(error?.message).toMatch(/https/);
  });

  it.skipIf(!address)('a search cluster: the Elasticsearch password in SSM is not sent', async () => {
    received.length = 0;
    const settings = searchSettingsSchema.parse({
      engine: 'elasticsearch',
      endpoint: base,
      credentials: { type: 'ssm', parameterName: '/liferay/review/search' },
      repository: { name: 'liferay-backup' },
    });
    const error = await engineFor(settings)
      .then((engine) => engine.info())
      .then(
        () => undefined,
        (thrown: unknown) => thrown as Error,
      );
    expect(basicCarried()).toEqual([]);
    expect(error?.name).toBe('ConfigError');
    expect(error?.message).toMatch(/https/);
  });
});
