import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import * as z from 'zod';
import { readManifest } from '#backup-set/manifest.ts';
import { verifyContextSchema } from '#backup-set/verify-context.ts';
import type { SetComponent, VerifyOutcome } from '#components/component.ts';
import { CorruptBackupError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { jsonBody, readJson } from '#store/content-store.ts';
import type { DataLocation, FileIndex, PartRef } from './index-format.ts';
import { readIndex, readPart } from './index-format.ts';
import { filesKeys } from './keys.ts';
import { IndexParents, outsidePartSpan, unsafeEntryReason } from './restore-plan.ts';
import { filesResultDetailsSchema } from './settings.ts';

/**
 * The restore drill of a files component: every file's bytes are read back from the store exactly
 * as a restore reads them, and their size and sha256 compared with the index (whose own digest
 * the manifest recorded). Nothing is written anywhere but the drill's results. On AWS it fans out
 * like a restore: Plan lists the index parts, a Distributed Map checks one part per task, Finish
 * adds them up, so the drill of a tree of any size fits Lambda's limits.
 */

const MAX_PROBLEMS_PER_PART = 200;

export async function setIndex({ result }: Pick<SetComponent, 'result'>, rt: Runtime): Promise<FileIndex> {
  const details = filesResultDetailsSchema.parse(result.details);
  return readIndex(rt.store, details.index.key, details.index);
}

/**
 * The stored parts of a file's content, each opened only when the one before it was read (and
 * closed): a GET holds its connection until its body is read or destroyed, and the S3 SDK keeps
 * at most 50 per host, so opening the GETs of a file of more chunks first waited for ever.
 */
async function* streamsOf(location: DataLocation, rt: Runtime): AsyncGenerator<Readable> {
  if ('blob' in location) yield await rt.store.get(location.blob);
  else if ('pack' in location) yield await rt.store.getRange(location.pack, location.offset, location.length);
  else for (const [sha256] of location.chunks) yield await rt.store.get(filesKeys.blob(sha256));
}

export interface PartVerification {
  readonly files: number;
  readonly bytes: number;
  readonly problems: string[];
  /** Files whose stored content is gone or does not match the index. */
  readonly lostContent?: number;
}

/**
 * What to do when the store lost or damaged content: later sets reference unchanged files where
 * they were stored, so only a backup that builds on no earlier set stores them again.
 */
export const LOST_CONTENT_REMEDY =
  'the store lost or damaged content this set references, and the sets after it reference it too: run a backup with {"full": true} (CLI: backup --full), which stores every file again';

/** Reads back every file of one index part and checks its size and sha256. */
export async function verifyPart(part: PartRef, rt: Runtime): Promise<PartVerification> {
  const problems: string[] = [];
  let files = 0;
  let bytes = 0;
  let lostContent = 0;
  try {
    // The restore's own checks of each entry (restore-plan.ts): a set whose index a restore
    // refuses is no restorable set, however well its bytes hash. Parents are known within the part.
    const parents = new IndexParents();
    for await (const entry of readPart(rt.store, part)) {
      const parent = parents.parentOf(entry);
      const unsafe = outsidePartSpan(part, entry.path)
        ? "it lies outside the part's recorded span"
        : unsafeEntryReason(entry, parent);
      if (unsafe) {
        problems.push(
          `${part.key}: ${JSON.stringify(entry.path)}: ${unsafe}: a restore refuses this index and writes nothing`,
        );
        if (problems.length >= MAX_PROBLEMS_PER_PART) break;
        continue;
      }
      if (entry.type !== 'file') continue;
      files += 1;
      const hash = createHash('sha256');
      let size = 0;
      try {
        // Streams are opened one after another, so a chunked file holds one response at a time.
        if (entry.data)
          for await (const stream of streamsOf(entry.data, rt)) {
            try {
              for await (const chunk of stream) {
                hash.update(chunk as Buffer);
                size += (chunk as Buffer).length;
              }
            } finally {
              stream.destroy();
            }
          }
      } catch (error) {
        problems.push(`${entry.path}: its content cannot be read: ${(error as Error).message}`);
        lostContent += 1;
        continue;
      }
      bytes += size;
      const sha256 = hash.digest('hex');
      if (size !== entry.size || sha256 !== entry.sha256) {
        problems.push(
          `${entry.path}: read ${size} bytes with sha256 ${sha256}, the index records ${entry.size} bytes, ${entry.sha256}`,
        );
        lostContent += 1;
      }
      if (files % 1000 === 0) rt.progress(`verified ${files} files, ${bytes} bytes of ${part.key}`);
      if (problems.length >= MAX_PROBLEMS_PER_PART) break;
    }
  } catch (error) {
    problems.push(`index part ${part.key} cannot be read: ${(error as Error).message}`);
  }
  return { files, bytes, problems, ...(lostContent > 0 ? { lostContent } : {}) };
}

function summarise(parts: number, results: readonly PartVerification[]): VerifyOutcome {
  const files = results.reduce((sum, r) => sum + r.files, 0);
  const bytes = results.reduce((sum, r) => sum + r.bytes, 0);
  const lost = results.reduce((sum, r) => sum + (r.lostContent ?? 0), 0);
  const problems = results.flatMap((r) => r.problems).slice(0, 1000);
  if (lost > 0) problems.push(LOST_CONTENT_REMEDY);
  return {
    status: problems.length === 0 ? 'verified' : 'failed',
    // Only the files whose bytes matched are said to match (a lost one was counted as read).
    checks: [
      lost === 0
        ? `${files} files, ${bytes} bytes read back and their sha256 matched the index (${parts} index parts)`
        : `${files - lost} of ${files} files read back matched the index by size and sha256; ${lost} lost or damaged (${parts} index parts)`,
    ],
    problems,
  };
}

/** The module's verify hook: every part in this process (small trees, or a direct call). */
export async function verifyFiles(input: SetComponent, rt: Runtime): Promise<VerifyOutcome> {
  let index: FileIndex;
  try {
    index = await setIndex(input, rt);
  } catch (error) {
    return {
      status: 'failed',
      checks: [],
      problems: [`the file index cannot be read: ${(error as Error).message}`],
    };
  }
  const results: PartVerification[] = [];
  for (const part of index.parts) results.push(await verifyPart(part, rt));
  return summarise(index.parts.length, results);
}

const componentSchema = z.enum(['liferayHome', 'appServer']);
const planInputSchema = z.object({ verify: verifyContextSchema, component: componentSchema });
const partInputSchema = planInputSchema.extend({ part: z.object({ index: z.number().int().min(0) }) });

const verifyKeys = {
  work: (verifyId: string, component: string) => `${filesKeys.work(verifyId, component as never)}verify/`,
  partList: (verifyId: string, component: string) => `${verifyKeys.work(verifyId, component)}parts.json`,
  partResult: (verifyId: string, component: string, index: number) =>
    `${verifyKeys.work(verifyId, component)}results/${String(index).padStart(6, '0')}.json`,
};

async function indexFor(
  verify: z.infer<typeof verifyContextSchema>,
  component: 'liferayHome' | 'appServer',
  rt: Runtime,
) {
  const manifest = await readManifest(rt.store, verify.backupId);
  const result = manifest.results[component];
  if (!result) throw new CorruptBackupError(`set ${verify.backupId} holds no ${component}`);
  return setIndex({ result }, rt);
}

/** `files-plan-verify`: one Distributed Map item per index part. */
export async function planVerify(
  event: unknown,
  rt: Runtime,
): Promise<{ component: string; listKey: string; parts: number }> {
  const { verify, component } = parseInput(planInputSchema, event, 'files plan-verify input');
  const index = await indexFor(verify, component, rt);
  const listKey = verifyKeys.partList(verify.verifyId, component);
  await rt.store.put(listKey, JSON.stringify(index.parts.map((_, i) => ({ index: i }))));
  return { component, listKey, parts: index.parts.length };
}

/** `files-verify-part`: checks one part; its result goes to the store (the Map's output is dropped). */
export async function verifyIndexPart(
  event: unknown,
  rt: Runtime,
): Promise<{ index: number; files: number; problems: number }> {
  const { verify, component, part } = parseInput(partInputSchema, event, 'files verify-part input');
  const index = await indexFor(verify, component, rt);
  const ref = index.parts[part.index];
  if (!ref) throw new CorruptBackupError(`the index of ${component} has no part ${part.index}`);
  const outcome = await verifyPart(ref, rt);
  await rt.store.put(verifyKeys.partResult(verify.verifyId, component, part.index), jsonBody(outcome));
  return { index: part.index, files: outcome.files, problems: outcome.problems.length };
}

const partVerificationSchema = z.object({
  files: z.number(),
  bytes: z.number(),
  problems: z.array(z.string()),
  lostContent: z.number().optional(),
});

/** `files-finish-verify`: every part checked? The component's verification. */
export async function finishVerify(
  event: unknown,
  rt: Runtime,
): Promise<{ component: string; status: 'verified' | 'failed'; checks: string[]; problems: string[] }> {
  const { verify, component } = parseInput(planInputSchema, event, 'files finish-verify input');
  const index = await indexFor(verify, component, rt);
  const results: PartVerification[] = [];
  const missing: number[] = [];
  for (let i = 0; i < index.parts.length; i += 1) {
    try {
      results.push(
        partVerificationSchema.parse(
          await readJson(rt.store, verifyKeys.partResult(verify.verifyId, component, i)),
        ),
      );
    } catch {
      missing.push(i);
    }
  }
  const outcome = summarise(index.parts.length, results);
  const problems = [
    ...(missing.length > 0
      ? [`${missing.length} index parts were not checked (first: part ${missing[0]})`]
      : []),
    ...outcome.problems,
  ];
  return {
    component,
    status: problems.length === 0 ? 'verified' : 'failed',
    checks: outcome.checks,
    problems,
  };
}
