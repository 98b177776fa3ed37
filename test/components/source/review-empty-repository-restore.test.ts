import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestoreTargetNotEmptyError } from '#components/source/errors.ts';
import { mirrorRepository } from '#components/source/mirror.ts';
import { restoreRepository } from '#components/source/restore.ts';
import { restoreTargetSchema } from '#components/source/settings.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { forEachRef, type GitHttpServer, startGitHttpServer } from '../../support/git-http-server.ts';
import { richRepository } from './git-fixtures.ts';
import { PASSWORD_ENV, sourceAndMirror, testDeps } from './source-test-kit.ts';

/**
 * A repository that was empty when it was backed up (created on the host, nothing pushed yet) is
 * recorded with no refs; the mirror code says "an empty repository has nothing to copy (and a
 * restore nothing to push)". Validate accepts a target for it (there are no patterns to check).
 * Restoring it must then succeed with nothing pushed, not fail the source component with
 * "no recorded ref matches  (the backup has 0 refs)".
 */

let server: GitHttpServer;
beforeAll(async () => {
  server = await startGitHttpServer();
});
afterAll(async () => {
  await server.close();
});

const credentials = { passwordEnv: PASSWORD_ENV, username: 'git' };

async function emptyRecord() {
  const { settings } = await sourceAndMirror(server, undefined, { storeCopy: true });
  const store = new LocalFolderStore(mkdtempSync(path.join(tmpdir(), 'source-store-')));
  const record = await mirrorRepository(
    {
      repository: settings,
      defaultCredentials: undefined,
      previous: undefined,
      store,
      scratchDir: tmpdir(),
      now: () => new Date(),
    },
    testDeps(),
  );
  return { record, store };
}

describe('restoring a repository that was empty when it was backed up', () => {
  it('succeeds with nothing pushed into an empty target, and says why', async () => {
    const { record, store } = await emptyRecord();
    expect(record.refs).toEqual({});
    const targetPath = await server.createBareRepo('empty-target.git');
    const outcome = await restoreRepository(
      {
        record,
        target: restoreTargetSchema.parse({ url: server.repoUrl('empty-target.git'), credentials }),
        mirrorCredentials: credentials,
        store,
        scratchDir: tmpdir(),
      },
      testDeps(),
    );
    expect(outcome).toMatchObject({ refs: 0, pushed: 0 });
    expect(outcome.warnings.join(' ')).toMatch(/empty/);
    expect(await forEachRef(targetPath)).toEqual({});
  });

  it('still refuses a target that has refs (nothing is pushed, nothing overwritten)', async () => {
    const { record, store } = await emptyRecord();
    const targetPath = await server.createBareRepo('busy-target.git');
    const work = await richRepository();
    await work.pushMirror(targetPath);
    const before = await forEachRef(targetPath);
    const failure = await restoreRepository(
      {
        record,
        target: restoreTargetSchema.parse({ url: server.repoUrl('busy-target.git'), credentials }),
        mirrorCredentials: credentials,
        store,
        scratchDir: tmpdir(),
      },
      testDeps(),
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RestoreTargetNotEmptyError);
    expect(await forEachRef(targetPath)).toEqual(before);
  });
});
