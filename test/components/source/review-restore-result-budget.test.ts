import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { RESULT_BUDGET_BYTES } from '#components/component.ts';
import { FULL_WARNINGS } from '#components/source/finish-restore.ts';
import type { MirroredRepository } from '#components/source/mirror-repository.ts';
import { writeRecord } from '#components/source/records.ts';
import type { RestoreOutcome } from '#components/source/restore.ts';
import type { RepositoryRecord } from '#components/source/settings.ts';
import { payloadBytes, runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler } from '#runtime/runtime.ts';
import { testRuntime } from '../../support/local-runtime.ts';

/**
 * A restore of 50 repositories (the most one request names) into an enterprise Git host whose URLs
 * are long, where every target already held the refs of an earlier attempt and has another default
 * branch: two warnings a target, each naming the target. Step Functions gathers every component's
 * restore result into one state (256 KiB), and details are never cut by the result budget: every
 * target's warnings inline made 42,763 bytes of source details alone, more than the component's
 * share.
 */
const TARGETS = 50;
const hex = (seed: string, length: number) =>
  createHash('sha256').update(seed).digest('hex').repeat(4).slice(0, length);
const names = Array.from({ length: TARGETS }, (_, i) => `liferay-dxp-module-${String(i).padStart(2, '0')}`);
/** A long, real-looking URL (Azure DevOps style: organisation, project, team path, repository). */
const targetUrl = (name: string) =>
  `https://dev.azure.com/liferay-enterprise-disaster-recovery/${hex(name, 64)}/_git/platform-engineering-portal-modules-${name}.git`;

function failure(outcome: WorkflowOutcome): string[] {
  return outcome.status === 'FAILED' ? [outcome.error, outcome.cause] : [];
}

function recordFor(name: string): RepositoryRecord {
  return {
    name,
    sourceUrl: `https://git.example.com/liferay/${name}.git`,
    mirrorUrl: `https://git-mirror.example.com/liferay/${name}.git`,
    capturedAt: '2026-11-27T02:00:00.000Z',
    head: 'refs/heads/master',
    refs: { 'refs/heads/master': hex(`${name}/master`, 40) },
    exclude: [],
    prune: true,
    keptOnMirror: [],
    deletedOnMirror: [],
    stats: { created: 1, updated: 0, deleted: 0, packBytes: 0, packObjects: 0, storedBytes: 0, seconds: 1 },
    warnings: [],
  };
}

/** Stands in for the mirror (no Git host here): writes the record a mirror would have written. */
const mirrorWriting: Handler = async (event, rt): Promise<MirroredRepository> => {
  const { backup, repository } = event as { backup: { backupId: string }; repository: string };
  const recordKey = await writeRecord(rt.store, backup.backupId, recordFor(repository));
  return { repository, recordKey, refs: 1, seconds: 1 };
};

/** What a push answers (no Git host here), with the two warnings restore.ts gives such a target. */
const pushedWithWarnings: Handler = async (event): Promise<RestoreOutcome> => {
  const { target } = event as { target: { repository: string; url: string } };
  const { repository, url } = target;
  return {
    repository,
    url,
    from: 'mirror',
    refs: 1,
    pushed: 0,
    packBytes: 0,
    seconds: 2.5,
    warnings: [
      `${repository}: the target ${url} already held 1 of the 1 ref(s) to restore, each at its recorded object id (what an earlier attempt of this restore leaves behind); only the others were pushed`,
      `${repository}: the target's HEAD is refs/heads/main, the source's was refs/heads/master; set the default branch on the Git host (a push cannot)`,
    ],
  };
};

describe('the source restore result of 50 targets that each warned', () => {
  it('keeps its details within budget: the first warnings of each target, the count of the rest, all of them in the store', async () => {
    const rt = testRuntime({
      components: {
        source: {
          repositories: names.map((name) => ({
            name,
            sourceUrl: `https://git.example.com/liferay/${name}.git`,
            mirrorUrl: `https://git-mirror.example.com/liferay/${name}.git`,
          })),
        },
      },
    });
    const backup = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli', components: ['source'] }, rt, {
      taskOverrides: { 'Source mirror repository': mirrorWriting },
    });
    expect(failure(backup)).toEqual([]);
    const backupId = (backup as { output: { backup: { backupId: string } } }).output.backup.backupId;

    const restore = await runWorkflow(
      WORKFLOWS.restore,
      {
        backupId,
        components: ['source'],
        source: { targets: names.map((name) => ({ repository: name, url: targetUrl(name) })) },
        requestedBy: 'cli',
      },
      rt,
      { taskOverrides: { 'Source restore repository': pushedWithWarnings } },
    );
    expect(failure(restore)).toEqual([]);
    const restoreId = (restore as { output: { restore: { restoreId: string } } }).output.restore.restoreId;
    const result = (await readRestoreReport(rt.store, backupId, restoreId)).results.source;
    if (!result) throw new Error('no source restore result');
    // Before: 42,763 bytes of details (every target's two warnings inline).
    expect(payloadBytes(result.details)).toBeLessThanOrEqual(24 * 1024);
    expect(payloadBytes(result)).toBeLessThanOrEqual(RESULT_BUDGET_BYTES);

    // Each target is there with its numbers, its first warnings (every target's first before any
    // second: what a retried push left), and the count of the others; the SRE is told where all are.
    const details = result.details as { targets: (RestoreOutcome & { moreWarnings?: number })[] };
    expect(details.targets.map((target) => target.repository)).toEqual(names);
    for (const target of details.targets) {
      expect(target.url).toBe(targetUrl(target.repository));
      expect(target.warnings.length + (target.moreWarnings ?? 0)).toBe(2);
      // Its first ones, in order.
      expect(target.warnings[0] ?? 'already held').toMatch(/already held/);
      expect(target.warnings[1] ?? 'HEAD is').toMatch(/HEAD is/);
    }
    // The budget is used: the first targets keep their first warning (long URLs leave room for
    // those of 20 of the 50), the others count theirs.
    expect(details.targets.filter((target) => target.warnings.length >= 1).length).toBeGreaterThanOrEqual(20);
    expect(details.targets.at(-1)?.moreWarnings).toBe(2);
    expect(result.summary).toMatchObject({ targets: TARGETS, refs: TARGETS });
    expect(result.warnings[0]).toMatch(/^liferay-dxp-module-00: the target .* already held/);
    expect(result.warnings.at(-1)).toMatch(
      /^\.\.\. and \d+ more warnings, left out .*; see every one, whole, in the log of each target's push/,
    );
    expect(result.warnings.at(-1)?.endsWith(FULL_WARNINGS)).toBe(true);
  }, 60_000);
});
