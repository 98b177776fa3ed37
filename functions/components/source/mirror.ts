import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as path from 'node:path';
import type { ContentStore } from '#store/content-store.ts';
import { type Remote, resolveRemote, type SecretReader } from './credentials.ts';
import { deletionsJournalKey, readDeletions, writeDeletions } from './deletions-journal.ts';
import { MirrorVerificationError } from './errors.ts';
import type { PackInfo } from './pack-stream.ts';
import { changedRefs, headTarget, mirroredRefs, planMirror, refMatcher, verifyMirror } from './refs.ts';
import type { Credentials, RepositoryRecord, RepositorySettings, StoredPack } from './settings.ts';
import type { Advertisement, GitTransport } from './smart-http.ts';
import { chainBase, chainObjectIds, indexPackFile, sameOids, storePack } from './store-copy.ts';

/** What the repository-level operations need from outside. */
export interface SourceDeps {
  readonly transport: GitTransport;
  readonly secrets: SecretReader;
  readonly env: NodeJS.ProcessEnv;
}

export interface MirrorInput {
  readonly repository: RepositorySettings;
  readonly defaultCredentials: Credentials | undefined;
  /** The same repository's record in the previous complete backup (the store copy builds on it). */
  readonly previous: RepositoryRecord | undefined;
  readonly store: ContentStore;
  /** Where the pack is staged while it goes from source to mirror (and store); removed after. */
  readonly scratchDir: string;
  readonly now: () => Date;
  readonly progress?: (message: string) => void;
  /**
   * The set this run writes (its id). With `prune`, the refs to delete are noted in that set
   * before they are deleted, so a retried attempt still records them (deletions-journal.ts).
   * @default none: a caller outside a workflow run; the note is kept per repository instead
   */
  readonly backupId?: string;
}

/** At most this many "have" lines: more only shrinks the pack a little and grows the request. */
const MAX_HAVES = 10_000;
/** How many differing refs an error message lists. */
const MAX_LISTED = 50;

/**
 * Mirrors one repository: every participating ref of the source is made equal on the mirror in
 * one receive-pack request, with the pack the source computed for exactly what the mirror lacks
 * (the mirror's tips are the "haves"), so a run is incremental whether or not this container has
 * seen the repository before. Then both sides are listed again and compared.
 */
