/**
 * The source component's benchmark (issue 6, item 5): a repository of 5,000 commits and 300 refs,
 * built with `git fast-import`, mirrored from empty and then incrementally (one new commit) through
 * the real code (mirrorRepository: one upload-pack and one receive-pack request) against the git
 * CLI's smart-HTTP backend on loopback. Also with the store copy on, and, for comparison,
 * isomorphic-git's own `push` (one ref per call) over a sample of refs.
 *
 *   npx tsx bench/git-mirror.ts                  # defaults below
 *   COMMITS=5000 REFS=300 BASELINE_REFS=10 npx tsx bench/git-mirror.ts
 *   BASELINE_REFS=0 npx tsx bench/git-mirror.ts  # skip the isomorphic-git comparison
 *
 * Prints the numbers; needs only git (2.39 here) and the project's node_modules.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as isogit from 'isomorphic-git';
import isogitHttp from 'isomorphic-git/http/node';
import { fetchHttpClient } from '#components/source/http-client.ts';
import { type MirrorInput, mirrorRepository, type SourceDeps } from '#components/source/mirror.ts';
import { type RepositoryRecord, repositorySchema } from '#components/source/settings.ts';
import { GitTransport } from '#components/source/smart-http.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import {
  forEachRef,
  type GitHttpServer,
  gitEnv,
  startGitHttpServer,
} from '../test/support/git-http-server.ts';

const COMMITS = Number(process.env.COMMITS ?? 5000);
const REFS = Number(process.env.REFS ?? 300);
const FILES = Number(process.env.FILES ?? 500);
const BASELINE_REFS = Number(process.env.BASELINE_REFS ?? 10);
const EXCLUDED = 20;

function run(command: string, args: string[], cwd: string, input?: string): string {
  const result = spawnSync(command, args, {
    cwd,
    env: gitEnv(),
    input,
    maxBuffer: 1024 * 1024 * 1024,
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

function data(text: string): string {
  return `data ${Buffer.byteLength(text)}\n${text}`;
}

function fileContent(file: number, version: number): string {
  const lines = [`// file ${file}`, `package com.acme.liferay.module${file % 25};`, ''];
  for (let i = 0; i < 40; i++) lines.push(`public static final String KEY_${i} = "value ${file}-${i}";`);
  lines.push(`// revision ${version}`);
  return `${lines.join('\n')}\n`;
}

/**
 * A fast-import stream: one line of COMMITS commits (the first adds FILES files in 25 folders, each
 * next one changes one file), and REFS refs on it: branches, lightweight and annotated tags, the
 * notes ref and review refs; plus EXCLUDED pull-request refs that the mirror leaves out.
 */
function fastImportStream(): string {
  const out: string[] = [];
  const when = (n: number) => `${1_700_000_000 + n * 60} +0000`;
  for (let n = 1; n <= COMMITS; n++) {
    out.push(
      'commit refs/heads/main',
      `mark :${n}`,
      `committer Bench <bench@example.com> ${when(n)}`,
      data(`change ${n}`),
    );
    if (n > 1) out.push(`from :${n - 1}`);
    if (n === 1) {
      for (let f = 0; f < FILES; f++)
        out.push(`M 100644 inline modules/m${f % 25}/src/File${f}.java`, data(fileContent(f, 0)));
    } else {
      const f = (n * 7) % FILES;
      out.push(`M 100644 inline modules/m${f % 25}/src/File${f}.java`, data(fileContent(f, n)));
    }
    out.push('');
  }
  const at = (i: number, count: number) => Math.max(1, Math.floor(((i + 1) * COMMITS) / (count + 1)));
  const branches = Math.floor(REFS * 0.45);
  const light = Math.floor(REFS * 0.2);
  const annotated = Math.floor(REFS * 0.2);
  const changes = REFS - 1 /* main */ - 1 /* notes */ - branches - light - annotated;
  for (let i = 0; i < branches; i++)
    out.push(`reset refs/heads/release-${i}`, `from :${at(i, branches)}`, '');
  for (let i = 0; i < light; i++) out.push(`reset refs/tags/build-${i}`, `from :${at(i, light)}`, '');
  for (let i = 0; i < annotated; i++) {
    out.push(
      `tag v${i}.0`,
      `from :${at(i, annotated)}`,
      `tagger Bench <bench@example.com> ${when(COMMITS + i)}`,
      data(`release ${i}`),
    );
  }
  for (let i = 0; i < changes; i++)
    out.push(`reset refs/changes/${i % 100}/${i}/1`, `from :${at(i, changes)}`, '');
  for (let i = 0; i < EXCLUDED; i++) out.push(`reset refs/pull/${i}/head`, `from :${at(i, EXCLUDED)}`, '');
  out.push(
    'commit refs/notes/commits',
    `committer Bench <bench@example.com> ${when(COMMITS + 1000)}`,
    data('notes'),
  );
  for (let i = 0; i < 50; i++) out.push(`N inline :${at(i, 50)}`, data(`reviewed ${i}`));
  out.push('', 'done', '');
  return out.join('\n');
}

