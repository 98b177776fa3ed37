import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { storeFromOptions } from '#local/store-options.ts';
import type { ContentStore } from '#store/content-store.ts';
import { S3Store, StoreBucketNotFoundError } from '#store/s3-store.ts';
import { type LocalS3Server, startS3Server } from '../support/s3-server.ts';

/**
 * Found in a review of the README examples: `--bucket` with a typo printed "NoSuchBucket: The
 * specified bucket does not exist", without the bucket's name; reads answered NoSuchBucket were
 * taken for missing objects ("not found in the backup store: backups/..."), and a HEAD (no body, so
 * no error code) for a missing object, so a mistyped bucket read as a store with nothing in it.
 * Against the local S3 server, with a bucket it does not have.
 */

let server: LocalS3Server;
beforeAll(async () => {
  server = await startS3Server();
}, 30_000);
afterAll(async () => {
  vi.unstubAllEnvs();
  await server.stop();
});

const TYPO = 'liferay-backup-tset';

/** The CLI's store for `--bucket TYPO --endpoint URL`. */
function cliStore(): ContentStore {
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'S3RVER');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'S3RVER');
  return storeFromOptions(
    { bucket: TYPO, endpoint: server.endpoint, region: 'us-east-1' },
    { existing: true },
  );
}

async function failure(action: () => Promise<unknown>): Promise<Error> {
  try {
    await action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the store call to fail');
}

describe('review: a store bucket that does not exist', () => {
  const calls: Record<string, (store: ContentStore) => Promise<unknown>> = {
    put: (store) => store.put('locks/backup.json', '{}'),
    'put (stream)': (store) => store.put('dumps/x/db.dump', Readable.from([Buffer.from('dump')])),
    read: (store) => store.read('pointers/latest.json'),
    get: (store) => store.get('backups/b20261127t020000z-7f3a/manifest.json'),
    getRange: (store) => store.getRange('objects/packs/00/abc', 0, 10),
    stat: (store) => store.stat('backups/b20261127t020000z-7f3a/manifest.json'),
    list: async (store) => {
      for await (const _ of store.list('backups/')) {
        // nothing: the listing itself fails
      }
    },
    delete: (store) => store.delete(['work/r1/x']),
    createIfAbsent: (store) => store.createIfAbsent('locks/backup.json', '{}'),
  };
  for (const [name, call] of Object.entries(calls)) {
    it(`${name}: names the bucket and the endpoint, and says what to check (CLI --bucket/--endpoint)`, async () => {
      // Prepare: the CLI's store for a mistyped bucket on a server that is up.
      const store = cliStore();
      // Act
      const error = await failure(() => call(store));
      // Assess
      expect(error.message).toContain(`"${TYPO}" does not exist at ${server.endpoint}`);
      expect(error.message).toContain('--bucket NAME');
      expect(error.message).toContain('--endpoint URL');
      expect(error.name).toBe('StoreBucketNotFoundError');
      expect(error).toBeInstanceOf(StoreBucketNotFoundError);
    });
  }

  it('on AWS (no endpoint) names the bucket and says to check its name and region', async () => {
    // Prepare: the Lambdas' store (no endpoint option) for a bucket the server does not have.
    const store = new S3Store(server.client(), { bucket: TYPO });
    // Act
    const error = await failure(() => store.read('pointers/latest.json'));
    // Assess
    expect(error.message).toContain(`"${TYPO}" does not exist in Amazon S3`);
    expect(error).toBeInstanceOf(StoreBucketNotFoundError);
    expect(error.message).toContain('STORE_BUCKET');
    expect(error.message).toContain('region');
  });

  it('a missing object of a bucket that exists is still a miss (one bucket check, no error)', async () => {
    // Prepare: the test server's own bucket.
    const store = new S3Store(server.client(), { bucket: server.bucket, endpoint: server.endpoint });
    // Act / Assess
    expect(await store.stat('backups/none/manifest.json')).toBeUndefined();
    expect(await store.stat('backups/none/manifest.json')).toBeUndefined();
    await expect(store.read('backups/none/manifest.json')).rejects.toThrow(/not found in the backup store/);
  });

  it.each([
    ['put', (store: ContentStore) => store.put('locks/x.json', '{}')],
    ['read', (store: ContentStore) => store.put('locks/x.json', '{}').then(() => store.read('locks/x.json'))],
    [
      'list',
      async (store: ContentStore) => {
        for await (const _ of store.list('backups/')) {
          // the page's answer is what proves the bucket
        }
      },
    ],
  ])(
    'after a %s answered, a HEAD miss asks no HeadBucket (a backup walk met it mid-walk, 27 ms per run)',
    async (_, answered) => {
      // Prepare: a fresh store whose client records every command it sends.
      const client = server.client();
      const sent: string[] = [];
      client.middlewareStack.add(
        (next, context) => (args) => {
          sent.push(String(context.commandName));
          return next(args);
        },
        { step: 'initialize' },
      );
      const store = new S3Store(client, { bucket: server.bucket, endpoint: server.endpoint });
      await answered(store);
      sent.length = 0;
      // Act
      const missing = await store.stat('objects/blobs/00/none');
      // Assess
      expect(missing).toBeUndefined();
      expect(sent).toEqual(['HeadObjectCommand']);
    },
  );
});
