import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { readManifest } from '#backup-set/manifest.ts';
import type { MirroredRepository } from '#components/source/mirror-repository.ts';
import { recordOf, writeRecord } from '#components/source/records.ts';
import { readSourceDetails } from '#components/source/repository-list.ts';
import { sourceRetention } from '#components/source/retention.ts';
import type { RepositoryRecord } from '#components/source/settings.ts';
import { MAX_CHAIN } from '#components/source/store-copy.ts';
import { payloadBytes, runWorkflow, type WorkflowOutcome } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler } from '#runtime/runtime.ts';
import { tempDir, testRuntime } from '../support/local-runtime.ts';
import { SearchEngineStandIn } from '../support/search-engine-server.ts';
import { writeTree } from './support.ts';

let server: SearchEngineStandIn | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/**
 * A source component at a realistic scale on AWS: 50 repositories with store copies, each with a
 * few hundred refs and a chain of packs (a chain grows by one pack per backup that found changes,
 * up to MAX_CHAIN, then starts over). Step Functions carries the component's result between
 * states (at most 256 KiB per state, with the other components' results), so what the manifest
 * keeps inline must stay bounded; the full records stay in the store.
 */
const REPOSITORIES = 50;
const hex = (seed: string, length: number) =>
  createHash('sha256').update(seed).digest('hex').repeat(2).slice(0, length);

function names(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `liferay-dxp-module-${String(i).padStart(2, '0')}`);
}

function settingsFor(repositories: string[]) {
  return {
    source: {
      repositories: repositories.map((name) => ({
        name,
        sourceUrl: `https://git.example.com/liferay/${name}.git`,
        mirrorUrl: `https://git-mirror.example.com/liferay/${name}.git`,
        storeCopy: true,
      })),
      defaultCredentials: { tokenParameter: '/liferay/git/token' },
    },
  };
}

/** The record a mirror of `name` leaves: `refs` refs and a chain of `packs` packs. */
function recordFor(name: string, refs: number, packs: number): RepositoryRecord {
  return {
    name,
    sourceUrl: `https://git.example.com/liferay/${name}.git`,
    mirrorUrl: `https://git-mirror.example.com/liferay/${name}.git`,
    capturedAt: '2026-11-27T02:00:00.000Z',
    head: 'refs/heads/master',
    refs: Object.fromEntries(
      Array.from({ length: refs }, (_, i) => [
        i % 3 === 0 ? `refs/tags/7.4.13-u${i}` : `refs/heads/feature/LPS-${100_000 + i}-fix`,
        hex(`${name}/${i}`, 40),
      ]),
    ),
    exclude: [],
    prune: true,
    keptOnMirror: [],
    deletedOnMirror: [],
    storeCopy: {
      packs: Array.from({ length: packs }, (_, i) => ({
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
    warnings: [],
  };
}

/** Stands in for the mirror (no Git hosts here): writes the record a mirror would have written. */
function mirrorWriting(refs: number, packs: number): Handler {
  return async (event, rt): Promise<MirroredRepository> => {
    const { backup, repository } = event as { backup: { backupId: string }; repository: string };
    const record = recordFor(repository, refs, packs);
    const recordKey = await writeRecord(rt.store, backup.backupId, record);
    return { repository, recordKey, refs, seconds: 4.2 };
  };
}

function failure(outcome: WorkflowOutcome): string[] {
  return outcome.status === 'FAILED' ? [outcome.error, outcome.cause] : [];
}

describe('the source result of 50 repositories with store copies crosses Step Functions states', () => {
  it('backs up 50 repositories whose chains reached MAX_CHAIN packs within the payload quota', async () => {
    const repositories = names(REPOSITORIES);
    const rt = testRuntime({ components: settingsFor(repositories) });
    const outcome = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli', components: ['source'] }, rt, {
      taskOverrides: { 'Source mirror repository': mirrorWriting(300, MAX_CHAIN) },
    });
    // Before: States.DataLimitExceeded at 'Source finish backup' (a 370 KB result), which no Catch
    // stops: on AWS the execution failed, Commit never ran, the set stayed running, every night.
    expect(failure(outcome)).toEqual([]);
    const backupId = (outcome as { output: { backup: { backupId: string } } }).output.backup.backupId;
    const manifest = await readManifest(rt.store, backupId);
    expect(manifest.status).toBe('complete');
    const result = manifest.results.source;
    if (!result) throw new Error('no source result');
    expect(payloadBytes(result)).toBeLessThan(96 * 1024);
    expect(result.summary).toMatchObject({ repositories: REPOSITORIES, refs: REPOSITORIES * 300 });
    // What an SRE reads: the first repositories named, the others counted on one line.
    expect(result.warnings.length).toBeLessThanOrEqual(11);
    expect(result.warnings.at(-1)).toMatch(
      /^\d+ more repositories keep only counts of their refs and lists inline \(the full records are at their recordKey\): liferay-dxp-module-\d\d, /,
    );

    // Every pack of every chain is still found: by a restore or drill (recordOf) and by garbage
    // collection, which must keep them all.
    const details = await readSourceDetails(rt.store, result.details, backupId);
    const last = details.repositories.at(-1);
    if (!last) throw new Error('no repository');
    expect(last.storeCopy?.packs).toEqual([]);
    expect(last.fullLengths).toMatchObject({ packs: MAX_CHAIN });
    expect((await recordOf(rt.store, last)).storeCopy?.packs).toHaveLength(MAX_CHAIN);
    const referenced: string[] = [];
    for await (const key of sourceRetention.references?.({ backupId, result }, rt) ?? [])
      referenced.push(key);
    expect(referenced).toHaveLength(REPOSITORIES * MAX_CHAIN * 2);
    expect(new Set(referenced).size).toBe(REPOSITORIES * MAX_CHAIN * 2);
  });

  it('backs up 50 repositories beside a search cluster of 500 indexes and a Liferay Home, within the payload quota', async () => {
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
    const { dir } = tempDir('payload-home');
    writeTree(dir, { 'portal-ext.properties': 'x=1\n', 'data/document_library/1/a.bin': 'a' });
    const repositories = names(REPOSITORIES);
    const rt = testRuntime({
      components: {
        ...settingsFor(repositories),
        liferayHome: { root: dir },
        search: {
          engine: 'elasticsearch',
          endpoint: server.url,
          credentials: { type: 'none' },
          repository: { name: 'liferay-backup' },
          waitSeconds: 0,
        },
      },
    });
    const outcome = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt, {
      taskOverrides: { 'Source mirror repository': mirrorWriting(100, 12) },
    });
    expect(failure(outcome)).toEqual([]);
  });
});
