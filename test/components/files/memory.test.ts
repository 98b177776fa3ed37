import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3Server, startS3Server } from '../../support/s3-server.ts';

/**
 * A 200 MB file backed up and restored, with the peak memory of the process that does it. The
 * engine runs in a child process (support/engine-child.ts), so neither vitest nor the S3 server
 * counts; the child's own floor (Node, tsx, the SDK) is measured with an empty tree and reported.
 */
const FILE_BYTES = 200 * 1000 * 1000;
const LIMIT_MIB = 256;
const work = mkdtempSync(path.join(tmpdir(), 'files-memory-'));
let server: LocalS3Server;
let fileSha: string;

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function runChild(args: string[]): { maxRssMiB: number; result: Record<string, unknown> } {
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'support/engine-child.ts'), ...args],
    {
      encoding: 'utf8',
      env: { ...process.env, AWS_REGION: 'us-east-1' },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  if (child.status !== 0)
    throw new Error(`engine child failed (${child.status}): ${child.stderr.slice(-3000)}`);
  const line = child.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as { maxRssMiB: number; result: Record<string, unknown> };
}

beforeAll(async () => {
  server = await startS3Server();
  const home = path.join(work, 'home');
  mkdirSync(path.join(home, 'data'), { recursive: true });
  mkdirSync(path.join(work, 'empty-home'));
  const out = createWriteStream(path.join(home, 'data/large.bin'));
  const hash = createHash('sha256');
  for (let written = 0; written < FILE_BYTES; written += 4 * 1024 * 1024) {
    const chunk = randomBytes(Math.min(4 * 1024 * 1024, FILE_BYTES - written));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve) => out.end(() => resolve()));
  fileSha = hash.digest('hex');
}, 120_000);

afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe.each([
  ['local folder', () => ['--store', path.join(work, 'store')]],
  ['S3 (s3rver)', () => ['--endpoint', server.endpoint, '--bucket', server.bucket]],
])('a 200 MB file on the %s store', (name, storeArgs) => {
  it('is backed up and restored byte for byte with peak memory well below its size', () => {
    const slug = name.startsWith('S3') ? 's3' : 'folder';
    const floor = runChild([
      'backup',
      '--root',
      path.join(work, 'empty-home'),
      '--id',
      `b20261127t010000z-${slug === 's3' ? '0e01' : '0e02'}`,
      ...storeArgs(),
    ]);
    const backup = runChild([
      'backup',
      '--root',
      path.join(work, 'home'),
      '--id',
      `b20261127t020000z-${slug === 's3' ? '0b01' : '0b02'}`,
      ...storeArgs(),
    ]);
    // Stored as 12 chunks of 16 MiB, each one streamed PUT.
    expect(backup.result).toMatchObject({ files: 1, bytes: FILE_BYTES, blobs: 12 });
    const target = path.join(work, `restored-${slug}`);
    const restore = runChild([
      'restore',
      '--root',
      target,
      '--id',
      `b20261127t020000z-${slug === 's3' ? '0b01' : '0b02'}`,
      ...storeArgs(),
    ]);
    expect(restore.result).toMatchObject({ files: 1, verifiedFiles: 1, bytes: FILE_BYTES });
    console.info(
      `${name}: peak RSS backup ${backup.maxRssMiB.toFixed(0)} MiB, restore ${restore.maxRssMiB.toFixed(0)} MiB (child floor ${floor.maxRssMiB.toFixed(0)} MiB)`,
    );
    expect(backup.maxRssMiB).toBeLessThan(LIMIT_MIB);
    expect(restore.maxRssMiB).toBeLessThan(LIMIT_MIB);
    // Holding the file would add 190 MiB or more above the floor; chunks stream (measured: about 50 MiB).
    expect(backup.maxRssMiB - floor.maxRssMiB).toBeLessThan(100);
    expect(restore.maxRssMiB - floor.maxRssMiB).toBeLessThan(100);
    return sha256(path.join(target, 'data/large.bin')).then((restored) => expect(restored).toBe(fileSha));
  });
});
