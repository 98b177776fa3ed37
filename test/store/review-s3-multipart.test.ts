import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { S3Store } from '#store/s3-store.ts';

/**
 * A stream of unknown length (a database dump: `store.put(key, body)` with no contentLength) is
 * uploaded in parts of one fixed size, and S3 takes at most 10,000 parts: the part size bounds the
 * object. S3 stores objects up to 5 TiB; lib-storage throws "Exceeded 10000 parts" at the part
 * after the last, i.e. after the whole bound has been uploaded (hours of a dump), and aborts it.
 */

const S3_MAX_PARTS = 10_000;
const S3_MAX_OBJECT_BYTES = 5 * 1024 ** 4;

const s3 = mockClient(S3Client);
afterEach(() => s3.reset());

describe('S3Store multipart part size', () => {
  // Not fixed (a design decision, see the review report): reaching 5 TiB with one fixed part size
  // needs parts of 525 MiB, four in flight (2 GiB of memory); parts that grow as the upload goes on
  // (S3 allows parts of different sizes) need a multipart upload of our own instead of lib-storage's.
  it.fails('a stream of unknown length can be as large as S3 allows (5 TiB within 10,000 parts)', async () => {
    // Prepare: the SDK boundary answers the multipart calls; the body is one byte over one part.
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
    s3.on(UploadPartCommand).resolves({ ETag: '"e"' });
    s3.on(CompleteMultipartUploadCommand).resolves({});
    const store = new S3Store(new S3Client({ region: 'us-east-1' }), { bucket: 'b' });
    const oneMiB = Buffer.alloc(1024 * 1024);
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < 64; i += 1) yield oneMiB;
        yield Buffer.alloc(1);
      })(),
    );
    // Act
    await store.put('dumps/b20260101t000000z-0000/database.sql.gz', body);
    // Assess: the size of the first part is the size of every part but the last.
    const parts = s3.commandCalls(UploadPartCommand);
    const partSize = (parts[0]?.args[0].input.Body as Uint8Array | undefined)?.byteLength ?? 0;
    expect(partSize).toBeGreaterThan(0);
    expect(partSize * S3_MAX_PARTS).toBeGreaterThanOrEqual(S3_MAX_OBJECT_BYTES);
  });
});
