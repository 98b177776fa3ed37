import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { readManifest } from '#backup-set/manifest.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import {
  type ComponentResult,
  componentResultSchema,
  RESULT_BUDGET_BYTES,
  RESULT_MAX_WARNINGS,
  withinResultBudget,
} from '#components/component.ts';
import { readBackupPlan } from '#components/files/backup-plan.ts';
import type { MirroredRepository } from '#components/source/mirror-repository.ts';
import { writeRecord } from '#components/source/records.ts';
import type { RepositoryRecord } from '#components/source/settings.ts';
import { MAX_CHAIN } from '#components/source/store-copy.ts';
import { allHandlers } from '#local/handlers.ts';
import {
  payloadBytes,
  runWorkflow,
  STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES,
  type WorkflowOutcome,
} from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler } from '#runtime/runtime.ts';
import { tempDir, testRuntime } from '../support/local-runtime.ts';
import { SearchEngineStandIn } from '../support/search-engine-server.ts';
import { writeTree } from './support.ts';

/**
 * Each component bounds its own result, but the Backup's Parallel gathers all five into Commit's
 * input (the Restore's into Report's), and Step Functions takes at most 262,144 bytes there. With
 * each at the largest result its own code returned (measured here, before withinResultBudget):
 * - database (dump): 4,217 (3 warnings: the locale's two, the tool's stderr cut at 2,000), and its
 *   prepared state again in the context;
 * - liferayHome, appServer: 16,384 characters of warnings (files' own cap) plus the line naming
 *   the stored list; in Japanese (3 bytes a character) 48 KB each;
 * - search: 500 index records, 87,533 bytes, plus warnings: prepare keeps 50 of 4,096 characters
 *   (its loop state 100), but its Check returns them twice (loop state and result), so about 40 KiB
 *   is the most that branch carries: 128 KB;
 * - source: 50 repositories at their 48 KiB inline budget, 66,940 bytes of details, with the
 *   warnings that budget lets in again as the component's warnings: 79 KB;
 * the five gathered 309,305 bytes: the Backup failed with States.DataLimitExceeded, terminal.
 * Now each keeps to RESULT_BUDGET_BYTES (32 KiB) by leaving warnings out, never details.
 */
let server: SearchEngineStandIn | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const hex = (seed: string, length: number) =>
  createHash('sha256').update(seed).digest('hex').repeat(2).slice(0, length);
/** A warning of exactly `chars` characters, each of `filler` (a path's name may be in any script). */
const warning = (what: string, i: number, chars: number, filler = 'x') => {
  const head = `${what} warning ${i}: `;
  return head + filler.repeat(Math.max(0, chars - head.length));
};
const handler = (id: string): Handler => {
  const found = allHandlers().get(id);
  if (!found) throw new Error(`no handler ${id}`);
  return found;
};
function failure(outcome: WorkflowOutcome): string[] {
  return outcome.status === 'FAILED' ? [outcome.error, outcome.cause] : [];
}

const REPOSITORIES = 50;
const repositoryNames = Array.from(
  { length: REPOSITORIES },
  (_, i) => `liferay-dxp-module-${String(i).padStart(2, '0')}`,
);

function recordFor(name: string): RepositoryRecord {
  return {
    name,
    sourceUrl: `https://git.example.com/liferay/${name}.git`,
    mirrorUrl: `https://git-mirror.example.com/liferay/${name}.git`,
    capturedAt: '2026-11-27T02:00:00.000Z',
    head: 'refs/heads/master',
    refs: Object.fromEntries(
      Array.from({ length: 300 }, (_, i) => [
        `refs/heads/feature/LPS-${100_000 + i}-fix`,
        hex(`${name}/${i}`, 40),
      ]),
    ),
    exclude: [],
    prune: true,
    keptOnMirror: [],
    deletedOnMirror: [],
    storeCopy: {
      packs: Array.from({ length: MAX_CHAIN }, (_, i) => ({
        key: `objects/git/pack-${hex(`${name}/pack/${i}`, 64)}.pack`,
        sha256: hex(`${name}/sha/${i}`, 64),
        bytes: 1_000_000 + i,
        objects: 5_000 + i,
      })),
    },
    stats: {
      created: 0,
      updated: 3,
      deleted: 0,
      packBytes: 40_000,
      packObjects: 120,
      storedBytes: 40_000,
      seconds: 4.2,
    },
    warnings: Array.from({ length: 20 }, (_, i) => warning(`source ${name}`, i, 400)),
  };
}

