import type { PathRange } from './paths.ts';

/**
 * Cutting the path space into shards: consecutive ranges (after, through] that together cover
 * every possible path, each holding at most `maxFiles` entries and `maxBytes` bytes of what was
 * seen when planning. Cuts fall between two known paths, so a path that appears later (a new
 * file) still belongs to exactly one shard.
 */
export interface ShardLimits {
  readonly maxFiles: number;
  readonly maxBytes: number;
}

export interface PlannedShard extends PathRange {
  /** What planning saw in the range (an estimate for the copy: the tree may have changed). */
  readonly entries: number;
  readonly bytes: number;
}

export class ShardCutter {
  private readonly shards: PlannedShard[] = [];
  private after: string | undefined;
  private lastEnd: string | undefined;
  private entries = 0;
  private bytes = 0;

  constructor(private readonly limits: ShardLimits) {}

  /** Whether a block of this weight would have to be split to respect the limits on its own. */
  exceedsAlone(entries: number, bytes: number): boolean {
    return entries > this.limits.maxFiles || (bytes > this.limits.maxBytes && entries > 1);
  }

  /**
   * Adds the next block of entries in path order: one entry, or a whole range of an earlier
   * index. `end` is the last path it covers (a valid place to cut after it).
   */
  add(end: string, entries: number, bytes: number): void {
    if (
      this.entries > 0 &&
      (this.entries + entries > this.limits.maxFiles || this.bytes + bytes > this.limits.maxBytes)
    ) {
      this.cut();
    }
    this.entries += entries;
    this.bytes += bytes;
    this.lastEnd = end;
  }

  private cut(): void {
    const through = this.lastEnd;
    this.shards.push({ after: this.after, through, entries: this.entries, bytes: this.bytes });
    this.after = through;
    this.entries = 0;
    this.bytes = 0;
  }

  /** The shards; the last one is open-ended. */
  finish(): PlannedShard[] {
    this.shards.push({ after: this.after, through: undefined, entries: this.entries, bytes: this.bytes });
    return this.shards;
  }
}
