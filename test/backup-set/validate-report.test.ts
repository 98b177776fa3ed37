import { describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { reportRestore } from '#backup-set/report-restore.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { validateRestore } from '#backup-set/validate-restore.ts';
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
});
