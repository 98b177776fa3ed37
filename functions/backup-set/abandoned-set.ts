import { ObjectNotFoundError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { readManifest, writeManifest } from './manifest.ts';

/**
 * The set of a run that ended before Commit (its execution stopped, its lock gone stale, its CLI
 * interrupted) still says `running`: it is recorded `failed` with the reason, so `list` and `show`
 * stop calling it running and retention deletes it after `incompleteDays` like any failed set,
 * instead of keeping it as "still running" for ever. A set that is no longer `running` is left as
 * it is. Best effort: whoever calls this goes on whether or not the old set could be read (the
 * answer says what happened).
 */
export async function recordAbandonedSet(
  rt: Runtime,
  backupId: string,
  reason: string,
  now: Date,
): Promise<'recorded' | 'not running' | 'no manifest' | 'unreadable'> {
  try {
    const manifest = await readManifest(rt.store, backupId);
    if (manifest.status !== 'running') return 'not running';
    await writeManifest(rt.store, {
      ...manifest,
      status: 'failed',
      finishedAt: now.toISOString(),
      warnings: [...manifest.warnings, `the run ended without committing: ${reason}`],
    });
    rt.logger.warn('recorded an abandoned set as failed', { backupId, reason });
    return 'recorded';
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return 'no manifest';
    rt.logger.warn('could not record the abandoned set as failed', {
      backupId,
      error: (error as Error).message,
    });
    return 'unreadable';
  }
}
