import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '#backup-set/manifest.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { type AslDefinition, definitionsFromTemplate } from '#local/template-definitions.ts';
import type { Runtime } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { synthTemplate } from '../../../cdk/synth.ts';
import { testRuntime } from '../../support/local-runtime.ts';
import { type LocalS3Server, startS3Server } from '../../support/s3-server.ts';
import { bytesFor, diffTrees, makeTrickyHome, readTree } from './support/trees.ts';

/**
 * The files branches as Step Functions runs them: the Backup and Restore definitions synthesized
 * from the stack, executed by the local interpreter (the Distributed Map's ItemReader adapted in
 * one place), each Task bound to the same handler code, on both stores.
 */
const CONFIG = {
  environment: 'liferay-test',
  account: '111111111111',
  region: 'eu-west-1',
  network: {
    vpcId: 'vpc-0a1b2c3d4e5f60718',
    availabilityZones: ['eu-west-1a'],
    subnetIds: ['subnet-0a1b2c3d4e5f60718'],
    securityGroupId: 'sg-0a1b2c3d4e5f60718',
  },
  efs: { fileSystemId: 'fs-0a1b2c3d4e5f60718', accessPointId: 'fsap-0a1b2c3d4e5f60718' },
  components: {
    liferayHome: { enabled: true, path: '/liferay-home', map: { maxConcurrency: 2 } },
    appServer: { enabled: true, path: '/tomcat', map: { maxConcurrency: 2 } },
  },
};

let definitions: Record<string, AslDefinition>;
let server: LocalS3Server;
const work = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'files-workflow-'));

