import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { readManifest } from '#backup-set/manifest.ts';
import { copyShard } from '#components/files/copy-shard.ts';
import type { Handler } from '#runtime/runtime.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';
import { backup, backupIdOf, homeSettings, makeHome, runtimeWith } from './support.ts';

/**
 * A library's transient fault in a local run is retried as on AWS: the Lambda wrapper turns a cut
 * connection or a store still throttling into RetryableError, which every Task retries. The local
 * runner called the handlers directly, so a CLI backup against a busy S3-compatible server ended
 * `partial` with "TimeoutError: socket hang up" at the first stalled request.
 */

const work = tempDir('library-faults');
afterAll(() => work.cleanup());
afterEach(() => vi.restoreAllMocks());

/** What the SDK's Node.js HTTP handler throws when the server stalls past the request timeout. */
const socketHangUp = () =>
  Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' });

function failingOnce(fault: () => Error): { handler: Handler; calls: () => number } {
  let calls = 0;
  return {
    handler: async (event, rt) => {
      calls += 1;
      if (calls === 1) throw fault();
      return copyShard(event, rt);
    },
    calls: () => calls,
  };
}

function setUp(name: string) {
  const home = path.join(work.dir, name, 'home');
  makeHome(home, 5);
  const store = new LocalFolderStore(path.join(work.dir, name, 'store'));
  // One shard: the copy shard task runs once when nothing fails.
  const oneShard = { shard: { maxFiles: 10_000, maxBytes: 1024 ** 3, timeBudgetSeconds: 600 } };
  return runtimeWith(store, { liferayHome: homeSettings(home, oneShard) });
}

describe('a transient library fault in a local run', () => {
  it('is retried, and the set is complete', async () => {
    const rt = setUp('retried');
    const shard = failingOnce(socketHangUp);
    const outcome = await backup(rt, { taskOverrides: { 'Liferay Home copy shard': shard.handler } });
    expect(outcome.status).toBe('SUCCEEDED');
    expect(shard.calls()).toBe(2);
    const manifest = await readManifest(rt.store, backupIdOf(outcome));
    expect(manifest.status).toBe('complete');
  });

  it('a fault that is not transient is not retried', async () => {
    const rt = setUp('not-retried');
    const shard = failingOnce(() => new TypeError('Cannot read properties of undefined'));
    const outcome = await backup(rt, { taskOverrides: { 'Liferay Home copy shard': shard.handler } });
    expect(shard.calls()).toBe(1);
    const manifest = await readManifest(rt.store, backupIdOf(outcome));
    expect(manifest.status).not.toBe('complete');
    expect(manifest.results.liferayHome?.status).toBe('failed');
  });

  it("with retryDelayMs 'as-defined' (the CLI) waits the definition's interval, not the tests' 50 ms", async () => {
    const rt = setUp('as-defined');
    // FULL jitter draws the wait from [0, interval]: the top of the range, so the wait is measurable.
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    const shard = failingOnce(socketHangUp);
    const started = Date.now();
    const outcome = await backup(rt, {
      taskOverrides: { 'Liferay Home copy shard': shard.handler },
      retryDelayMs: 'as-defined',
    });
    expect(outcome.status).toBe('SUCCEEDED');
    expect(shard.calls()).toBe(2);
    // The copy shard's Retry: 2 s first interval (cdk/workflow-tasks.ts).
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
  });
});
