import { createHash } from 'node:crypto';
import type { RetentionHooks, SetComponent, VerifyOutcome } from '#components/component.ts';
import { asError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { componentSettings } from '#runtime/settings.ts';
import { resolveRemote } from './credentials.ts';
import type { SourceDeps } from './mirror.ts';
import { recordOf, sourceDeps } from './records.ts';
import { mirroredRefs } from './refs.ts';
import { readSourceDetails } from './repository-list.ts';
import { type Credentials, type SourceDetails, type StoredPack, sourceSettingsSchema } from './settings.ts';
import { idxObjectIds, indexKeyOf } from './store-copy.ts';

/**
 * What garbage collection needs from the source component: its store copy lives under
 * `objects/git/` (packs and their indexes, content-addressed), and a set references exactly the
 * packs of its repositories' chains, each with its index.
 */
export const sourceRetention: RetentionHooks = {
  sweepPrefixes: () => ['objects/git/'],

  async *references({ result, backupId }, rt) {
    // A stored list that is missing or does not match fails the mark (the run collects nothing).
    const details = await readSourceDetails(rt.store, result.details, `backup set ${backupId}`);
    for (const repository of details.repositories) {
      if (!repository.storeCopy) continue;
      // The manifest may keep only the first packs of a long chain inline: recordOf reads the
      // record then (an unreadable one fails the mark, and the run collects nothing).
      for (const pack of (await recordOf(rt.store, repository)).storeCopy?.packs ?? []) {
        yield pack.key;
        yield indexKeyOf(pack);
      }
    }
  },
};

/**
 * The restore drill's check of the source component in a set: every repository's record is
 * readable and complete; the mirror is contacted with its configured credentials and every
 * recorded ref must exist there (a ref that moved on since is noted: the restore asks the mirror for
 * the recorded object through the current tips); every pack of every store copy is there with its
 * recorded SHA-256, size and object count (the pack streamed and hashed, its index read), and the
 * packs' indexes hold the object of every recorded ref (what a restore from the store pushes). A
 * ref missing on the mirror fails the drill unless the store copy holds it.
 */
export async function verifySource(
  { result, backupId }: SetComponent,
  rt: Runtime,
  deps: SourceDeps = sourceDeps(),
): Promise<VerifyOutcome> {
  const checks: string[] = [];
  const problems: string[] = [];
  let details: SourceDetails;
  try {
    details = await readSourceDetails(rt.store, result.details, `backup set ${backupId}`);
  } catch (error) {
    return { status: 'failed', checks, problems: [asError(error).message] };
  }
  for (const entry of details.repositories) {
    let refs: Readonly<Record<string, string>>;
    let packs: readonly StoredPack[];
    try {
      const record = await recordOf(rt.store, entry);
      refs = record.refs;
      packs = record.storeCopy?.packs ?? [];
      checks.push(`${entry.name}: ${Object.keys(refs).length} refs recorded`);
    } catch (error) {
      problems.push(`${entry.name}: ${asError(error).message}`);
      continue;
    }
    const mirror = await checkMirror(
      entry.name,
      entry.mirrorUrl,
      refs,
      mirrorCredentials(rt, entry.name),
      deps,
    );
    checks.push(...mirror.checks);
    if (packs.length === 0) {
      if (mirror.problem) problems.push(`${mirror.problem} (and the set has no store copy of it)`);
      continue;
    }
    if (mirror.problem) checks.push(`${mirror.problem}; the store copy is checked instead`);
    const stored = new Set<string>();
    const problemsBefore = problems.length;
    for (const pack of packs) {
      try {
        const hash = createHash('sha256');
        let bytes = 0;
        for await (const chunk of await rt.store.get(pack.key)) {
          hash.update(chunk as Buffer);
          bytes += (chunk as Buffer).length;
        }
        const sha256 = hash.digest('hex');
        const ids = idxObjectIds(await rt.store.read(indexKeyOf(pack)));
        const indexed = ids.length;
        if (sha256 !== pack.sha256 || bytes !== pack.bytes) {
          problems.push(
            `${entry.name}: ${pack.key} has sha256 ${sha256} (${bytes} bytes), recorded ${pack.sha256} (${pack.bytes} bytes)`,
          );
        } else if (indexed !== pack.objects) {
          problems.push(
            `${entry.name}: ${indexKeyOf(pack)} lists ${indexed} objects, the pack holds ${pack.objects}`,
          );
        } else {
          checks.push(`${entry.name}: ${pack.key} sha256 and ${pack.objects} objects as recorded`);
          for (const id of ids) stored.add(id);
        }
      } catch (error) {
        problems.push(`${entry.name}: ${pack.key}: ${asError(error).message}`);
      }
    }
    if (problems.length > problemsBefore) continue;
    // Every recorded ref's object must be in the chain: that is what a restore from the store pushes.
    const missing = Object.entries(refs).filter(([, oid]) => !stored.has(oid));
    if (missing.length > 0) {
      problems.push(
        `${entry.name}: the store copy lacks the object of ${missing.length} recorded ref(s): ${missing
          .slice(0, 10)
          .map(([ref, oid]) => `${ref} (${oid})`)
          .join(', ')}${missing.length > 10 ? ', ...' : ''}`,
      );
    } else {
      checks.push(
        `${entry.name}: the store copy holds the objects of all ${Object.keys(refs).length} recorded refs`,
      );
    }
  }
  return { status: problems.length === 0 ? 'verified' : 'failed', checks, problems };
}

/** The mirror's credentials as configured now (the repository's own, or the defaults). */
function mirrorCredentials(rt: Runtime, name: string): Credentials | undefined {
  if (rt.settings.components.source === undefined) return undefined;
  const settings = componentSettings(rt.settings, 'source', sourceSettingsSchema);
  const configured = settings.repositories.find((repository) => repository.name === name);
  return configured?.mirrorCredentials ?? settings.defaultCredentials;
}

/** Lists the mirror's refs and compares them with the recorded ones; never throws. */
async function checkMirror(
  name: string,
  mirrorUrl: string,
  refs: Readonly<Record<string, string>>,
  credentials: Credentials | undefined,
  deps: SourceDeps,
): Promise<{ checks: string[]; problem?: string }> {
  let actual: Record<string, string>;
  let url = mirrorUrl;
  try {
    const remote = await resolveRemote(mirrorUrl, credentials, deps.secrets, deps.env);
    url = remote.url;
    actual = mirroredRefs((await deps.transport.discover(remote, 'git-upload-pack')).refs, () => false);
  } catch (error) {
    return { checks: [], problem: `${name}: the mirror could not be listed: ${asError(error).message}` };
  }
  const recorded = Object.entries(refs);
  const missing = recorded.filter(([ref]) => actual[ref] === undefined).map(([ref]) => ref);
  const moved = recorded.filter(([ref, oid]) => actual[ref] !== undefined && actual[ref] !== oid);
  const checks = [
    `${name}: the mirror ${url} has ${recorded.length - missing.length} of the ${recorded.length} recorded refs${
      moved.length > 0 ? `, ${moved.length} of them moved on since the backup` : ''
    }`,
  ];
  // Listing refs proves nothing about a moved ref's recorded object: only a fetch would (the
  // restore's), and a mirror force-pushed and collected since has lost it.
  if (moved.length > 0)
    checks.push(
      `not checked: that the mirror still holds the recorded objects of ${moved.length} moved ref(s) (${moved
        .slice(0, 10)
        .map(([ref]) => ref)
        .join(
          ', ',
        )}${moved.length > 10 ? ', ...' : ''}): the drill does not fetch them, and a restore from the mirror fails if a force-push and a gc there removed them`,
    );
  if (missing.length === 0) return { checks };
  return {
    checks,
    problem: `${name}: the mirror ${url} lacks ${missing.length} recorded ref(s): ${missing.slice(0, 10).join(', ')}${
      missing.length > 10 ? ', ...' : ''
    }`,
  };
}
