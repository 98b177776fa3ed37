import { mkdtempSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirrorRepository } from '#components/source/mirror.ts';
import { RetryableError } from '#runtime/errors.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { type GitHttpServer, startGitHttpServer } from '../../support/git-http-server.ts';
import { richRepository } from './git-fixtures.ts';
import { sourceAndMirror, testDeps } from './source-test-kit.ts';

/**
 * A proxy in front of the Git server that ends the first upload-pack answer cleanly after a few
 * hundred bytes, as a proxy or load balancer that closes a long response does. The fetch must be
 * a RetryableError (the state machine runs the task again), not a failed component every night.
 */
let server: GitHttpServer;
let proxy: Server;
let proxyUrl: string;
let cutsLeft = 0;

beforeAll(async () => {
  server = await startGitHttpServer();
  proxy = createServer((req, res) => {
    const target = new URL(req.url ?? '/', server.repoUrl(''));
    const upstream = httpRequest(
      target,
      { method: req.method, headers: { ...req.headers, host: target.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        const cut = cutsLeft > 0 && req.method === 'POST' && (req.url ?? '').endsWith('/git-upload-pack');
        if (!cut) {
          answer.pipe(res);
          return;
        }
        cutsLeft -= 1;
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          if (sent >= 300) return;
          const part = chunk.subarray(0, 300 - sent);
          sent += part.length;
          res.write(part);
          if (sent >= 300) {
            res.end();
            answer.destroy();
          }
        });
        answer.on('end', () => res.end());
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => proxy.close(() => resolve()));
  await server.close();
});

describe('a fetch whose answer is cut short', () => {
  it('is a RetryableError that says so, and the next attempt mirrors every ref', async () => {
    // Prepare: the source reached through the proxy
    const work = await richRepository();
    const { settings } = await sourceAndMirror(server, work);
    const viaProxy = {
      ...settings,
      sourceUrl: settings.sourceUrl.replace(new URL(settings.sourceUrl).origin, proxyUrl),
    };
    const input = () => ({
      repository: viaProxy,
      defaultCredentials: undefined,
      previous: undefined,
      store: new LocalFolderStore(mkdtempSync(path.join(tmpdir(), 'source-store-'))),
      scratchDir: tmpdir(),
      now: () => new Date(),
    });
    cutsLeft = 1;
    // Act
    const failed = await mirrorRepository(input(), testDeps()).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    const record = await mirrorRepository(input(), testDeps());
    // Assess
    expect(failed).toBeInstanceOf(RetryableError);
    expect(failed?.message).toMatch(/cut short/);
    expect(Object.keys(record.refs)).toContain('refs/heads/main');
  });
});
