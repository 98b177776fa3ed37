import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { S3Client } from '@aws-sdk/client-s3';
import { S3Store, s3ClientConfig } from '#store/s3-store.ts';

export interface LocalS3Server {
  readonly endpoint: string;
  readonly bucket: string;
  readonly directory: string;
  client(): S3Client;
  store(options?: { partSize?: number; queueSize?: number }): S3Store;
  stop(): Promise<void>;
}

/**
 * Starts s3rver (test/support/s3rver-main.cjs) in a child process on a free loopback port with
 * one bucket. The legacy OpenSSL provider is needed for s3rver's ListObjectsV2 continuation tokens.
 */
export async function startS3Server(
  options: { bucket?: string; directory?: string } = {},
): Promise<LocalS3Server> {
  const bucket = options.bucket ?? 'liferay-backup-test';
  const directory = options.directory ?? mkdtempSync(path.join(tmpdir(), 's3rver-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      path.join(import.meta.dirname, 's3rver-main.cjs'),
      '--dir',
      directory,
      '--bucket',
      bucket,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('s3rver did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code} before it was ready`)));
    if (!child.stdout) throw new Error('no stdout');
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = () =>
    new S3Client({
      ...s3ClientConfig({ endpoint, region: 'us-east-1' }),
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
  return {
    endpoint,
    bucket,
    directory,
    client,
    store: (storeOptions = {}) => new S3Store(client(), { bucket, ...storeOptions }),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      if (!options.directory) rmSync(directory, { recursive: true, force: true });
    },
  };
}
