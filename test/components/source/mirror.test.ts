import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GitAuthenticationError,
  GitRemoteError,
  MirrorVerificationError,
} from '#components/source/errors.ts';
import { type MirrorInput, mirrorRepository } from '#components/source/mirror.ts';
import { type RepositorySettings, repositoryRecordSchema } from '#components/source/settings.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { forEachRef, type GitHttpServer, git, startGitHttpServer } from '../../support/git-http-server.ts';
import { richRepository } from './git-fixtures.ts';
import { closedPort, PASSWORD_ENV, posts, sourceAndMirror, testDeps } from './source-test-kit.ts';

let server: GitHttpServer;
beforeAll(async () => {
  server = await startGitHttpServer();
});
afterAll(async () => {
  await server.close();
});

function input(repository: RepositorySettings, overrides: Partial<MirrorInput> = {}): MirrorInput {
  return {
    repository,
    defaultCredentials: undefined,
    previous: undefined,
    store: new LocalFolderStore(mkdtempSync(path.join(tmpdir(), 'source-store-'))),
    scratchDir: tmpdir(),
    now: () => new Date(),
    ...overrides,
  };
}

function without(refs: Record<string, string>, pattern: RegExp): Record<string, string> {
  return Object.fromEntries(Object.entries(refs).filter(([ref]) => !pattern.test(ref)));
}

