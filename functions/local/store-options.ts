import { statSync } from 'node:fs';
import * as path from 'node:path';
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

/**
 * `--store DIR` (default), or `--bucket NAME [--endpoint URL] [--region R]` for any S3-compatible service.
 * `existing`: the command reads a store that must already be there (all but backup). A folder
 * store makes its folders as it writes, so a mistyped `--store` would otherwise read as an empty
 * store ("there is no complete backup set yet": the backups look gone) and retention would start
 * a new store there.
 */
export function storeFromOptions(options: StoreOptions, { existing = false } = {}): ContentStore {
  if (options.bucket) {
    if (options.store) throw new InvalidInputError('give either --store DIR or --bucket NAME, not both');
    const client = new S3Client(
      s3ClientConfig({
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
      }),
    );
    return new S3Store(client, {
      bucket: options.bucket,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    });
  }
  if (options.endpoint) throw new InvalidInputError('--endpoint needs --bucket NAME');
  const folder = options.store ?? DEFAULT_STORE_DIR;
  if (existing && !statSync(folder, { throwIfNoEntry: false })?.isDirectory())
    throw new InvalidInputError(
      `no backup store at ${path.resolve(folder)}: that folder does not exist (check --store DIR${options.store ? '' : `; without it the store is ${DEFAULT_STORE_DIR} in the current folder`}, or --bucket NAME for S3)`,
    );
  return new LocalFolderStore(folder);
}
