import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, describe, expect, it } from 'vitest';
import { sweepPrefix } from '#backup-set/garbage-collection.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import { type ContentStore, readJson, type SeenObject } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { S3Store } from '#store/s3-store.ts';
import { allKeys, tempDir } from '../support/local-runtime.ts';

/**
 * A Sweep item that deleted objects and then failed (the answer of its DeleteObjects lost, or the
 * store refusing the record of what it collected) is retried by the state machine. The retry finds
 * those objects gone: the report of the run must still count them, as a run without the fault does
 * (it is what an SRE reads to know what retention removed, next to the drop in storage).
 */

const work = tempDir('review-sweep-retry');
afterAll(() => work.cleanup());
const DAY = 86_400_000;
const POLICY = { daily: 0, weekly: 0, monthly: 0, minComplete: 1 };

function runtimeFor(store: ContentStore, settings: Record<string, unknown>, now: () => Date): Runtime {
  return localRuntime({
    store,
    settings: parseSettings({ environment: 'test-env', ...settings }, 'test'),
    now,
  });
}

/** Three days on: every object is older than the grace period. */
function retentionRuntime(store: ContentStore): Runtime {
  return runtimeFor(
    store,
    { retention: { policy: POLICY, graceHours: 48 } },
    () => new Date(Date.now() + 3 * DAY),
  );
}

