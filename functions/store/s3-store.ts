import { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  type DeleteObjectsCommandOutput,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type ObjectIdentifier,
  PutObjectCommand,
  type S3Client,
  type S3ClientConfig,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { LiferayBackupError, ObjectNotFoundError, ObjectTooLargeError } from '#runtime/errors.ts';
import {
  assertStoreKey,
  type ContentSource,
  type ContentStore,
  DEFAULT_READ_LIMIT,
  type ListedObject,
  type ObjectInfo,
  type PutOptions,
  type SeenObject,
} from './content-store.ts';

/** A legal hold has no end date: it holds until someone lifts it. */
const FOREVER = new Date(8_640_000_000_000_000);

export interface S3StoreOptions {
  readonly bucket: string;
  /** The S3-compatible endpoint the client talks to, when not Amazon S3: named in errors. */
  readonly endpoint?: string;
  /** Customer-managed KMS key for SSE-KMS; when set every write names it explicitly. */
  readonly kmsKeyId?: string;
  /** Multipart part size for stream bodies. @default 16 MiB */
  readonly partSize?: number;
  /** Parts in flight per upload. @default 4 */
  readonly queueSize?: number;
}

/**
 * Client settings shared by the Lambdas and the CLI. Against Amazon S3 every upload carries a
 * checksum (the SDK's default): S3 checks the bytes it receives, and a bucket with Object Lock
 * refuses uploads without one ("Content-MD5 OR x-amz-checksum-* HTTP header is required"). Against
 * another endpoint (an S3-compatible server) checksums are sent only where the API requires them:
 * with the default mode a streamed body is sent aws-chunked, which some of those servers store
 * verbatim, framing included.
 */
export function s3ClientConfig(options: { endpoint?: string; region?: string } = {}): S3ClientConfig {
  // The SDK also takes an endpoint from the environment (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL).
  const otherEndpoint = options.endpoint || process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL;
  const checksums = otherEndpoint ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
  return {
    ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
    ...(options.region ? { region: options.region } : {}),
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    maxAttempts: 5,
  };
}

/** S3's bounds on a multipart upload: parts per upload, and the largest part. */
export const S3_MAX_PARTS = 10_000;
const S3_MAX_PART_BYTES = 5 * 1024 ** 3;
const MiB = 1024 * 1024;

/**
 * The part size and parts in flight of an upload whose stream may hold `maxLength` bytes: parts
 * of the default size while 10,000 of them hold it, larger ones beyond (rounded up to whole MiB).
 * The bytes in flight stay those of the default (`partSize` × `queueSize`), or two parts once a
 * part is larger than half of that: memory grows with a large dump only as much as it must.
 */
export function multipartPlan(
  maxLength: number | undefined,
  partSize: number,
  queueSize: number,
): { partSize: number; queueSize: number } {
  if (maxLength === undefined || maxLength <= partSize * S3_MAX_PARTS) return { partSize, queueSize };
  const needed = Math.min(Math.ceil(maxLength / S3_MAX_PARTS / MiB) * MiB, S3_MAX_PART_BYTES);
  const size = Math.max(partSize, needed);
  return {
    partSize: size,
    queueSize: Math.max(2, Math.min(queueSize, Math.floor((partSize * queueSize) / size))),
  };
}

/** A presigned read is made at once; 15 minutes is the longest a request may wait in a worker's queue. */
const PRESIGNED_SECONDS = 900;

/**
 * Sends of a conditional write answered 409 (a conditional write to the same key in flight) after
 * one of its own sends may have been applied: S3 asks for the request again, and its next answer
 * (success or 412) says who won. The pauses double from 100 ms.
 */
const CONFLICT_ROUNDS = 4;

/** An answer to a ranged read that is not that range: the server ignored Range, or answered another. */
export class RangeNotHonouredError extends LiferayBackupError {
  constructor(message: string) {
    super('RangeNotHonouredError', message);
  }
}

/** A conditional write whose outcome S3 would not settle (409 after every round): neither won nor lost. */
export class ConditionalWriteUnsettledError extends LiferayBackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ConditionalWriteUnsettledError', message, options);
  }
}

/**
 * The store's bucket does not exist where the client looks (S3 answered NoSuchBucket): a mistyped
 * `--bucket`, an endpoint or region other than the bucket's, or a bucket deleted under the stack.
 * Without its name the SDK's "The specified bucket does not exist" left the SRE guessing which.
 */
export class StoreBucketNotFoundError extends LiferayBackupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('StoreBucketNotFoundError', message, options);
  }
}

