import type { RetentionHooks, SetComponent, VerifyOutcome } from '#components/component.ts';
import { CorruptBackupError, RetryableError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import type { SearchEngine, SnapshotInfo } from './engine.ts';
import { SearchSnapshotBusyError } from './errors.ts';
import { searchRuntime } from './handlers/context.ts';
import { parseSearchRecord, searchDetailsOf } from './index-list.ts';
import { namedFirst } from './names.ts';
import type { SearchRecord, SearchResultDetails } from './records.ts';
import { isReadOnly, repositoryLocation } from './repository.ts';
import { SNAPSHOT_METADATA, snapshotName } from './snapshot.ts';

/**
 * What the set's search snapshot means to retention (delete it with the set) and to the restore
 * drill (prove it is there, succeeded and holds every recorded index), without restoring anything.
 */

type Located =
  | {
      readonly ok: true;
      readonly engine: SearchEngine;
      readonly details: SearchRecord;
      readonly where: string;
    }
  | { readonly ok: false; readonly problem: string };

/**
 * The engine, and the set's record, once the repository is known to read where the set wrote.
 * `drill`: the restore drill's check, which on the command line has a cluster only when verify is
 * given one (retention's message names no command: deletion runs in the Retention workflow).
 */
async function locate(input: SetComponent, rt: Runtime, drill = false): Promise<Located> {
  const parsed = parseSearchRecord(input.result.details);
  if (!parsed.ok) {
    return {
      ok: false,
      problem: `set ${input.backupId}: the search record is not readable: ${parsed.problem}`,
    };
  }
  const details = parsed.record;
  const where = `${details.repository.name}/${details.snapshot.name}`;
  if (rt.settings.components.search === undefined) {
    return {
      ok: false,
      problem: `search snapshot ${where}: the search component is not configured in this deployment${drill ? ' (the drill asks the cluster for the snapshot; a local drill needs verify --search-url URL)' : ''}`,
    };
  }
  const { engine } = await searchRuntime(rt);
  const repository = await engine.getRepository(details.repository.name);
  if (!repository) {
    return {
      ok: false,
      problem: `search snapshot ${where}: repository ${details.repository.name} is not registered`,
    };
  }
  const location = repositoryLocation(repository);
  if (location !== details.repository.location) {
    return {
      ok: false,
      problem: `search snapshot ${where}: the set wrote to ${details.repository.location}, the repository now reads ${location}`,
    };
  }
  return { ok: true, engine, details, where };
}

/**
 * Why a snapshot found under a set's name is not provably that set's, or undefined when it is.
 * Every snapshot this component ever started carries `{taken_by, backup_id, environment}`
 * (startSnapshot, since its first version), so the metadata is required: a name alone could be
 * another tool's (or another deployment's sharing the repository) that happens to match.
 */
function notThisSets(snapshot: SnapshotInfo, backupId: string, environment: string): string | undefined {
  const metadata = snapshot.metadata ?? {};
  const shown = (key: string) =>
    metadata[key] === undefined ? `no ${key}` : `${key} ${JSON.stringify(metadata[key])}`;
  if (metadata.taken_by !== SNAPSHOT_METADATA.takenBy)
    return `its metadata has ${shown('taken_by')}, not ${SNAPSHOT_METADATA.takenBy}`;
  if (metadata.backup_id !== backupId) return `its metadata has ${shown('backup_id')}, not ${backupId}`;
  if (metadata.environment !== environment)
    return `its metadata has ${shown('environment')}, not ${environment}`;
  return undefined;
}

/** What is under a set's name in the configured repository, for a set that records no snapshot. */
type Unrecorded =
  | { readonly found: false; readonly lines: string[] }
  | {
      readonly found: true;
      readonly engine: SearchEngine;
      readonly repository: NonNullable<Awaited<ReturnType<SearchEngine['getRepository']>>>;
      readonly repositoryName: string;
      readonly where: string;
      readonly snapshot: SnapshotInfo;
    };

/**
 * A set whose search result failed (the branch's Catch keeps only the error) or is missing (a run
 * stopped, timed out or abandoned before Commit) records no snapshot, yet its start may have made
 * one: the check's retries ran out while the cluster was unreachable, or the execution ended while
 * the snapshot ran. It carries the set's name in the configured repository, and is this set's when
 * its metadata proves it.
 */
async function findUnrecordedSnapshot(backupId: string, rt: Runtime): Promise<Unrecorded> {
  // Without the component's settings there is nowhere to look (and a set never had a snapshot).
  if (rt.settings.components.search === undefined) return { found: false, lines: [] };
  const { settings, engine } = await searchRuntime(rt);
  const repositoryName = settings.repository.name;
  const where = `${repositoryName}/${snapshotName(backupId)}`;
  const repository = await engine.getRepository(repositoryName);
  if (!repository) {
    return {
      found: false,
      lines: [
        `no search snapshot looked up for set ${backupId}, whose search result is not complete: repository ${repositoryName} is not registered`,
      ],
    };
  }
  const snapshot = await engine.getSnapshot(repositoryName, snapshotName(backupId));
  if (!snapshot)
    return { found: false, lines: [`search snapshot ${where} was already gone (or never started)`] };
  const foreign = notThisSets(snapshot, backupId, rt.settings.environment);
  if (foreign)
    return {
      found: false,
      lines: [`left in place: search snapshot ${where} is not set ${backupId}'s: ${foreign}`],
    };
  return { found: true, engine, repository, repositoryName, where, snapshot };
}

/** Why the unrecorded snapshot cannot go now: deleting it would abort a snapshot that may still be the run's (a run outliving its lock). */
function stillRunning(where: string): string {
  return `search snapshot ${where} is still IN_PROGRESS (deleting it would abort a snapshot that may still be running; once it ends, the next retention run deletes it with the set)`;
}

/** Deletes the unrecorded snapshot, finished or not, except while it still runs. */
async function deleteUnrecordedSnapshot(backupId: string, rt: Runtime): Promise<string[]> {
  const looked = await findUnrecordedSnapshot(backupId, rt);
  if (!looked.found) return looked.lines;
  const { engine, repository, repositoryName, where, snapshot } = looked;
  if (snapshot.state === 'IN_PROGRESS') {
    // postponeDeletion saw it ended, or the snapshot started since: nothing was deleted this time.
    throw new RetryableError(`${stillRunning(where)}; the set's deletion is retried`);
  }
  if (isReadOnly(repository)) {
    return [
      `left in place: search snapshot ${where}: repository ${repositoryName} is registered read-only on this cluster (another cluster writes it: delete the snapshot there)`,
    ];
  }
  const deleted = await engine.deleteSnapshot(repositoryName, snapshotName(backupId));
  rt.logger.info('unrecorded search snapshot deleted', { snapshot: where, state: snapshot.state, deleted });
  return [
    deleted
      ? `search snapshot ${where} (${snapshot.state}, of a search result that is not complete) deleted`
      : `search snapshot ${where} was already gone`,
  ];
}

export const searchRetention: RetentionHooks = {
  /**
   * A snapshot of the set still IN_PROGRESS: the set waits for the next retention run, whole (asked
   * before any component deletes). Only a result that is not complete can have one: a complete
   * result recorded its snapshot ended.
   */
  async postponeDeletion(input, rt) {
    if (input.result.status === 'skipped' || input.result.status === 'complete') return undefined;
    const looked = await findUnrecordedSnapshot(input.backupId, rt);
    return looked.found && looked.snapshot.state === 'IN_PROGRESS' ? stillRunning(looked.where) : undefined;
  },
  /**
   * Deletes the set's snapshot. Idempotent (a snapshot already gone is reported, not an error). A
   * complete result names its snapshot; a failed or missing one is looked up by the set's name
   * (deleteUnrecordedSnapshot). A recorded snapshot that cannot be reached (component no longer
   * configured, repository moved) is reported as left in place.
   */
  async deleteArtifacts(input, rt) {
    if (input.result.status === 'skipped') return [];
    try {
      if (input.result.status !== 'complete') return await deleteUnrecordedSnapshot(input.backupId, rt);
      const located = await locate(input, rt);
      if (!located.ok) return [`left in place: ${located.problem}`];
      const deleted = await located.engine.deleteSnapshot(
        located.details.repository.name,
        located.details.snapshot.name,
      );
      return [
        deleted
          ? `search snapshot ${located.where} deleted`
          : `search snapshot ${located.where} was already gone`,
      ];
    } catch (error) {
      // A snapshot running in the repository blocks deletions on some versions: try again later.
      if (error instanceof SearchSnapshotBusyError) throw new RetryableError(error.message, { cause: error });
      throw error;
    }
  },
};

/** The restore drill's check: the snapshot exists in the repository the set wrote to, succeeded, holds every index. */
export async function verifySearchSnapshot(input: SetComponent, rt: Runtime): Promise<VerifyOutcome> {
  const located = await locate(input, rt, true);
  if (!located.ok) return { status: 'failed', checks: [], problems: [located.problem] };
  const { engine, where } = located;
  const checks = [
    `repository ${located.details.repository.name} reads ${located.details.repository.location}`,
  ];
  let details: SearchResultDetails;
  try {
    details = await searchDetailsOf(rt.store, located.details, `set ${input.backupId}`);
  } catch (error) {
    if (!(error instanceof CorruptBackupError)) throw error;
    return { status: 'failed', checks, problems: [error.message] };
  }
  if ('indexList' in located.details) {
    checks.push(
      `${located.details.indexList.key} matches its recorded size and sha256 (${details.indexes.length} index records)`,
    );
  }
  const snapshot = await engine.getSnapshot(details.repository.name, details.snapshot.name);
  if (!snapshot) return { status: 'failed', checks, problems: [`search snapshot ${where} does not exist`] };
  checks.push(`search snapshot ${where} exists`);
  const problems: string[] = [];
  if (snapshot.state === 'SUCCESS') checks.push(`search snapshot ${where} is SUCCESS`);
  else problems.push(`search snapshot ${where} is ${snapshot.state}`);
  if (details.snapshot.uuid && snapshot.uuid && snapshot.uuid !== details.snapshot.uuid) {
    problems.push(
      `search snapshot ${where} is another snapshot than the set recorded (uuid ${snapshot.uuid}, recorded ${details.snapshot.uuid})`,
    );
  }
  const missing = details.indexes
    .filter((index) => !snapshot.indices.includes(index.name))
    .map((index) => index.name);
  if (missing.length > 0) problems.push(`search snapshot ${where} lacks ${namedFirst(missing)}`);
  else checks.push(`search snapshot ${where} holds the ${details.indexes.length} recorded indexes`);
  return { status: problems.length === 0 ? 'verified' : 'failed', checks, problems };
}