beforeAll(async () => {
  definitions = definitionsFromTemplate(synthTemplate(CONFIG) as never);
  server = await startS3Server();
});
afterAll(async () => {
  await server?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

function outputOf<T>(outcome: WorkflowOutcome): T {
  if (outcome.status !== 'SUCCEEDED')
    throw new Error(`the workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output as T;
}

function dir(name: string): string {
  const made = path.join(work, `${name}-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(made, { recursive: true });
  return made;
}

const shard = (timeBudgetSeconds = 600) => ({ maxFiles: 20, maxBytes: 1024 ** 3, timeBudgetSeconds });

function runtime(store: ContentStore, home: string, appServer?: string, timeBudgetSeconds?: number): Runtime {
  return testRuntime({
    store,
    components: {
      liferayHome: { root: home, shard: shard(timeBudgetSeconds), blobThresholdBytes: 128 * 1024 },
      ...(appServer ? { appServer: { root: appServer, shard: shard(timeBudgetSeconds) } } : {}),
    },
  });
}

function makeTomcat(root: string): void {
  const files: Array<[string, string]> = [
    ['conf/server.xml', '<Server port="8005"/>'],
    ['bin/setenv.sh', 'CATALINA_OPTS="-Xmx4g"'],
    ['work/Catalina/localhost/ROOT/x.class', 'compiled'],
    ['lib/mariadb-java-client.jar', 'jar'],
  ];
  for (const [rel, content] of files) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  }
}

describe.each([
  ['local folder', () => new LocalFolderStore(dir('store'))],
  ['S3 (s3rver)', () => server.store()],
])('Backup and Restore workflows with the files components, %s store', (_name, openStore) => {
  it('back up the Liferay Home and the app server through the Distributed Map, then restore both', async () => {
    const store = openStore();
    const home = dir('home');
    const tomcat = dir('tomcat');
    makeTrickyHome(home, { documents: 60 });
    makeTomcat(tomcat);
    const rt = runtime(store, home, tomcat);
    const entered: string[] = [];
    const backup = outputOf<{ backup: { backupId: string } }>(
      await runWorkflow(definitions.backup as AslDefinition, { requestedBy: 'cli' }, rt, {
        onStateEntered: (name) => entered.push(name),
      }),
    );
    const manifest = await readManifest(store, backup.backup.backupId);
    expect(manifest.status).toBe('complete');
    const home1 = manifest.results.liferayHome;
    expect(home1?.status).toBe('complete');
    expect(Number(home1?.summary.shards)).toBeGreaterThan(2);
    expect(manifest.results.appServer?.status).toBe('complete');
    expect(entered.filter((name) => name === 'Liferay Home copy shard').length).toBe(
      Number(home1?.summary.shards),
    );

    const homeTarget = path.join(dir('restore'), 'home');
    const tomcatTarget = path.join(dir('restore'), 'tomcat');
    const restored = outputOf<{ report: { backupId: string; restoreId: string; status: string } }>(
      await runWorkflow(
        definitions.restore as AslDefinition,
        { backupId: 'latest', liferayHome: { target: homeTarget }, appServer: { target: tomcatTarget } },
        rt,
      ),
    );
    expect(restored.report.status).toBe('complete');
    expect(diffTrees(readTree(home), readTree(homeTarget))).toEqual([]);
    // Tomcat's work/ folder is kept, its contents are not (the appServer rules).
    const expectedTomcat = readTree(tomcat);
    for (const key of [...expectedTomcat.keys()]) if (key.startsWith('work/')) expectedTomcat.delete(key);
    expect(diffTrees(expectedTomcat, readTree(tomcatTarget))).toEqual([]);
    const report = await readRestoreReport(store, restored.report.backupId, restored.report.restoreId);
    expect(report.results.liferayHome?.summary.verifiedFiles).toBe(report.results.liferayHome?.summary.files);
  });

  it('runs further Map rounds for shards that reach their time budget, and an incremental backup stores only the change', async () => {
    const store = openStore();
    const home = dir('home');
    for (let i = 0; i < 5; i += 1) {
      fs.mkdirSync(path.join(home, `data/d${i}`), { recursive: true });
      fs.writeFileSync(path.join(home, `data/d${i}/f`), bytesFor(`wf-${i}`, 2000));
    }
    const rounds = runtime(store, home, undefined, 0);
    const first = outputOf<{ backup: { backupId: string } }>(
      await runWorkflow(definitions.backup as AslDefinition, {}, rounds),
    );
    const manifest = await readManifest(store, first.backup.backupId);
    expect(Number(manifest.results.liferayHome?.summary.rounds)).toBeGreaterThan(3);

    fs.writeFileSync(path.join(home, 'data/d2/f'), bytesFor('changed', 2000));
    const second = outputOf<{ backup: { backupId: string } }>(
      await runWorkflow(definitions.backup as AslDefinition, {}, runtime(store, home)),
    );
    const next = await readManifest(store, second.backup.backupId);
    expect(next.previousBackupId).toBe(first.backup.backupId);
    expect(next.results.liferayHome?.summary).toMatchObject({ changedFiles: 1, uploadedFiles: 1, files: 5 });
  });

  it('backs up a file too large for one invocation across rounds, when it is the first entry of the tree', async () => {
    // Prepare: a budget of 0 s (each invocation reads one 64 KiB chunk of it, then stops) and a
    // file that sorts before every other entry, so the first round ends before its first entry.
    const store = openStore();
    const home = dir('home');
    fs.mkdirSync(path.join(home, 'data'), { recursive: true });
    fs.writeFileSync(path.join(home, 'data/f'), 'a small file');
    fs.writeFileSync(path.join(home, 'a-video.mp4'), bytesFor('video', 5 * 64 * 1024 + 7));
    const settings = (timeBudgetSeconds: number) => ({
      root: home,
      include: ['a-video.mp4'],
      shard: shard(timeBudgetSeconds),
      blobThresholdBytes: 64 * 1024,
      chunkBytes: 64 * 1024,
      resumableFileBytes: 128 * 1024,
    });
    const backup = outputOf<{ backup: { backupId: string } }>(
      await runWorkflow(
        definitions.backup as AslDefinition,
        {},
        testRuntime({ store, components: { liferayHome: settings(0) } }),
      ),
    );
    const manifest = await readManifest(store, backup.backup.backupId);
    expect(manifest.status).toBe('complete');
    expect(Number(manifest.results.liferayHome?.summary.rounds)).toBeGreaterThan(5);
    expect(manifest.results.liferayHome?.summary).toMatchObject({
      files: 2,
      bytes: 5 * 64 * 1024 + 7 + 12,
    });
    const target = path.join(dir('restore'), 'home');
    const restored = outputOf<{ report: { status: string } }>(
      await runWorkflow(
        definitions.restore as AslDefinition,
        { backupId: 'latest', liferayHome: { target } },
        testRuntime({ store, components: { liferayHome: settings(600) } }),
      ),
    );
    expect(restored.report.status).toBe('complete');
    expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
  });

  it('a failing shard fails the component and leaves the set partial, never complete', async () => {
    const store = openStore();
    const home = dir('home');
    const tomcat = dir('tomcat');
    makeTrickyHome(home, { documents: 30 });
    makeTomcat(tomcat);
    let calls = 0;
    const outcome = await runWorkflow(definitions.backup as AslDefinition, {}, runtime(store, home, tomcat), {
      taskOverrides: {
        'Liferay Home copy shard': async (event, rt) => {
          calls += 1;
          if (calls === 1) throw Object.assign(new Error('disk went away'), { name: 'Error' });
          const { copyShard } = await import('#components/files/copy-shard.ts');
          return copyShard(event, rt);
        },
      },
    });
    expect(outcome.status).toBe('FAILED');
    const id = /backup set (b\S+) is partial/.exec(outcome.status === 'FAILED' ? outcome.cause : '')?.[1];
    expect(id).toBeDefined();
    const manifest = await readManifest(store, id ?? '');
    expect(manifest.status).toBe('partial');
    expect(manifest.results.liferayHome?.status).toBe('failed');
    expect(manifest.results.appServer?.status).toBe('complete');
  });
});
