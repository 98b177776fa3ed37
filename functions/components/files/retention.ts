import type { RetentionHooks } from '#components/component.ts';
import { readIndex, readPart } from './index-format.ts';
import { filesKeys } from './keys.ts';
import { filesResultDetailsSchema } from './settings.ts';

const HEX_PAIRS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * What garbage collection needs from the files engine: where it stores content (blobs and packs,
 * each under 256 two-hex prefixes) and, per set, every object the set's index points to.
 */
export const filesRetention: RetentionHooks = {
  sweepPrefixes: () => HEX_PAIRS.flatMap((pair) => [`objects/blobs/${pair}/`, `objects/packs/${pair}/`]),

  async *references({ result }, rt) {
    const details = filesResultDetailsSchema.parse(result.details);
    const index = await readIndex(rt.store, details.index.key, details.index);
    let last: string | undefined;
    for (const part of index.parts) {
      for await (const entry of readPart(rt.store, part)) {
        if (entry.type !== 'file' || !entry.data) continue;
        const keys =
          'blob' in entry.data
            ? [entry.data.blob]
            : 'pack' in entry.data
              ? [entry.data.pack]
              : entry.data.chunks.map(([sha256]) => filesKeys.blob(sha256));
        for (const key of keys) {
          // Files of one pack sit together in path order: skip the repeats cheaply.
          if (key === last) continue;
          last = key;
          yield key;
        }
      }
    }
  },
};
