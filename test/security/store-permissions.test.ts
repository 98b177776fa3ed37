import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { allHandlers } from '#local/handlers.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';
import { ACTIONS, deniedStoreCalls, recordingHandlers, type StoreCall } from './support/store-calls.ts';

/**
 * Every store request a Lambda handler makes in the workflows is allowed by that function's role
 * in the synthesized stack. The workflows run locally (no IAM), so a missing grant showed only on
 * AWS: garbage collection's sweep HEADs each object before deleting it, S3 authorises HEAD as
 * s3:GetObject, and its role had GetObject on work/* only, so every collection with something to
 * collect failed there. Here each handler's store calls are recorded (the action S3 would check,
 * the key) while the Backup, Restore, Verify and Retention workflows run over a Liferay Home and
 * its app server, and each is matched against the role's Allow statements. The secrets test runs
 * the same check over its run of the Lambda handlers with every component (database dump, search,
 * Git) against s3rver.
 */

const DAY = 86_400_000;

function advancingClock(stepMs: number): () => Date {
  let now = Date.now();
  return () => {
    now += stepMs;
    return new Date(now);
  };
}

describe('the store requests of every Lambda handler in the workflows', () => {
  const calls: StoreCall[] = [];

  beforeAll(async () => {
    // The workflows, each handler seeing the store through a recorder.
    const { dir } = tempDir('store-permissions');
    const store = new LocalFolderStore(path.join(dir, 'store'));
    const home = path.join(dir, 'home');
    const tomcat = path.join(dir, 'tomcat-9.0.83');
    const write = (rel: string, content: Buffer | string) => {
      fs.mkdirSync(path.dirname(path.join(home, rel)), { recursive: true });
      fs.writeFileSync(path.join(home, rel), content);
    };
    write('portal-ext.properties', 'company.default.web.id=liferay.com\n');
    fs.mkdirSync(path.join(tomcat, 'conf'), { recursive: true });
    fs.writeFileSync(path.join(tomcat, 'conf/server.xml'), '<Server/>\n');
    const handlers = recordingHandlers(allHandlers(), calls);
    const runtime = (
      components: Record<string, unknown>,
      now: () => Date,
      extra: Record<string, unknown> = {},
    ): Runtime =>
      localRuntime({
        store,
        settings: parseSettings(
          { environment: 'test-env', configuredComponents: Object.keys(components), components, ...extra },
          'test',
        ),
        now,
        scratchDir: path.join(dir, 'scratch'),
      });
    const succeeded = (outcome: WorkflowOutcome) => {
      if (outcome.status !== 'SUCCEEDED')
        throw new Error(`workflow failed: ${outcome.error}: ${outcome.cause}`);
      return outcome.output;
    };
    const files = (root: string, appServer: string) => ({
      liferayHome: { root, blobThresholdBytes: 64 * 1024 },
      appServer: { root: appServer },
    });
    const start = Date.now() - 10 * DAY;
    for (const day of [0, 1]) {
      // A document that changes (a pack and a blob each night: content left behind for the sweep).
      write('data/document_library/20101/0/1.txt/1.0', randomBytes(10_000));
      write('data/document_library/20101/0/2.bin/1.0', randomBytes(300_000));
      fs.mkdirSync(path.join(dir, 'scratch'), { recursive: true });
      succeeded(
        await runWorkflow(
          WORKFLOWS.backup,
          { requestedBy: 'cli' },
          runtime(files(home, tomcat), () => new Date(start + day * DAY)),
          { handlers },
        ),
      );
    }
    const restored = path.join(dir, 'restored');
    succeeded(
      await runWorkflow(
        WORKFLOWS.restore,
        {
          backupId: 'latest',
          requestedBy: 'cli',
          liferayHome: { target: path.join(restored, 'home') },
          appServer: { target: path.join(restored, 'tomcat') },
        },
        // Two minutes pass at every reading of the clock, so that each writing step renews its
        // restore lock (at most once a minute, restore-lock.ts) and those writes are checked too.
        runtime(files(home, tomcat), advancingClock(2 * 60_000)),
        { handlers },
      ),
    );
    succeeded(
      await runWorkflow(
        WORKFLOWS.verify,
        { backupId: 'latest', requestedBy: 'cli' },
        runtime(files(home, tomcat), () => new Date()),
        {
          handlers,
        },
      ),
    );
    const later = () => new Date(Date.now() + 3 * DAY);
    succeeded(
      await runWorkflow(
        WORKFLOWS.retention,
        { dryRun: false },
        runtime(files(home, tomcat), later, {
          retention: { policy: { daily: 1, weekly: 0, monthly: 0, minComplete: 1 }, graceHours: 48 },
        }),
        { handlers },
      ),
    );
    // The store lost a blob: a restore with skipLost goes on without it and keeps the list of the
    // files it left out beside its report (files-finalize-restore writes it).
    const blobs: string[] = [];
    for await (const object of store.list('objects/blobs/')) blobs.push(object.key);
    const lost = blobs[0];
    if (!lost) throw new Error('the backups stored no blob to lose');
    await store.delete([lost]);
    await runWorkflow(
      WORKFLOWS.restore,
      {
        backupId: 'latest',
        requestedBy: 'cli',
        components: ['liferayHome'],
        liferayHome: { target: path.join(restored, 'home-lost'), skipLost: true },
      },
      runtime(files(home, tomcat), () => new Date()),
      { handlers },
    );
    if (
      !calls.some(
        (call) => call.handlerId === 'files-finalize-restore' && call.key.endsWith('-lost.jsonl.gz'),
      )
    )
      throw new Error('the skipLost restore wrote no list of lost files');
  }, 120_000);

  it('reach the store through every kind of call, from the handlers of every workflow', () => {
    const handlerIds = new Set(calls.map((call) => call.handlerId));
    for (const handlerId of ['begin-backup', 'commit-backup', 'sweep-prefix', 'delete-set', 'mark-set'])
      expect(handlerIds, handlerId).toContain(handlerId);
    expect(new Set(calls.map((call) => call.action))).toEqual(new Set(Object.values(ACTIONS)));
  });

  it('are each allowed by the role of every function that runs that handler', () => {
    expect(deniedStoreCalls(calls)).toEqual([]);
  });
});
