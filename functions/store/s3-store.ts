import { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  type S3ClientConfig,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ObjectNotFoundError } from '#runtime/errors.ts';
import {
  assertStoreKey,
  type ContentSource,
  type ContentStore,
  DEFAULT_READ_LIMIT,
  type ListedObject,
  type ObjectInfo,
  type PutOptions,
} from './content-store.ts';

export interface S3StoreOptions {
  readonly bucket: string;
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

/** A presigned read is made at once; 15 minutes is the longest a request may wait in a worker's queue. */
const PRESIGNED_SECONDS = 900;

/** The store in an S3 bucket. */
export class S3Store implements ContentStore {
  readonly location: string;
  private readonly partSize: number;
  private readonly queueSize: number;

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
    if (!(body instanceof Readable)) {
      await this.client.send(new PutObjectCommand({ ...common, Body: body }));
      return;
    }
    if (options.contentLength !== undefined && options.contentLength <= this.partSize) {
      // Small stream of known size: one PUT, no multipart overhead.
      await this.client.send(
        new PutObjectCommand({ ...common, Body: body, ContentLength: options.contentLength }),
      );
      return;
    }
    // Multipart with bounded memory: at most queueSize parts of partSize in flight.
    const upload = new Upload({
      client: this.client,
      params: { ...common, Body: body },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async get(key: string): Promise<Readable> {
    return this.getObject(key);
  }

  async getRange(key: string, start: number, length: number): Promise<Readable> {
    if (length === 0) return Readable.from([]);
    return this.getObject(key, byteRange(start, length));
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

  private async getObject(key: string, range?: string): Promise<Readable> {
    assertStoreKey(key);
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: key, ...(range ? { Range: range } : {}) }),
      );
      if (!(response.Body instanceof Readable)) throw new Error(`GetObject ${key} returned no stream body`);
      return response.Body;
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      throw error;
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
        throw new Error(`${key} is larger than the ${maxBytes} bytes allowed`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    assertStoreKey(key);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: key }));
      return {
        size: head.ContentLength ?? 0,
        etag: head.ETag ?? '',
        lastModified: head.LastModified ?? new Date(0),
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const item of page.Contents ?? []) {
        if (item.Key)
          yield { key: item.Key, size: item.Size ?? 0, lastModified: item.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      batch.forEach(assertStoreKey);
      const result = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.options.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = result.Errors ?? [];
      if (failed.length > 0) {
        const first = failed[0];
        throw new Error(
          `could not delete ${failed.length} objects, first ${first?.Key}: ${first?.Code} ${first?.Message}`,
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

  private async conditionalPut(
    key: string,
    body: string | Uint8Array,
    condition: { IfNoneMatch: string } | { IfMatch: string },
  ): Promise<boolean> {
    assertStoreKey(key);
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
      // 412: the condition failed; 409: a concurrent conditional write to the same key won.
      const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
      if (status === 412 || status === 409) return false;
      throw error;
    }
  }
}

/** The Range header of `length` bytes from `start` (inclusive end). */
function byteRange(start: number, length: number): string {
  return `bytes=${start}-${start + length - 1}`;
}

function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata.httpStatusCode === 404;
}