function deps(): SourceDeps {
  return {
    transport: new GitTransport({
      http: fetchHttpClient({ defaultTimeoutMs: 60_000, userAgent: 'liferay-backup-bench' }),
      transferTimeoutMs: 30 * 60_000,
      agent: 'liferay-backup-bench',
    }),
    secrets: { parameter: async () => '' },
    env: { BENCH_GIT_PASSWORD: 'secret' },
  };
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const start = process.hrtime.bigint();
  const value = await work();
  return { value, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

function addOneCommit(repoPath: string, n: number): void {
  const stream = [
    'commit refs/heads/main',
    'committer Bench <bench@example.com> 1800000000 +0000',
    data(`one more ${n}`),
    'from refs/heads/main^0',
    `M 100644 inline modules/m1/src/File1.java`,
    data(fileContent(1, 1_000_000 + n)),
    '',
    'done',
    '',
  ].join('\n');
  run('git', ['fast-import', '--quiet', '--done'], repoPath, stream);
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'git-mirror-bench-'));
  const server: GitHttpServer = await startGitHttpServer({ root: path.join(work, 'repos') });
  try {
    const setup = await timed(async () => {
      const sourcePath = await server.createBareRepo('source.git');
      run('git', ['fast-import', '--quiet', '--done'], sourcePath, fastImportStream());
      run('git', ['repack', '-a', '-d', '-q'], sourcePath);
      return sourcePath;
    });
    const sourcePath = setup.value;
    const objects = run('git', ['count-objects', '-v'], sourcePath);
    const inPack = /in-pack: (\d+)/.exec(objects)?.[1];
    const packKiB = /size-pack: (\d+)/.exec(objects)?.[1];
    const refCount = Object.keys(await forEachRef(sourcePath)).length;
    console.log(
      `repository: ${COMMITS} commits, ${refCount - EXCLUDED} refs mirrored (+${EXCLUDED} refs/pull/* excluded), ${inPack} objects, ${packKiB} KiB packed (built in ${setup.seconds.toFixed(1)} s)`,
    );

    const credentials = { passwordEnv: 'BENCH_GIT_PASSWORD', username: 'git' };
    const settings = (mirror: string, storeCopy: boolean) =>
      repositorySchema.parse({
        name: mirror.replace(/\.git$/, ''),
        sourceUrl: server.repoUrl('source.git'),
        mirrorUrl: server.repoUrl(mirror),
        sourceCredentials: credentials,
        mirrorCredentials: credentials,
        exclude: ['refs/pull/*'],
        storeCopy,
      });
    const store = new LocalFolderStore(path.join(work, 'store'));
    const input = (repository: ReturnType<typeof settings>, previous?: RepositoryRecord): MirrorInput => ({
      repository,
      defaultCredentials: undefined,
      previous,
      store,
      scratchDir: work,
      now: () => new Date(),
    });
    const check = async (mirrorPath: string) => {
      const expected = Object.fromEntries(
        Object.entries(await forEachRef(sourcePath)).filter(([ref]) => !ref.startsWith('refs/pull/')),
      );
      const actual = await forEachRef(mirrorPath);
      if (JSON.stringify(actual) !== JSON.stringify(expected))
        throw new Error(`${mirrorPath} differs from the source`);
    };
    const posts = (repo: string) =>
      server.requests.filter(
        (request) => request.method === 'POST' && request.path === `/${repo}/git-receive-pack`,
      ).length;

    const rows: string[] = [];
    for (const storeCopy of [false, true]) {
      const mirrorName = storeCopy ? 'mirror-with-store-copy.git' : 'mirror.git';
      const mirrorPath = await server.createBareRepo(mirrorName);
      const repository = settings(mirrorName, storeCopy);
      const empty = await timed(() => mirrorRepository(input(repository), deps()));
      await check(mirrorPath);
      addOneCommit(sourcePath, storeCopy ? 2 : 1);
      const incremental = await timed(() => mirrorRepository(input(repository, empty.value), deps()));
      await check(mirrorPath);
      const label = storeCopy ? 'with store copy' : 'mirror only';
      rows.push(
        `${label.padEnd(16)} from empty: ${empty.seconds.toFixed(2).padStart(7)} s  (${empty.value.stats.created} refs created, pack ${(empty.value.stats.packBytes / 1048576).toFixed(1)} MiB${storeCopy ? `, stored ${(empty.value.stats.storedBytes / 1048576).toFixed(1)} MiB` : ''})`,
        `${label.padEnd(16)} incremental: ${incremental.seconds.toFixed(2).padStart(6)} s  (${incremental.value.stats.updated} ref updated, ${incremental.value.stats.packObjects} objects sent${storeCopy ? `, chain of ${incremental.value.storeCopy?.packs.length} packs` : ''})`,
      );
      rows.push(`${label.padEnd(16)} receive-pack requests to the mirror: ${posts(mirrorName)} for two runs`);
    }
    for (const row of rows) console.log(row);

    if (BASELINE_REFS > 0) {
      // isomorphic-git's push: one ref per call, each with its own discovery and pack.
      const clone = path.join(work, 'isogit-clone');
      // Its own Node.js HTTP client, as an application using isomorphic-git would.
      const http = isogitHttp;
      const onAuth = () => ({ username: 'git', password: 'secret' });
      const cloned = await timed(() =>
        isogit.clone({ fs, http, dir: clone, url: server.repoUrl('source.git'), noCheckout: true, onAuth }),
      );
      const baselinePath = await server.createBareRepo('baseline.git');
      const branches = (await isogit.listBranches({ fs, dir: clone, remote: 'origin' }))
        .filter((branch) => branch.startsWith('release-'))
        .slice(0, BASELINE_REFS);
      const pushed = await timed(async () => {
        for (const branch of branches) {
          await isogit.push({
            fs,
            http,
            dir: clone,
            url: server.repoUrl('baseline.git'),
            ref: `refs/remotes/origin/${branch}`,
            remoteRef: `refs/heads/${branch}`,
            force: true,
            onAuth,
          });
        }
      });
      const perRef = pushed.seconds / branches.length;
      const pushedRefs = Object.keys(await forEachRef(baselinePath)).length;
      console.log(
        `isomorphic-git push, one ref per call: ${perRef.toFixed(2)} s per ref over ${branches.length} refs (${pushedRefs} on the target) → about ${Math.round(perRef * (refCount - EXCLUDED))} s for ${refCount - EXCLUDED} refs; its clone took ${cloned.seconds.toFixed(1)} s`,
      );
    }
    console.log(
      `peak RSS of this process: ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB (the git servers run in other processes)`,
    );
    console.log('limits (issue 6): incremental < 20 s, from empty < 300 s');
  } finally {
    await server.close();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
