import { describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { reportRestore } from '#backup-set/report-restore.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { deleteSet } from '#backup-set/retention.ts';
import { validateRestore } from '#backup-set/validate-restore.ts';
import { beginVerify } from '#backup-set/verify.ts';
import { InvalidInputError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { allKeys, testRuntime } from '../support/local-runtime.ts';

const COMPONENTS = { liferayHome: { root: '/tmp/x' }, appServer: { root: '/tmp/y' } };
const T0 = new Date('2026-11-27T02:00:00Z');

function clock() {
  let t = T0.getTime();
  return () => {
    t += 1000;
    return new Date(t);
  };
}

/** A result as a files component records it (its checkRestore reads these details). */
const complete = (component: string) => ({
  component,
  status: 'complete',
  warnings: [],
  summary: {},
  details: {
    engine: 'files',
    index: { key: `objects/indexes/${component}`, size: 1, sha256: '0'.repeat(64) },
    sources: [{ mount: '', root: '/tmp/x', role: 'tree' }],
    rules: { include: [], exclude: [] },
  },
});
const failed = (component: string) => ({ component, caught: { Error: 'Boom', Cause: 'disk on fire' } });

async function backup(rt: Runtime, results: unknown[]) {
  const context = await beginBackup({}, rt);
  await commitBackup({ backup: context, results }, rt);
  return context.backupId;
}

describe('Validate (restore)', () => {
  it('resolves latest, selects what the set holds and records a running report', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    const id = await backup(rt, [complete('liferayHome'), complete('appServer')]);
    const context = await validateRestore({ backupId: 'latest' }, rt);
    expect(context.backupId).toBe(id);
    expect(context.components).toEqual(['liferayHome', 'appServer']);
    expect(context.selected.liferayHome).toBe(true);
    expect((await readRestoreReport(rt.store, id, context.restoreId)).status).toBe('running');
  });

  it('refuses, naming every problem and writing nothing', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    const partialId = await backup(rt, [complete('liferayHome'), failed('appServer')]);
    const before = await allKeys(rt.store);
    const cases: [unknown, RegExp][] = [
      [{ backupId: 'latest' }, /there is no complete backup set yet/],
      [{ backupId: partialId }, /is partial; set "allowPartial": true/],
      [
        { backupId: partialId, allowPartial: true, components: ['appServer'] },
        /appServer: backup set .* holds no complete copy of it \(failed\)/,
      ],
      [{ backupId: 'b20991231t000000z-0000' }, /no such backup set/],
      [{ backupId: '../../etc/passwd' }, /backupId/],
      [{ backupId: partialId, allowPartial: true, colour: 'blue' }, /unknown key\(s\) colour/],
      [
        { backupId: partialId, allowPartial: true, components: ['search'] },
        /search: not configured in this deployment/,
      ],
      [{ backupId: partialId, allowPartial: 'yes' }, /allowPartial/],
      [{}, /backupId/],
      [null, /restore request/],
    ];
    for (const [request, message] of cases) {
      const attempt = validateRestore(request, rt);
      await expect(attempt, JSON.stringify(request)).rejects.toThrow(message);
      await expect(validateRestore(request, rt)).rejects.toBeInstanceOf(InvalidInputError);
    }
    expect(await allKeys(rt.store)).toEqual(before);
  });

  it('restores the complete components of a partial set when allowed', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    const id = await backup(rt, [complete('liferayHome'), failed('appServer')]);
    const context = await validateRestore({ backupId: id, allowPartial: true }, rt);
    expect(context.components).toEqual(['liferayHome']);
  });
});

