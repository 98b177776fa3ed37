import { describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { readLatest, readManifest } from '#backup-set/manifest.ts';
import { BackupAlreadyRunningError, InvalidInputError } from '#runtime/errors.ts';
import { allKeys, testRuntime } from '../support/local-runtime.ts';
import { processElsewhere } from '../support/processes.ts';

const HOME = { liferayHome: { root: '/tmp/does-not-matter-here' } };
const T0 = new Date('2026-11-27T02:00:00Z');

function clock(start = T0) {
  let t = start.getTime();
  return () => {
    t += 1000;
    return new Date(t);
  };
}

const complete = (component: string) => ({
  component,
  status: 'complete',
  warnings: [],
  summary: { files: 1 },
  details: {},
});

describe('Begin', () => {
  it('writes a running manifest, takes the lock and selects the configured components', async () => {
    const rt = testRuntime({ components: HOME, now: clock() });
    const context = await beginBackup({ schedule: 'nightly', components: ['liferayHome'] }, rt);
    expect(context.components).toEqual(['liferayHome']);
    expect(context.selected).toEqual({
      database: false,
      liferayHome: true,
      appServer: false,
      search: false,
      source: false,
    });
    const manifest = await readManifest(rt.store, context.backupId);
    expect(manifest).toMatchObject({
      status: 'running',
      trigger: { source: 'schedule', schedule: 'nightly' },
      environment: 'test-env',
    });
    expect(await rt.store.stat('locks/backup.json')).toBeDefined();
  });

  it('resumes its own run when the same execution retries it, and refuses any other execution', async () => {
    const rt = testRuntime({ components: HOME, now: clock() });
    const execution = 'arn:aws:states:eu-west-1:111111111111:execution:Backup:nightly-1';
    const first = await beginBackup({ request: { schedule: 'nightly' }, executionId: execution }, rt);
    const retried = await beginBackup({ request: { schedule: 'nightly' }, executionId: execution }, rt);
    expect(retried).toEqual(first);
    expect((await readManifest(rt.store, first.backupId)).status).toBe('running');
    await expect(beginBackup({ request: {}, executionId: `${execution}-2` }, rt)).rejects.toThrow(
      `a backup is already running: ${first.backupId}`,
    );
    await expect(beginBackup({ request: {}, executionId: '' }, rt)).rejects.toThrow(/invalid Begin input/);
  });

  it('gives the lock back when it cannot write the running manifest, so the retry or the next run can start', async () => {
    const rt = testRuntime({ components: HOME, now: clock() });
    const failing = {
      ...rt,
      store: new Proxy(rt.store, {
        get(target, property, receiver) {
          if (property !== 'put') return Reflect.get(target, property, receiver);
          return async (key: string, ...rest: unknown[]) => {
            if (key.endsWith('/manifest.json')) throw new Error('SlowDown: please reduce your request rate');
            return (target.put as (...args: unknown[]) => Promise<void>).call(target, key, ...rest);
          };
        },
      }),
    };
    await expect(beginBackup({}, failing)).rejects.toThrow(/SlowDown/);
    expect(await allKeys(rt.store)).toEqual([]);
    expect((await beginBackup({}, rt)).backupId).toMatch(/^b2026/);
  });

  it('refuses a second backup while one runs, and creates nothing', async () => {
    const rt = testRuntime({ components: HOME, now: clock() });
    const first = await beginBackup({}, rt);
    const before = await allKeys(rt.store);
    const second = beginBackup({}, rt);
    await expect(second).rejects.toBeInstanceOf(BackupAlreadyRunningError);
    await expect(second).rejects.toThrow(`a backup is already running: ${first.backupId}`);
    expect(await allKeys(rt.store)).toEqual(before);
  });

  it('takes over a stale lock and records the set of the run that died failed, saying why', async () => {
    const store = testRuntime({ components: HOME }).store;
    // A run on another machine: nothing here can tell it ended, so its lock waits to go stale.
    const dead = await beginBackup(
      {},
      testRuntime({ store, components: HOME, now: clock(), process: processElsewhere() }),
    );
    // Ninety minutes later, with a one-hour timeout: the lock is stale.
    const later = testRuntime({ store, components: HOME, now: clock(new Date(T0.getTime() + 90 * 60_000)) });
    const next = await beginBackup({}, later);
    expect((await readManifest(store, next.backupId)).warnings).toEqual([
      `took over the lock of ${dead.backupId}: it ran longer than 60 minutes`,
    ]);
    const closed = await readManifest(store, dead.backupId);
    expect(closed.status).toBe('failed');
    expect(closed.finishedAt).toBeDefined();
    expect(closed.warnings).toEqual([
      `the run ended without committing: it ran longer than 60 minutes, and ${next.backupId} took over its lock`,
    ]);
    // A set that was committed meanwhile (or never got its manifest) is left as it is.
    await commitBackup({ backup: next, results: [] }, later);
    const committed = await readManifest(store, next.backupId);
    await store.put(
      'locks/backup.json',
      JSON.stringify({ backupId: next.backupId, acquiredAt: T0.toISOString() }),
    );
    const third = await beginBackup({}, later);
    expect(await readManifest(store, next.backupId)).toEqual(committed);
    await store.put(
      'locks/backup.json',
      JSON.stringify({ backupId: 'b20261127t010000z-dead', acquiredAt: T0.toISOString() }),
    );
    await commitBackup({ backup: third, results: [] }, later);
    await expect(beginBackup({}, later)).resolves.toMatchObject({ backupId: expect.any(String) });
  });

  it.each([
    [
      { components: ['database'] },
      /components not configured in this deployment: database; configured: liferayHome/,
    ],
    [{ components: ['mailServer'] }, /components\.0: unknown component "mailServer"/],
    [{ components: [] }, /components/],
    [{ schedule: 7 }, /schedule/],
    [{ colour: 'blue' }, /colour/],
  ])(
    'refuses the request %j with a message naming the problem, and writes nothing',
    async (request, message) => {
      const rt = testRuntime({ components: HOME, now: clock() });
      await expect(beginBackup(request, rt)).rejects.toThrow(message);
      await expect(beginBackup(request, rt)).rejects.toBeInstanceOf(InvalidInputError);
      expect(await allKeys(rt.store)).toEqual([]);
    },
  );
});

describe('Commit', () => {
  it('marks a set complete, moves latest, releases the lock and clears the work area', async () => {
    const rt = testRuntime({ components: HOME, now: clock() });
    const backup = await beginBackup({}, rt);
    await rt.store.put(`${backup.workPrefix}shards.json`, '[]');
    const result = await commitBackup({ backup, results: [complete('liferayHome')] }, rt);
    expect(result).toMatchObject({ status: 'complete', problems: [] });
    expect((await readManifest(rt.store, backup.backupId)).status).toBe('complete');
    expect(await readLatest(rt.store)).toBe(backup.backupId);
    expect(await rt.store.stat('locks/backup.json')).toBeUndefined();
    expect((await allKeys(rt.store)).filter((key) => key.startsWith('work/'))).toEqual([]);
  });

  it('never moves latest back: a run that commits after a newer set (redriven, given up for dead) leaves it', async () => {
    const rt = testRuntime({ components: HOME, now: clock() });
    const older = await beginBackup({}, rt);
    // The older run's lock is lost (taken over); a newer run starts and commits first.
    await rt.store.delete(['locks/backup.json']);
    const newer = await beginBackup({}, rt);
    await commitBackup({ backup: newer, results: [complete('liferayHome')] }, rt);
    expect(await readLatest(rt.store)).toBe(newer.backupId);
    const late = await commitBackup({ backup: older, results: [complete('liferayHome')] }, rt);
    expect(late.status).toBe('complete');
    expect(await readLatest(rt.store)).toBe(newer.backupId);
    expect((await readManifest(rt.store, older.backupId)).warnings).toEqual([
      `a newer set, ${newer.backupId}, was already the latest: this set is complete but does not replace it`,
    ]);
    // Runs of the same second (a fast local run) follow each other, whatever their ids' random part.
    for (let i = 0; i < 8; i += 1) {
      const sameSecond = testRuntime({ components: HOME, now: () => T0 });
      const first = await beginBackup({}, sameSecond);
      await commitBackup({ backup: first, results: [complete('liferayHome')] }, sameSecond);
      const second = await beginBackup({}, sameSecond);
      await commitBackup({ backup: second, results: [complete('liferayHome')] }, sameSecond);
      expect(await readLatest(sameSecond.store)).toBe(second.backupId);
    }
    // A pointer damaged while a run went on is written again when that run completes.
    const next = await beginBackup({}, rt);
    await rt.store.put('pointers/latest.json', 'not json');
    await commitBackup({ backup: next, results: [complete('liferayHome')] }, rt);
    expect(await readLatest(rt.store)).toBe(next.backupId);
  });

  it.each([
    ['not JSON', 'not json', /is not valid JSON/],
    ['not a pointer', '{"backupId": "../../x", "committedAt": "yesterday"}', /is not valid: backupId: /],
  ])(
    'a damaged latest pointer (%s) does not stop the backups: this one builds on no set, says so, and Commit writes it anew',
    async (_, body, why) => {
      const rt = testRuntime({ components: HOME, now: clock() });
      const first = await beginBackup({}, rt);
      await commitBackup({ backup: first, results: [complete('liferayHome')] }, rt);
      await rt.store.put('pointers/latest.json', body);
      const next = await beginBackup({}, rt);
      expect(next.previousBackupId).toBeUndefined();
      const [warning, ...others] = (await readManifest(rt.store, next.backupId)).warnings;
      expect(others).toEqual([]);
      expect(warning).toMatch(
        /^pointers\/latest\.json cannot be read \(.*\): this backup builds on no earlier set and reads every file again; its Commit writes the pointer anew$/,
      );
      expect(warning).toMatch(why);
      await commitBackup({ backup: next, results: [complete('liferayHome')] }, rt);
      expect(await readLatest(rt.store)).toBe(next.backupId);
    },
  );

  it('marks a set partial with each failed component and its reason; latest stays', async () => {
    const rt = testRuntime({ components: { ...HOME, appServer: { root: '/x' } }, now: clock() });
    const first = await beginBackup({ components: ['liferayHome'] }, rt);
    await commitBackup({ backup: first, results: [complete('liferayHome')] }, rt);
    const backup = await beginBackup({}, rt);
    const caught = {
      component: 'appServer',
      caught: {
        Error: 'Lambda.Unknown',
        Cause: JSON.stringify({ errorType: 'EACCES', errorMessage: 'permission denied: conf/server.xml' }),
      },
    };
    const result = await commitBackup({ backup, results: [complete('liferayHome'), caught] }, rt);
    expect(result.status).toBe('partial');
    expect(result.message).toContain('appServer: EACCES: permission denied: conf/server.xml');
    const manifest = await readManifest(rt.store, backup.backupId);
    expect(manifest.results.appServer).toMatchObject({
      status: 'failed',
      error: { name: 'EACCES', message: 'permission denied: conf/server.xml' },
    });
    expect(await readLatest(rt.store)).toBe(first.backupId);
  });

  it('marks a set failed when the capture itself failed, and still releases the lock', async () => {
    const rt = testRuntime({ components: HOME, now: clock() });
    const backup = await beginBackup({}, rt);
    const result = await commitBackup(
      { backup, failure: { Error: 'States.Timeout', Cause: 'the Capture state timed out' } },
      rt,
    );
    expect(result.status).toBe('failed');
    const manifest = await readManifest(rt.store, backup.backupId);
    expect(manifest.status).toBe('failed');
    expect(manifest.warnings.join()).toContain('the Capture state timed out');
    expect(await rt.store.stat('locks/backup.json')).toBeUndefined();
    expect(await readLatest(rt.store)).toBeUndefined();
  });

  it('treats a branch that returned nothing usable as a failure, never as complete', async () => {
    const rt = testRuntime({ components: HOME, now: clock() });
    const backup = await beginBackup({}, rt);
    const result = await commitBackup(
      { backup, results: [{ component: 'liferayHome', status: 'done?' }] },
      rt,
    );
    expect(result.status).toBe('failed');
    expect(result.problems[0]).toMatch(/liferayHome: InvalidResultError/);
  });
});
