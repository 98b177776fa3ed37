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
  /**
   * Takes the server down, keeping its directory and port: an outage. SIGTERM (the default) lets
   * the requests in flight finish and refuses new connections; SIGKILL drops everything at once,
   * but s3rver writes objects in place (not atomically, unlike S3) and may leave a torn one.
   */
  pause(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts the server again on the same port over the same directory (every object it held is back). */
  restart(): Promise<void>;
  /** Whether the server is up (not paused or stopped). */
  readonly running: boolean;
  stop(): Promise<void>;
}

/** One s3rver process over `directory`; resolves once it listens, with its port. */
async function spawnS3rver(
  directory: string,
  bucket: string,
  port: number,
  tls: ServerTls | undefined,
): Promise<{ child: ChildProcess; port: number }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      path.join(import.meta.dirname, 's3rver-main.cjs'),
      '--dir',
      directory,
      '--bucket',
      bucket,
      '--port',
      String(port),
      ...(tls ? ['--cert', tls.cert, '--key', tls.key] : []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const listening = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('s3rver did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code} before it was ready`)));
    if (!child.stdout) throw new Error('no stdout');
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  return { child, port: listening };
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function end(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (!isRunning(child)) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

/** The certificate and key files of an HTTPS endpoint (the clients must trust the certificate). */
export interface ServerTls {
  readonly cert: string;
  readonly key: string;
}

/**
 * Starts s3rver (test/support/s3rver-main.cjs) in a child process on a free loopback port with
 * one bucket, over HTTPS when given a certificate. The legacy OpenSSL provider is needed for
 * s3rver's ListObjectsV2 continuation tokens.
 */
export async function startS3Server(
  options: { bucket?: string; directory?: string; tls?: ServerTls } = {},
): Promise<LocalS3Server> {
  const bucket = options.bucket ?? 'liferay-backup-test';
  const directory = options.directory ?? mkdtempSync(path.join(tmpdir(), 's3rver-'));
  let { child, port } = await spawnS3rver(directory, bucket, 0, options.tls);
  const endpoint = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
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
    pause: (signal = 'SIGTERM') => end(child, signal),
    restart: async () => {
      if (isRunning(child)) throw new Error('s3rver is running: pause it first');
      ({ child } = await spawnS3rver(directory, bucket, port, options.tls));
    },
    get running() {
      return isRunning(child);
    },
    stop: async () => {
      await end(child, 'SIGTERM');
      if (!options.directory) rmSync(directory, { recursive: true, force: true });
    },
  };
}