describe('a restore and a retention run that start together', () => {
  it('Validate writes its report, then looks for the deletion marker: a marker written meanwhile refuses the restore', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    const backupId = await backup(rt, [complete('liferayHome'), complete('appServer')]);
    await backup(rt, [complete('liferayHome'), complete('appServer')]);
    // Retention writes its marker right after this restore's first look.
    const racing: Runtime = {
      ...rt,
      store: new Proxy(rt.store, {
        get(target, property, receiver) {
          if (property !== 'put') return Reflect.get(target, property, receiver);
          return async (key: string, ...rest: unknown[]) => {
            await (target.put as (...args: unknown[]) => Promise<void>).call(target, key, ...rest);
            if (key.includes('/restores/')) await target.put(`backups/${backupId}/deleting.json`, '{}');
          };
        },
      }),
    };
    await expect(validateRestore({ backupId }, racing)).rejects.toThrow(
      `invalid restore request: backup set ${backupId} is being deleted by retention`,
    );
    const reportKey = (await allKeys(rt.store)).find((key) =>
      key.startsWith(`backups/${backupId}/restores/`),
    );
    const restoreId =
      reportKey
        ?.split('/')
        .at(-1)
        ?.replace(/\.json$/, '') ?? '';
    expect(await readRestoreReport(rt.store, backupId, restoreId)).toMatchObject({
      status: 'failed',
      warnings: [`backup set ${backupId} is being deleted by retention`],
    });
  });

  it('deleting a set that a restore started reading after the plan: the marker is taken back, nothing is deleted, the set is postponed', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: () => new Date() });
    const backupId = await backup(rt, [complete('liferayHome'), complete('appServer')]);
    await backup(rt, [complete('liferayHome'), complete('appServer')]);
    await validateRestore({ backupId }, rt);
    const outsideWork = async () => (await allKeys(rt.store)).filter((key) => !key.startsWith('work/'));
    const before = await outsideWork();
    const outcome = await deleteSet({ runId: 'g20261127t050000z-0001', backupId }, rt);
    expect(outcome).toMatchObject({ backupId, deleted: [], objects: 0 });
    expect(outcome.postponed).toMatch(
      /^kept until the next retention run: a restore \(r[^)]+\) started reading it at .+, after this retention run planned its deletion$/,
    );
    expect(await outsideWork()).toEqual(before);
  });

  it('the restore drill refuses a set whose deletion has started', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    const backupId = await backup(rt, [complete('liferayHome'), complete('appServer')]);
    await rt.store.put(`backups/${backupId}/deleting.json`, '{}');
    await expect(beginVerify({ backupId }, rt)).rejects.toThrow(
      `invalid verify request: backup set ${backupId} is being deleted by retention`,
    );
  });
});

describe('Report (restore)', () => {
  it('writes the final report: complete, or partial with each failure', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    await backup(rt, [complete('liferayHome'), complete('appServer')]);
    const context = await validateRestore({ backupId: 'latest' }, rt);
    const output = await reportRestore(
      {
        restore: context,
        results: [
          complete('liferayHome'),
          {
            component: 'appServer',
            caught: { Error: 'ChecksumMismatchError', Cause: 'conf/server.xml: sha256 differs' },
          },
        ],
      },
      rt,
    );
    expect(output.status).toBe('partial');
    expect(output.message).toContain('appServer: ChecksumMismatchError: conf/server.xml: sha256 differs');
    const report = await readRestoreReport(rt.store, context.backupId, context.restoreId);
    expect(report.status).toBe('partial');
    expect(report.results.appServer?.status).toBe('failed');
    expect(report.finishedAt).toBeDefined();
  });

  it('reads the results of the branch that restores in sequence (Liferay Home, then app server) as one array among the others', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    await backup(rt, [complete('liferayHome'), complete('appServer')]);
    const context = await validateRestore({ backupId: 'latest' }, rt);

    const output = await reportRestore(
      {
        restore: context,
        results: [
          [
            {
              component: 'liferayHome',
              caught: { Error: 'DiskFullError', Cause: 'no space left on device' },
            },
            complete('appServer'),
          ],
        ],
      },
      rt,
    );

    expect(output.status).toBe('partial');
    expect(output.problems).toEqual(['liferayHome: DiskFullError: no space left on device']);
    const report = await readRestoreReport(rt.store, context.backupId, context.restoreId);
    expect(report.results.liferayHome?.status).toBe('failed');
    expect(report.results.appServer?.status).toBe('complete');
  });

  it('flattens one level only: a result nested deeper is not read, and its component is reported missing', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    await backup(rt, [complete('liferayHome'), complete('appServer')]);
    const context = await validateRestore({ backupId: 'latest' }, rt);

    const output = await reportRestore(
      { restore: context, results: [complete('liferayHome'), [[complete('appServer')]]] },
      rt,
    );

    expect(output.status).toBe('partial');
    expect(output.problems).toEqual([
      'appServer: MissingResultError: the workflow ended without a result for this component',
    ]);
  });
});
