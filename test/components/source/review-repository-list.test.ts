import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '#backup-set/manifest.ts';
import { RESULT_BUDGET_BYTES, utf8JsonBytes } from '#components/component.ts';
import { checkSourceRestore } from '#components/source/index.ts';
import { recordOf, sourceDetailsOf } from '#components/source/records.ts';
import {
  INLINE_REPOSITORY_ENTRIES_BYTES,
  readSourceDetails,
  repositoryListKey,
} from '#components/source/repository-list.ts';
import { restoreSourceRepository } from '#components/source/restore-repository.ts';
import { sourceRetention, verifySource } from '#components/source/retention.ts';
import { sourceRestoreRequestSchema } from '#components/source/settings.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import { CorruptBackupError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import { forEachRef, type GitHttpServer, startGitHttpServer } from '../../support/git-http-server.ts';
import { testRuntime } from '../../support/local-runtime.ts';
import { richRepository } from './git-fixtures.ts';

/**
 * 200 repositories (the most the settings allow) with long URLs: their entries inline took about
 * 120 KB of the source result, which crosses Step Functions states beside the other components'
 * (256 KiB in all); the Backup failed with States.DataLimitExceeded, which no Catch stops, and
 * the set never committed. The entries are now stored beside the set past 16 KiB
 * (backups/<id>/source/_repositories.json) and every reader takes them from there, checked.
 */
const REPOSITORIES = 200;
const LONG = 'acme-liferay-dxp-7-4-workspace-modules-themes-and-client-extensions-of-the-intranet';
const credentials = { passwordEnv: 'LIFERAY_BACKUP_GIT_PASSWORD', username: 'git' };

let server: GitHttpServer;
let sourcePath: string;
let rt: Runtime;
let backupId: string;
let names: string[];