function succeeded(outcome: WorkflowOutcome): unknown {
  if (outcome.status !== 'SUCCEEDED') throw new Error(`workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output;
}

/**
 * Two complete sets ten and nine days old, each with files of its own: blobs (over the 64 KiB
 * threshold) under several sweep prefixes, and a pack of the small ones.
 */
async function twoOldSets(name: string): Promise<{ store: LocalFolderStore; older: string }> {
  const store = new LocalFolderStore(path.join(work.dir, name, 'store'));
  const root = path.join(work.dir, name, 'home');
  const start = Date.now() - 10 * DAY;
  const ids: string[] = [];
  for (const day of [0, 1]) {
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(path.join(root, 'data'), { recursive: true });
    for (let file = 0; file < 8; file += 1) {
      const size = file < 2 ? 100 : 70_000 + 1000 * file;
      fs.writeFileSync(
        path.join(root, 'data', `file-${file}.bin`),
        `set ${day} file ${file} ${'x'.repeat(size)}`,
      );
    }
    const rt = runtimeFor(
      store,
      {
        configuredComponents: ['liferayHome'],
        components: { liferayHome: { root, blobThresholdBytes: 64 * 1024 } },
      },
      () => new Date(start + day * DAY),
    );
    const out = succeeded(await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt)) as {
      backup: { backupId: string };
    };
    ids.push(out.backup.backupId);
  }
  return { store, older: ids[0] as string };
}

interface Swept {
  sweptObjects: number;
  sweptBytes: number;
}

async function contentKeys(store: ContentStore): Promise<string[]> {
  return (await allKeys(store)).filter((key) => key.startsWith('objects/'));
}

/** Runs retention over a fresh copy of the sets; returns the report's counts and what left the store. */
async function retention(name: string, overrides: Record<string, Handler> = {}) {
  const { store, older } = await twoOldSets(name);
  const before = await contentKeys(store);
  const output = succeeded(
    await runWorkflow(WORKFLOWS.retention, { dryRun: false }, retentionRuntime(store), {
      taskOverrides: overrides,
    }),
  ) as { outcome: Swept & { reportKey: string; deletedSets: string[] } };
  const report = (await readJson(store, output.outcome.reportKey)) as {
    status: string;
    garbageCollection: Swept;
  };
  const after = new Set(await contentKeys(store));
  return {
    older,
    output: output.outcome,
    report,
    removed: before.filter((key) => !after.has(key)).length,
  };
}

let controlRun: ReturnType<typeof retention> | undefined;
/** The same run without a fault. */
const control = () => {
  controlRun ??= retention('control');
  return controlRun;
};

/**
 * The Sweep handler, over a store that faults once per item: `fault` is given the store and a
 * flag set once this attempt deleted something, and returns the store the attempt sees.
 */
function sweepWithFault(fault: (store: ContentStore, deleted: { something: boolean }) => ContentStore): {
  handler: Handler;
  faulted: () => number;
} {
  const attempted = new Set<string>();
  let faulted = 0;
  return {
    handler: async (event, rt) => {
      const item = JSON.stringify(event);
      if (attempted.has(item)) return sweepPrefix(event, rt);
      attempted.add(item);
      const deleted = { something: false };
      const counting = new Proxy(rt.store, {
        get(target, property) {
          const value = Reflect.get(target, property, target);
          if (property !== 'deleteAsSeen' || typeof value !== 'function') return value;
          return async (objects: readonly SeenObject[]) => {
            const gone = await value.call(target, objects);
            if (gone.length > 0) deleted.something = true;
            return gone;
          };
        },
      });
      try {
        return await sweepPrefix(event, { ...rt, store: fault(counting, deleted) });
      } catch (error) {
        faulted += 1;
        throw error;
      }
    },
    faulted: () => faulted,
  };
}

/** The first DeleteObjects that deletes something does so, and its answer is lost on the way back. */
const deleteAnswerLost = (store: ContentStore, deleted: { something: boolean }): ContentStore =>
  new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property !== 'deleteAsSeen' || typeof value !== 'function') return value;
      return async (objects: readonly SeenObject[]) => {
        const gone = await value.call(target, objects);
        if (deleted.something) throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
        return gone;
      };
    },
  });

/** Once the attempt deleted something, the store refuses the next record under the run's swept/ area. */
const recordRefused = (store: ContentStore, deleted: { something: boolean }): ContentStore => {
  let refused = false;
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property !== 'put' || typeof value !== 'function') return value;
      return async (key: string, ...rest: unknown[]) => {
        if (!refused && deleted.something && key.includes('/retention/swept/')) {
          refused = true;
          throw Object.assign(new Error('Please reduce your request rate.'), {
            name: 'SlowDown',
            $metadata: { httpStatusCode: 503 },
          });
        }
        return value.call(target, key, ...rest);
      };
    },
  });
};

describe('a Sweep item retried after it deleted objects', () => {
  it.each([
    ['the answer of its delete was lost', deleteAnswerLost],
    ['the store refused the record of what it collected', recordRefused],
  ])('reports what an uninterrupted run does (%s)', async (_case, fault) => {
    // Prepare
    const expected = await control();
    expect(expected.report.garbageCollection.sweptObjects).toBeGreaterThan(1);
    expect(expected.report.garbageCollection.sweptObjects).toBe(expected.removed);
    const sweep = sweepWithFault(fault);
    // Act
    const run = await retention(`retried-${fault.name}`, {
      'Sweep unreferenced content item': sweep.handler,
    });
    // Assess: the faults happened and were retried, and the report counts what the store lost
    expect(sweep.faulted()).toBeGreaterThan(1);
    expect(run.report.status).toBe('complete');
    expect(run.output.deletedSets).toEqual([run.older]);
    expect(run.removed).toBe(expected.removed);
    expect(run.report.garbageCollection).toEqual(expected.report.garbageCollection);
    expect(run.output).toMatchObject({
      sweptObjects: expected.output.sweptObjects,
      sweptBytes: expected.output.sweptBytes,
    });
  });
});

/**
 * The stack's bucket is versioned: deleting an object's current version makes the one before it
 * current again, and the sweep deletes that one too (counted in bytes, not as another object).
 * A small in-memory model of S3 versioning at the SDK client (s3rver keeps no versions), as in
 * sweep-versioned-bucket.test.ts: every PUT adds a version, a DELETE with versionId removes it.
 */
type Version = { id: string; body: string; modified: Date };
const s3 = mockClient(S3Client);
const bucket = new Map<string, Version[]>();
let versionCounter = 0;
const notFound = () =>
  new S3ServiceException({ name: 'NotFound', $fault: 'client', $metadata: { httpStatusCode: 404 } });
const currentVersion = (key: string) => bucket.get(key)?.at(-1);
function putVersion(key: string, body: string, modified: Date) {
  bucket.set(key, [...(bucket.get(key) ?? []), { id: `v${++versionCounter}`, body, modified }]);
}
function installVersionedBucket() {
  s3.on(HeadObjectCommand).callsFake(({ Key }) => {
    const v = currentVersion(Key);
    if (!v) throw notFound();
    return { ContentLength: v.body.length, ETag: `"${v.id}"`, LastModified: v.modified, VersionId: v.id };
  });
  s3.on(ListObjectsV2Command).callsFake(({ Prefix }) => ({
    Contents: [...bucket.keys()]
      .filter((k) => k.startsWith(Prefix) && currentVersion(k))
      .sort()
      .map((k) => ({
        Key: k,
        Size: currentVersion(k)?.body.length,
        LastModified: currentVersion(k)?.modified,
      })),
  }));
  s3.on(DeleteObjectsCommand).callsFake(({ Delete }) => {
    for (const { Key, VersionId } of Delete.Objects) {
      if (!VersionId) throw new Error('the model deletes versions only');
      bucket.set(
        Key,
        (bucket.get(Key) ?? []).filter((v) => v.id !== VersionId),
      );
    }
    return {};
  });
}

const RUN = 'g20261127t050000z-0001';
const TWICE = 'objects/blobs/aa/aa01';
const ONCE = 'objects/blobs/aa/aa02';

/** objects/ on the modelled bucket, the run's work area (keep.json: no set kept) in a folder. */
async function versionedStore(name: string): Promise<ContentStore> {
  bucket.clear();
  s3.reset();
  installVersionedBucket();
  const old = Date.now() - 10 * DAY;
  putVersion(TWICE, 'blob', new Date(old)); // first written
  putVersion(TWICE, 'blob', new Date(old + 5 * DAY)); // written again by a backup that found it old
  putVersion(ONCE, 'other blob', new Date(old));
  const objects = new S3Store(new S3Client({ region: 'us-east-1' }), { bucket: 'b' });
  const workArea = new LocalFolderStore(path.join(work.dir, name));
  await workArea.put(`work/${RUN}/retention/keep.json`, '[]');
  const pick = (arg: unknown): ContentStore => {
    const key = Array.isArray(arg) ? (arg[0]?.key ?? 'objects/') : String(arg);
    return key.startsWith('objects/') ? objects : workArea;
  };
  return new Proxy({} as ContentStore, {
    get: (_target, property) =>
      // Not a thenable: this store is what an async function returns.
      property === 'then'
        ? undefined
        : (...args: unknown[]) =>
            (pick(args[0]) as unknown as Record<string, (...a: unknown[]) => unknown>)[property as string]?.(
              ...args,
            ),
  });
}

describe('a Sweep item retried after it deleted versions (versioned bucket)', () => {
  it('reports what an uninterrupted sweep does, and deletes the version that came back', async () => {
    // Prepare
    const sweep = (store: ContentStore) =>
      sweepPrefix({ runId: RUN, prefix: 'objects/blobs/aa/', index: 0 }, retentionRuntime(store));
    const expected = await sweep(await versionedStore('versioned-control'));
    expect(expected).toMatchObject({ deleted: 2, bytes: 18 });
    expect([...bucket.values()].flat()).toEqual([]);
    const store = await versionedStore('versioned-retried');
    let lost = false;
    const deleteAnswerLostOnce = new Proxy(store, {
      get: (target, property) =>
        property === 'deleteAsSeen'
          ? async (objects: readonly SeenObject[]) => {
              await target.deleteAsSeen(objects);
              if (lost) return objects;
              lost = true;
              throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
            }
          : Reflect.get(target, property),
    });
    // Act
    await expect(sweep(deleteAnswerLostOnce)).rejects.toThrow('socket hang up');
    const retried = await sweep(store);
    // Assess
    expect(retried).toEqual(expected);
    expect([...bucket.values()].flat()).toEqual([]);
  });
});