/** The store in an S3 bucket. */
export class S3Store implements ContentStore {
  readonly location: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  /**
   * The bucket answered (any request that succeeded): a HEAD miss is then a missing object, not a
   * missing bucket (HEAD answers carry no error code), and costs no HeadBucket in a backup's walk.
   */
  private bucketFound = false;

  constructor(
    private readonly client: S3Client,
    private readonly options: S3StoreOptions,
  ) {
    this.location = `s3://${options.bucket}`;
    this.partSize = options.partSize ?? 16 * 1024 * 1024;
    this.queueSize = options.queueSize ?? 4;
  }

  private get encryption() {
    return this.options.kmsKeyId
      ? {
          ServerSideEncryption: 'aws:kms' as const,
          SSEKMSKeyId: this.options.kmsKeyId,
          BucketKeyEnabled: true,
        }
      : {};
  }

  async put(key: string, body: string | Uint8Array | Readable, options: PutOptions = {}): Promise<void> {
    assertStoreKey(key);
    const common = {
      Bucket: this.options.bucket,
      Key: key,
      ...(options.contentType ? { ContentType: options.contentType } : {}),
      ...this.encryption,
    };
    try {
      if (!(body instanceof Readable)) {
        await this.client.send(new PutObjectCommand({ ...common, Body: body }));
        this.bucketFound = true;
        return;
      }
      if (options.contentLength !== undefined && options.contentLength <= this.partSize) {
        // Small stream of known size: one PUT, no multipart overhead.
        await this.client.send(
          new PutObjectCommand({ ...common, Body: body, ContentLength: options.contentLength }),
        );
        this.bucketFound = true;
        return;
      }
      // Multipart with bounded memory: at most queueSize parts of partSize in flight.
      const plan = multipartPlan(options.maxLength, this.partSize, this.queueSize);
      const upload = new Upload({
        client: this.client,
        params: { ...common, Body: body },
        ...plan,
        leavePartsOnError: false,
      });
      await upload.done();
      this.bucketFound = true;
    } catch (error) {
      throw this.explained(error, `writing ${key}`);
    }
  }

  async get(key: string): Promise<Readable> {
    return this.getObject(key);
  }

