import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FetchError, FetchWorkers } from '#components/files/fetch-worker.ts';
import { filesKeys } from '#components/files/keys.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { RangeNotHonouredError, S3Store, s3ClientConfig } from '#store/s3-store.ts';
import {
  backup,
  backupIdOf,
  causeOf,
  homeSettings,
  restore,
  restoreIdsOf,
  runtimeWith,
  writeTree,
} from '../../reliability/support.ts';
import { tempDir } from '../../support/local-runtime.ts';
import { type LocalS3Server, startS3Server } from '../../support/s3-server.ts';
import { CountingStore } from './support/counting-store.ts';

/**
 * What a restore makes of the answers to its ranged reads. A pack cut short (a torn write on an
 * S3-compatible server, a tool that overwrote it) is "shorter than the index says": a restore with
 * skipLost goes on without its files. When the pack now ends before the range of the files being
 * restored, S3 answers 416 InvalidRange; that failed the restore ("HTTP 416 InvalidRange"), on the
 * fetch workers and on the main thread alike, and without skipLost the error did not name it.
 * And a server that ignores Range answers 200 with the whole object: S3Store.getRange handed that
 * back as the range.
 */

const work = tempDir('range-answers');
let s3: LocalS3Server;
const workers = new FetchWorkers(1);

beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  await workers.close();
  await s3?.stop();
  work.cleanup();
});

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('S3Store.getRange against a server that answers something else than the range', () => {
  const object = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
  /** The answer of the fake server to the next GET. */
  let answer: 'ignore-range' | 'range-elsewhere' | 'honour' = 'honour';
  let server: Server;
  let store: S3Store;

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      const match = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range));
      const start = Number(match?.[1]);
      const end = Math.min(Number(match?.[2]), object.length - 1);
      if (answer === 'ignore-range') {
        res.writeHead(200, { 'content-length': object.length, etag: '"e"' });
        res.end(object);
        return;
      }
      // 'range-elsewhere': a 206 of the right length, from another offset.
      const from = answer === 'range-elsewhere' ? start + 1 : start;
      const body = object.subarray(from, end + 1 + (from - start));
      res.writeHead(206, {
        'content-length': body.length,
        'content-range': `bytes ${from}-${from + body.length - 1}/${object.length}`,
        etag: '"e"',
      });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new S3Client({
      ...s3ClientConfig({
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        region: 'us-east-1',
      }),
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    });
    store = new S3Store(client, { bucket: 'b' });
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('refuses a 200 with the whole object as the range', async () => {
    answer = 'ignore-range';
    await expect(store.getRange('objects/packs/aa/p', 10, 5)).rejects.toThrow(RangeNotHonouredError);
    await expect(store.getRange('objects/packs/aa/p', 10, 5)).rejects.toThrow(
      /HTTP 200.*does not honour Range/,
    );
  });

  it('refuses a 206 whose Content-Range starts elsewhere', async () => {
    answer = 'range-elsewhere';
    await expect(store.getRange('objects/packs/aa/p', 10, 5)).rejects.toThrow(
      /Content-Range "bytes 11-15\/36"/,
    );
  });

  it('takes a 200 whose whole object is the range from offset 0, and a 206 of the range', async () => {
    answer = 'ignore-range';
    expect((await bytesOf(await store.getRange('objects/packs/aa/p', 0, object.length))).toString()).toBe(
      object.toString(),
    );
    answer = 'honour';
    expect((await bytesOf(await store.getRange('objects/packs/aa/p', 10, 5))).toString()).toBe('abcde');
  });
});

