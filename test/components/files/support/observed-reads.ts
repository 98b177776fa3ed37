import type * as Content from '#components/files/content.ts';

type ChunkedRead = Awaited<ReturnType<typeof Content.readChunks>>;

/** What a test watches of the engine's file reads; each is optional. */
export interface ReadObservers {
  /** Before each read of a small file (readSmallFile). */
  readonly beforeSmall?: (absPath: string) => void;
  /** When the read of a large file (readChunks) begins. */
  readonly beforeLarge?: (absPath: string) => void;
  /** Once the read of a large file ended, with what it read (stopped in the middle, or whole). */
  readonly afterLarge?: (absPath: string, read: ChunkedRead) => void;
}

/**
 * content.ts with its two file reads watched, for a `vi.mock` factory: the engine's own reads run
 * unchanged. Imported by the factory (`await import(...)`), since vi.mock is hoisted above the test
 * file's imports; this module therefore imports nothing of content.ts but its types.
 */
export async function observedContent(
  importOriginal: () => Promise<unknown>,
  observers: ReadObservers,
): Promise<typeof Content> {
  const original = (await importOriginal()) as typeof Content;
  return {
    ...original,
    readSmallFile: (...args: Parameters<typeof original.readSmallFile>) => {
      observers.beforeSmall?.(args[0]);
      return original.readSmallFile(...args);
    },
    readChunks: async (...args: Parameters<typeof original.readChunks>) => {
      observers.beforeLarge?.(args[0]);
      const read = await original.readChunks(...args);
      observers.afterLarge?.(args[0], read);
      return read;
    },
  } as typeof Content;
}
