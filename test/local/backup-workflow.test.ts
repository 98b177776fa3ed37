import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listBackupIds, readLatest, readManifest } from '#backup-set/manifest.ts';
import { main } from '#local/cli.ts';
import { allHandlers } from '#local/handlers.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import { RetryableError } from '#runtime/errors.ts';
import type { Handler } from '#runtime/runtime.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { allKeys, tempDir, testRuntime } from '../support/local-runtime.ts';

/** The synthesized Backup definition, run locally: the frame's promises, end to end. */
describe('the Backup workflow', () => {
  function setup() {
    const { dir } = tempDir('backup-workflow');
    const home = path.join(dir, 'home');
    const tomcat = path.join(dir, 'tomcat');
    fs.mkdirSync(path.join(home, 'osgi/configs'), { recursive: true });
    fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'company.default.web.id=liferay.com\n');
    fs.mkdirSync(path.join(tomcat, 'conf'), { recursive: true });
    fs.writeFileSync(path.join(tomcat, 'conf/server.xml'), '<Server/>');
    const store = new LocalFolderStore(path.join(dir, 'store'));
    const rt = testRuntime({
      store,
      components: { liferayHome: { root: home }, appServer: { root: tomcat } },
    });
    return { rt, store };
  }

  it('refuses a second backup while one runs: it ends at once, naming the running set, and creates nothing', async () => {
    const { rt, store } = setup();
    const plan = allHandlers().get('files-plan-backup') as Handler;
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered!: () => void;
    const planning = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const slowPlan: Handler = async (event, runtime) => {
      entered();
      await held;
      return plan(event, runtime);
    };
    const first = runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt, {
      taskOverrides: { 'Liferay Home plan': slowPlan },
    });
    await planning;
    const second = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt);
    expect(second.status).toBe('FAILED');
    const [runningId] = await listBackupIds(store);
    expect(second.status === 'FAILED' ? [second.error, second.cause] : []).toEqual([
      'BackupAlreadyRunningError',
      expect.stringMatching(
        new RegExp(`^a backup is already running: ${runningId} \\(it took the lock locks/backup.json at `),
      ),
    ]);
    // Nothing of a second set: every object belongs to the running one (its branches go on writing).
    expect(
      (await allKeys(store)).filter((key) => !key.includes(runningId ?? '-') && key !== 'locks/backup.json'),
    ).toEqual([]);
    expect(await listBackupIds(store)).toEqual([runningId]);
    expect(JSON.parse((await store.read('locks/backup.json')).toString()).backupId).toBe(runningId);
    release();
    const done = await first;
    expect(done.status).toBe('SUCCEEDED');
    expect((await readManifest(store, runningId ?? '')).status).toBe('complete');
  });

  it('completes when Begin is retried after it took the lock (its answer lost): the retry resumes the same set', async () => {
    const { rt, store } = setup();
    const begin = allHandlers().get('begin-backup') as Handler;
    let attempts = 0;
    const answerLostOnce: Handler = async (event, runtime) => {
      attempts += 1;
      const context = await begin(event, runtime);
      if (attempts === 1) throw new RetryableError('the Lambda timed out after taking the lock');
      return context;
    };
    const outcome = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt, {
      taskOverrides: { Begin: answerLostOnce },
    });
    expect(outcome.status).toBe('SUCCEEDED');
    expect(attempts).toBe(2);
    const ids = await listBackupIds(store);
    expect(ids).toHaveLength(1);
    expect((await readManifest(store, ids[0] ?? '')).status).toBe('complete');
    expect(await store.stat('locks/backup.json')).toBeUndefined();
  });

  it('records a failing branch as a partial set: the other components finish, latest does not move', async () => {
    const { rt, store } = setup();
    const firstRun = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt);
    expect(firstRun.status).toBe('SUCCEEDED');
    const complete = await readLatest(store);
    const failing: Handler = async () => {
      const error = new Error('permission denied: conf/server.xml');
      error.name = 'EACCES';
      throw error;
    };
    const outcome = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt, {
      taskOverrides: { 'App server plan': failing },
    });
    expect(outcome.status).toBe('FAILED');
    expect(outcome.status === 'FAILED' ? outcome.error : '').toBe('BackupPartial');
    expect(outcome.status === 'FAILED' ? outcome.cause : '').toMatch(
      /appServer: EACCES: permission denied: conf\/server.xml/,
    );
    // Two sets made in the same second sort by their random suffix: take the id the failure names.
    const partialId = /backup set (b\S+) is partial/.exec(
      outcome.status === 'FAILED' ? outcome.cause : '',
    )?.[1];
    const manifest = await readManifest(store, partialId ?? '');
    expect(manifest.status).toBe('partial');
    expect(manifest.results.liferayHome?.status).toBe('complete');
    expect(manifest.results.appServer).toMatchObject({ status: 'failed', error: { name: 'EACCES' } });
    expect(await readLatest(store)).toBe(complete);
    expect(await store.stat('locks/backup.json')).toBeUndefined();
  });
});

describe('a backup asked to build on no earlier set', () => {
  it('from the CLI (--full): reads every file, records it, and the next backup is incremental again', async () => {
    const { dir } = tempDir('backup-full');
    const home = path.join(dir, 'home');
    fs.mkdirSync(path.join(home, 'data/document_library/20101/1'), { recursive: true });
    fs.writeFileSync(path.join(home, 'data/document_library/20101/1/1.0'), 'a document');
    fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'company.default.web.id=liferay.com\n');
    const store = path.join(dir, 'store');
    const backup = async (...flags: string[]) => {
      const lines: string[] = [];
      const code = await main(['backup', '--home', home, '--store', store, '--json', '--quiet', ...flags], {
        out: (line) => lines.push(line),
        err: process.stderr,
      });
      expect(code).toBe(0);
      return JSON.parse(lines.join('\n')) as {
        backupId: string;
        previousBackupId?: string;
        trigger: Record<string, unknown>;
        results: { liferayHome: { summary: { files: number; changedFiles: number } } };
      };
    };
    const first = await backup();
    const full = await backup('--full');
    expect(full.previousBackupId).toBeUndefined();
    expect(full.trigger).toEqual({ source: 'cli', full: true });
    expect(full.results.liferayHome.summary).toMatchObject({ files: 2, changedFiles: 2 });
    const next = await backup();
    expect(next.previousBackupId).toBe(full.backupId);
    expect(next.results.liferayHome.summary.changedFiles).toBe(0);
    expect(first.trigger).toEqual({ source: 'cli' });
    const show = async (id: string) => {
      const lines: string[] = [];
      expect(
        await main(['show', id, '--store', store], { out: (line) => lines.push(line), err: process.stderr }),
      ).toBe(0);
      return lines[2];
    };
    expect(await show(first.backupId)).toBe('  builds on no earlier set');
    expect(await show(full.backupId)).toBe('  builds on no earlier set (a full backup, as asked)');
    expect(await show(next.backupId)).toBe(`  builds on ${full.backupId}`);
  });
});
