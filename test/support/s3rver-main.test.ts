import { randomBytes } from 'node:crypto';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3ClientConfig } from '#store/s3-store.ts';
import { type LocalS3Server, startS3Server } from './s3-server.ts';

/** What the local S3 server (s3rver-main.cjs) adds to s3rver, checked at the protocol. */
describe('the local S3 server', () => {
  let server: LocalS3Server;
  beforeAll(async () => {
    server = await startS3Server();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('deletes many keys of one folder in one DeleteObjects, at the first attempt', async () => {
    // Prepare: no retry, so a 500 (s3rver's folder clean-up racing itself) fails the test.
    const client = new S3Client({
      ...s3ClientConfig({ endpoint: server.endpoint, region: 'us-east-1' }),
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      maxAttempts: 1,
    });
    const keys = Array.from({ length: 24 }, (_, i) => `work/b1/files/shards/${i % 3}/part-${i}.json`);
    for (const Key of keys)
      await client.send(new PutObjectCommand({ Bucket: server.bucket, Key, Body: 'x' }));

    // Act
    await client.send(
      new DeleteObjectsCommand({
        Bucket: server.bucket,
        Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
      }),
    );

    // Assess
    const left = await client.send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: 'work/' }));
    expect(left.Contents ?? []).toEqual([]);
  });

  it('serves whole objects, ranges across its 1 MiB reads, and refuses what S3 refuses', async () => {
    const client = new S3Client({
      ...s3ClientConfig({ endpoint: server.endpoint, region: 'us-east-1' }),
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      maxAttempts: 1,
    });
    const body = randomBytes(3 * 1024 * 1024 + 17);
    await client.send(new PutObjectCommand({ Bucket: server.bucket, Key: 'objects/big', Body: body }));
    const get = async (Range?: string) => {
      const response = await client.send(
        new GetObjectCommand({ Bucket: server.bucket, Key: 'objects/big', ...(Range ? { Range } : {}) }),
      );
      return Buffer.from(
        await (response.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
    };

    expect((await get()).equals(body)).toBe(true);
    expect((await get('bytes=1048000-2097999')).equals(body.subarray(1_048_000, 2_098_000))).toBe(true);
    expect((await get(`bytes=${body.length - 5}-${body.length + 100}`)).equals(body.subarray(-5))).toBe(true);
    await expect(get(`bytes=${body.length + 10}-${body.length + 20}`)).rejects.toMatchObject({
      $metadata: { httpStatusCode: 416 },
    });
    await expect(
      client.send(new GetObjectCommand({ Bucket: server.bucket, Key: 'objects/none' })),
    ).rejects.toMatchObject({ name: 'NoSuchKey' });
  });

  it('answers a GET racing PUTs of the same key with one whole version, as S3 does', async () => {
    // s3rver rewrites an object's file in place: a GET that read the old metadata met a truncated
    // file and the connection was cut (ECONNRESET "aborted"), which failed the lock-race test in CI.
    const client = new S3Client({
      ...s3ClientConfig({ endpoint: server.endpoint, region: 'us-east-1' }),
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      maxAttempts: 1,
    });
    const versions = Array.from({ length: 6 }, (_, i) => Buffer.alloc(64 * 1024 * (i + 1), 97 + i));
    const Key = 'objects/raced';
    await client.send(new PutObjectCommand({ Bucket: server.bucket, Key, Body: versions[0] }));
    const get = async () => {
      const response = await client.send(new GetObjectCommand({ Bucket: server.bucket, Key }));
      return Buffer.from(
        await (response.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
    };

    for (let round = 0; round < 20; round++) {
      const results = await Promise.allSettled([
        ...versions.map((Body) => client.send(new PutObjectCommand({ Bucket: server.bucket, Key, Body }))),
        ...Array.from({ length: 12 }, get),
      ]);
      for (const [i, result] of results.entries()) {
        expect(result.status === 'rejected' ? result.reason : 'ok', `round ${round}, request ${i}`).toBe(
          'ok',
        );
        if (i < versions.length || result.status !== 'fulfilled') continue;
        const body = result.value as Buffer;
        expect(
          versions.some((version) => version.equals(body)),
          `round ${round}: a GET answered ${body.length} bytes that no PUT sent`,
        ).toBe(true);
      }
    }
  });

  it('answers a HEAD right after a PUT with the size just written (S3 reads after writes)', async () => {
    // s3rver answered a PUT once its bytes were handed to the file's write stream, not written: a
    // HEAD at once found the file short (rclone's copy: "corrupted on transfer: sizes differ 9127
    // vs 0", and a whole pass again), and a GET served what was on disk so far.
    const client = new S3Client({
      ...s3ClientConfig({ endpoint: server.endpoint, region: 'us-east-1' }),
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      maxAttempts: 1,
    });
    const sizes = Array.from({ length: 800 }, (_, i) => 9_000 + i * 97);
    const mismatches: string[] = [];
    await Promise.all(
      Array.from({ length: 16 }, async (_, lane) => {
        for (let i = lane; i < sizes.length; i += 16) {
          const Key = `written/${i}`;
          const Body = randomBytes(sizes[i] ?? 0);
          await client.send(new PutObjectCommand({ Bucket: server.bucket, Key, Body }));
          const head = await client.send(new HeadObjectCommand({ Bucket: server.bucket, Key }));
          if (head.ContentLength !== Body.length)
            mismatches.push(`${Key}: ${head.ContentLength} of ${Body.length}`);
        }
      }),
    );
    expect(mismatches).toEqual([]);
  });
});
