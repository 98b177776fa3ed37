import * as path from 'node:path';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readBackupLock } from '#backup-set/lock.ts';
import {
  acquireRestoreLocks,
  assertRestoreLocksHeld,
  RESTORE_LOCK_RENEW_INTERVAL_MS,
  restoreLockKey,
} from '#backup-set/restore-lock.ts';
import type { Runtime } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir, testRuntime } from '../support/local-runtime.ts';
import { type LocalS3Server, startS3Server } from '../support/s3-server.ts';

/**
 * A restore lock is a lease. It went stale 24 hours after its restore began, and the next restore
 * into the target took it over while a long or redriven run (Step Functions redrives failed steps,
 * never Validate) still wrote: a step already past its check wrote beside the new owner. Now every
 * check renews it with a conditional write on the ETag it read, and it goes stale 24 hours after
 * the last renewal. Real stores: a local folder, and a local S3 server with conditional writes.
 * Step Functions is mocked at the SDK client: the holder's execution still runs (it was redriven).
 */

const sfn = mockClient(SFNClient);
beforeEach(() => {
  sfn.reset();
  sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
});
afterEach(() => sfn.reset());

const MACHINE = 'arn:aws:states:eu-west-1:111111111111:execution:RestoreStateMachine5D6E7F';
const SET = 'b20261127t020000z-7f3a';
const T0 = new Date('2026-11-27T03:00:00.000Z');
const HOUR = 3_600_000;
const at = (ms: number) => new Date(T0.getTime() + ms);

const work = tempDir('review-restore-lock-lease');
let server: LocalS3Server;
beforeAll(async () => {
  server = await startS3Server();
});
afterAll(async () => {
  await server.stop();
  work.cleanup();
});

let stores = 0;
const STORES: [string, () => ContentStore][] = [
  ['a local folder', () => new LocalFolderStore(path.join(work.dir, `store-${++stores}`))],
  ['S3 (local server)', () => server.store()],
];

let targets = 0;
/** A folder no other test locks (the S3 server's bucket is shared by the tests). */
const newTarget = () => `folder /srv/lease/${++targets}/liferay-home`;

/** A Lambda's runtime (no CLI process) whose clock reads `clock.now`. */
function lambdaAt(store: ContentStore, clock: { now: Date }): Runtime {
  const { process: _, ...withoutProcess } = testRuntime({ store, now: () => clock.now });
  return withoutProcess as Runtime;
}

/** A restore's Validate taking its target's lock at `startedAt`; returns its context's restore. */
async function validate(rt: Runtime, restoreId: string, target: string, startedAt: Date) {
  const { keys, warnings } = await acquireRestoreLocks(
    rt,
    { restoreId, backupId: SET, startedAt, executionId: `${MACHINE}:${restoreId}` },
    [target],
  );
  return { restore: { restoreId, locks: keys }, warnings };
}

/** The store, with each conditional replace held until `open()` (and `entered` resolved on the first). */
function gatedReplaces(store: ContentStore) {
  let open!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const reached = new Promise<void>((resolve) => (entered = resolve));
  const gated: ContentStore = Object.create(store);
  gated.replaceIfMatch = async (key, etag, body) => {
    entered();
    await gate;
    return store.replaceIfMatch(key, etag, body);
  };
  return { store: gated, open, reached };
}

