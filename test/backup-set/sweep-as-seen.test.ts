import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeleteObjectsCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sweepPrefix } from '#backup-set/garbage-collection.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import type { ContentStore, ObjectInfo } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { S3Store } from '#store/s3-store.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * The sweep looks at a batch of up to 1,000 unreferenced old objects once more (16 at a time),
 * then deletes the batch. A backup that finds one of them old writes it again (isReusable) and
 * references it. Written again after the sweep looked at it but before the delete, it used to be
 * deleted all the same, and that backup's set referenced a missing object. The sweep now deletes
 * each object as it saw it (deleteAsSeen): the version seen on a versioned bucket, the file seen in
 * a folder.
 */

const work = tempDir('sweep-as-seen');
afterAll(() => work.cleanup());
const DAY = 86_400_000;
const RUN = 'g20261127t050000z-0001';
const KEYS = ['objects/blobs/aa/aa01', 'objects/blobs/aa/aa02'] as const;

/** A folder store holding KEYS, three days old, and a retention run that keeps no set. */
async function oldObjects(name: string): Promise<{ store: LocalFolderStore; root: string }> {
  const root = path.join(work.dir, name, 'store');
  const store = new LocalFolderStore(root);
  const old = new Date(Date.now() - 3 * DAY);
  for (const key of KEYS) {
    await store.put(key, `content of ${key}`);
    fs.utimesSync(path.join(root, ...key.split('/')), old, old);
  }
  await store.put(`work/${RUN}/retention/keep.json`, '[]');
  return { store, root };
}

function runtimeOver(store: ContentStore) {
  return localRuntime({
    store,
    settings: parseSettings({ environment: 'test-env', retention: { graceHours: 48 } }, 'test'),
    now: () => new Date(),
  });
}

/** The store, with `onStat` run after each stat (the moment between the sweep's look and its delete). */
function withHook(
  inner: ContentStore,
  onStat: (key: string, info: ObjectInfo | undefined) => Promise<ObjectInfo | undefined>,
) {
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property !== 'stat') return Reflect.get(target, property, receiver);
      return async (key: string) => onStat(key, await target.stat(key));
    },
  }) as ContentStore;
}

describe('the sweep', () => {
  it('keeps an object a backup writes again after the sweep looked at it, and deletes the rest', async () => {
    const { store: inner, root } = await oldObjects('window');
    // A backup finds aa01 old (not reusable) and writes it again right after the sweep's look at
    // it, while the sweep goes on with the rest of its batch.
    let rewritten = false;
    const store = withHook(inner, async (key, info) => {
      if (key === KEYS[1] && !rewritten) {
        rewritten = true;
        await inner.put(KEYS[0], 'written again');
      }
      return info;
    });

    const outcome = await sweepPrefix(
      { runId: RUN, prefix: 'objects/blobs/aa/', index: 0 },
      runtimeOver(store),
    );

    expect(rewritten).toBe(true);
    expect((await inner.read(KEYS[0])).toString(), `${KEYS[0]} was deleted after it was written again`).toBe(
      'written again',
    );
    expect(await inner.stat(KEYS[1])).toBeUndefined();
    expect(outcome).toMatchObject({ deleted: 1, heldByObjectLock: 0 });
    // Nothing is left beside the objects (the file moved aside is gone).
    expect(fs.readdirSync(path.join(root, 'objects/blobs/aa'))).toEqual(['aa01']);
  });

  it('leaves a version Object Lock still holds for a later run, and counts it', async () => {
    const { store: inner } = await oldObjects('locked');
    const until = new Date(Date.now() + DAY);
    // As S3 answers HEAD for a locked version (to a caller with s3:GetObjectRetention).
    const store = withHook(inner, async (key, info) =>
      key === KEYS[0] && info ? { ...info, lockedUntil: until } : info,
    );

    const outcome = await sweepPrefix(
      { runId: RUN, prefix: 'objects/blobs/aa/', index: 0 },
      runtimeOver(store),
    );

    expect(outcome).toMatchObject({ deleted: 1, heldByObjectLock: 1 });
    expect(await inner.stat(KEYS[0])).toBeDefined();
    expect(await inner.stat(KEYS[1])).toBeUndefined();
  });
});