  /**
   * Only the bytes of the range, or fewer when the object ends inside it (the caller counts them:
   * a restore then names the object shorter than the index says). An object that ends before
   * `start` answers 416 InvalidRange: that is no byte at all, as a local file that short reads, and
   * never an error of its own (a restore with skipLost goes on without the object's files). An
   * answer that is not the range (a server that ignores Range sends 200 and the whole object) is
   * refused with RangeNotHonouredError.
   */
  async getRange(key: string, start: number, length: number): Promise<Readable> {
    if (length === 0) return Readable.from([]);
    assertStoreKey(key);
    const range = byteRange(start, length);
    let response: GetObjectCommandOutput;
    try {
      response = await this.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: key, Range: range }),
      );
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      if (isInvalidRange(error)) return Readable.from([]);
      throw this.explained(error, `reading ${key}`);
    }
    const body = response.Body;
    if (!(body instanceof Readable)) throw new Error(`GetObject ${key} returned no stream body`);
    const wrong = notTheRange(response, start, length);
    if (wrong !== undefined) {
      body.destroy();
      throw new RangeNotHonouredError(
        `the store answered a ranged read of ${key} (${range}) with ${wrong}: it does not honour Range, and a restore cannot trust what it reads from it`,
      );
    }
    return body;
  }

  /**
   * A URL signed by this client (its credentials, endpoint and region) for one ranged GET. The
   * range is a signed header: the request must send exactly the headers returned.
   */
  async contentSource(key: string, start: number, length: number): Promise<ContentSource> {
    assertStoreKey(key);
    if (!(length > 0)) throw new Error(`a content source needs a positive length, got ${length}`);
    const range = byteRange(start, length);
    const url = await getSignedUrl(
      this.client,
      new GetObjectCommand({ Bucket: this.options.bucket, Key: key, Range: range }),
      { expiresIn: PRESIGNED_SECONDS },
    );
    return { url, headers: { range } };
  }

  private async getObject(key: string): Promise<Readable> {
    assertStoreKey(key);
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: key }),
      );
      this.bucketFound = true;
      if (!(response.Body instanceof Readable)) throw new Error(`GetObject ${key} returned no stream body`);
      return response.Body;
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      throw this.explained(error, `reading ${key}`);
    }
  }

  async read(key: string, maxBytes = DEFAULT_READ_LIMIT): Promise<Buffer> {
    const stream = await this.getObject(key);
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of stream) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) {
        stream.destroy();
        throw new ObjectTooLargeError(key, maxBytes);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    assertStoreKey(key);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: key }));
      this.bucketFound = true;
      const lockedUntil =
        head.ObjectLockLegalHoldStatus === 'ON' ? FOREVER : (head.ObjectLockRetainUntilDate ?? undefined);
      return {
        size: head.ContentLength ?? 0,
        etag: head.ETag ?? '',
        lastModified: head.LastModified ?? new Date(0),
        // "null": versioning is suspended, and a write replaces that version in place (no version to keep apart).
        ...(head.VersionId && head.VersionId !== 'null' ? { version: head.VersionId } : {}),
        ...(lockedUntil ? { lockedUntil } : {}),
      };
    } catch (error) {
      if (!isNotFound(error)) throw this.explained(error, `looking up ${key}`);
      // A HEAD answer has no body, so a missing bucket is a bare 404 too: asked once, or a
      // mistyped bucket reads as a store with nothing in it.
      await this.assertBucketExists(key);
      return undefined;
    }
  }

  private async assertBucketExists(key: string): Promise<void> {
    if (this.bucketFound) return;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }));
    } catch (error) {
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404)
        throw this.bucketNotFound(`looking up ${key}`, error);
      // 403 (a role without s3:ListBucket) or another answer says nothing about the bucket: the
      // miss stands, as it did before this check.
    }
    this.bucketFound = true;
  }

  /** The error as S3 gave it, or, for a missing bucket, one that names the bucket and what to check. */
  private explained(error: unknown, what: string): unknown {
    return isNoSuchBucket(error) ? this.bucketNotFound(what, error) : error;
  }

  private bucketNotFound(what: string, cause: unknown): StoreBucketNotFoundError {
    const { bucket, endpoint } = this.options;
    const where = endpoint ? ` at ${endpoint}` : ' in Amazon S3 (the region the client uses)';
    const check = endpoint
      ? `check the bucket's name (CLI: --bucket NAME) and the endpoint (CLI: --endpoint URL); create the bucket first if it is new`
      : `check the bucket's name (CLI: --bucket NAME; on AWS the stack sets it as STORE_BUCKET), and its region (CLI: --region, or AWS_REGION)`;
    return new StoreBucketNotFoundError(
      `the backup store's bucket ${JSON.stringify(bucket)} does not exist${where} (S3 answered NoSuchBucket while ${what}): ${check}`,
      { cause },
    );
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: prefix, ContinuationToken: token }),
        );
      } catch (error) {
        throw this.explained(error, `listing ${prefix}`);
      }
      this.bucketFound = true;
      for (const item of page.Contents ?? []) {
        if (item.Key)
          yield { key: item.Key, size: item.Size ?? 0, lastModified: item.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(keys: readonly string[]): Promise<void> {
    await this.deleteIdentified(keys.map((Key) => ({ Key })));
  }

  /**
   * A versioned bucket deletes the version seen, for good: one written since stays current (a
   * delete by key would have put a delete marker over it). Without versioning (or with it
   * suspended) HEAD names no version to keep apart, and the object goes by key.
   */
  async deleteAsSeen(objects: readonly SeenObject[]): Promise<readonly SeenObject[]> {
    await this.deleteIdentified(
      objects.map(({ key, seen }) => ({ Key: key, ...(seen.version ? { VersionId: seen.version } : {}) })),
    );
    return objects;
  }

  private async deleteIdentified(objects: readonly ObjectIdentifier[]): Promise<void> {
    for (let i = 0; i < objects.length; i += 1000) {
      const batch = objects.slice(i, i + 1000);
      for (const object of batch) assertStoreKey(object.Key ?? '');
      let result: DeleteObjectsCommandOutput;
      try {
        result = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.options.bucket,
            Delete: { Objects: [...batch], Quiet: true },
          }),
        );
      } catch (error) {
        throw this.explained(error, `deleting ${batch.length} objects, first ${batch[0]?.Key}`);
      }
      const failed = result.Errors ?? [];
      if (failed.length > 0) {
        const first = failed[0];
        // A version delete refused: the role lacks the permission, or Object Lock holds the version
        // and HEAD did not say so (it tells only a caller that may read the retention and legal hold).
        const hint =
          first?.VersionId && first.Code === 'AccessDenied'
            ? ` (version ${first.VersionId}: deleting a version needs s3:DeleteObjectVersion, and skipping one Object Lock holds needs s3:GetObjectRetention and s3:GetObjectLegalHold; redeploy the stack if its role lacks them)`
            : '';
        throw new Error(
          `could not delete ${failed.length} objects, first ${first?.Key}: ${first?.Code} ${first?.Message}${hint}`,
        );
      }
    }
  }

  async createIfAbsent(key: string, body: string | Uint8Array): Promise<boolean> {
    return this.conditionalPut(key, body, { IfNoneMatch: '*' });
  }

  async replaceIfMatch(key: string, etag: string, body: string | Uint8Array): Promise<boolean> {
    return this.conditionalPut(key, body, { IfMatch: etag });
  }

  /**
   * A conditional PUT: true when this call wrote the object. 412 (the condition failed) and 409 (a
   * conditional write to the same key was in flight) mean another writer won, unless the SDK sent
   * the request more than once: a send that S3 applied but whose answer was lost (a reset
   * connection) is sent again, and that send meets this call's own object. Then the object is read
   * back, and this call won exactly when it holds this call's bytes (the lock's bodies carry a
   * unique run id and time). A 412 on the first and only send is never read back: a second writer
   * of the same bytes did not write them. A 409 after a repeated send may be this call's own
   * earlier send still in flight, so the request is sent again until S3 settles it.
   */
  private async conditionalPut(
    key: string,
    body: string | Uint8Array,
    condition: { IfNoneMatch: string } | { IfMatch: string },
  ): Promise<boolean> {
    assertStoreKey(key);
    let sentMoreThanOnce = false;
    for (let round = 1; ; round++) {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.options.bucket,
            Key: key,
            Body: body,
            ...condition,
            ...this.encryption,
          }),
        );
        return true;
      } catch (error) {
        if (!(error instanceof S3ServiceException)) throw error;
        if (isNoSuchBucket(error)) throw this.explained(error, `writing ${key}`);
        const status = error.$metadata.httpStatusCode;
        if (status !== 412 && status !== 409) throw error;
        // attempts is set by the SDK's retry middleware; without it, a repeated send cannot be ruled out.
        if (error.$metadata.attempts !== 1) sentMoreThanOnce = true;
        if (!sentMoreThanOnce) return false;
        if (status === 409) {
          if (round < CONFLICT_ROUNDS) {
            await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** (round - 1)));
            continue;
          }
          if (await this.holds(key, body)) return true;
          throw new ConditionalWriteUnsettledError(
            `the conditional write of ${key} met a conflicting write ${CONFLICT_ROUNDS} times after a send whose answer was lost: whether it was applied is unknown`,
            { cause: error },
          );
        }
        return this.holds(key, body);
      }
    }
  }

  /** Whether the object holds exactly these bytes (read back; a larger object is not read whole). */
  private async holds(key: string, body: string | Uint8Array): Promise<boolean> {
    const expected = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
    let stream: Readable;
    try {
      stream = await this.getObject(key);
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return false;
      throw error;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of stream) {
        total += (chunk as Buffer).length;
        if (total > expected.length) return false;
        chunks.push(chunk as Buffer);
      }
    } finally {
      stream.destroy();
    }
    return Buffer.concat(chunks).equals(expected);
  }
}

