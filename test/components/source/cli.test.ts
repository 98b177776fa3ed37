import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '#local/cli.ts';
import { forEachRef, type GitHttpServer, startGitHttpServer } from '../../support/git-http-server.ts';
import { tempDir } from '../../support/local-runtime.ts';
import { richRepository } from './git-fixtures.ts';

let server: GitHttpServer;
beforeAll(async () => {
  server = await startGitHttpServer({ users: { git: 'cli-s3cret' } });
});
afterAll(async () => {
  await server.close();
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

describe('liferay-backup backup --git, restore --git-target', () => {
  it('backs up and restores (from the store copy, from the mirror) through the CLI; the password appears in no output and no stored object', async () => {
    const sourcePath = await server.createBareRepo('cli-source.git');
    const mirrorPath = await server.createBareRepo('cli-mirror.git');
    await (await richRepository()).pushMirror(sourcePath);
    const store = tempDir('cli-store');
    const lines: string[] = [];
    const code = await main(
      [
        'backup',
        '--git',
        `${server.repoUrlWithAuth('cli-source.git', 'git', 'cli-s3cret')}=${server.repoUrlWithAuth('cli-mirror.git', 'git', 'cli-s3cret')}`,
        '--git-exclude',
        'refs/pull/*',
        '--git-store-copy',
        '--store',
        store.dir,
        '--quiet',
      ],
      { out: (line) => lines.push(line), err: process.stderr },
    );
    expect(lines.join('\n')).not.toContain('cli-s3cret');
    expect(code).toBe(0);
    const mirrored = await forEachRef(mirrorPath);
    expect(Object.keys(mirrored)).toHaveLength(5);
    expect(mirrored).toEqual(
      Object.fromEntries(
        Object.entries(await forEachRef(sourcePath)).filter(([ref]) => !ref.startsWith('refs/pull/')),
      ),
    );
    for (const file of filesUnder(store.dir)) {
      expect(readFileSync(file).includes('cli-s3cret'), file).toBe(false);
    }
    const manifest = filesUnder(store.dir).find((file) => file.endsWith('manifest.json'));
    expect(readFileSync(manifest ?? '', 'utf8')).toContain(
      `"mirrorUrl": "${server.repoUrl('cli-mirror.git')}"`,
    );

    // Restore: from the store copy (auto) with the target's credentials in its URL, then from the
    // mirror with the credentials in the environment.
    const fromStore = await server.createBareRepo('cli-target-store.git');
    const restored = await main(
      [
        'restore',
        'latest',
        '--git-target',
        server.repoUrlWithAuth('cli-target-store.git', 'git', 'cli-s3cret'),
        '--store',
        store.dir,
        '--quiet',
      ],
      { out: (line) => lines.push(line), err: process.stderr },
    );
    expect(restored, lines.join('\n')).toBe(0);
    expect(await forEachRef(fromStore)).toEqual(mirrored);

    const fromMirror = await server.createBareRepo('cli-target-mirror.git');
    process.env.LIFERAY_BACKUP_GIT_USERNAME = 'git';
    process.env.LIFERAY_BACKUP_GIT_PASSWORD = 'cli-s3cret';
    const viaMirror = await main(
      [
        'restore',
        'latest',
        '--git-target',
        `cli-source=${server.repoUrl('cli-target-mirror.git')}`,
        '--git-from',
        'mirror',
        '--git-refs',
        'refs/heads/*',
        '--store',
        store.dir,
        '--quiet',
      ],
      { out: (line) => lines.push(line), err: process.stderr },
    );
    expect(viaMirror, lines.join('\n')).toBe(0);
    expect(Object.keys(await forEachRef(fromMirror))).toEqual(['refs/heads/feature', 'refs/heads/main']);

    expect(lines.join('\n')).not.toContain('cli-s3cret');
    for (const file of filesUnder(store.dir)) {
      expect(readFileSync(file).includes('cli-s3cret'), file).toBe(false);
    }
    store.cleanup();
  });
});