const mirrorWriting: Handler = async (event, rt): Promise<MirroredRepository> => {
  const { backup, repository } = event as { backup: { backupId: string }; repository: string };
  const recordKey = await writeRecord(rt.store, backup.backupId, recordFor(repository));
  return { repository, recordKey, refs: 300, seconds: 4.2 };
};

/**
 * The real plan, with more warnings than files shows (it shows the first, within 16,384
 * characters, and stores them all): names in Japanese, 3 bytes a character in UTF-8.
 */
const planWithWarnings: Handler = async (event, rt) => {
  const planned = (await handler('files-plan-backup')(event, rt)) as { planKey: string; component: string };
  const plan = await readBackupPlan(rt.store, planned.planKey);
  plan.warnings = Array.from({ length: 300 }, (_, i) => warning(planned.component, i, 1000, '資料'));
  await rt.store.put(planned.planKey, Buffer.from(JSON.stringify(plan)), { contentType: 'application/json' });
  return planned;
};

/**
 * The real start, with 40 KiB of warnings (prepare keeps up to 50 of 4,096 characters): about what
 * the capture loop can carry beside 500 index records, as its Check step returns them twice (in
 * the loop's state and in the result).
 */
const startWithWarnings: Handler = async (event, rt) => {
  const started = (await handler('search-start-snapshot')(event, rt)) as { warnings: string[] };
  started.warnings = Array.from({ length: 10 }, (_, i) => warning('search', i, 4096));
  return started;
};

/**
 * What a dump's start step returns at most: the result with its warnings (two about the locale,
 * the dump tool's stderr cut at 2,000 characters) and the same warnings beside it (progress.ts).
 * The database's own code keeps it this small, so it stands in for the dump (no server here).
 */
const dumpedWithWarnings: Handler = async (event, rt) => {
  const { backup } = event as { backup: { backupId: string } };
  const now = rt.now().toISOString();
  const warnings = [
    warning('database locale', 0, 700),
    warning('database provider', 1, 700),
    warning('mysqldump', 2, 2011),
  ];
  const details = {
    mode: 'dump',
    engine: 'mariadb',
    source: 'mysql://liferay@db.internal.example.com:3306/lportal',
    database: 'lportal',
    serverVersion: '10.11.6-MariaDB-0+deb12u1',
    tool: '/usr/bin/mariadb-dump',
    toolVersion: 'mariadb-dump from 11.4.2-MariaDB, client 10.19 for debian-linux-gnu (x86_64)',
    format: 'sql-gzip',
    key: `dumps/${backup.backupId}/lportal.sql.gz`,
    size: 123_456_789_012,
    sha256: hex('dump', 64),
    dumpBytes: 987_654_321_098,
    characterSet: 'utf8mb4',
    collation: 'utf8mb4_unicode_ci',
  };
  const result = {
    component: 'database',
    status: 'complete',
    startedAt: now,
    finishedAt: now,
    warnings,
    summary: {
      mode: 'dump',
      engine: 'mariadb',
      database: 'lportal',
      bytes: details.size,
      dumpBytes: details.dumpBytes,
    },
    details,
  };
  return {
    mode: 'dump',
    phase: 'done',
    done: true,
    attempt: 0,
    waitSeconds: 30,
    startedAt: now,
    warnings,
    sharedWith: [],
    result,
  };
};

/** The real start, expecting other counts than the cluster will have: a warning for every index. */
const startRestoreExpectingOthers: Handler = async (event, rt) => {
  const started = (await handler('search-start-restore')(event, rt)) as {
    indexes: { expectedDocs: { min: number; max: number } }[];
  };
  for (const index of started.indexes) index.expectedDocs = { min: 0, max: 0 };
  return started;
};

/** What a push to a target answers (no Git host here), with the warnings a push can give. */
const pushedWithWarnings: Handler = async (event) => {
  const { target } = event as { target: { repository: string; url: string } };
  return {
    repository: target.repository,
    url: target.url,
    from: 'store',
    refs: 300,
    pushed: 300,
    packBytes: 40_000_000,
    seconds: 12.5,
    warnings: Array.from({ length: 3 }, (_, i) => warning(`source ${target.repository}`, i, 400)),
  };
};

