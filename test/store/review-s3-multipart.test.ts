import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { multipartPlan, S3_MAX_PARTS, S3Store } from '#store/s3-store.ts';

/**
 * A stream of unknown length (a database dump: `store.put(key, body)` with no contentLength) is
 * uploaded in parts of one size, and S3 takes at most 10,000 parts: the part size bounds the
 * object. With the default 16 MiB parts that is 156 GiB, and lib-storage throws "Exceeded 10000
 * parts" only after the whole bound has been uploaded (hours of a dump). So a stream that may be
 * larger says how large it may get (`maxLength`, an estimate that errs high), and the parts are
 * sized for it, up to S3's 5 TiB object.
 */

const S3_MAX_OBJECT_BYTES = 5 * 1024 ** 4;
const MiB = 1024 * 1024;
const DEFAULT_PART = 16 * MiB;

const s3 = mockClient(S3Client);
afterEach(() => s3.reset());

/** The parts' sizes, and the most parts in flight at once, of one streamed put. */
async function upload(length: number, maxLength: number | undefined) {
  let inFlight = 0;
  let mostInFlight = 0;
  s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u1' });
  s3.on(UploadPartCommand).callsFake(async () => {
    inFlight += 1;
    mostInFlight = Math.max(mostInFlight, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 5));
    inFlight -= 1;
    return { ETag: '"e"' };
  });
  s3.on(CompleteMultipartUploadCommand).resolves({});
  const store = new S3Store(new S3Client({ region: 'us-east-1' }), { bucket: 'b' });
  const oneMiB = Buffer.alloc(MiB);
  const body = Readable.from(
    (function* () {
      for (let i = 0; i < Math.floor(length / MiB); i += 1) yield oneMiB;
      if (length % MiB > 0) yield Buffer.alloc(length % MiB);
    })(),
  );
  await store.put('dumps/b20260101t000000z-0000/database/lportal.sql.gz', body, {
    ...(maxLength === undefined ? {} : { maxLength }),
  });
  const parts = s3
    .commandCalls(UploadPartCommand)
    .map((call) => call.args[0].input)
    .sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0))
    .map((input) => (input.Body as Uint8Array).byteLength);
  return { parts, mostInFlight };
}

describe('S3Store multipart part size', () => {
  it('sizes the parts of a stream that may hold up to 5 TiB so that 10,000 of them hold it', () => {
    const plan = multipartPlan(S3_MAX_OBJECT_BYTES, DEFAULT_PART, 4);
    expect(plan.partSize * S3_MAX_PARTS).toBeGreaterThanOrEqual(S3_MAX_OBJECT_BYTES);
    expect(plan.partSize % MiB).toBe(0);
    // Two such parts in flight (1 GiB), not four.
    expect(plan.queueSize).toBe(2);
  });

  it('keeps 16 MiB parts, four in flight, for a stream of unknown size or one they hold', () => {
    expect(multipartPlan(undefined, DEFAULT_PART, 4)).toEqual({ partSize: DEFAULT_PART, queueSize: 4 });
    expect(multipartPlan(DEFAULT_PART * S3_MAX_PARTS, DEFAULT_PART, 4)).toEqual({
      partSize: DEFAULT_PART,
      queueSize: 4,
    });
  });

  it('uploads a stream expected to hold up to 200 GiB in 21 MiB parts, at most three in flight', async () => {
    const { parts, mostInFlight } = await upload(64 * MiB + 1, 200 * 1024 * MiB);
    expect(parts).toEqual([21 * MiB, 21 * MiB, 21 * MiB, MiB + 1]);
    expect(mostInFlight).toBeLessThanOrEqual(3);
    expect(21 * MiB * S3_MAX_PARTS).toBeGreaterThanOrEqual(200 * 1024 * MiB);
  });

  it('uploads a stream without an expected size in 16 MiB parts, at most four in flight', async () => {
    const { parts, mostInFlight } = await upload(64 * MiB + 1, undefined);
    expect(parts).toEqual([DEFAULT_PART, DEFAULT_PART, DEFAULT_PART, DEFAULT_PART, 1]);
    expect(mostInFlight).toBeLessThanOrEqual(4);
  });
});
