import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { git } from '../../support/git-http-server.ts';

/**
 * A working repository built with the git CLI, pushed into a served bare repository with
 * `git push --mirror` over the filesystem (the HTTP side is what the code under test uses).
 */
export class WorkRepo {
  private counter = 0;

  private constructor(readonly dir: string) {}

  static async create(): Promise<WorkRepo> {
    const dir = mkdtempSync(path.join(tmpdir(), 'git-work-'));
    await git(['init', '--quiet', '--initial-branch=main', dir], dir);
    return new WorkRepo(dir);
  }

  git(...args: string[]): Promise<string> {
    return git(args, this.dir);
  }

  /** A commit on the current branch changing one file; returns its id. */
  async commit(message?: string): Promise<string> {
    this.counter += 1;
    writeFileSync(
      path.join(this.dir, `file-${this.counter % 5}.txt`),
      `change ${this.counter} ${message ?? ''}\n`,
    );
    await this.git('add', '-A');
    await this.git('commit', '--quiet', '-m', message ?? `commit ${this.counter}`);
    return (await this.git('rev-parse', 'HEAD')).trim();
  }

  async head(): Promise<string> {
    return (await this.git('rev-parse', 'HEAD')).trim();
  }

  /** Mirrors every ref of this repository into a bare repository on disk (force, prune). */
  async pushMirror(bareRepoPath: string): Promise<void> {
    await this.git('push', '--quiet', '--mirror', bareRepoPath);
  }
}

/**
 * A repository with what a real workspace has: two branches, a lightweight and an annotated
 * tag, a note, and pull-request refs (what hosts put under refs/pull/).
 */
export async function richRepository(): Promise<WorkRepo> {
  const repo = await WorkRepo.create();
  await repo.commit('initial');
  await repo.commit('second');
  await repo.git('tag', 'v1.0');
  await repo.git('tag', '-a', 'v1.1', '-m', 'release 1.1');
  await repo.git('notes', 'add', '-m', 'reviewed', 'HEAD');
  await repo.git('checkout', '--quiet', '-b', 'feature');
  await repo.commit('feature work');
  await repo.git('update-ref', 'refs/pull/1/head', 'HEAD');
  await repo.git('checkout', '--quiet', 'main');
  await repo.commit('third');
  return repo;
}
