import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackupIds, readLatest, readManifest } from '#backup-set/manifest.ts';
import { main } from '#local/cli.ts';
import { generateSampleHome } from '#local/sample-home.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { forEachRef, type GitHttpServer, startGitHttpServer } from '../../support/git-http-server.ts';
import { tempDir } from '../../support/local-runtime.ts';
import { richRepository } from './git-fixtures.ts';
import { closedPort } from './source-test-kit.ts';

/**
 * The issue's failure path end to end, through the CLI and the committed local definitions
 * (functions/local/workflows/*.asl.json): one repository's mirror cannot be reached, so the source
 * component fails while the Liferay Home and the other repository are backed up; the set is
 * committed `partial`, not lost.
 */
let server: GitHttpServer;
beforeAll(async () => {
  server = await startGitHttpServer();
});
afterAll(async () => {
  await server.close();
});

describe('an unreachable mirror beside a Liferay Home that is copied', () => {
  it('commits the set partial: liferayHome complete, source failed naming the repository', async () => {
    // Prepare
    const work = tempDir('partial-set');
    const home = path.join(work.dir, 'liferay-home');
    await generateSampleHome(home);
    const sourcePath = await server.createBareRepo('partial-source.git');
    const mirrorPath = await server.createBareRepo('partial-mirror.git');
    await (await richRepository()).pushMirror(sourcePath);
    const auth = (name: string) => server.repoUrlWithAuth(name, 'git', 'secret');
    const gone = `http://127.0.0.1:${await closedPort()}/gone.git`;
    const store = path.join(work.dir, 'store');
    const lines: string[] = [];

    // Act
    const code = await main(
      [
        'backup',
        '--home',
        home,
        '--git',
        `${auth('partial-source.git')}=${auth('partial-mirror.git')}`,
        '--git',
        `${auth('partial-source.git')}=${gone}`,
        '--store',
        store,
        '--quiet',
      ],
      { out: (line) => lines.push(line), err: process.stderr },
    );

    // Assess
    expect(code).toBe(1);
    const local = new LocalFolderStore(store);
    const [backupId] = await listBackupIds(local);
    const manifest = await readManifest(local, backupId ?? '');
    expect(manifest.status).toBe('partial');
    expect(manifest.results.liferayHome?.status).toBe('complete');
    expect(manifest.results.source?.status).toBe('failed');
    expect(manifest.results.source?.error?.message).toMatch(
      /1 of 2 repositories failed: partial-source-2: GitRemoteError: could not list the refs of http:\/\/127\.0\.0\.1:\d+\/gone\.git: ECONNREFUSED.*\(mirrored: partial-source\)/,
    );
    expect(await readLatest(local)).toBeUndefined();
    expect(Object.keys(await forEachRef(mirrorPath))).toContain('refs/heads/main');
    expect(lines.join('\n')).toMatch(/partial/);
    expect(lines.join('\n')).not.toContain('secret');
    work.cleanup();
  });
});
