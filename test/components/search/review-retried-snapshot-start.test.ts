import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { elasticsearchEngine } from '#components/search/elasticsearch-engine.ts';
import type { SearchEngine } from '#components/search/engine.ts';
import { SearchEngineError } from '#components/search/errors.ts';
import type { PreparedRepository } from '#components/search/records.ts';
import { searchSettingsSchema } from '#components/search/settings.ts';
import { startSnapshot } from '#components/search/snapshot.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';

/**
 * `Search start snapshot` is retried by the state machine after a transient failure (a
 * RetryableError: a timeout or a 502/504 from a proxy in front of the cluster), which may come
 * after the engine accepted the snapshot. The retried attempt then meets its own snapshot.
 *
 * Elasticsearch answers a create with a taken name with SnapshotNameAlreadyInUseException
 * (elastic/elasticsearch server/src/main/java/org/elasticsearch/snapshots/
 * SnapshotNameAlreadyInUseException.java, a subclass of InvalidSnapshotNameException, thrown by
 * SnapshotsService for "snapshot with the same name already exists" and "... is already
 * in-progress"); its REST error type is the class name in snake case:
 * `snapshot_name_already_in_use_exception`. OpenSearch still answers
 * `invalid_snapshot_name_exception`. The stand-in answers the OpenSearch form for both flavours,
 * so a loopback proxy in front of it gives the Elasticsearch 8 answer, as a real 8.x cluster does.
 */

const BACKUP_ID = 'b20261127t020000z-7f3a';
const NOW = new Date('2026-11-27T02:00:00Z');

let server: SearchEngineStandIn;
let proxy: Server | undefined;
let engine: SearchEngine;
afterEach(async () => {
  await engine.close();
  if (proxy) {
    proxy.closeAllConnections();
    await new Promise<void>((resolve) => proxy?.close(() => resolve()));
    proxy = undefined;
  }
  await server.stop();
});

/** Forwards everything to the stand-in; rewrites the duplicate-name error as Elasticsearch 8 names it. */
async function elasticsearch8Proxy(target: string): Promise<string> {
  const upstream = new URL(target);
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const forward = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('end', () => {
            let body = Buffer.concat(parts).toString('utf8');
            if (body.includes('invalid_snapshot_name_exception') && body.includes('same name')) {
              body = body.replaceAll(
                'invalid_snapshot_name_exception',
                'snapshot_name_already_in_use_exception',
              );
            }
            const headers = { ...answer.headers, 'content-length': String(Buffer.byteLength(body)) };
            res.writeHead(answer.statusCode ?? 500, headers);
            res.end(body);
          });
        },
      );
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => proxy?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}

async function cluster(version: string): Promise<void> {
  server = await SearchEngineStandIn.start({
    flavour: 'elasticsearch',
    version,
    indices: { 'liferay-0': { docs: 1 }, 'liferay-20097': { docs: 5 } },
  });
  server.repositories.set('liferay-backup', { type: 's3', settings: { bucket: 'b', base_path: 'search' } });
  server.snapshots.set('liferay-backup', new Map());
}

function start() {
  const prepared: PreparedRepository = {
    engine: {
      kind: 'elasticsearch',
      distribution: 'elasticsearch',
      version: '8.15.0',
      clusterName: 'c',
      endpoint: 'x',
    },
    repository: { name: 'liferay-backup', type: 's3', location: 's3://b/search' },
    registration: 'verified',
    warnings: [],
  };
  return startSnapshot(engine, {
    backupId: BACKUP_ID,
    environment: 'test',
    prepared,
    settings: searchSettingsSchema.parse({
      engine: 'elasticsearch',
      endpoint: 'http://127.0.0.1:9200',
      credentials: { type: 'none' },
      repository: { name: 'liferay-backup' },
      dxpVersion: '7.4',
      waitSeconds: 0,
    }),
    now: NOW,
  });
}

describe('a retried search start snapshot meets the snapshot its first attempt started', () => {
  it('goes on with it when the engine says invalid_snapshot_name_exception (OpenSearch form)', async () => {
    await cluster('8.15.0');
    engine = elasticsearchEngine({ endpoint: server.url, auth: { type: 'none' } });
    await start();
    const retried = await start();
    expect(retried.snapshot).toBe(BACKUP_ID);
    expect(server.snapshots.get('liferay-backup')?.size).toBe(1);
  });

  it('goes on with it when Elasticsearch 8 says snapshot_name_already_in_use_exception', async () => {
    await cluster('8.15.0');
    engine = elasticsearchEngine({ endpoint: await elasticsearch8Proxy(server.url), auth: { type: 'none' } });
    await start();
    const retried = await start().catch((error: unknown) => error);
    expect(retried).not.toBeInstanceOf(SearchEngineError);
    expect(retried).toMatchObject({ snapshot: BACKUP_ID, done: false });
    expect(server.snapshots.get('liferay-backup')?.size).toBe(1);
  });

  it('still refuses a snapshot of that name taken by another backup set', async () => {
    await cluster('8.15.0');
    engine = elasticsearchEngine({ endpoint: await elasticsearch8Proxy(server.url), auth: { type: 'none' } });
    await engine.createSnapshot('liferay-backup', BACKUP_ID, {
      indices: ['liferay-0'],
      metadata: { backup_id: 'b20261126t020000z-0000' },
    });
    const failure = await start().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SearchEngineError);
    expect(failure).toMatchObject({ type: 'snapshot_name_already_in_use_exception' });
  });
});
