import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../support/local-runtime.ts';

const UNPRIVILEGED = 65_534;
const isRoot = process.getuid?.() === 0;
const work = tempDir('swap-non-root');
afterAll(() => {
  spawnSync('chmod', ['-R', 'u+rwX', work.dir]);
  work.cleanup();
});

function write(root: string, rel: string, content: string) {
  const abs = path.join(root, ...rel.split('/'));
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, content);
}

/** Runs putInPlace as uid 65534; `prepare` runs after the tree was given to that user. */
function runAsUnprivileged(
  args: string[],
  prepare: () => void = () => undefined,
): { ok: boolean; error?: string } {
  const script = path.join(import.meta.dirname, 'support', 'put-in-place-child.ts');
  const command = [process.execPath, '--import', 'tsx', script, ...args];
  if (isRoot) {
    spawnSync('chown', ['-R', `${UNPRIVILEGED}:${UNPRIVILEGED}`, work.dir]);
    prepare();
    command.unshift('setpriv', `--reuid=${UNPRIVILEGED}`, `--regid=${UNPRIVILEGED}`, '--clear-groups');
  }
  const [file, ...rest] = command as [string, ...string[]];
  const child = spawnSync(file, rest, {
    encoding: 'utf8',
    cwd: path.join(import.meta.dirname, '..', '..', '..'),
    env: { ...process.env, HOME: work.dir, TMPDIR: work.dir },
  });
  const line = child.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line);
  } catch {
    return { ok: false, error: `no result: ${child.stdout} ${child.stderr}` };
  }
}

describe('a swap run by a user that is not root (found in review)', () => {
  it('carries over a read-only folder of the bundle (tomcat 0555, owned by the restoring user)', () => {
    fs.chmodSync(work.dir, 0o755);
    const parent = path.join(work.dir, 'opt');
    const target = path.join(parent, 'liferay');
    const restoreId = 'r20261127t030000z-ab12';
    const staging = `${target}.restore-${restoreId}`;
    write(target, 'portal-ext.properties', 'damaged\n');
    write(target, 'tomcat-9.0.83/conf/server.xml', '<Server/>\n');
    write(target, 'tomcat-9.0.83/bin/catalina.sh', '#!/bin/sh\n');
    write(staging, 'portal-ext.properties', 'restored\n');
    fs.mkdirSync(path.join(work.dir, 'store'));
    // Hardened bundle: the app server folder is not writable (the user owns it, as on EFS).
    fs.chmodSync(path.join(target, 'tomcat-9.0.83'), 0o555);

    const outcome = runAsUnprivileged([path.join(work.dir, 'store'), target, staging, restoreId]);

    expect(outcome).toEqual(expect.objectContaining({ ok: true }));
    expect(fs.existsSync(path.join(target, 'tomcat-9.0.83/conf/server.xml'))).toBe(true);
    // Made writable for the move only.
    expect((fs.statSync(path.join(target, 'tomcat-9.0.83')).mode & 0o777).toString(8)).toBe('555');
  });

  it('refuses, before renaming anything, to swap when it could not carry a folder it neither owns nor may write', () => {
    // Run as root, with the app server folder root's and read-only (as root, a test cannot make it so).
    expect(isRoot, 'this test runs as root (as CI does) to give the folder another owner').toBe(true);
    const parent = path.join(work.dir, 'srv');
    const target = path.join(parent, 'liferay');
    const restoreId = 'r20261127t030000z-cd34';
    const staging = `${target}.restore-${restoreId}`;
    write(target, 'portal-ext.properties', 'damaged\n');
    write(target, 'tomcat-9.0.83/conf/server.xml', '<Server/>\n');
    write(staging, 'portal-ext.properties', 'restored\n');
    fs.mkdirSync(path.join(work.dir, 'store-2'));
    const rootsReadOnly = () => {
      fs.chownSync(path.join(target, 'tomcat-9.0.83'), 0, 0);
      fs.chmodSync(path.join(target, 'tomcat-9.0.83'), 0o555);
    };

    const outcome = runAsUnprivileged(
      [path.join(work.dir, 'store-2'), target, staging, restoreId],
      rootsReadOnly,
    );

    expect(outcome.ok).toBe(false);
    expect(outcome.error).toMatch(
      /RestoreTargetError: the swap must carry tomcat-9\.0\.83 from .* and this process \(uid 65534\) may not move them.*Nothing was changed; the restored tree is in/,
    );
    expect(fs.readFileSync(path.join(target, 'portal-ext.properties'), 'utf8')).toBe('damaged\n');
    expect(fs.readFileSync(path.join(staging, 'portal-ext.properties'), 'utf8')).toBe('restored\n');
    expect(fs.existsSync(`${target}.before-${restoreId}`)).toBe(false);
  });
});
