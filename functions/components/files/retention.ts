import type { RetentionHooks } from '#components/component.ts';
import { objectKeysOf } from './content.ts';
import { readPart } from './index-format.ts';
import { setIndex } from './verify.ts';

const HEX_PAIRS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * What garbage collection needs from the files engine: where it stores content (blobs and packs,
 * each under 256 two-hex prefixes) and, per set, every object the set's index points to.
 */
export const filesRetention: RetentionHooks = {
  sweepPrefixes: () => HEX_PAIRS.flatMap((pair) => [`objects/blobs/${pair}/`, `objects/packs/${pair}/`]),

  async *references(input, rt) {
    const index = await setIndex(input, rt);
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
