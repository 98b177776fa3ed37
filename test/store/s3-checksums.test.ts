import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { S3Store, s3ClientConfig } from '#store/s3-store.ts';

/** An S3 client whose requests are captured instead of sent (S3 itself cannot run here). */
function capturingStore(config: ReturnType<typeof s3ClientConfig>) {
  const requests: { method: string; path: string; headers: Record<string, string> }[] = [];
  const client = new S3Client({
    ...config,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    requestHandler: {
      async handle(request: {
        method: string;
        path: string;
        headers: Record<string, string>;
        body?: unknown;
      }) {
        requests.push({ method: request.method, path: request.path, headers: { ...request.headers } });
        // Drain a streamed body, as a server would.
        if (request.body instanceof Readable) for await (const _ of request.body);
        return { response: { statusCode: 200, headers: { etag: '"x"' }, body: Readable.from([]) } };
      },
    },
  });
  return {
    store: new S3Store(client, { bucket: 'b', kmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/k' }),
    requests,
  };
}

const checksumHeaders = (headers: Record<string, string>) =>
  Object.keys(headers).filter((name) =>
    /^(content-md5|x-amz-checksum-|x-amz-trailer|x-amz-sdk-checksum-algorithm)/i.test(name),
  );

describe('S3 checksums', () => {
  // Amazon S3 itself: no endpoint from the environment of the machine running the tests.
  beforeEach(() => {
    vi.stubEnv('AWS_ENDPOINT_URL_S3', '');
    vi.stubEnv('AWS_ENDPOINT_URL', '');
  });
  afterEach(() => vi.unstubAllEnvs());

  it('every upload to Amazon S3 carries one (a bucket with Object Lock refuses uploads without)', async () => {
    const { store, requests } = capturingStore(s3ClientConfig({ region: 'eu-west-1' }));
    await store.put('backups/b20261127t020000z-0001/manifest.json', '{"a":1}');
    await store.put('objects/packs/aa/pack', Readable.from([Buffer.alloc(1000, 1)]), { contentLength: 1000 });
    const puts = requests.filter((request) => request.method === 'PUT');
    expect(puts).toHaveLength(2);
    for (const put of puts) expect(checksumHeaders(put.headers), put.path).not.toEqual([]);
  });

  it('an S3-compatible endpoint gets none where the API does not require it (some store aws-chunked framing as data)', async () => {
    const { store, requests } = capturingStore(
      s3ClientConfig({ endpoint: 'http://127.0.0.1:1', region: 'eu-west-1' }),
    );
    await store.put('backups/b20261127t020000z-0001/manifest.json', '{"a":1}');
    const [put] = requests;
    expect(put && checksumHeaders(put.headers)).toEqual([]);
  });

  it('an endpoint from the environment (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL) counts as S3-compatible too', () => {
    for (const name of ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL']) {
      vi.stubEnv(name, 'http://127.0.0.1:1');
      expect(s3ClientConfig().requestChecksumCalculation, name).toBe('WHEN_REQUIRED');
      vi.stubEnv(name, '');
    }
    expect(s3ClientConfig().requestChecksumCalculation).toBe('WHEN_SUPPORTED');
  });

  it('a download from Amazon S3 is checked against the checksum S3 returns', async () => {
    const body = Buffer.from('{"status":"complete"}');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    const read = async (checksum: string) => {
      const client = new S3Client({
        ...s3ClientConfig({ region: 'eu-west-1' }),
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
        requestHandler: {
          async handle() {
            const headers = { 'content-length': String(body.length), 'x-amz-checksum-crc32': checksum };
            return { response: { statusCode: 200, headers, body: Readable.from([body]) } };
          },
        },
      });
      const chunks: Buffer[] = [];
      for await (const chunk of await new S3Store(client, { bucket: 'b' }).get('pointers/latest.json'))
        chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString();
    };
    expect(await read(crc.toString('base64'))).toBe(body.toString());
    await expect(read('AAAAAA==')).rejects.toThrow(/Checksum mismatch/);
  });
});
