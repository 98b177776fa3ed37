import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '#local/cli.ts';
import { richRepository } from '../components/source/git-fixtures.ts';
import { type GitHttpServer, startGitHttpServer } from '../support/git-http-server.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * A Git password with an unencoded `/` after digits (`https://bot:2024/S3cret@host/repo.git`):
 * the URL parser reads `bot:2024` as host and port and the rest as the path, so the URL has no
 * user info to strip, and the Remote's "safe to log and record" URL kept the password. The
 * project's own redaction (runtime/redact.ts) names exactly this case; the Git side missed it.
 * The error ("could not list the refs of https://bot:2024/S3cret@...: ENOTFOUND") went to the
 * CLI's output and into the manifest. The password must not appear there; the run must refuse the
 * URL and say how to write it (percent-encode the password).
 */

const SECRET = 'gitSlash~Pw^5512';

let server: GitHttpServer;
const work = tempDir('review-git-url');
beforeAll(async () => {
  server = await startGitHttpServer({ users: { bot: `2024/${SECRET}` } });
});
afterAll(async () => {
  await server?.close();
  work.cleanup();
});

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(full) : [full];
  });
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    out: (line) => out.push(line),
    err: {
      isTTY: false,
      write: (chunk: unknown) => {
        err.push(String(chunk));
        return true;
      },
    } as unknown as NodeJS.WriteStream,
  });
  return { code, out: out.join('\n'), err: err.join('') };
}

/** The URL as a person types it: the password's `/` not encoded. */
function unencoded(name: string): string {
  return server.repoUrl(name).replace('http://', `http://bot:2024/${SECRET}@`);
}

describe('a Git URL whose password holds an unencoded "/"', () => {
  it('the CLI backup refuses it and quotes the password nowhere', async () => {
    const source = await server.createBareRepo('slash-source.git');
    await server.createBareRepo('slash-mirror.git');
    await (await richRepository()).pushMirror(source);
    const store = path.join(work.dir, 'store');
    const run = await cli([
      'backup',
      '--git',
      `${unencoded('slash-source.git')}=${unencoded('slash-mirror.git')}`,
      '--store',
      store,
    ]);
    expect(run.code).toBe(1);
    expect(run.out).toMatch(/percent-encode/);
    expect(run.out).not.toContain(SECRET);
    expect(run.err).not.toContain(SECRET);
    for (const file of filesUnder(store)) expect(fs.readFileSync(file, 'utf8'), file).not.toContain(SECRET);
    // Nothing went to a host named "bot" either: no request carried the password in its path.
    expect(server.requests.map((request) => JSON.stringify(request)).join('\n')).not.toContain(SECRET);
  });

  // Found in review: the CLI put the URL as typed into the restore request, which the restore
  // report and the failure message echo; all before its last "@" is now masked (local-options.ts).
  it('the CLI restore refuses it as --git-target and quotes the password nowhere (the restore report included)', async () => {
    const source = await server.createBareRepo('slash-source-2.git');
    await server.createBareRepo('slash-mirror-2.git');
    await server.createBareRepo('slash-target-2.git');
    await (await richRepository()).pushMirror(source);
    const store = path.join(work.dir, 'store-2');
    const encoded = (name: string) => server.repoUrlWithAuth(name, 'bot', `2024/${SECRET}`);
    const backup = await cli([
      'backup',
      '--git',
      `${encoded('slash-source-2.git')}=${encoded('slash-mirror-2.git')}`,
      '--store',
      store,
    ]);
    expect(backup.code, backup.out).toBe(0);
    const restore = await cli([
      'restore',
      'latest',
      '--git-target',
      unencoded('slash-target-2.git'),
      '--store',
      store,
    ]);
    expect(restore.code).not.toBe(0);
    expect(restore.out).not.toContain(SECRET);
    expect(restore.err).not.toContain(SECRET);
    for (const file of filesUnder(store)) expect(fs.readFileSync(file, 'utf8'), file).not.toContain(SECRET);
  });
});
