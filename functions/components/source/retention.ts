import { createHash } from 'node:crypto';
import type { RetentionHooks, SetComponent, VerifyOutcome } from '#components/component.ts';
import { asError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseDetails, recordOf } from './records.ts';
import { idxObjectIds, indexKeyOf } from './store-copy.ts';

/**
 * What garbage collection needs from the source component: its store copy lives under
 * `objects/git/` (packs and their indexes, content-addressed), and a set references exactly the
 * packs of its repositories' chains, each with its index.
 */
export const sourceRetention: RetentionHooks = {
  sweepPrefixes: () => ['objects/git/'],

  async *references({ result, backupId }) {
    const details = parseDetails(result.details, `backup set ${backupId}`);
    for (const repository of details.repositories) {
      for (const pack of repository.storeCopy?.packs ?? []) {
        yield pack.key;
        yield indexKeyOf(pack);
      }
    }
  },
};

/**
 * The restore drill's check of the source component in a set: every repository's record is
 * readable and complete, and every pack of every store copy is there with its recorded SHA-256,
 * size and object count (the pack streamed and hashed, its index read). The Git hosts are not
 * contacted: a repository without a store copy is restorable only from its mirror, which is said.
 */
export async function verifySource({ result, backupId }: SetComponent, rt: Runtime): Promise<VerifyOutcome> {
  const checks: string[] = [];
  const problems: string[] = [];
  let details: ReturnType<typeof parseDetails>;
  try {
    details = parseDetails(result.details, `backup set ${backupId}`);
  } catch (error) {
    return { status: 'failed', checks, problems: [asError(error).message] };
  }
  for (const entry of details.repositories) {
    try {
      const record = await recordOf(rt.store, entry);
      checks.push(`${entry.name}: ${Object.keys(record.refs).length} refs recorded`);
    } catch (error) {
      problems.push(`${entry.name}: ${asError(error).message}`);
      continue;
    }
    const packs = entry.storeCopy?.packs ?? [];
    if (packs.length === 0) {
      checks.push(
        `${entry.name}: no store copy; restorable from the mirror ${entry.mirrorUrl} only (not contacted)`,
      );
      continue;
    }
    for (const pack of packs) {
      try {
        const hash = createHash('sha256');
        let bytes = 0;
        for await (const chunk of await rt.store.get(pack.key)) {
          hash.update(chunk as Buffer);
          bytes += (chunk as Buffer).length;
        }
        const sha256 = hash.digest('hex');
        const indexed = idxObjectIds(await rt.store.read(indexKeyOf(pack))).length;
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
        }
      } catch (error) {
        problems.push(`${entry.name}: ${pack.key}: ${asError(error).message}`);
      }
    }
  }
  return { status: problems.length === 0 ? 'verified' : 'failed', checks, problems };
}