describe('mirrorRepository', () => {
  it('mirrors every ref (branches, lightweight and annotated tags, notes) in one receive-pack request, leaving excluded refs out', async () => {
    const work = await richRepository();
    const { sourcePath, mirrorPath, settings, name } = await sourceAndMirror(server, work, {
      exclude: ['refs/pull/*'],
    });

    const record = await mirrorRepository(input(settings), testDeps());

    const sourceRefs = await forEachRef(sourcePath);
    expect(Object.keys(sourceRefs)).toEqual(
      expect.arrayContaining([
        'refs/heads/main',
        'refs/heads/feature',
        'refs/tags/v1.0',
        'refs/tags/v1.1',
        'refs/notes/commits',
        'refs/pull/1/head',
      ]),
    );
    const expected = without(sourceRefs, /^refs\/pull\//);
    expect(await forEachRef(mirrorPath)).toEqual(expected);
    expect(record.refs).toEqual(expected);
    expect(record).toMatchObject({ head: 'refs/heads/main', stats: { created: 5, updated: 0, deleted: 0 } });
    expect(await git(['cat-file', '-t', 'refs/tags/v1.1'], mirrorPath)).toBe('tag\n');
    await git(['fsck', '--strict', '--no-dangling'], mirrorPath);
    expect(posts(server, `${name}-mirror.git`, 'git-receive-pack')).toBe(1);
    expect(posts(server, `${name}-source.git`, 'git-upload-pack')).toBe(1);
  });

  it('sends only the new objects when the mirror is one commit behind, and nothing when it is equal', async () => {
    const work = await richRepository();
    const { sourcePath, mirrorPath, settings } = await sourceAndMirror(server, work);
    await mirrorRepository(input(settings), testDeps());
    await work.commit('one more');
    await work.pushMirror(sourcePath);

    const record = await mirrorRepository(input(settings), testDeps());
    expect(record.stats).toMatchObject({ created: 0, updated: 1, deleted: 0, packObjects: 3 });
    expect(await forEachRef(mirrorPath)).toEqual(await forEachRef(sourcePath));

    const again = await mirrorRepository(input(settings), testDeps());
    expect(again.stats).toMatchObject({ created: 0, updated: 0, deleted: 0, packBytes: 0 });
  });

  it('mirrors a force-pushed (rewritten) branch', async () => {
    const work = await richRepository();
    const { sourcePath, mirrorPath, settings } = await sourceAndMirror(server, work);
    await mirrorRepository(input(settings), testDeps());
    const before = await work.head();
    await work.git('reset', '--quiet', '--hard', 'HEAD~1');
    await work.commit('rewritten history');
    await work.pushMirror(sourcePath);
    const rewritten = await work.head();
    expect(rewritten).not.toBe(before);

    await mirrorRepository(input(settings), testDeps());
    expect((await forEachRef(mirrorPath))['refs/heads/main']).toBe(rewritten);
    expect(await forEachRef(mirrorPath)).toEqual(await forEachRef(sourcePath));
  });

  it('keeps a branch deleted at the source unless prune is set, then deletes it', async () => {
    const work = await richRepository();
    const { sourcePath, mirrorPath, settings } = await sourceAndMirror(server, work);
    await mirrorRepository(input(settings), testDeps());
    const feature = (await forEachRef(mirrorPath))['refs/heads/feature'];
    await work.git('branch', '--quiet', '-D', 'feature');
    await work.pushMirror(sourcePath);
    expect((await forEachRef(sourcePath))['refs/heads/feature']).toBeUndefined();

    const kept = await mirrorRepository(input(settings), testDeps());
    expect((await forEachRef(mirrorPath))['refs/heads/feature']).toBe(feature);
    expect(kept.keptOnMirror).toEqual(['refs/heads/feature']);
    expect(kept.refs['refs/heads/feature']).toBeUndefined();
    expect(kept.warnings.join(' ')).toMatch(/kept on the mirror.*refs\/heads\/feature/);

    const pruned = await mirrorRepository(input({ ...settings, prune: true }), testDeps());
    expect(pruned.deletedOnMirror).toEqual(['refs/heads/feature']);
    expect(await forEachRef(mirrorPath)).toEqual(await forEachRef(sourcePath));
  });

  it('never touches excluded refs on the mirror, even when pruning', async () => {
    const work = await richRepository();
    const { mirrorPath, settings } = await sourceAndMirror(server, work, {
      exclude: ['refs/pull/*'],
      prune: true,
    });
    const main = (await forEachRef(mirrorPath))['refs/heads/main'];
    await mirrorRepository(input(settings), testDeps());
    const mainOid = (await forEachRef(mirrorPath))['refs/heads/main'] ?? main ?? '';
    await git(['update-ref', 'refs/pull/99/head', mainOid], mirrorPath);
    await mirrorRepository(input(settings), testDeps());
    expect((await forEachRef(mirrorPath))['refs/pull/99/head']).toBe(mainOid);
  });

  it('says clearly when the credentials are refused, naming where they came from and never the secret', async () => {
    const work = await richRepository();
    const { settings } = await sourceAndMirror(server, work);
    const attempt = mirrorRepository(input(settings), testDeps({ [PASSWORD_ENV]: 'not-the-password' }));
    await expect(attempt).rejects.toThrow(GitAuthenticationError);
    const error = await attempt.then(
      () => new Error('no error'),
      (caught: Error) => caught,
    );
    expect(error.message).toMatch(/HTTP 401.*refused the password in environment variable TEST_GIT_PASSWORD/);
    expect(error.message).not.toContain('not-the-password');
    expect(error.message).toContain(settings.sourceUrl);
  });

  it('fails with a named error when the mirror cannot be reached', async () => {
    const work = await richRepository();
    const { settings } = await sourceAndMirror(server, work);
    const port = await closedPort();
    const unreachable = { ...settings, mirrorUrl: `http://127.0.0.1:${port}/nowhere.git` };
    await expect(mirrorRepository(input(unreachable), testDeps())).rejects.toThrow(
      `could not list the refs of http://127.0.0.1:${port}/nowhere.git: ECONNREFUSED`,
    );
    await expect(mirrorRepository(input(unreachable), testDeps())).rejects.toBeInstanceOf(GitRemoteError);
  });

  it('says there is no such repository (HTTP 404) when the mirror URL names none', async () => {
    const work = await richRepository();
    const { settings } = await sourceAndMirror(server, work);
    const missing = { ...settings, mirrorUrl: server.repoUrl('no-such-mirror.git') };
    const failure = await mirrorRepository(input(missing), testDeps()).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(GitRemoteError);
    expect((failure as Error).message).toBe(
      `could not list the refs of ${missing.mirrorUrl}: HTTP 404 (no such repository, or no access to it)`,
    );
  });

  it('fails naming the ref when the mirror rejects an update (here: a forced update it forbids)', async () => {
    const work = await richRepository();
    const { sourcePath, mirrorPath, settings } = await sourceAndMirror(server, work);
    await mirrorRepository(input(settings), testDeps());
    await git(['config', 'receive.denyNonFastForwards', 'true'], mirrorPath);
    await work.git('reset', '--quiet', '--hard', 'HEAD~1');
    await work.commit('rewritten');
    await work.pushMirror(sourcePath);
    await expect(mirrorRepository(input(settings), testDeps())).rejects.toThrow(
      /rejected 1 of 1 ref update\(s\): refs\/heads\/main/,
    );
  });

  it('fails naming the refs that differ when the mirror is not what was pushed', async () => {
    const work = await richRepository();
    const { mirrorPath, settings } = await sourceAndMirror(server, work);
    // A mirror that moves a ref right after accepting the push (as a concurrent writer would).
    const hook = path.join(mirrorPath, 'hooks', 'post-receive');
    writeFileSync(hook, '#!/bin/sh\ngit update-ref refs/heads/feature refs/heads/main~1\n', { mode: 0o755 });
    const attempt = mirrorRepository(input(settings), testDeps());
    await expect(attempt).rejects.toBeInstanceOf(MirrorVerificationError);
    await expect(attempt).rejects.toThrow(
      /differs from the source in 1 ref\(s\): refs\/heads\/feature: mirror [0-9a-f]{40}, source [0-9a-f]{40}/,
    );
  });

  it("records the source's HEAD and warns when the mirror's default branch is another", async () => {
    const work = await richRepository();
    const { sourcePath, settings } = await sourceAndMirror(server, work);
    await git(['symbolic-ref', 'HEAD', 'refs/heads/feature'], sourcePath);
    const record = await mirrorRepository(input(settings), testDeps());
    expect(record.head).toBe('refs/heads/feature');
    expect(record.warnings.join(' ')).toMatch(
      /the mirror's HEAD is refs\/heads\/main, the source's is refs\/heads\/feature; set the mirror's default branch/,
    );
  });

  it('mirrors an empty source as nothing at all (and stores nothing)', async () => {
    const { mirrorPath, settings } = await sourceAndMirror(server, undefined, { storeCopy: true });
    const record = await mirrorRepository(input(settings), testDeps());
    expect(repositoryRecordSchema.parse(record)).toMatchObject({ refs: {} });
    expect(record.storeCopy).toBeUndefined();
    expect(await forEachRef(mirrorPath)).toEqual({});
  });
});
