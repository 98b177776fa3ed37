import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComponentResult } from '#components/component.ts';
import { filesKeys } from '#components/files/keys.ts';
import { verifyFiles } from '#components/files/verify.ts';
import { tempDir } from '../../support/local-runtime.ts';
import { type LocalS3Server, startS3Server } from '../../support/s3-server.ts';
import { backupContext, driveBackup, homeRuntime } from './support/drive.ts';
import { bytesFor } from './support/trees.ts';

/**
 * The restore drill reads every file back from the store. A large file is stored in chunks; the
 * drill opened the GET of every chunk of a file before reading the first. The S3 SDK keeps at most
 * 50 connections per host, and an unread response holds its connection: a file of more than 50
 * chunks (800 MiB in 16 MiB chunks: a video in the document library, a large log) waited for a
 * 51st connection for ever, until Lambda's time-out ended the drill without saying why.
 */
const work = tempDir('review-restore-verify');
let s3: LocalS3Server;
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3?.stop();
  work.cleanup();
});

const CHUNK = 64 * 1024;
const settings = (root: string) => ({
  root,
  shard: { maxFiles: 100, maxBytes: 1e9, timeBudgetSeconds: 600 },
  blobThresholdBytes: CHUNK,
  chunkBytes: CHUNK,
  packBytes: 1024 * 1024,
});

async function backedUp(
  backupId: string,
  name: string,
  files: Record<string, Buffer>,
): Promise<ComponentResult> {
  const home = path.join(work.dir, name);
  fs.mkdirSync(path.join(home, 'data'), { recursive: true });
  for (const [rel, bytes] of Object.entries(files)) fs.writeFileSync(path.join(home, rel), bytes);
  const result = await driveBackup(homeRuntime(s3.store(), settings(home)), backupContext(backupId));
  expect(result.status).toBe('complete');
  return result;
}

const LARGE = 'b20261127t020000z-7e51';
const LOST = 'b20261127t020000z-7e52';
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('review: the drill of a file stored in chunks', () => {
  it('verifies a file of more chunks than the SDK has connections', async () => {
    // 60 distinct chunks: more than the 50 connections of the SDK's agent.
    const result = await backedUp(LARGE, 'large', {
      'data/video.mp4': bytesFor('video', 60 * CHUNK),
      'data/small.txt': Buffer.from('small\n'),
    });
    const outcome = await verifyFiles({ backupId: LARGE, result }, homeRuntime(s3.store(), settings('/x')));
    expect(outcome.problems).toEqual([]);
    expect(outcome.status).toBe('verified');
  }, 30_000);

  it('names a file whose last chunk is lost and leaves no connection behind', async () => {
    const log = bytesFor('log', 30 * CHUNK);
    const result = await backedUp(LOST, 'lost', { 'data/app.log': log });
    const store = s3.store();
    // The last chunk gone: the GETs of the 29 before it were opened, and never read nor closed.
    await store.delete([filesKeys.blob(sha256(log.subarray(29 * CHUNK)))]);
    const rt = homeRuntime(store, settings('/x'));
    // Twice with one client: 29 connections left checked out by each drill exhaust its 50.
    for (let i = 0; i < 2; i += 1) {
      const outcome = await verifyFiles({ backupId: LOST, result }, rt);
      expect(outcome.status).toBe('failed');
      expect(outcome.problems[0]).toMatch(/data\/app\.log: its content cannot be read/);
    }
  }, 30_000);
});
