import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../../support/local-runtime.ts';
import { CountingStore } from './support/counting-store.ts';
import {
  backupContext,
  commitSet,
  driveBackup,
  driveRestore,
  homeRuntime,
  restoreContext,
} from './support/drive.ts';

/**
 * Owner and group are recorded but not restored: the restored files belong to whoever runs the
 * restore. A set-user-ID or set-group-ID bit means "run as the file's owner (group)", so kept on a
 * file whose owner changed, it changes meaning: a tool that ran as `nobody` (or `liferay`), restored
 * by the CLI as root, becomes a set-user-ID-root program. cp -p and tar (without --same-owner)
 * clear those bits when they cannot keep the owner; the restore must too.
 */
const work = tempDir('review-restore-setuid');
afterAll(() => work.cleanup());
const isRoot = process.getuid?.() === 0;
const NOBODY = 65_534;
const settings = (root: string) => ({
  root,
  shard: { maxFiles: 100, maxBytes: 1e9, timeBudgetSeconds: 600 },
});

describe('review: set-user-ID and set-group-ID files restored by another owner', () => {
  it.each([
    ['read in the store by fetch workers', true],
    ['read on the main thread (the path taken over EFS)', false],
  ])(
    'lose those bits when restored as root (%s)',
    async (_how, contentSources) => {
      expect(isRoot, 'this test runs as root (as CI does) to give the files another owner').toBe(true);
      const home = path.join(work.dir, `home-${contentSources}`);
      const rel = (p: string) => path.join(home, ...p.split('/'));
      fs.mkdirSync(rel('data/bin'), { recursive: true });
      fs.writeFileSync(rel('data/bin/tool'), '#!/bin/sh\nid\n');
      fs.chmodSync(rel('data/bin/tool'), 0o6755);
      fs.chownSync(rel('data/bin/tool'), NOBODY, NOBODY);
      fs.chmodSync(rel('data/bin/tool'), 0o6755); // chown clears the bits
      fs.writeFileSync(rel('data/bin/own'), '#!/bin/sh\nid\n');
      fs.chmodSync(rel('data/bin/own'), 0o4750);
      const store = new LocalFolderStore(path.join(work.dir, `store-${contentSources}`));
      const counting = new CountingStore(store, { contentSources });
      const id = 'b20261127t020000z-5e71';
      await commitSet(store, id, [await driveBackup(homeRuntime(store, settings(home)), backupContext(id))]);

      const target = path.join(work.dir, `restored-${contentSources}`);
      const result = await driveRestore(homeRuntime(counting, settings(target)), restoreContext(id, {}));
      expect(result.status).toBe('complete');
      const tool = fs.statSync(path.join(target, 'data/bin/tool'));
      expect(tool.uid).toBe(0);
      // Owned by root now: a set-user-ID bit would make it run as root.
      expect((tool.mode & 0o7777).toString(8)).toBe('755');
      // A file whose owner and group are the ones it had keeps its mode exactly.
      expect((fs.statSync(path.join(target, 'data/bin/own')).mode & 0o7777).toString(8)).toBe('4750');
    },
    60_000,
  );
});