describe('the five results together cross Commit within the payload quota', () => {
  it('backs up and restores with every component at the largest result it can return', async () => {
    const indices = Object.fromEntries(
      Array.from({ length: 500 }, (_, i) => [
        `liferay-${20_097 + Math.floor(i / 10) * 100}-workflow-metrics-sla-instance-results-${i % 10}`,
        { docs: 1_000_000 + i },
      ]),
    );
    server = await SearchEngineStandIn.start({ flavour: 'elasticsearch', version: '8.15.0', indices });
    server.repositories.set('liferay-backup', {
      type: 's3',
      settings: { bucket: 'es', base_path: 'liferay' },
    });
    server.snapshots.set('liferay-backup', new Map());
    const { dir } = tempDir('payload-budget');
    writeTree(`${dir}/home`, { 'portal-ext.properties': 'x=1\n', 'data/document_library/1/a.bin': 'a' });
    writeTree(`${dir}/tomcat`, { 'conf/server.xml': '<Server/>\n', 'bin/setenv.sh': 'echo\n' });
    const rt = testRuntime({
      components: {
        database: { mode: 'dump', url: 'mysql://liferay@127.0.0.1:1/lportal' },
        liferayHome: { root: `${dir}/home` },
        appServer: { root: `${dir}/tomcat` },
        search: {
          engine: 'elasticsearch',
          endpoint: server.url,
          credentials: { type: 'none' },
          repository: { name: 'liferay-backup' },
          waitSeconds: 0,
        },
        source: {
          repositories: repositoryNames.map((name) => ({
            name,
            sourceUrl: `https://git.example.com/liferay/${name}.git`,
            mirrorUrl: `https://git-mirror.example.com/liferay/${name}.git`,
            storeCopy: true,
          })),
          defaultCredentials: { tokenParameter: '/liferay/git/token' },
        },
      },
    });
    const sizes: Record<string, number> = {};
    const outcome = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt, {
      taskOverrides: {
        'Database start backup': dumpedWithWarnings,
        'Liferay Home plan': planWithWarnings,
        'App server plan': planWithWarnings,
        'Search start snapshot': startWithWarnings,
        'Source mirror repository': mirrorWriting,
      },
      onStateExited: (name, output) => {
        sizes[name] = payloadBytes(output);
      },
    });
    // Before: States.DataLimitExceeded at Capture (the five results gathered: 309,305 bytes),
    // which no Catch stops: Commit never ran and the set stayed running.
    expect(failure(outcome)).toEqual([]);
    const backupId = (outcome as { output: { backup: { backupId: string } } }).output.backup.backupId;
    const manifest = await readManifest(rt.store, backupId);
    expect(manifest.status).toBe('complete');
    // Each result within its budget, or (search, source) its details whole and one line for its warnings.
    const results = manifest.results;
    for (const name of ['database', 'liferayHome', 'appServer'] as const) {
      expect(payloadBytes(results[name])).toBeLessThanOrEqual(RESULT_BUDGET_BYTES);
    }
    expect(results.liferayHome?.warnings.at(-1)).toMatch(
      /^\.\.\. and \d+ more warnings, left out .*; see every one, whole, in backups\/.*\/warnings\.jsonl\.gz/,
    );
    // The list the line names is in the store.
    const listed = /in (backups\/\S+\/warnings\.jsonl\.gz)/.exec(
      results.liferayHome?.warnings.at(-1) ?? '',
    )?.[1];
    expect(listed && (await rt.store.stat(listed))).toBeTruthy();
    expect(results.search?.warnings.at(-1)).toMatch(/^\.\.\. and \d+ more warnings/);
    // 500 index records are stored beside the set (search/index-list.ts); the details name the list.
    expect((results.search?.details as { indexList?: { count: number } } | undefined)?.indexList?.count).toBe(
      500,
    );
    // Source's entries are stored beside the set (source/repository-list.ts): its result fits whole.
    expect(payloadBytes(results.source)).toBeLessThanOrEqual(RESULT_BUDGET_BYTES);
    expect(
      (results.source?.details as { repositoryList?: { count: number } } | undefined)?.repositoryList?.count,
    ).toBe(REPOSITORIES);
    expect((results.source?.details as { repositories?: unknown[] } | undefined)?.repositories).toHaveLength(
      REPOSITORIES,
    );
    // Commit's input: 233,901 bytes (database 4,217; Liferay Home 31,321 and app server 30,674,
    // each at the budget; search 87,993, of which details 87,533; source 71,148, of which details
    // 66,940, before its entries went beside the set; the context with the database's prepared
    // state 8,247). Before: 309,305 gathered.
    expect(sizes.Commit).toBeLessThan(STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES - 24 * 1024);

    // The Restore's Report gathers the results likewise: search with a count that differs for
    // every index (500 warnings), source with 50 targets whose pushes each warned.
    const restoreSizes: Record<string, number> = {};
    const restore = await runWorkflow(
      WORKFLOWS.restore,
      {
        backupId,
        components: ['search', 'source'],
        search: { indexes: 'all', onConflict: 'replace' },
        source: {
          targets: repositoryNames.map((name) => ({
            repository: name,
            url: `https://dr.example.com/${name}.git`,
          })),
        },
        requestedBy: 'cli',
      },
      rt,
      {
        taskOverrides: {
          'Search start restore': startRestoreExpectingOthers,
          'Source restore repository': pushedWithWarnings,
        },
        onStateExited: (name, output) => {
          restoreSizes[name] = payloadBytes(output);
        },
      },
    );
    // Before: States.DataLimitExceeded at Restore (the results gathered).
    expect(failure(restore)).toEqual([]);
    const report = await readRestoreReport(
      rt.store,
      backupId,
      (restore as { output: { restore: { restoreId: string } } }).output.restore.restoreId,
    );
    // What it deleted comes first and is kept; each index's record is stored beside the report.
    const searchWarnings = report.results.search?.warnings ?? [];
    expect(searchWarnings[0]).toMatch(/^deleted before restoring them: /);
    expect(searchWarnings.at(-1)).toMatch(
      new RegExp(
        `^\\.\\.\\. and ${502 - searchWarnings.length} more warnings, .*; see backups/\\S+-search-indexes\\.json\\.gz`,
      ),
    );
    expect(payloadBytes(report.results.search)).toBeLessThanOrEqual(RESULT_BUDGET_BYTES);
    expect(
      (report.results.search?.details as { indexList?: { count: number } } | undefined)?.indexList?.count,
    ).toBe(500);
    expect(report.results.source?.warnings.at(-1)).toMatch(
      /more warnings, left out .*; see every one, whole, in the log of each target's push/,
    );
    const targets = (
      report.results.source?.details as
        | { targets?: { warnings: string[]; moreWarnings?: number }[] }
        | undefined
    )?.targets;
    // Each target's warnings: the first ones kept, the rest counted (finish-restore.ts bounds the details).
    expect(targets?.map((target) => target.warnings.length + (target.moreWarnings ?? 0))).toEqual(
      Array(REPOSITORIES).fill(3),
    );
    // Report's input: about 121 KB with these two (search's 500 restored index records stored
    // beside the report, source's targets bounded), where it was 229,580 bytes: the files and
    // database restore results (3 x 32 KiB) fit beside them.
    expect(restoreSizes.Report).toBeLessThan(STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES - 24 * 1024);
  }, 120_000);
});