describe('a range beyond the end of an object (S3: 416 InvalidRange)', () => {
  it('S3Store.getRange reads no byte, and the bytes that exist of a range across the end', async () => {
    const store = s3.store();
    await store.put('objects/packs/cc/short', '0123456789');
    expect((await bytesOf(await store.getRange('objects/packs/cc/short', 20, 5))).length).toBe(0);
    expect((await bytesOf(await store.getRange('objects/packs/cc/short', 8, 5))).toString()).toBe('89');
  });

  it('a fetch worker reports it as short (the object is shorter than asked), not as an HTTP failure', async () => {
    const store = s3.store();
    await store.put('objects/packs/cc/short', '0123456789');
    const source = await store.contentSource('objects/packs/cc/short', 20, 5);
    const error = await workers.fetch({ parts: [{ source, length: 5 }], targets: [] }).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(FetchError);
    expect(error).toMatchObject({
      kind: 'short',
      message: expect.stringMatching(/0 of 5 bytes \(HTTP 416 InvalidRange/),
    });
  });
});

/** Small files that go into one pack; their content names the case, so that no case finds another's pack. */
function filesOf(label: string): Record<string, string> {
  return {
    'portal-ext.properties': `a=1\n# ${label}\n`,
    'osgi/configs/one.config': `x="${label}"\n`.repeat(50),
    'osgi/configs/two.config': `y="${label}"\n`.repeat(60),
  };
}

/**
 * A set whose pack now keeps only its first 10 bytes, and a restore of the file stored last in it
 * (its range starts beyond the new end).
 */
async function restoreFromCutPack(name: string, store: ContentStore, skipLost: boolean) {
  const home = path.join(work.dir, name, 'home');
  const files = filesOf(name);
  writeTree(home, files);
  const settings = { liferayHome: homeSettings(home) };
  const backupId = backupIdOf(await backup(runtimeWith(store, settings)));
  const packs: Array<{ key: string; bytes: Buffer }> = [];
  for await (const object of store.list('objects/packs/')) {
    const bytes = await store.read(object.key);
    if (bytes.includes(files['portal-ext.properties'] as string)) packs.push({ key: object.key, bytes });
  }
  expect(packs).toHaveLength(1);
  const pack = packs[0] as { key: string; bytes: Buffer };
  const [last, offset] = Object.entries(files)
    .map(([rel, content]) => [rel, pack.bytes.indexOf(content)] as const)
    .sort((a, b) => b[1] - a[1])[0] as readonly [string, number];
  expect(offset).toBeGreaterThan(100);
  await store.put(pack.key, pack.bytes.subarray(0, 10));
  const outcome = await restore(runtimeWith(store, settings), {
    backupId,
    liferayHome: { target: path.join(work.dir, name, 'restored'), path: last, skipLost },
  });
  return { outcome, last, backupId };
}

describe('a restore from a pack cut short before the range of a file', () => {
  const stores: Array<{ label: string; id: string; open: () => ContentStore }> = [
    {
      label: 'a local folder (control)',
      id: 'local',
      open: () => new LocalFolderStore(path.join(work.dir, 'local-store')),
    },
    { label: 'S3, read by the fetch workers', id: 's3-workers', open: () => s3.store() },
    {
      label: 'S3, read on the main thread (the path over EFS)',
      id: 's3-main-thread',
      open: () => new CountingStore(s3.store(), { contentSources: false }),
    },
  ];

  it.each(stores)('with skipLost goes on without the file, and lists it: $label', async ({ id, open }) => {
    const store = open();
    const { outcome, last, backupId } = await restoreFromCutPack(`${id}-skip`, store, true);
    expect(outcome.status, outcome.status === 'FAILED' ? causeOf(outcome) : '').toBe('SUCCEEDED');
    const { restoreId } = restoreIdsOf(outcome);
    const lost = gunzipSync(await store.read(filesKeys.restoreLost(backupId, restoreId, 'liferayHome')))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { path: string; cause: string });
    expect(lost.map((file) => file.path)).toEqual([last]);
  });

  it.each(stores)(
    'without skipLost fails naming the short pack and skipLost: $label',
    async ({ id, open }) => {
      const { outcome } = await restoreFromCutPack(`${id}-fail`, open(), false);
      const cause = causeOf(outcome);
      expect(cause).toMatch(/objects\/packs\/.*shorter than the index says/);
      expect(cause).toContain('"skipLost": true');
    },
  );
});
