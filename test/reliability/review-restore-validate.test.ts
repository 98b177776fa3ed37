import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '#runtime/runtime.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';
import {
  backup,
  backupIdOf,
  homeSettings,
  listTree,
  makeHome,
  restore,
  runtimeWith,
  storeSnapshot,
  writeTree,
} from './support.ts';

/**
 * Validate, as the console user meets it (found in review): a request with several mistakes is
 * refused naming every one of them, and the runbook's `latest` in a deployment whose hourly sets
 * hold fewer components than the nightly one says which set to ask for.
 */

const work = tempDir('review-restore-validate');
const home = path.join(work.dir, 'liferay');
const tomcat = path.join(work.dir, 'tomcat');
const store = new LocalFolderStore(path.join(work.dir, 'store'));
const settings = () => ({ liferayHome: homeSettings(home), appServer: homeSettings(tomcat) });
let rt: Runtime;
let nightly = '';
let hourly = '';

beforeAll(async () => {
  makeHome(home, 6);
  writeTree(tomcat, { 'conf/server.xml': '<Server port="8005"/>\n' });
  // A nightly set of both trees, then an hourly set of one of them (as the cdk.json example's
  // nightly-full and hourly-database schedules make: the hourly set becomes `latest`).
  nightly = backupIdOf(
    await backup(runtimeWith(store, settings(), { now: () => new Date('2026-11-27T02:00:00Z') })),
  );
  hourly = backupIdOf(
    await backup(
      runtimeWith(store, settings(), { now: () => new Date('2026-11-27T02:30:00Z') }),
      {},
      { requestedBy: 'cli', components: ['appServer'] },
    ),
  );
  rt = runtimeWith(store, settings(), { now: () => new Date('2026-11-27T03:00:00Z') });
}, 60_000);
afterAll(() => work.cleanup());

/** The cause of a refused request; the store and the trees are as they were. */
async function refused(request: Record<string, unknown>): Promise<string> {
  const before = await storeSnapshot(store);
  const trees = [listTree(home), listTree(tomcat)];
  const outcome = await restore(rt, request);
  expect(outcome.status === 'FAILED' ? outcome.error : outcome.status).toBe('InvalidInputError');
  expect(outcome.statesEntered).not.toContain('Restore');
  expect(await storeSnapshot(store)).toEqual(before);
  expect([listTree(home), listTree(tomcat)]).toEqual(trees);
  return outcome.status === 'FAILED' ? outcome.cause : '';
}

describe('a restore request with several mistakes', () => {
  it('names a misspelt key and a bad value together', async () => {
    const cause = await refused({ backupId: nightly, allowPartial: 'yes', liferayhome: { swap: true } });
    expect(cause).toMatch(/allowPartial: /);
    expect(cause).toMatch(/unknown key\(s\) liferayhome/);
  });

  it('names a misspelt key and a bad option of another component together', async () => {
    const cause = await refused({
      backupId: nightly,
      components: ['liferayHome', 'appServer'],
      liferayhome: { swap: true },
      appServer: { target: 'relative/tomcat' },
    });
    expect(cause).toMatch(/unknown key\(s\) liferayhome/);
    expect(cause).toMatch(/appServer\.target: /);
  });
});

describe('"latest" when the newest set holds fewer components than the request', () => {
  it('the runbook request is refused, naming the newest complete set that holds every component asked for', async () => {
    expect(fs.existsSync(home)).toBe(true);
    const cause = await refused({
      backupId: 'latest',
      components: ['liferayHome', 'appServer'],
      liferayHome: { swap: true },
      appServer: { swap: true },
    });
    expect(cause).toContain(`liferayHome: backup set ${hourly} holds no complete copy of it (skipped)`);
    expect(cause).toContain(
      `the newest complete set holding liferayHome, appServer is ${nightly}: give "backupId": "${nightly}"`,
    );
  });
});

describe('a misspelt key beside an id of no set', () => {
  it('names both', async () => {
    const cause = await refused({ backupId: 'b20200101t000000z-dead', liferayhome: { swap: true } });
    expect(cause).toMatch(
      /^invalid restore request: unknown key\(s\) liferayhome; allowed: .*; backupId b20200101t000000z-dead: no such backup set in /,
    );
  });
});
