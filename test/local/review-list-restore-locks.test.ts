import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { acquireRestoreLocks, assertRestoreLocksHeld, restoreLockKey } from '#backup-set/restore-lock.ts';
import { main } from '#local/cli.ts';
import { thisProcess } from '#runtime/host-process.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir, testRuntime } from '../support/local-runtime.ts';
import { killedProcess, processElsewhere } from '../support/processes.ts';
import { type LocalS3Server, startS3Server } from '../support/s3-server.ts';

/**
 * `list` after "another restore is writing folder ...": besides the backup and retention locks,
 * each restore's lock (locks/restores/<hash>.json) with the target, the restore, its set, who asked
 * for it, since when and what this machine can tell of its run; bounded, and never crashed by a
 * lock it cannot read.
 */

async function list(storeFlags: string[], ...flags: string[]): Promise<string[]> {
  const lines: string[] = [];
  const code = await main(['list', ...storeFlags, ...flags], {
    out: (line) => lines.push(line),
    err: process.stderr,
  });
  expect(code, lines.join('\n')).toBe(0);
  return lines;
}

const SET = 'b20261127t020000z-aaaa';
const STARTED = new Date('2026-11-28T03:00:00.000Z');

/** Takes a restore's locks as Validate does, recording `process` as the CLI run that holds them. */
async function restoreHolds(
  store: ContentStore,
  restoreId: string,
  target: string,
  process: ReturnType<typeof thisProcess>,
) {
  const rt = testRuntime({ store, ...(process ? { process } : {}) });
  await acquireRestoreLocks(rt, { restoreId, backupId: SET, startedAt: STARTED, requestedBy: 'alice' }, [
    target,
  ]);
}

interface RestoreLockJson {
  key: string;
  target: string;
  restoreId: string;
  backupId: string;
  requestedBy?: string;
  since: string;
  state: string;
}
interface ListJson {
  locks: { restores: RestoreLockJson[]; restoresNotListed: number };
}