describe.each(STORES)('a restore lock in %s', (_, makeStore) => {
  it('renewed by a step is not stale 25 h after the restore began', async () => {
    const store = makeStore();
    const target = newTarget();
    const key = restoreLockKey(target);
    const clock = { now: T0 };
    const { restore } = await validate(lambdaAt(store, clock), 'r20261127t030000z-aaaa', target, T0);

    // A redriven shard, 23 h later: still its lock, which it renews.
    clock.now = at(23 * HOUR);
    await assertRestoreLocksHeld(lambdaAt(store, clock), restore);
    const renewed = await readBackupLock(store, key);
    expect(renewed?.acquiredAt).toBe(at(23 * HOUR).toISOString());
    expect(renewed?.about).toMatchObject({ target, backupId: SET, startedAt: T0.toISOString() });
    expect(renewed?.executionId).toBe(`${MACHINE}:r20261127t030000z-aaaa`);

    const next = validate(
      lambdaAt(store, { now: at(25 * HOUR) }),
      'r20261128t040000z-bbbb',
      target,
      at(25 * HOUR),
    );
    await expect(next).rejects.toMatchObject({ name: 'RestoreAlreadyRunningError' });
    const message = await next.catch((error: Error) => error.message);
    expect(message).toContain(`started at ${T0.toISOString()}`);
    expect(message).toContain(`stale from ${at(47 * HOUR).toISOString()}`);

    clock.now = at(25 * HOUR);
    await assertRestoreLocksHeld(lambdaAt(store, clock), restore);
    expect((await readBackupLock(store, key))?.backupId).toBe('r20261127t030000z-aaaa');
  });

  it('not renewed for the stale window is taken over as before, and its holder stops', async () => {
    const store = makeStore();
    const target = newTarget();
    const key = restoreLockKey(target);
    const clock = { now: T0 };
    const { restore } = await validate(lambdaAt(store, clock), 'r20261127t030000z-cccc', target, T0);
    clock.now = at(2 * HOUR);
    await assertRestoreLocksHeld(lambdaAt(store, clock), restore);

    // 24 h after the last renewal (not after the start) the lock is stale.
    const staleAt = at(26 * HOUR);
    await expect(
      validate(lambdaAt(store, { now: staleAt }), 'r20261128t045900z-dddd', target, at(26 * HOUR - 1000)),
    ).rejects.toMatchObject({ name: 'RestoreAlreadyRunningError' });
    const taken = await validate(
      lambdaAt(store, { now: staleAt }),
      'r20261128t050000z-dddd',
      target,
      staleAt,
    );
    expect(taken.warnings).toEqual([
      `took over the lock on ${target} from restore r20261127t030000z-cccc: its lock had not been renewed for more than 24 hours (no step of it had checked it since) without giving it back`,
    ]);
    expect((await readBackupLock(store, key))?.backupId).toBe('r20261128t050000z-dddd');

    clock.now = at(27 * HOUR);
    const lost = assertRestoreLocksHeld(lambdaAt(store, clock), restore);
    await expect(lost).rejects.toMatchObject({ name: 'RestoreLockLostError' });
    await expect(lost).rejects.toThrow(
      `restore r20261128t050000z-dddd of ${SET} (started at ${staleAt.toISOString()}`,
    );
    expect((await readBackupLock(store, key))?.backupId, 'the loser writes nothing').toBe(
      'r20261128t050000z-dddd',
    );
  });

  it('is renewed at most once a minute, and sibling steps checking at once all find it held', async () => {
    const store = makeStore();
    const target = newTarget();
    const key = restoreLockKey(target);
    const clock = { now: T0 };
    const { restore } = await validate(lambdaAt(store, clock), 'r20261127t030000z-eeee', target, T0);

    // A Distributed Map's shards, all at once: one conditional write wins, the others find the lock theirs.
    clock.now = at(HOUR);
    const shards = await Promise.allSettled(
      Array.from({ length: 8 }, () => assertRestoreLocksHeld(lambdaAt(store, clock), restore)),
    );
    expect(shards.filter((shard) => shard.status === 'rejected')).toEqual([]);
    const renewed = await store.stat(key);
    expect((await readBackupLock(store, key))?.acquiredAt).toBe(at(HOUR).toISOString());

    clock.now = at(HOUR + RESTORE_LOCK_RENEW_INTERVAL_MS - 1000);
    await assertRestoreLocksHeld(lambdaAt(store, clock), restore);
    expect((await store.stat(key))?.etag, 'not written again within the minute').toBe(renewed?.etag);

    clock.now = at(HOUR + RESTORE_LOCK_RENEW_INTERVAL_MS);
    await assertRestoreLocksHeld(lambdaAt(store, clock), restore);
    expect((await readBackupLock(store, key))?.acquiredAt).toBe(clock.now.toISOString());
  });

  it('racing a takeover: only one wins, whatever the order', async () => {
    const store = makeStore();
    const late = at(25 * HOUR);
    for (let round = 0; round < 6; round++) {
      const target = newTarget();
      const key = restoreLockKey(target);
      const holder = `r20261127t030000z-a${round}a${round}`;
      const next = `r20261128t040000z-b${round}b${round}`;
      const { restore } = await validate(lambdaAt(store, { now: T0 }), holder, target, T0);

      const [renewal, takeover] = await Promise.allSettled([
        assertRestoreLocksHeld(lambdaAt(store, { now: late }), restore),
        validate(lambdaAt(store, { now: late }), next, target, late),
      ]);
      const owner = (await readBackupLock(store, key))?.backupId;
      if (renewal.status === 'fulfilled') {
        expect(takeover, `round ${round}`).toMatchObject({
          status: 'rejected',
          reason: { name: 'RestoreAlreadyRunningError' },
        });
        expect(owner).toBe(holder);
      } else {
        expect(renewal.reason, `round ${round}`).toMatchObject({ name: 'RestoreLockLostError' });
        expect(takeover.status).toBe('fulfilled');
        expect(owner).toBe(next);
      }
    }
  });

  it('a renewal whose conditional write comes after a takeover loses, and says who won', async () => {
    const store = makeStore();
    const target = newTarget();
    const key = restoreLockKey(target);
    const { restore } = await validate(lambdaAt(store, { now: T0 }), 'r20261127t030000z-ffff', target, T0);
    const late = at(25 * HOUR);

    // The renewal has read its own stale lock and its ETag; the takeover completes before it writes.
    const gated = gatedReplaces(store);
    const renewal = assertRestoreLocksHeld(lambdaAt(gated.store, { now: late }), restore).catch(
      (error: unknown) => error,
    );
    const first = await Promise.race([gated.reached.then(() => 'write'), renewal.then(() => 'ended')]);
    expect(first, 'the check renews the stale lock').toBe('write');
    await validate(lambdaAt(store, { now: late }), 'r20261128t040000z-9999', target, late);
    gated.open();

    expect(await renewal).toMatchObject({ name: 'RestoreLockLostError' });
    expect((await readBackupLock(store, key))?.backupId).toBe('r20261128t040000z-9999');
  });

  it('a takeover whose conditional write comes after a renewal loses, and the holder keeps writing', async () => {
    const store = makeStore();
    const target = newTarget();
    const key = restoreLockKey(target);
    const { restore } = await validate(lambdaAt(store, { now: T0 }), 'r20261127t030000z-1111', target, T0);
    const late = at(25 * HOUR);

    // The takeover judged the lock stale; the renewal lands before its write.
    const gated = gatedReplaces(store);
    const takeover = validate(
      lambdaAt(gated.store, { now: late }),
      'r20261128t040000z-2222',
      target,
      late,
    ).catch((error: unknown) => error);
    await gated.reached;
    await assertRestoreLocksHeld(lambdaAt(store, { now: late }), restore);
    gated.open();

    expect(await takeover).toMatchObject({ name: 'RestoreAlreadyRunningError' });
    expect((await readBackupLock(store, key))?.backupId).toBe('r20261127t030000z-1111');
    await assertRestoreLocksHeld(lambdaAt(store, { now: at(26 * HOUR) }), restore);
  });
});
