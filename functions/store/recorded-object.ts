import { createHash } from 'node:crypto';
import { CorruptBackupError, ObjectNotFoundError, ObjectTooLargeError } from '#runtime/errors.ts';
import type { ContentStore } from './content-store.ts';

/** What was recorded of an object when it was written (in a manifest, or in an index). */
export interface RecordedDigest {
  readonly size: number;
  readonly sha256: string;
}

/**
 * Each reader's own words for an object that is not what was recorded: they name what the object
 * is for and what the SRE does about it, which only the reader knows.
 */
export interface RecordedObjectMessages {
  /** The object is gone from the store. Without it, ObjectNotFoundError passes through as it is. */
  readonly missing?: () => string;
  /** `found` bytes were read and `failed` is the first check they did not pass. */
  readonly changed: (found: number, failed: 'size' | 'sha256') => string;
}

/**
 * The bytes of an object whose size and sha256 were recorded, only when they are still those: a
 * CorruptBackupError with the caller's message otherwise. Reads at most `maxBytes`: by default one
 * byte more than recorded, so that an object that grew is never read whole; one larger than that
 * fails the size check too, with its size (asked of the store only then).
 */
export async function readRecordedObject(
  store: ContentStore,
  key: string,
  recorded: RecordedDigest,
  messages: RecordedObjectMessages,
  maxBytes = recorded.size + 1,
): Promise<Buffer> {
  const { missing } = messages;
  const bytes = await store.read(key, maxBytes).catch(async (error: unknown) => {
    if (missing && error instanceof ObjectNotFoundError) throw new CorruptBackupError(missing());
    if (error instanceof ObjectTooLargeError) {
      const size = error.size ?? (await store.stat(key))?.size ?? maxBytes + 1;
      throw new CorruptBackupError(messages.changed(size, 'size'));
    }
    throw error;
  });
  if (bytes.length !== recorded.size) throw new CorruptBackupError(messages.changed(bytes.length, 'size'));
  if (createHash('sha256').update(bytes).digest('hex') !== recorded.sha256)
    throw new CorruptBackupError(messages.changed(bytes.length, 'sha256'));
  return bytes;
}
