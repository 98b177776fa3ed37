import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRestoredWhere } from '#local/format.ts';
import { forEachRef, type GitHttpServer, git, startGitHttpServer } from '../support/git-http-server.ts';
import { SearchEngineStandIn } from '../support/search-engine-server.ts';

/**
 * The search and Git examples of README.md, docs/readme/search.md and docs/readme/source.md, run
 * as an SRE runs them: the CLI that `npm run build` makes (its own copy, dist/liferay-backup) as a
 * real process, against the search engine stand-in and git's own http-backend on loopback. Both
 * servers live in this process, so the CLI is run asynchronously (a spawnSync would stop them).
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const ES_PASSWORD = 'es-Pa55word-9';
const GIT_PASSWORD = 'git-Pa55word-7';
const INDEXES = {
  'liferay-0': { docs: 5 },
  'liferay-20101': { docs: 50 },
  'liferay-20101-search-tuning-synonyms': { docs: 2 },
  'liferay-20101-workflow-metrics-sla-task-results': { docs: 3 },
};
const PRIMARY = ['liferay-20101-search-tuning-synonyms', 'liferay-20101-workflow-metrics-sla-task-results'];

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

describe('the README search and Git examples, with the built CLI', () => {
  let dir: string;
  let cliPath: string;
  let search: SearchEngineStandIn;
  let gitServer: GitHttpServer;
  /** --search-url with the password in it, as search.md's example types it. */
  let searchUrl: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'review-search-git-'));
    const out = path.join(dir, 'dist');
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-cli.mjs'), '--outdir', out], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    cliPath = path.join(out, 'liferay-backup');
    search = await SearchEngineStandIn.start({
      flavour: 'elasticsearch',
      version: '8.15.0',
      auth: { type: 'basic', username: 'elastic', password: ES_PASSWORD },
      indices: INDEXES,
    });
    // "The repository must already be registered on the cluster" (search.md, Locally).
    search.repositories.set('liferay-backup', { type: 'fs', settings: { location: '/mnt/snapshots' } });
    search.snapshots.set('liferay-backup', new Map());
    searchUrl = search.url.replace('http://', `http://elastic:${ES_PASSWORD}@`);
    gitServer = await startGitHttpServer({ users: { git: GIT_PASSWORD } });
    const source = await gitServer.createBareRepo('ws.git');
    await gitServer.createBareRepo('ws-mirror.git');
    const work = path.join(dir, 'work');
    await git(['init', '--quiet', '--initial-branch=main', work], dir);
    writeFileSync(path.join(work, 'build.gradle'), 'apply plugin: "com.liferay.workspace"\n');
    await git(['add', '.'], work);
    await git(['commit', '--quiet', '-m', 'workspace'], work);
    await git(['tag', '-a', 'v1', '-m', 'release 1'], work);
    await git(['branch', 'develop'], work);
    await git(['push', '--quiet', '--mirror', source], work);
  }, 120_000);

  afterAll(async () => {
    await search?.stop();
    await gitServer?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function cli(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
    return new Promise((resolve, reject) => {
      // list and show print no progress, and take no --quiet.
      const quiet = args[0] === 'list' || args[0] === 'show' ? [] : ['--quiet'];
      const child = spawn(cliPath, [...args, ...quiet], {
        env: {
          PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
          HOME: dir,
          ...env,
        },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
    });
  }

  const openIndexes = () =>
    Object.fromEntries([...search.indices.values()].map((index) => [index.name, index.status]));
  const snapshotNames = (repository = 'liferay-backup') => [
    ...(search.snapshots.get(repository)?.keys() ?? []),
  ];
  const setsIn = (store: string) =>
    existsSync(path.join(store, 'backups')) ? readdirSync(path.join(store, 'backups')) : [];

  describe('search indexes', () => {
    let store: string;
    let backupId: string;

    it('backs up with --search-url (password in the URL) and shows the set', async () => {
      store = path.join(dir, 'search-store');
      const backup = await cli([
        'backup',
        '--store',
        store,
        '--search-url',
        searchUrl,
        '--search-repository',
        'liferay-backup',
        '--search-dxp-version',
        '7.3',
      ]);
      expect(backup.status, backup.stdout + backup.stderr).toBe(0);
      expect(backup.stdout).toMatch(/search: complete .*indexes=4 primaryStorageIndexes=2 documents=60/);
      expect(backup.stdout + backup.stderr).not.toContain(ES_PASSWORD);
      backupId = /backup set (b\S+): complete/.exec(backup.stdout)?.[1] ?? '';
      expect(snapshotNames()).toEqual([backupId]);

      const list = await cli(['list', '--store', store]);
      expect(list.stdout).toContain(`${backupId} (latest)  complete`);
      expect(list.stdout).toMatch(/ search$/m);
      const show = await cli(['show', 'latest', '--store', store, '--json']);
      const manifest = JSON.parse(show.stdout) as {
        results: { search: { details: { indexes: { name: string; primaryStorage: boolean }[] } } };
      };
      expect(
        manifest.results.search.details.indexes
          .filter((index) => index.primaryStorage)
          .map((index) => index.name),
      ).toEqual(PRIMARY);
    }, 60_000);

    it('refuses by default to restore over an index that exists, changing nothing', async () => {
      const before = openIndexes();
      const run = await cli(['restore', 'latest', '--store', store, '--search-url', searchUrl]);
      expect(run.status).toBe(1);
      expect(run.stdout).toContain('SearchRestoreConflictError');
      for (const name of PRIMARY) expect(run.stdout).toContain(`index ${name} exists (open)`);
      expect(run.stdout).toContain('nothing was changed');
      expect(openIndexes()).toEqual(before);
      expect(search.lastRestore).toBeUndefined();
    }, 60_000);

    it('restores beside the existing indexes with --search-on-conflict rename, and says where', async () => {
      const run = await cli([
        'restore',
        'latest',
        '--store',
        store,
        '--search-url',
        searchUrl,
        '--search-on-conflict',
        'rename',
      ]);
      expect(run.status, run.stdout).toBe(0);
      expect(run.stdout).toMatch(/search: complete .*indexes=2 renamed=2/);
      // Where they are now, by name, on which cluster: before, only counts and a prefix pattern.
      expect(run.stdout).toContain(`    into ${search.url}:`);
      for (const name of PRIMARY) expect(run.stdout).toContain(`      ${name} → restored-${name}`);
      expect(run.stdout + run.stderr).not.toContain(ES_PASSWORD);
      expect(openIndexes()).toMatchObject({
        'liferay-20101-search-tuning-synonyms': 'open',
        'restored-liferay-20101-search-tuning-synonyms': 'open',
        'restored-liferay-20101-workflow-metrics-sla-task-results': 'open',
      });

      // Once more: the renamed names exist too, and nothing is overwritten.
      const again = await cli([
        'restore',
        'latest',
        '--store',
        store,
        '--search-url',
        searchUrl,
        '--search-on-conflict',
        'rename',
      ]);
      expect(again.status).toBe(1);
      expect(again.stdout).toContain(
        'would be restored as restored-liferay-20101-search-tuning-synonyms, which exists too',
      );
    }, 60_000);

    it('restores chosen indexes with close, and all of them with replace (the only mode that deletes)', async () => {
      const close = await cli([
        'restore',
        'latest',
        '--store',
        store,
        '--search-url',
        searchUrl,
        '--search-indexes',
        'liferay-20101-search-tuning-synonyms',
        '--search-on-conflict',
        'close',
      ]);
      expect(close.status, close.stdout).toBe(0);
      expect(search.lastRestore?.body.indices).toEqual(['liferay-20101-search-tuning-synonyms']);
      expect(close.stdout).toContain(
        '      liferay-20101-search-tuning-synonyms (the existing index was closed and restored over)',
      );

      search.setDocs('liferay-20101', 51);
      const replace = await cli([
        'restore',
        'latest',
        '--store',
        store,
        '--search-url',
        searchUrl,
        '--search-indexes',
        'all',
        '--search-on-conflict',
        'replace',
      ]);
      expect(replace.status, replace.stdout).toBe(0);
      expect(replace.stdout).toMatch(/search: complete .*indexes=4 renamed=0 documents=60/);
      expect(replace.stdout).toContain('deleted before restoring them: liferay-0, liferay-20101,');
      expect(replace.stdout).toContain('      liferay-20101 (the existing index was deleted first)');
      expect(search.indices.get('liferay-20101')?.docs).toBe(50);
    }, 60_000);

    it('refuses bad restore flags with exit 2, before the cluster is touched', async () => {
      const restores = () => search.requestsTo('POST', '/_snapshot/liferay-backup/').length;
      const before = restores();
      const conflict = await cli([
        'restore',
        'latest',
        '--store',
        store,
        '--search-url',
        searchUrl,
        '--search-on-conflict',
        'overwrite',
      ]);
      expect(conflict.status).toBe(2);
      expect(conflict.stdout).toContain(
        'search.onConflict: Invalid option: expected one of "fail"|"rename"|"close"|"replace"',
      );
      const unknown = await cli([
        'restore',
        'latest',
        '--store',
        store,
        '--search-url',
        searchUrl,
        '--search-indexes',
        'liferay-99',
      ]);
      expect(unknown.status).toBe(2);
      expect(unknown.stdout).toContain("index liferay-99 is not in the set's snapshot");
      expect(restores()).toBe(before);
    }, 60_000);

    it('refuses a mistyped --search-engine with exit 2 and writes no set', async () => {
      const sets = setsIn(store);
      const run = await cli([
        'backup',
        '--store',
        store,
        '--search-url',
        searchUrl,
        '--search-engine',
        'elastic',
      ]);
      // Before: the run started, Begin wrote a set, the search task failed it (exit 1).
      expect(run.status, run.stdout).toBe(2);
      expect(run.stdout).toContain('--search-engine');
      expect(run.stdout).toContain('engine: Invalid option: expected one of "elasticsearch"|"opensearch"');
      expect(run.stdout).not.toContain(ES_PASSWORD);
      expect(setsIn(store)).toEqual(sets);
    }, 60_000);

    it('refuses a password with an unencoded "/" in --search-url without repeating it', async () => {
      const run = await cli([
        'backup',
        '--store',
        store,
        '--search-url',
        search.url.replace('http://', 'http://elastic:S3/cr3t-pw@'),
      ]);
      expect(run.status).toBe(2);
      expect(run.stdout).toContain('--search-url: an "@" outside the user info');
      expect(run.stdout + run.stderr).not.toContain('cr3t-pw');
    }, 60_000);

    it('stops a backup into a repository registered read-only, writing nothing into it', async () => {
      search.repositories.set('shared', {
        type: 'fs',
        settings: { location: '/mnt/shared', readonly: 'true' },
      });
      search.snapshots.set('shared', new Map());
      const run = await cli([
        'backup',
        '--store',
        store,
        '--search-url',
        searchUrl,
        '--search-repository',
        'shared',
      ]);
      expect(run.status).toBe(1);
      expect(run.stdout).toContain(
        'snapshot repository shared (fs:///mnt/shared) is read-only on this cluster',
      );
      expect(snapshotNames('shared')).toEqual([]);
    }, 60_000);

    it('verifies the set with --search-url', async () => {
      const run = await cli([
        'verify',
        backupId,
        '--store',
        store,
        '--search-url',
        searchUrl,
        '--scratch',
        'none',
      ]);
      expect(run.status, run.stdout).toBe(0);
      expect(run.stdout).toContain(
        `ok: search snapshot liferay-backup/${backupId} holds the 4 recorded indexes`,
      );
    }, 60_000);
  });

  describe('Git repositories', () => {
    let store: string;
    const creds = { LIFERAY_BACKUP_GIT_USERNAME: 'git', LIFERAY_BACKUP_GIT_PASSWORD: GIT_PASSWORD };
    const refsOf = (name: string) => forEachRef(gitServer.repoPath(name));

    it('mirrors with --git SOURCE=MIRROR --git-store-copy (credentials from the environment)', async () => {
      store = path.join(dir, 'git-store');
      const run = await cli(
        [
          'backup',
          '--store',
          store,
          '--git',
          `${gitServer.repoUrl('ws.git')}=${gitServer.repoUrl('ws-mirror.git')}`,
          '--git-store-copy',
        ],
        creds,
      );
      // Before the fix in functions/components/source (smart-http.ts, store-copy.ts): the bundle's
      // import('isomorphic-git') has only `default`, and every repository failed with
      // "TypeError: Cannot read properties of undefined (reading 'HttpError')".
      expect(run.status, run.stdout).toBe(0);
      expect(run.stdout).toMatch(/source: complete .*repositories=1 refs=3 created=3/);
      expect(await refsOf('ws-mirror.git')).toEqual(await refsOf('ws.git'));
    }, 60_000);

    it('restores to an empty --git-target, says where and from what, and refuses a target with other refs', async () => {
      await gitServer.createBareRepo('restored.git');
      const target = gitServer.repoUrl('restored.git');
      const run = await cli(['restore', 'latest', '--store', store, '--git-target', target], {
        LIFERAY_BACKUP_GIT_TARGET_USERNAME: 'git',
        LIFERAY_BACKUP_GIT_TARGET_PASSWORD: GIT_PASSWORD,
      });
      expect(run.status, run.stdout).toBe(0);
      expect(run.stdout).toContain(`    ws → ${target} (from store): 3 of 3 refs pushed`);
      expect(await refsOf('restored.git')).toEqual(await refsOf('ws.git'));

      await git(['update-ref', 'refs/heads/hotfix', 'refs/heads/main'], gitServer.repoPath('restored.git'));
      const refused = await cli(['restore', 'latest', '--store', store, '--git-target', target], creds);
      expect(refused.status).toBe(1);
      expect(refused.stdout).toContain('RestoreTargetNotEmptyError');
      // The flag to give on the command line, not only the request's key.
      expect(refused.stdout).toContain('(CLI --git-overwrite)');

      const overwrite = await cli(
        ['restore', 'latest', '--store', store, '--git-target', target, '--git-overwrite'],
        creds,
      );
      expect(overwrite.status, overwrite.stdout).toBe(0);
      expect(Object.keys(await refsOf('restored.git'))).toContain('refs/heads/hotfix');
    }, 60_000);

    it('restores some refs from the mirror into a named target given with user info', async () => {
      await gitServer.createBareRepo('tags.git');
      const run = await cli(
        [
          'restore',
          'latest',
          '--store',
          store,
          '--git-target',
          `ws=${gitServer.repoUrlWithAuth('tags.git', 'git', GIT_PASSWORD)}`,
          '--git-refs',
          'refs/tags/*',
          '--git-from',
          'mirror',
          // The mirror's credentials: its URL's user info was not kept by the backup.
        ],
        creds,
      );
      expect(run.status, run.stdout).toBe(0);
      expect(run.stdout).toContain(
        `    ws → ${gitServer.repoUrl('tags.git')} (from mirror): 1 of 1 refs pushed`,
      );
      expect(Object.keys(await refsOf('tags.git'))).toEqual(['refs/tags/v1']);
      expect(run.stdout + run.stderr).not.toContain(GIT_PASSWORD);
    }, 60_000);

    it('refuses bad Git flags with exit 2', async () => {
      const sets = setsIn(store);
      const ssh = await cli(
        [
          'backup',
          '--store',
          store,
          '--git',
          `git@example.com:acme/ws.git=${gitServer.repoUrl('ws-mirror.git')}`,
        ],
        creds,
      );
      // Before: a failed set, exit 1.
      expect(ssh.status, ssh.stdout).toBe(2);
      expect(ssh.stdout).toContain('invalid source flags (--git): repositories.0.sourceUrl: an http(s) URL');
      expect(setsIn(store)).toEqual(sets);

      const slash = await cli([
        'restore',
        'latest',
        '--store',
        store,
        '--git-target',
        `http://git:se/cr3t-pw@${gitServer.baseUrl.slice(7)}/x.git`,
      ]);
      expect(slash.status).toBe(2);
      expect(slash.stdout + slash.stderr).not.toContain('cr3t-pw');

      const nothing = await cli([
        'restore',
        'latest',
        '--store',
        store,
        '--git-target',
        gitServer.repoUrl('x.git'),
        '--git-refs',
        'refs/pull/*',
      ]);
      expect(nothing.status).toBe(2);
      expect(nothing.stdout).toContain('no recorded ref of ws matches refs/pull/*');
    }, 60_000);

    it('verifies a set without a store copy against the mirror, with the credentials of the environment', async () => {
      const mirrorOnly = path.join(dir, 'git-mirror-only');
      const backup = await cli(
        [
          'backup',
          '--store',
          mirrorOnly,
          '--git',
          `${gitServer.repoUrl('ws.git')}=${gitServer.repoUrl('ws-mirror.git')}`,
        ],
        creds,
      );
      expect(backup.status, backup.stdout).toBe(0);
      const run = await cli(['verify', 'latest', '--store', mirrorOnly, '--scratch', 'none'], creds);
      // Before: `verify` gave the source component no settings, the mirror was listed without
      // credentials (401) and every such drill failed.
      expect(run.stdout).not.toContain('HTTP 401');
      expect(run.status, run.stdout).toBe(0);
    }, 60_000);
  });
});

describe('describeRestoredWhere', () => {
  it('shows ten targets and counts the rest, which the report lists', () => {
    const targets = Array.from({ length: 12 }, (_, index) => ({
      repository: `repo-${index}`,
      url: `https://git.example.com/restore/repo-${index}.git`,
      from: 'store',
      refs: 2,
      pushed: 2,
    }));
    const lines = describeRestoredWhere('source', { targets });
    expect(lines).toHaveLength(11);
    expect(lines[9]).toBe(
      '    repo-9 → https://git.example.com/restore/repo-9.git (from store): 2 of 2 refs pushed',
    );
    expect(lines[10]).toBe("    and 2 more (the restore's report lists them)");
    expect(describeRestoredWhere('search', { indexes: [] })).toEqual([]);
  });
});