/**
 * Why a successful answer to a ranged GET is not the range from `start`, or undefined when it is:
 * 206 with a Content-Range that starts at `start` and ends inside the range (earlier when the
 * object does); 200 only with no bytes, or from offset 0 with no more bytes than asked (the whole
 * object is then the range's start).
 */
function notTheRange(
  response: Pick<GetObjectCommandOutput, '$metadata' | 'ContentRange' | 'ContentLength'>,
  start: number,
  length: number,
): string | undefined {
  const status = response.$metadata.httpStatusCode;
  const size = response.ContentLength;
  if (status === 206) {
    const answered = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.ContentRange ?? '');
    const first = Number(answered?.[1]);
    const last = Number(answered?.[2]);
    if (!answered || first !== start || last < first || last > start + length - 1)
      return `HTTP 206 and Content-Range ${JSON.stringify(response.ContentRange ?? null)}`;
    if (size !== undefined && size !== last - first + 1)
      return `HTTP 206, Content-Range ${response.ContentRange} and ${size} bytes`;
    return undefined;
  }
  if (status === 200 && size !== undefined && (size === 0 || (start === 0 && size <= length)))
    return undefined;
  return `HTTP ${status ?? '(no status)'} and ${size ?? 'an unknown number of'} bytes (the whole object?)`;
}

/** The Range header of `length` bytes from `start` (inclusive end). */
function byteRange(start: number, length: number): string {
  return `bytes=${start}-${start + length - 1}`;
}

/** 416: the object ends before the range starts (S3's InvalidRange). */
function isInvalidRange(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return error.name === 'InvalidRange' || error.$metadata.httpStatusCode === 416;
}

/** The object is missing. A missing bucket is a 404 too, and not a missing object: the store is gone. */
function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException) || isNoSuchBucket(error)) return false;
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata.httpStatusCode === 404;
}

function isNoSuchBucket(error: unknown): boolean {
  return error instanceof S3ServiceException && error.name === 'NoSuchBucket';
}
