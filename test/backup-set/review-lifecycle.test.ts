import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { storeKeys } from '#backup-set/keys.ts';
import { listBackupIds, readLatest, readManifest } from '#backup-set/manifest.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { validateRestore } from '#backup-set/validate-restore.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir, testRuntime } from '../support/local-runtime.ts';

const COMPONENTS = { liferayHome: { root: '/tmp/x' }, appServer: { root: '/tmp/y' } };
const T0 = new Date('2026-11-27T02:00:00Z');

function clock() {
  let t = T0.getTime();
  return () => {
    t += 1000;
    return new Date(t);
  };
}

const failed = (component: string) => ({ component, caught: { Error: 'Boom', Cause: 'disk on fire' } });

async function backup(rt: Runtime, results: unknown[]) {
  const context = await beginBackup({}, rt);
  await commitBackup({ backup: context, results }, rt);
  return context.backupId;
}

describe('the restore drill of a set that holds nothing complete', () => {
  it('is refused through the Verify workflow instead of reported verified with nothing checked', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    const id = await backup(rt, [failed('liferayHome'), failed('appServer')]);

    const outcome = await runWorkflow(WORKFLOWS.verify, { backupId: id }, rt);

    expect(outcome.status).toBe('FAILED');
    expect(outcome.status === 'FAILED' ? outcome.cause : '').toMatch(
      new RegExp(`set ${id} is failed and holds no complete component: nothing to verify`),
    );
  });
});

describe('"latest" when the pointer was never written', () => {
  it('is the newest complete set, with a warning, not "there is no complete backup set yet"', async () => {
    const { dir, cleanup } = tempDir('review-latest');
    try {
      const root = path.join(dir, 'home');
      fs.mkdirSync(root);
      fs.writeFileSync(path.join(root, 'portal-ext.properties'), 'a=1\n');
      const store = new LocalFolderStore(path.join(dir, 'store'));
      const rt = testRuntime({ store, components: { liferayHome: { root } } });
      // The first backup's Commit writes the complete manifest, then the store refuses the pointer
      // (every retry too): the run fails with a complete set and no pointers/latest.json.
      const commit: Handler = (event, runtime) =>
        commitBackup(event, {
          ...runtime,
          store: new Proxy(runtime.store, {
            get(target, name, receiver) {
              if (name === 'put')
                return (key: string, ...rest: unknown[]) =>
                  key === storeKeys.latest
                    ? Promise.reject(new Error('InternalError: We encountered an internal error'))
                    : (target.put as (...args: unknown[]) => Promise<void>).call(target, key, ...rest);
              return Reflect.get(target, name, receiver);
            },
          }),
        });
      const run = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt, {
        taskOverrides: { Commit: commit },
      });
      expect(run.status).toBe('FAILED');
      const [id] = await listBackupIds(store);
      expect((await readManifest(store, id ?? '')).status).toBe('complete');
      expect(await readLatest(store)).toBeUndefined();

      const context = await validateRestore({ backupId: 'latest' }, rt);

      expect(context.backupId).toBe(id);
      const report = await readRestoreReport(store, context.backupId, context.restoreId);
      expect(report.warnings?.[0]).toMatch(`"latest" is taken as the newest complete set, ${id}`);
    } finally {
      cleanup();
    }
  });
});
