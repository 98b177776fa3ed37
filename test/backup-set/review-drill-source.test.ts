import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitRemoteError } from '#components/source/errors.ts';
import { mirrorRepository } from '#components/source/mirror.ts';
import { restoreRepository } from '#components/source/restore.ts';
import { verifySource } from '#components/source/retention.ts';
import {
  type RepositoryRecord,
  type RepositorySettings,
  restoreTargetSchema,
} from '#components/source/settings.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { richRepository } from '../components/source/git-fixtures.ts';
import { PASSWORD_ENV, sourceAndMirror, testDeps } from '../components/source/source-test-kit.ts';
import { type GitHttpServer, git, startGitHttpServer } from '../support/git-http-server.ts';
import { testRuntime } from '../support/local-runtime.ts';

/**
 * A drill of a set with no store copy lists the mirror's refs. A recorded ref the mirror moved
 * on from (force-pushed) is only "noted": when the mirror has since collected the old commit, a
 * restore from the mirror fails, and the drill, which never fetches, cannot know. It must then
 * not say plainly "verified" with nothing about it: the report says what it did not check.
 */

let hosts: GitHttpServer;
let targets: GitHttpServer;
beforeAll(async () => {
  hosts = await startGitHttpServer();
  targets = await startGitHttpServer({ users: { restorer: 'r-secret' } });
});
afterAll(async () => {
  await hosts.close();
  await targets.close();
});

function backup(repository: RepositorySettings, store: LocalFolderStore): Promise<RepositoryRecord> {
  return mirrorRepository(
    {
      repository,
      defaultCredentials: undefined,
      previous: undefined,
      store,
      scratchDir: tmpdir(),
      now: () => new Date(),
    },
    testDeps(),
  );
}

function drillSet(record: RepositoryRecord) {
  return {
    backupId: 'b20260101t000000z-0abc',
    result: {
      component: 'source' as const,
      status: 'complete' as const,
      warnings: [],
      summary: {},
      details: {
        repositories: [{ ...record, refCount: Object.keys(record.refs).length, recordKey: 'unused' }],
      },
    },
  };
}

describe('the source drill after the mirror was force-pushed and collected', () => {
  it('a restore from the mirror fails; the drill report says it did not check the moved refs', async () => {
    const work = await richRepository();
    const { settings, sourcePath, mirrorPath } = await sourceAndMirror(hosts, work, {
      exclude: ['refs/pull/*'],
    });
    const store = new LocalFolderStore(mkdtempSync(path.join(tmpdir(), 'review-drill-source-')));
    const record = await backup(settings, store);

    // main rewritten at the source, the next backup force-pushes it, the mirror collects the old commit.
    await work.git('reset', '--quiet', '--hard', 'HEAD~1');
    await work.commit('rewritten');
    await work.pushMirror(sourcePath);
    await backup(settings, new LocalFolderStore(mkdtempSync(path.join(tmpdir(), 'review-drill-source-'))));
    await git(['reflog', 'expire', '--expire=now', '--all'], mirrorPath);
    await git(['gc', '--quiet', '--prune=now'], mirrorPath);

    const dir = await targets.createBareRepo('target.git');
    await git(['config', 'receive.fsckObjects', 'true'], dir);
    const restoring = restoreRepository(
      {
        record,
        target: restoreTargetSchema.parse({
          url: targets.repoUrl('target.git'),
          credentials: { passwordEnv: 'T_PW', username: 'restorer' },
        }),
        mirrorCredentials: { passwordEnv: PASSWORD_ENV, username: 'git' },
        store,
        scratchDir: tmpdir(),
      },
      testDeps({ [PASSWORD_ENV]: 'secret', T_PW: 'r-secret' }),
    );
    await expect(restoring).rejects.toBeInstanceOf(GitRemoteError);

    const drill = await verifySource(
      drillSet(record),
      testRuntime({ store, components: { source: { repositories: [settings] } } }),
      testDeps(),
    );
    expect(drill.checks).toContainEqual(
      expect.stringMatching(
        /^not checked: that the mirror still holds the recorded objects of 1 moved ref\(s\) \(refs\/heads\/main\)/,
      ),
    );
  });
});