describe('list: restore locks', () => {
  it('shows each restore lock: target, restore, set, who asked, since when, its run; an unreadable one as such', async () => {
    const { dir, cleanup } = tempDir('list-restore-locks');
    try {
      const store = new LocalFolderStore(dir);
      const flags = ['--store', dir];
      const dead = await killedProcess();
      await restoreHolds(store, 'r20261128t030000z-1111', 'folder /srv/liferay', thisProcess());
      await restoreHolds(store, 'r20261128t030000z-2222', 'search cluster https://search:9200', dead);
      await restoreHolds(store, 'r20261128t030000z-3333', 'Git repository https://git/x', processElsewhere());
      const unreadable = 'locks/restores/0000000000000000000000000000000000000000.json';
      await store.put(unreadable, '{"backupId": ');

      const lines = await list(flags);
      const since = STARTED.toISOString();
      const folder = restoreLockKey('folder /srv/liferay');
      const search = restoreLockKey('search cluster https://search:9200');
      const git = restoreLockKey('Git repository https://git/x');
      expect(lines[0]).toBe(`no backup sets in ${dir}`);
      expect(lines).toHaveLength(5);
      expect(lines.slice(1)).toEqual(
        expect.arrayContaining([
          `${folder} (folder /srv/liferay): held by restore r20261128t030000z-1111 of ${SET}, requested by alice, since ${since}; its process (pid ${process.pid} on ${dead.host}) is running`,
          `${search} (search cluster https://search:9200): held by restore r20261128t030000z-2222 of ${SET}, requested by alice, since ${since}; its process (pid ${dead.pid} on ${dead.host}) had ended: the next restore into that target takes the lock over`,
          `${git} (Git repository https://git/x): held by restore r20261128t030000z-3333 of ${SET}, requested by alice, since ${since}; its process (pid ${process.pid} on another-host) cannot be checked from here`,
          expect.stringMatching(
            new RegExp(
              `^${unreadable}: held by \\? since \\?; unreadable \\(the lock ${unreadable} is not JSON`,
            ),
          ),
        ]),
      );

      const json = JSON.parse((await list(flags, '--json')).join('\n')) as ListJson;
      expect(json.locks.restoresNotListed).toBe(0);
      expect(json.locks.restores).toHaveLength(4);
      expect(json.locks.restores.find((lock) => lock.key === folder)).toEqual({
        key: folder,
        target: 'folder /srv/liferay',
        restoreId: 'r20261128t030000z-1111',
        backupId: SET,
        requestedBy: 'alice',
        since,
        state: `its process (pid ${process.pid} on ${dead.host}) is running`,
      });
      expect(json.locks.restores.find((lock) => lock.key === unreadable)).toMatchObject({
        key: unreadable,
        state: expect.stringMatching(/^unreadable \(/),
      });
    } finally {
      cleanup();
    }
  });

  it("shows since when the restore runs, not the lease's last renewal", async () => {
    const { dir, cleanup } = tempDir('list-restore-locks-renewed');
    try {
      const store = new LocalFolderStore(dir);
      await restoreHolds(store, 'r20261128t030000z-1111', 'folder /srv/liferay', thisProcess());
      const key = restoreLockKey('folder /srv/liferay');
      // A step of the restore two hours on renews the lease (restore-lock.ts).
      const later = new Date(STARTED.getTime() + 2 * 3_600_000);
      await assertRestoreLocksHeld(testRuntime({ store, now: () => later }), {
        restoreId: 'r20261128t030000z-1111',
        locks: [key],
      });
      expect(JSON.parse((await store.read(key, 64 * 1024)).toString('utf8'))).toMatchObject({
        acquiredAt: later.toISOString(),
      });
      const json = JSON.parse((await list(['--store', dir], '--json')).join('\n')) as ListJson;
      expect(json.locks.restores.find((lock) => lock.key === key)?.since).toBe(STARTED.toISOString());
    } finally {
      cleanup();
    }
  });

  it('lists at most 20 restore locks, the newest, and says how many more there are', async () => {
    const { dir, cleanup } = tempDir('list-restore-locks-many');
    try {
      const store = new LocalFolderStore(dir);
      for (let n = 0; n < 23; n++)
        await restoreHolds(
          store,
          `r20261128t030000z-${String(n).padStart(4, '0')}`,
          `folder /srv/${n}`,
          thisProcess(),
        );
      // Three locks written an hour earlier (left by restores that died): the ones not listed.
      const older = [0, 1, 2].map((n) => restoreLockKey(`folder /srv/${n}`));
      const anHourAgo = new Date(Date.now() - 3_600_000);
      for (const key of older) fs.utimesSync(path.join(dir, key), anHourAgo, anHourAgo);
      const lines = await list(['--store', dir]);
      const listed = lines.filter((line) => line.startsWith('locks/restores/'));
      expect(listed).toHaveLength(20);
      for (const key of older) expect(listed.some((line) => line.startsWith(key))).toBe(false);
      expect(lines.at(-1)).toBe(
        '3 more restore locks under locks/restores/ are not listed (the 20 newest are)',
      );
      const json = JSON.parse((await list(['--store', dir], '--json')).join('\n')) as ListJson;
      expect(json.locks.restores).toHaveLength(20);
      expect(json.locks.restoresNotListed).toBe(3);
    } finally {
      cleanup();
    }
  });

  describe('on an S3 store (s3rver)', () => {
    let s3: LocalS3Server;
    beforeAll(async () => {
      s3 = await startS3Server();
    });
    afterAll(async () => {
      await s3?.stop();
    });

    it('shows the restore locks of a bucket', async () => {
      vi.stubEnv('AWS_ACCESS_KEY_ID', 'S3RVER');
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'S3RVER');
      try {
        await restoreHolds(s3.store(), 'r20261128t030000z-4444', 'folder /srv/liferay', thisProcess());
        await s3.store().put('locks/restores/ffff.json', 'not a lock');
        const flags = ['--bucket', s3.bucket, '--endpoint', s3.endpoint];
        const lines = await list(flags);
        const since = STARTED.toISOString();
        expect(lines).toHaveLength(3);
        expect(lines.slice(1)).toEqual(
          expect.arrayContaining([
            `${restoreLockKey('folder /srv/liferay')} (folder /srv/liferay): held by restore r20261128t030000z-4444 of ${SET}, requested by alice, since ${since}; its process (pid ${process.pid} on ${thisProcess()?.host}) is running`,
            expect.stringMatching(/^locks\/restores\/ffff\.json: held by \? since \?; unreadable \(/),
          ]),
        );
      } finally {
        vi.unstubAllEnvs();
      }
    });
  });
});
