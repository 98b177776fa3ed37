/**
 * Bounded concurrency and bounded bytes in flight: what keeps the engine's memory flat whatever
 * the size of the tree.
 */
export class Semaphore {
  private available: number;
  private readonly waiting: Array<{ amount: number; resolve: () => void }> = [];

  constructor(private readonly capacity: number) {
    if (!(capacity > 0)) throw new Error(`semaphore capacity must be positive, got ${capacity}`);
    this.available = capacity;
  }

  /** Takes `amount` units (capped at the capacity, so one oversized request still runs alone). */
  async acquire(amount = 1): Promise<number> {
    const take = Math.min(amount, this.capacity);
    if (this.waiting.length === 0 && this.available >= take) {
      this.available -= take;
      return take;
    }
    await new Promise<void>((resolve) => this.waiting.push({ amount: take, resolve }));
    return take;
  }

  release(amount = 1): void {
    this.available += amount;
    while (this.waiting.length > 0) {
      const next = this.waiting[0];
      if (!next || this.available < next.amount) break;
      this.waiting.shift();
      this.available -= next.amount;
      next.resolve();
    }
  }

  async run<T>(work: () => Promise<T>, amount = 1): Promise<T> {
    const taken = await this.acquire(amount);
    try {
      return await work();
    } finally {
      this.release(taken);
    }
  }
}

/**
 * Runs tasks with at most `limit` in flight and remembers the first failure, so that a caller
 * can queue work as it goes and wait for all of it at the end.
 */
export class TaskPool {
  private readonly semaphore: Semaphore;
  private readonly running = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  constructor(limit: number) {
    this.semaphore = new Semaphore(limit);
  }

  /** Waits for a free slot, then starts the task (so the caller is paced by the pool). */
  async submit(task: () => Promise<void>): Promise<void> {
    this.throwIfFailed();
    await this.semaphore.acquire();
    this.throwIfFailed();
    const promise: Promise<void> = task()
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => {
        this.semaphore.release();
        this.running.delete(promise);
      });
    this.running.add(promise);
  }

  /** Waits for every task; throws the first failure. */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}

/** Maps over items with at most `limit` calls in flight, keeping the order of the results. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