function succeeded(outcome: WorkflowOutcome): { backup: { backupId: string } } {
  if (outcome.status !== 'SUCCEEDED') throw new Error(`workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output as { backup: { backupId: string } };
}

beforeAll(async () => {
  process.env.LIFERAY_BACKUP_GIT_PASSWORD = 'secret';
  server = await startGitHttpServer();
  // One source for all (the mirrors are what makes 200 repositories), served under a long path.
  sourcePath = await server.createBareRepo(`${LONG}-source.git`);
  await (await richRepository()).pushMirror(sourcePath);
  names = Array.from({ length: REPOSITORIES }, (_, i) => `liferay-module-${String(i).padStart(3, '0')}`);
  for (const name of names) await server.createBareRepo(`${LONG}-${name}-mirror.git`);
  rt = testRuntime({
    components: {
      source: {
        repositories: names.map((name, i) => ({
          name,
          sourceUrl: server.repoUrl(`${LONG}-source.git`),
          mirrorUrl: server.repoUrl(`${LONG}-${name}-mirror.git`),
          exclude: ['refs/pull/*'],
          // A store copy for every tenth: restores from the store and garbage collection's packs.
          storeCopy: i % 10 === 0,
        })),
        defaultCredentials: credentials,
        concurrency: 16,
      },
    },
  });
  backupId = succeeded(await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt)).backup.backupId;
}, 600_000);
afterAll(async () => {
  await server.close();
});

describe('a source backup of 200 repositories with long URLs', () => {
  it('commits a result within the 32 KiB budget, the entries stored beside the set and readable in full', async () => {
    const manifest = await readManifest(rt.store, backupId);
    expect(manifest.status).toBe('complete');
    const result = manifest.results.source;
    if (!result) throw new Error('no source result');
    // Before: 200 entries inline, far past the budget (each result keeps within it so that the
    // five gathered fit one Step Functions state).
    expect(utf8JsonBytes(result)).toBeLessThanOrEqual(RESULT_BUDGET_BYTES);
    expect(result.summary).toMatchObject({ repositories: REPOSITORIES });
    const key = repositoryListKey(backupId);
    expect(result.details).toMatchObject({ repositoryList: { key, count: REPOSITORIES } });
    expect(utf8JsonBytes((await rt.store.read(key)).toString('utf8'))).toBeGreaterThan(
      INLINE_REPOSITORY_ENTRIES_BYTES,
    );

    // Every repository's entry, read back, names its mirror and records what the mirror holds.
    const details = await readSourceDetails(rt.store, result.details, backupId);
    expect(details.repositories.map((entry) => entry.name)).toEqual(names);
    const expected = await forEachRef(sourcePath);
    delete expected['refs/pull/1/head'];
    const last = details.repositories.at(-1);
    expect(last?.mirrorUrl).toBe(server.repoUrl(`${LONG}-${names.at(-1)}-mirror.git`));
    expect(await forEachRef(`${server.root}/${LONG}-${names.at(-1)}-mirror.git`)).toEqual(expected);
  });

  it('is verified by the drill, every repository and every store copy', async () => {
    const result = (await readManifest(rt.store, backupId)).results.source;
    if (!result) throw new Error('no source result');
    const outcome = await verifySource({ backupId, result }, rt);
    expect(outcome.problems).toEqual([]);
    expect(outcome.status).toBe('verified');
    expect(outcome.checks.filter((line) => / refs recorded$/.test(line))).toHaveLength(REPOSITORIES);
    expect(outcome.checks.filter((line) => /store copy holds the objects of all/.test(line))).toHaveLength(
      REPOSITORIES / 10,
    );
  });

  it('restores through the Restore workflow, from the store copy and from the mirror; Validate checks names inline', async () => {
    const fromStore = names[0] as string; // with a store copy
    const fromMirror = names[REPOSITORIES - 1] as string;
    const targets = [fromStore, fromMirror].map((name) => ({
      repository: name,
      url: server.repoUrl(`${name}-target.git`),
      credentials,
    }));
    for (const name of [fromStore, fromMirror]) await server.createBareRepo(`${name}-target.git`);

    // Validate refuses, before anything is pushed, what it can check on the names the manifest keeps.
    const refused = await runWorkflow(
      WORKFLOWS.restore,
      {
        backupId,
        components: ['source'],
        source: {
          targets: [
            { ...targets[1], from: 'store' },
            { ...targets[0], repository: 'nope' },
          ],
        },
      },
      rt,
    );
    expect(refused.status).toBe('FAILED');
    const cause = refused.status === 'FAILED' ? refused.cause : '';
    expect(cause).toContain(`the backup has no store copy of ${fromMirror}`);
    expect(cause).toContain('nope is not in this backup');

    const restored = await runWorkflow(
      WORKFLOWS.restore,
      { backupId, components: ['source'], source: { targets } },
      rt,
    );
    expect(restored.status === 'FAILED' ? restored.cause : '').toBe('');
    const expected = await forEachRef(sourcePath);
    delete expected['refs/pull/1/head'];
    for (const name of [fromStore, fromMirror]) {
      expect(await forEachRef(`${server.root}/${name}-target.git`)).toEqual(expected);
    }
  });

  it('gives garbage collection every pack of every store copy (Mark reads the stored list)', async () => {
    const result = (await readManifest(rt.store, backupId)).results.source;
    if (!result) throw new Error('no source result');
    const details = await readSourceDetails(rt.store, result.details, backupId);
    const packs: string[] = [];
    for (const entry of details.repositories) {
      // An entry past the refs budget keeps its chain's length only: the record has the packs.
      for (const pack of (await recordOf(rt.store, entry)).storeCopy?.packs ?? [])
        packs.push(pack.key, pack.key.replace(/\.pack$/, '.idx'));
    }
    expect(packs.length).toBe((REPOSITORIES / 10) * 2);
    const referenced: string[] = [];
    for await (const key of sourceRetention.references?.({ backupId, result }, rt) ?? [])
      referenced.push(key);
    expect(referenced.sort()).toEqual([...packs].sort());

    // The Retention workflow three days on (grace 1 hour): the set is kept, and its Mark reads the
    // stored list, so Sweep keeps every pack and collects only one that no set lists.
    const stray = `objects/git/pack-${'0'.repeat(64)}.pack`;
    await rt.store.put(stray, Buffer.alloc(64));
    const later = localRuntime({
      store: rt.store,
      settings: parseSettings(
        {
          environment: 'test-env',
          retention: { graceHours: 1, policy: { daily: 7, weekly: 0, monthly: 0, minComplete: 1 } },
        },
        'test',
      ),
      now: () => new Date(Date.now() + 3 * 86_400_000),
    });
    const retention = await runWorkflow(WORKFLOWS.retention, { dryRun: false }, later);
    expect(retention.status === 'FAILED' ? retention.cause : '').toBe('');
    expect(await rt.store.stat(stray)).toBeUndefined();
    for (const key of packs) expect(await rt.store.stat(key), key).toBeDefined();
    expect((await readManifest(rt.store, backupId)).status).toBe('complete');
  });

  it('refuses a tampered or missing stored list, naming its key, in every reader', async () => {
    const result = (await readManifest(rt.store, backupId)).results.source;
    if (!result) throw new Error('no source result');
    const key = repositoryListKey(backupId);
    const original = await rt.store.read(key);
    try {
      // One repository's mirror URL changed (same size: the size check alone would not see it).
      const tampered = Buffer.from(
        original
          .toString('utf8')
          .replace(`${LONG}-liferay-module-007-mirror`, `${LONG}-liferay-module-007-mirrox`),
      );
      expect(tampered.length).toBe(original.length);
      expect(tampered.equals(original)).toBe(false);
      await rt.store.put(key, tampered);
      const mismatch = `${key} does not match the size and sha256 its manifest recorded`;
      await expect(readSourceDetails(rt.store, result.details, backupId)).rejects.toThrow(CorruptBackupError);
      await expect(sourceDetailsOf(rt.store, backupId)).rejects.toThrow(mismatch);
      await expect(
        (async () => {
          for await (const _ of sourceRetention.references?.({ backupId, result }, rt) ?? []);
        })(),
      ).rejects.toThrow(mismatch);
      const drill = await verifySource({ backupId, result }, rt);
      expect(drill.status).toBe('failed');
      expect(drill.problems.join('\n')).toContain(mismatch);
      await server.createBareRepo('tampered-target.git');
      await expect(
        restoreSourceRepository(
          {
            restore: { restoreId: 'r20261128t000000z-0abc', backupId },
            target: { repository: names[7], url: server.repoUrl('tampered-target.git'), credentials },
          },
          rt,
        ),
      ).rejects.toThrow(mismatch);
      expect(await forEachRef(`${server.root}/tampered-target.git`)).toEqual({});

      // Truncated, and with its size and digest recorded anew: still not the list the manifest names.
      const truncated = Buffer.from(JSON.stringify(JSON.parse(original.toString('utf8')).slice(0, 199)));
      await rt.store.put(key, truncated);
      const rewritten = {
        ...result.details,
        repositoryList: {
          ...(result.details.repositoryList as object),
          size: truncated.length,
          sha256: createHash('sha256').update(truncated).digest('hex'),
        },
      };
      await expect(readSourceDetails(rt.store, rewritten, backupId)).rejects.toThrow(
        `${key} holds 199 repositories that are not the 200 its manifest names`,
      );

      await rt.store.delete([key]);
      await expect(readSourceDetails(rt.store, result.details, backupId)).rejects.toThrow(
        `${key} (the list of the 200 repositories in the set) is missing from the store`,
      );
    } finally {
      await rt.store.put(key, original);
    }
  });
});

describe('a small deployment and sets written before the list', () => {
  it('keeps a few repositories inline, as before, and Validate still checks their refs', async () => {
    const small = testRuntime({
      components: {
        source: {
          repositories: names.slice(0, 3).map((name) => ({
            name,
            sourceUrl: server.repoUrl(`${LONG}-source.git`),
            mirrorUrl: server.repoUrl(`${LONG}-${name}-mirror.git`),
            exclude: ['refs/pull/*'],
          })),
          defaultCredentials: credentials,
        },
      },
    });
    const id = succeeded(await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, small)).backup.backupId;
    const result = (await readManifest(small.store, id)).results.source;
    if (!result) throw new Error('no source result');
    expect(result.details.repositoryList).toBeUndefined();
    expect(await small.store.stat(repositoryListKey(id))).toBeUndefined();
    const details = await readSourceDetails(small.store, result.details, id);
    expect(result.details).toEqual(details);
    expect(details.repositories.map((entry) => Object.keys(entry.refs ?? {}).length)).toEqual([5, 5, 5]);
    expect(
      checkSourceRestore({
        backup: result,
        request: sourceRestoreRequestSchema.parse({
          targets: [
            { repository: names[1], url: 'https://t.example.com/x.git', refs: ['refs/heads/none-*'] },
          ],
        }),
      }),
    ).toEqual([`targets.0.refs: no recorded ref of ${names[1]} matches refs/heads/none-*`]);
  });
});
