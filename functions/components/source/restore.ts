import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { InvalidInputError } from '#runtime/errors.ts';
import type { ContentStore } from '#store/content-store.ts';
import { resolveRemote } from './credentials.ts';
import { GitRemoteError, MirrorVerificationError, RestoreTargetNotEmptyError } from './errors.ts';
import type { SourceDeps } from './mirror.ts';
import { concatenatedSize, concatPacks } from './pack-stream.ts';
import { headTarget, mirroredRefs, type RefMap, restoreCommands, selectRefs } from './refs.ts';
import type { Credentials, RepositoryRecord, RestoreTarget } from './settings.ts';
import { downloadChain } from './store-copy.ts';

export interface RestoreInput {
  /** The repository as the backup recorded it (refs resolved, inline or from its record). */
  readonly record: RepositoryRecord;
  readonly target: RestoreTarget;
  /** Credentials for the mirror (the repository's current configuration, or the defaults). */
  readonly mirrorCredentials: Credentials | undefined;
  readonly store: ContentStore;
  readonly scratchDir: string;
}

export interface RestoreOutcome {
  readonly repository: string;
  readonly url: string;
  readonly from: 'mirror' | 'store';
  readonly refs: number;
  readonly pushed: number;
  readonly packBytes: number;
  readonly seconds: number;
  readonly warnings: string[];
}

/**
 * Pushes the recorded refs (all, or those matching the request's patterns) to the target, with
 * their objects from the mirror or from the store copy, in one receive-pack request; then lists
 * the target and checks every restored ref. A target that already has refs is refused unless the
 * request says `overwrite` (then recorded refs are force-updated and other refs left alone), or
 * unless every ref it has is one of the selected recorded refs at its recorded object id (what a
 * retried attempt finds after its first attempt pushed).
 */
