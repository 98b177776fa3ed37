import * as path from 'node:path';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sweepPrefix } from '#backup-set/garbage-collection.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { S3Store } from '#store/s3-store.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * Garbage collection on a versioned bucket, through the real S3Store over a small in-memory model
 * of S3 versioning at the SDK client (s3rver keeps no versions), as the S3 User Guide describes it:
 * - Enabled: every PUT adds a version; DELETE by key adds a delete marker; DELETE with versionId
 *   removes that version for good, and "when you delete the current object version, you, in effect,
 *   turn the previous version into the current version" (RestoringPreviousVersions).
 * - Suspended: a PUT gets version id "null" and "overwrites the original null version"
 *   (AddingObjectstoVersionSuspendedBuckets); HEAD answers x-amz-version-id: null.
 */
type Version = { id: string; body: string; modified: Date; marker?: boolean };
const s3 = mockClient(S3Client);
let mode: 'Enabled' | 'Suspended' = 'Enabled';
const bucket = new Map<string, Version[]>();
let counter = 0;
const notFound = () =>
  new S3ServiceException({ name: 'NotFound', $fault: 'client', $metadata: { httpStatusCode: 404 } });
const current = (key: string) => {
  const v = bucket.get(key)?.at(-1);
  return v && !v.marker ? v : undefined;
};
function putVersion(key: string, body: string, modified = new Date()) {
  const versions = (bucket.get(key) ?? []).filter((v) => mode === 'Enabled' || v.id !== 'null');
  versions.push({ id: mode === 'Enabled' ? `v${++counter}` : 'null', body, modified });
  bucket.set(key, versions);
}
function install() {
  s3.on(HeadObjectCommand).callsFake(({ Key }) => {
    const v = current(Key);
    if (!v) throw notFound();
    return { ContentLength: v.body.length, ETag: `"${v.id}"`, LastModified: v.modified, VersionId: v.id };
  });
  s3.on(PutObjectCommand).callsFake(({ Key, Body }) => {
    putVersion(Key, String(Body));
    return {};
  });
  s3.on(ListObjectsV2Command).callsFake(({ Prefix }) => ({
    Contents: [...bucket.keys()]
      .filter((k) => k.startsWith(Prefix) && current(k))
      .sort()
      .map((k) => ({ Key: k, Size: current(k)?.body.length, LastModified: current(k)?.modified })),
  }));
  s3.on(DeleteObjectsCommand).callsFake(({ Delete }) => {
    for (const { Key, VersionId } of Delete.Objects) {
      const versions = bucket.get(Key) ?? [];
      if (VersionId)
        bucket.set(
          Key,
          versions.filter((v) => v.id !== VersionId),
        );
      else {
        const kept = versions.filter((v) => mode === 'Enabled' || v.id !== 'null');
        kept.push({
          id: mode === 'Enabled' ? `v${++counter}` : 'null',
          body: '',
          modified: new Date(),
          marker: true,
        });
        bucket.set(Key, kept);
      }
    }
    return {};
  });
  s3.on(GetObjectCommand).rejects(notFound());
}

const work = tempDir('sweep-versioned-bucket');
afterAll(() => work.cleanup());
afterEach(() => {
  s3.reset();
  bucket.clear();
});
const DAY = 86_400_000;
const RUN = 'g20261127t050000z-0001';
const KEY = 'objects/blobs/aa/aa01';

/** objects/ on the modelled bucket; the run's work area in a folder (keep.json: no set kept). */
async function stores(name: string, hookAfterStat?: (key: string) => Promise<void>) {
  install();
  const objects = new S3Store(new S3Client({ region: 'us-east-1' }), { bucket: 'b' });
  const workArea = new LocalFolderStore(path.join(work.dir, name));
  await workArea.put(`work/${RUN}/retention/keep.json`, '[]');
  const pick = (arg: unknown) => {
    const key = Array.isArray(arg) ? (arg[0]?.key ?? 'objects/') : String(arg);
    return key.startsWith('objects/') ? objects : workArea;
  };
  const store = new Proxy({} as ContentStore, {
    get: (_t, property) => {
      if (property === 'stat')
        return async (key: string) => {
          const info = await pick(key).stat(key);
          await hookAfterStat?.(key);
          return info;
        };
      return (...args: unknown[]) =>
        (pick(args[0]) as unknown as Record<string, (...a: unknown[]) => unknown>)[property as string]?.(
          ...args,
        );
    },
  });
  const rt = localRuntime({
    store,
    settings: parseSettings({ environment: 'test-env', retention: { graceHours: 48 } }, 'test'),
    now: () => new Date(),
  });
  return { objects, rt };
}

describe("the sweep on a versioned bucket (the stack's bucket always is)", () => {
  it('collects an object a backup wrote twice: the older version that comes back goes too, counted once', async () => {
    mode = 'Enabled';
    const { objects, rt } = await stores('enabled');
    putVersion(KEY, 'blob', new Date(Date.now() - 10 * DAY)); // first written
    putVersion(KEY, 'blob', new Date(Date.now() - 5 * DAY)); // written again by a backup that found it old

    const outcome = await sweepPrefix({ runId: RUN, prefix: 'objects/blobs/aa/', index: 0 }, rt);

    expect(outcome).toMatchObject({ deleted: 1, bytes: 8 });
    expect(await objects.stat(KEY)).toBeUndefined();
    expect(bucket.get(KEY)).toEqual([]);
  });

  it('keeps the version a backup writes between the look and the delete, and deletes only the one seen', async () => {
    mode = 'Enabled';
    let rewritten = false;
    const { objects, rt } = await stores('window', async (key) => {
      if (key === KEY && !rewritten) {
        rewritten = true;
        await objects.put(KEY, 'written again');
      }
    });
    putVersion(KEY, 'old', new Date(Date.now() - 3 * DAY));

    const outcome = await sweepPrefix({ runId: RUN, prefix: 'objects/blobs/aa/', index: 0 }, rt);

    expect(rewritten).toBe(true);
    expect(outcome.deleted).toBe(1);
    expect(bucket.get(KEY)?.map((version) => version.body)).toEqual(['written again']);
  });
});

describe('the sweep on a bucket whose versioning is suspended', () => {
  it('deletes by key: HEAD\'s version "null" names no version to keep apart (the window stays open there)', async () => {
    mode = 'Suspended';
    const { objects, rt } = await stores('suspended');
    putVersion(KEY, 'old', new Date(Date.now() - 3 * DAY));
    expect(await objects.stat(KEY)).not.toHaveProperty('version');

    await sweepPrefix({ runId: RUN, prefix: 'objects/blobs/aa/', index: 0 }, rt);

    expect(s3.commandCalls(DeleteObjectsCommand).map((call) => call.args[0].input.Delete?.Objects)).toEqual([
      [{ Key: KEY }],
    ]);
    expect(await objects.stat(KEY)).toBeUndefined();
  });
});
