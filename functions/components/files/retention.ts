import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { RetentionHooks, SetComponent, VerifyOutcome } from '#components/component.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { objectKeysOf } from './content.ts';
import type { DataLocation, FileIndex } from './index-format.ts';
import { readIndex, readPart } from './index-format.ts';
import { filesKeys } from './keys.ts';
import { filesResultDetailsSchema } from './settings.ts';

const HEX_PAIRS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

async function indexOf({ result }: SetComponent, rt: Runtime): Promise<FileIndex> {
  const details = filesResultDetailsSchema.parse(result.details);
  return readIndex(rt.store, details.index.key, details.index);
}

/**
 * What garbage collection needs from the files engine: where it stores content (blobs and packs,
 * each under 256 two-hex prefixes) and, per set, every object the set's index points to.
 */
export const filesRetention: RetentionHooks = {
  sweepPrefixes: () => HEX_PAIRS.flatMap((pair) => [`objects/blobs/${pair}/`, `objects/packs/${pair}/`]),

  async *references(input, rt) {
    const index = await indexOf(input, rt);
    let last: string | undefined;
    for (const part of index.parts) {
      for await (const entry of readPart(rt.store, part)) {
        if (entry.type !== 'file' || !entry.data) continue;
        for (const key of objectKeysOf(entry.data)) {
          // Files of one pack sit together in path order: skip the repeats cheaply.
          if (key === last) continue;
          last = key;
          yield key;
        }
      }
    }
  },
};

async function streamsOf(location: DataLocation, rt: Runtime): Promise<Readable[]> {
  if ('blob' in location) return [await rt.store.get(location.blob)];
  if ('pack' in location) return [await rt.store.getRange(location.pack, location.offset, location.length)];
  const streams: Readable[] = [];
  for (const [sha256] of location.chunks) streams.push(await rt.store.get(filesKeys.blob(sha256)));
  return streams;
}

/**
 * The restore drill's check: every file's bytes are read back from the store, exactly as a restore
 * reads them, and their size and sha256 compared with the index (the index itself is checked
 * against the digest the manifest recorded). Nothing is written anywhere.
 */
export async function verifyFiles(input: SetComponent, rt: Runtime): Promise<VerifyOutcome> {
  const problems: string[] = [];
  let files = 0;
  let bytes = 0;
  let index: FileIndex;
  try {
    index = await indexOf(input, rt);
  } catch (error) {
    return {
      status: 'failed',
      checks: [],
      problems: [`the file index cannot be read: ${(error as Error).message}`],
    };
  }
  for (const part of index.parts) {
    try {
      for await (const entry of readPart(rt.store, part)) {
        if (entry.type !== 'file') continue;
        files += 1;
        const hash = createHash('sha256');
        let size = 0;
        try {
          for (const stream of entry.data ? await streamsOf(entry.data, rt) : []) {
            for await (const chunk of stream) {
              hash.update(chunk as Buffer);
              size += (chunk as Buffer).length;
            }
          }
        } catch (error) {
          problems.push(`${entry.path}: its content cannot be read: ${(error as Error).message}`);
          continue;
        }
        bytes += size;
        const sha256 = hash.digest('hex');
        if (size !== entry.size || sha256 !== entry.sha256) {
          problems.push(
            `${entry.path}: read ${size} bytes with sha256 ${sha256}, the index records ${entry.size} bytes, ${entry.sha256}`,
          );
        }
        if (files % 1000 === 0) rt.progress(`verified ${files} files, ${bytes} bytes`);
        if (problems.length >= 1000) break;
      }
    } catch (error) {
      problems.push(`index part ${part.key} cannot be read: ${(error as Error).message}`);
    }
  }
  return {
    status: problems.length === 0 ? 'verified' : 'failed',
    checks: [
      `${files} files, ${bytes} bytes read back and their sha256 matched the index (${index.parts.length} index parts)`,
    ],
    problems,
  };
}