describe('deleteAsSeen in a folder', () => {
  it('deletes the file seen, keeps one written since, and passes over one already gone', async () => {
    const { store, root } = await oldObjects('folder');
    const [first, second] = await Promise.all(KEYS.map((key) => store.stat(key)));
    if (!first || !second) throw new Error('the objects were just written');
    await store.put(KEYS[0], 'written again');

    const gone = await store.deleteAsSeen([
      { key: KEYS[0], seen: first },
      { key: KEYS[1], seen: second },
      { key: 'objects/blobs/aa/aa03', seen: second },
    ]);

    expect(gone.map((object) => object.key)).toEqual([KEYS[1]]);
    expect((await store.read(KEYS[0])).toString()).toBe('written again');
    expect(await store.stat(KEYS[1])).toBeUndefined();
    expect(fs.readdirSync(path.join(root, 'objects/blobs/aa'))).toEqual(['aa01']);
  });
});

describe('deleteAsSeen on S3 (the SDK client; s3rver keeps no versions)', () => {
  const s3 = mockClient(S3Client);
  afterEach(() => s3.reset());
  const store = new S3Store(new S3Client({ region: 'us-east-1' }), { bucket: 'backups' });

  it('reads the version and its Object Lock from HEAD, and deletes that version', async () => {
    const retainUntil = new Date('2027-01-01T00:00:00Z');
    s3.on(HeadObjectCommand, { Key: 'objects/blobs/aa/aa01' }).resolves({
      ContentLength: 5,
      ETag: '"e1"',
      LastModified: new Date('2026-11-01T00:00:00Z'),
      VersionId: 'v-seen',
      ObjectLockMode: 'GOVERNANCE',
      ObjectLockRetainUntilDate: retainUntil,
    });
    s3.on(HeadObjectCommand, { Key: 'objects/blobs/aa/aa02' }).resolves({
      ContentLength: 5,
      ETag: '"e2"',
      LastModified: new Date('2026-11-01T00:00:00Z'),
      VersionId: 'v-held',
      ObjectLockLegalHoldStatus: 'ON',
    });
    s3.on(HeadObjectCommand, { Key: 'objects/blobs/aa/aa03' }).resolves({
      ContentLength: 5,
      ETag: '"e3"',
      LastModified: new Date('2026-11-01T00:00:00Z'),
    });
    s3.on(DeleteObjectsCommand).resolves({});

    const first = await store.stat('objects/blobs/aa/aa01');
    const held = await store.stat('objects/blobs/aa/aa02');
    const unversioned = await store.stat('objects/blobs/aa/aa03');
    expect(first).toMatchObject({ version: 'v-seen', lockedUntil: retainUntil });
    // A legal hold has no end.
    expect(held?.lockedUntil?.getTime()).toBeGreaterThan(Date.parse('9999-01-01'));
    expect(unversioned).not.toHaveProperty('version');
    expect(unversioned).not.toHaveProperty('lockedUntil');
    if (!first || !unversioned) throw new Error('stat answered');

    await store.deleteAsSeen([
      { key: 'objects/blobs/aa/aa01', seen: first },
      { key: 'objects/blobs/aa/aa03', seen: unversioned },
    ]);

    const deletes = s3.commandCalls(DeleteObjectsCommand);
    expect(deletes).toHaveLength(1);
    expect(deletes[0]?.args[0].input).toEqual({
      Bucket: 'backups',
      Delete: {
        Objects: [{ Key: 'objects/blobs/aa/aa01', VersionId: 'v-seen' }, { Key: 'objects/blobs/aa/aa03' }],
        Quiet: true,
      },
    });
  });

  it('fails naming the first object S3 refused to delete', async () => {
    s3.on(DeleteObjectsCommand).resolves({
      Errors: [
        { Key: 'objects/blobs/aa/aa01', VersionId: 'v1', Code: 'AccessDenied', Message: 'Access Denied' },
      ],
    });
    const seen = { size: 1, etag: '"e"', lastModified: new Date(0), version: 'v1' };
    await expect(store.deleteAsSeen([{ key: 'objects/blobs/aa/aa01', seen }])).rejects.toThrow(
      /could not delete 1 objects, first objects\/blobs\/aa\/aa01: AccessDenied Access Denied \(version v1: deleting a version needs s3:DeleteObjectVersion, and skipping one Object Lock holds needs s3:GetObjectRetention and s3:GetObjectLegalHold; redeploy the stack/,
    );
  });
});
