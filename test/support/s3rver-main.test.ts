import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
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
});
