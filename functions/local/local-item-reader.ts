import * as z from 'zod';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { readJson } from '#store/content-store.ts';

const readerInputSchema = z.object({
  Bucket: z.string().optional(),
  Key: z.string().min(1),
  MaxItemsPerBatch: z.number().int().positive().optional(),
  BatchInput: z.unknown().optional(),
});

/**
 * Local mode's stand-in for a Distributed Map's ItemReader (see adapt-for-local-interpreter.ts):
 * reads the JSON array of items from the store and, like ItemBatcher, groups them into
 * `{Items, BatchInput}` batches when the Map batches.
 */
export async function readLocalItems(event: unknown, rt: Runtime): Promise<unknown[]> {
  const input = parseInput(readerInputSchema, event, 'local item reader input');
  const items = await readJson(rt.store, input.Key);
  if (!Array.isArray(items))
    throw new Error(`${input.Key}: a Distributed Map item list must be a JSON array`);
  if (!input.MaxItemsPerBatch) return items;
  const batches: unknown[] = [];
  for (let i = 0; i < items.length; i += input.MaxItemsPerBatch) {
    batches.push({
      Items: items.slice(i, i + input.MaxItemsPerBatch),
      ...(input.BatchInput !== undefined ? { BatchInput: input.BatchInput } : {}),
    });
  }
  return batches;
}