export async function restoreRepository(input: RestoreInput, deps: SourceDeps): Promise<RestoreOutcome> {
  const started = Date.now();
  const { record, target } = input;
  const refs = selectRefs(record.refs, target.refs);
  // A repository empty at backup time (nothing pushed to it yet) is restored as nothing to push.
  const recordedEmpty = Object.keys(record.refs).length === 0 && target.refs === undefined;
  if (Object.keys(refs).length === 0 && !recordedEmpty) {
    throw new InvalidInputError(
      `${record.name}: no recorded ref matches ${(target.refs ?? []).join(', ')} (the backup has ${Object.keys(record.refs).length} refs)`,
    );
  }
  const from = target.from === 'auto' ? (record.storeCopy ? 'store' : 'mirror') : target.from;
  if (from === 'store' && !record.storeCopy) {
    throw new InvalidInputError(
      `${record.name}: this backup has no store copy of the repository; restore from the mirror`,
    );
  }

  const remote = await resolveRemote(target.url, target.credentials, deps.secrets, deps.env);
  const targetAd = await deps.transport.discover(remote, 'git-receive-pack');
  const existing = mirroredRefs(targetAd.refs, () => false);
  const existingCount = Object.keys(existing).length;
  const warnings: string[] = recordedEmpty
    ? [`${record.name}: the repository was empty when it was backed up (no refs): nothing to push`]
    : [];
  if (existingCount > 0 && !target.overwrite) {
    // Step Functions runs this task again after a transient error (RetryableError), also one
    // raised after the push went through. A target that holds only refs of this request, each
    // at its recorded object id, is then this restore's own earlier push: it goes on with the
    // refs still missing (creates only). Anything else on the target is refused as before.
    const foreign = Object.entries(existing)
      .filter(([ref, oid]) => refs[ref] !== oid)
      .map(([ref]) => ref);
    if (foreign.length > 0) {
      throw new RestoreTargetNotEmptyError(
        `${record.name}: the target ${remote.url} already has ${existingCount} ref(s), ${foreign.length} of them not as this backup recorded them (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', ...' : ''}); restore into an empty repository, or set "overwrite": true (CLI --git-overwrite)`,
      );
    }
    warnings.push(
      `${record.name}: the target ${remote.url} already held ${existingCount} of the ${Object.keys(refs).length} ref(s) to restore, each at its recorded object id (what an earlier attempt of this restore leaves behind); only the others were pushed`,
    );
  }
  const commands = restoreCommands(refs, existing);
  const scratch = await mkdtemp(path.join(input.scratchDir, 'liferay-backup-git-restore-'));
  let packBytes = 0;
  try {
    if (commands.length > 0) {
      let pack: { body: AsyncIterable<Uint8Array>; bytes: number };
      let unadvertised: string[] = [];
      if (from === 'store') {
        const parts = await downloadChain(input.store, record.storeCopy?.packs ?? [], scratch);
        pack = { body: concatPacks(parts), bytes: concatenatedSize(parts) };
      } else {
        const fetched = await fetchFromMirror(input, deps, refs, Object.values(existing), scratch);
        unadvertised = fetched.unadvertised;
        pack = { body: createReadStream(fetched.file), bytes: fetched.bytes };
      }
      packBytes = pack.bytes;
      try {
        await deps.transport.push(remote, targetAd, commands, pack);
      } catch (error) {
        if (unadvertised.length > 0 && error instanceof GitRemoteError) {
          throw new GitRemoteError(
            `${error.message}. The mirror no longer has ${unadvertised.length} recorded object(s) at any ref (e.g. ${unadvertised.slice(0, 3).join(', ')}): it moved on since the backup; restore from the store copy ("from": "store") if the backup has one`,
            { cause: error },
          );
        }
        throw error;
      }
    }

    const after = await deps.transport.discover(remote, 'git-upload-pack');
    const actual = mirroredRefs(after.refs, () => false);
    const differences = Object.entries(refs)
      .filter(([ref, oid]) => actual[ref] !== oid)
      .map(([ref, oid]) => `${ref}: target ${actual[ref] ?? 'missing'}, recorded ${oid}`);
    if (differences.length > 0) {
      throw new MirrorVerificationError(
        `${record.name}: after the restore the target ${remote.url} differs from the backup in ${differences.length} ref(s): ${differences.slice(0, 50).join('; ')}`,
      );
    }
    const targetHead = headTarget(after.refs);
    if (record.head && targetHead && targetHead !== record.head && refs[record.head] !== undefined) {
      warnings.push(
        `${record.name}: the target's HEAD is ${targetHead}, the source's was ${record.head}; set the default branch on the Git host (a push cannot)`,
      );
    }
    return {
      repository: record.name,
      url: remote.url,
      from,
      refs: Object.keys(refs).length,
      pushed: commands.length,
      packBytes,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      warnings,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Fetches the recorded objects from the mirror. Servers hand out only objects reachable from the
 * tips they advertise (unless they allow any reachable id): a recorded id that is no longer a tip
 * is asked for through every advertised tip, hoping it is still reachable; the target's
 * connectivity check then says whether it was.
 */
async function fetchFromMirror(
  input: RestoreInput,
  deps: SourceDeps,
  refs: RefMap,
  targetOids: readonly string[],
  scratch: string,
): Promise<{ file: string; bytes: number; unadvertised: string[] }> {
  const mirror = await resolveRemote(input.record.mirrorUrl, input.mirrorCredentials, deps.secrets, deps.env);
  const mirrorAd = await deps.transport.discover(mirror, 'git-upload-pack');
  const advertised = new Set(mirrorAd.refs.map((ref) => ref.oid));
  const wanted = [...new Set(Object.values(refs))];
  const unadvertised = wanted.filter((oid) => !advertised.has(oid));
  const anyReachable =
    mirrorAd.capabilities.has('allow-reachable-sha1-in-want') ||
    mirrorAd.capabilities.has('allow-any-sha1-in-want');
  const wants =
    unadvertised.length > 0 && !anyReachable
      ? [
          ...new Set([
            ...wanted.filter((oid) => advertised.has(oid)),
            ...mirrorAd.refs.filter((ref) => ref.ref.startsWith('refs/')).map((ref) => ref.oid),
          ]),
        ]
      : wanted;
  if (wants.length === 0)
    throw new GitRemoteError(`${input.record.name}: the mirror ${mirror.url} has no refs`);
  const file = path.join(scratch, 'restore.pack');
  const info = await deps.transport.fetchPack(mirror, mirrorAd, {
    wants,
    haves: [...new Set(targetOids)],
    ofsDelta: true,
    file,
  });
  return { file, bytes: info.bytes, unadvertised: anyReachable ? [] : unadvertised };
}
