import { S3Client } from '@aws-sdk/client-s3';
import { InvalidInputError } from '#runtime/errors.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { S3Store, s3ClientConfig } from '#store/s3-store.ts';

export interface StoreOptions {
  readonly store?: string;
  readonly endpoint?: string;
  readonly bucket?: string;
  readonly region?: string;
}

export const DEFAULT_STORE_DIR = './liferay-backup-store';

/** `--store DIR` (default), or `--bucket NAME [--endpoint URL] [--region R]` for any S3-compatible service. */
export function storeFromOptions(options: StoreOptions): ContentStore {
  if (options.bucket) {
    if (options.store) throw new InvalidInputError('give either --store DIR or --bucket NAME, not both');
    const client = new S3Client(
      s3ClientConfig({
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
      }),
    );
    return new S3Store(client, { bucket: options.bucket });
  }
  if (options.endpoint) throw new InvalidInputError('--endpoint needs --bucket NAME');
  return new LocalFolderStore(options.store ?? DEFAULT_STORE_DIR);
}