describe('withinResultBudget', () => {
  const result = (warnings: string[], details: Record<string, unknown> = {}): ComponentResult => ({
    component: 'search',
    status: 'complete',
    warnings,
    summary: {},
    details,
  });

  it('leaves a result within its budget as it is', () => {
    const small = result(['a', 'b']);
    expect(withinResultBudget(small, 'the list')).toBe(small);
  });

  it('keeps the details whole, and the warnings too when they fit the first 4 KiB', () => {
    const big = result(['deleted before restoring them: a, b'], { indexes: ['x'.repeat(40_000)] });
    expect(withinResultBudget(big)).toBe(big);
  });

  it('keeps at most RESULT_MAX_WARNINGS lines, the last saying how many more and where', () => {
    const many = Array.from({ length: 1500 }, (_, i) => `w${i}`);
    const bounded = withinResultBudget(result(many), 'the list');
    expect(bounded.warnings).toHaveLength(RESULT_MAX_WARNINGS);
    expect(bounded.warnings.slice(0, -1)).toEqual(many.slice(0, RESULT_MAX_WARNINGS - 1));
    expect(bounded.warnings.at(-1)).toMatch(/^\.\.\. and 501 more warnings, .*; see the list$/);
    expect(componentResultSchema.safeParse(bounded).success).toBe(true);
  });

  it('counts UTF-8 bytes, not characters', () => {
    const bounded = withinResultBudget(result(Array.from({ length: 40 }, () => '資'.repeat(1000))));
    expect(payloadBytes(bounded)).toBeLessThanOrEqual(RESULT_BUDGET_BYTES);
    expect(bounded.warnings).toHaveLength(11);
    expect(bounded.warnings.at(-1)).toMatch(/^\.\.\. and 30 more warnings, .*; the first ones are above$/);
  });
});