export async function mirrorRepository(input: MirrorInput, deps: SourceDeps): Promise<RepositoryRecord> {
  const started = Date.now();
  const { repository } = input;
  const source = await resolveRemote(
    repository.sourceUrl,
    repository.sourceCredentials ?? input.defaultCredentials,
    deps.secrets,
    deps.env,
  );
  const mirror = await resolveRemote(
    repository.mirrorUrl,
    repository.mirrorCredentials ?? input.defaultCredentials,
    deps.secrets,
    deps.env,
  );
  const excluded = refMatcher(repository.exclude);

  const [sourceAd, mirrorAd] = await Promise.all([
    deps.transport.discover(source, 'git-upload-pack'),
    deps.transport.discover(mirror, 'git-receive-pack'),
  ]);
  const capturedAt = input.now().toISOString();
  const sourceRefs = mirroredRefs(sourceAd.refs, excluded);
  const mirrorRefs = mirroredRefs(mirrorAd.refs, excluded);
  const plan = planMirror(sourceRefs, mirrorRefs, repository.prune);
  const journalKey = deletionsJournalKey(repository.name, input.backupId);
  // What an earlier attempt of this run deleted (gone from the mirror now, so not in the plan):
  // still this run's deletions, unless the ref is back at the source (then it is created again).
  const noted = repository.prune ? await readDeletions(input.store, journalKey) : [];
  const deletedEarlier = noted.filter(
    (ref) => !excluded(ref) && sourceRefs[ref] === undefined && mirrorRefs[ref] === undefined,
  );
  const deleted = [...new Set([...deletedEarlier, ...plan.deleted])].sort();
  const mirrorHaves = haves(mirrorAd);
  input.progress?.(
    `${repository.name}: ${Object.keys(sourceRefs).length} refs, ${plan.created} to create, ${plan.updated} to update, ${plan.deleted.length} to delete`,
  );

  const scratch = await mkdtemp(path.join(input.scratchDir, 'liferay-backup-git-'));
  try {
    let mirrorPack: { file: string; info: PackInfo } | undefined;
    if (plan.wants.length > 0) {
      const file = path.join(scratch, 'mirror.pack');
      const info = await deps.transport.fetchPack(source, sourceAd, {
        wants: plan.wants,
        haves: mirrorHaves,
        ofsDelta: mirrorAd.capabilities.has('ofs-delta'),
        file,
      });
      mirrorPack = { file, info };
    }
    if (plan.commands.length > 0) {
      if (plan.deleted.length > 0) await writeDeletions(input.store, journalKey, deleted);
      await deps.transport.push(
        mirror,
        mirrorAd,
        plan.commands,
        mirrorPack ? { body: createReadStream(mirrorPack.file), bytes: mirrorPack.info.bytes } : undefined,
      );
    }

    const warnings: string[] = [];
    const [sourceAfter, mirrorAfter] = await Promise.all([
      deps.transport.discover(source, 'git-upload-pack'),
      deps.transport.discover(mirror, 'git-upload-pack'),
    ]);
    const verification = verifyMirror(sourceRefs, mirroredRefs(mirrorAfter.refs, excluded), repository.prune);
    if (verification.differences.length > 0) {
      const listed = verification.differences.slice(0, MAX_LISTED);
      const more = verification.differences.length - listed.length;
      throw new MirrorVerificationError(
        `${repository.name}: the mirror ${mirror.url} differs from the source in ${verification.differences.length} ref(s): ${listed.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
      );
    }
    const moved = changedRefs(sourceRefs, mirroredRefs(sourceAfter.refs, excluded));
    if (moved.length > 0) {
      warnings.push(
        `${repository.name}: ${moved.length} ref(s) changed at the source during the backup (recorded and mirrored as they were at ${capturedAt}): ${moved.slice(0, 10).join(', ')}${moved.length > 10 ? ', ...' : ''}`,
      );
    }
    const sourceHead = headTarget(sourceAd.refs);
    const mirrorHead = headTarget(mirrorAfter.refs);
    if (sourceHead && sourceHead !== mirrorHead && sourceRefs[sourceHead] !== undefined) {
      warnings.push(
        `${repository.name}: the mirror's HEAD is ${mirrorHead ?? 'unset'}, the source's is ${sourceHead}; set the mirror's default branch on its host (a push cannot)`,
      );
    }
    if (verification.kept.length > 0) {
      warnings.push(
        `${repository.name}: ${verification.kept.length} ref(s) gone at the source are kept on the mirror (prune is off): ${verification.kept.slice(0, 10).join(', ')}${verification.kept.length > 10 ? ', ...' : ''}`,
      );
    }

    let storeCopy: { packs: StoredPack[] } | undefined;
    let storedBytes = 0;
    if (repository.storeCopy) {
      const result = await copyToStore(
        input,
        deps,
        source,
        sourceAd,
        sourceRefs,
        mirrorHaves,
        mirrorPack,
        scratch,
      );
      // An empty repository has nothing to copy (and a restore nothing to push).
      storeCopy = result.packs.length > 0 ? { packs: result.packs } : undefined;
      storedBytes = result.storedBytes;
    }

    // A journal outside any set would otherwise lend this run's deletions to the next run. One inside
    // the set stays: only this run reads it, and its record is written after this returns.
    if (!input.backupId && (noted.length > 0 || plan.deleted.length > 0)) {
      await writeDeletions(input.store, journalKey, []);
    }

    return {
      name: repository.name,
      sourceUrl: source.url,
      mirrorUrl: mirror.url,
      capturedAt,
      ...(sourceHead ? { head: sourceHead } : {}),
      refs: sourceRefs,
      exclude: [...repository.exclude],
      prune: repository.prune,
      keptOnMirror: verification.kept,
      deletedOnMirror: deleted,
      ...(storeCopy ? { storeCopy } : {}),
      stats: {
        created: plan.created,
        updated: plan.updated,
        deleted: deleted.length,
        packBytes: mirrorPack?.info.bytes ?? 0,
        packObjects: mirrorPack?.info.objects ?? 0,
        storedBytes,
        seconds: Math.round((Date.now() - started) / 100) / 10,
      },
      warnings,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Every object id the mirror advertises, participating refs first (the pack is computed against them). */
function haves(advertisement: Advertisement): string[] {
  const oids = new Set<string>();
  for (const ref of advertisement.refs) if (ref.ref.startsWith('refs/')) oids.add(ref.oid);
  return [...oids].slice(0, MAX_HAVES);
}

/**
 * Adds this backup's pack to the store chain. The pack needed is everything reachable from the
 * recorded refs and not from the previous backup's refs; when the mirror's tips were exactly the
 * previous refs (the usual case) that is the pack just sent to the mirror, otherwise the source
 * is asked once more with the previous refs as "haves". A pack sharing an object with the chain
 * starts a new chain with a full pack (see store-copy.ts).
 */
async function copyToStore(
  input: MirrorInput,
  deps: SourceDeps,
  source: Remote,
  sourceAd: Advertisement,
  sourceRefs: Record<string, string>,
  mirrorHaves: readonly string[],
  mirrorPack: { file: string; info: PackInfo } | undefined,
  scratch: string,
): Promise<{ packs: StoredPack[]; storedBytes: number }> {
  let base = chainBase(input.previous);
  const wants = [...new Set(Object.values(sourceRefs))];
  if (wants.length === 0) return { packs: base.packs, storedBytes: 0 };
  const fetchFor = async (haves: readonly string[], name: string) => {
    const file = path.join(scratch, name);
    const info = await deps.transport.fetchPack(source, sourceAd, { wants, haves, ofsDelta: true, file });
    return { file, info };
  };
  let pack: { file: string; info: PackInfo };
  if (base.packs.length > 0 && sameOids(base.haves, mirrorHaves)) {
    // Nothing new since the previous backup: the chain already holds every object.
    if (!mirrorPack) return { packs: base.packs, storedBytes: 0 };
    pack = mirrorPack;
  } else if (base.packs.length === 0 && mirrorHaves.length === 0 && mirrorPack) {
    // An empty mirror got everything: the same full pack starts the chain.
    pack = mirrorPack;
  } else {
    pack = await fetchFor(base.haves, 'store.pack');
  }
  if (pack.info.objects === 0 && base.packs.length > 0) return { packs: base.packs, storedBytes: 0 };
  let indexed = await indexPackFile(pack.file, pack.info);
  if (base.packs.length > 0) {
    const chain = await chainObjectIds(input.store, base.packs);
    const shared = indexed.oids.filter((oid) => chain.has(oid)).length;
    if (shared > 0) {
      input.progress?.(
        `${input.repository.name}: ${shared} object(s) already in the store chain; starting a new chain`,
      );
      base = { packs: [], haves: [] };
      const full = await fetchFor([], 'store-full.pack');
      indexed = await indexPackFile(full.file, full.info);
    }
  }
  const { stored, written } = await storePack(input.store, indexed, { now: input.now() });
  return { packs: [...base.packs, stored], storedBytes: written ? stored.bytes : 0 };
}
