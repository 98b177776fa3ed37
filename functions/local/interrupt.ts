import { recordAbandonedSet } from '#backup-set/abandoned-set.ts';
import { storeKeys } from '#backup-set/keys.ts';
import { readBackupLock, releaseBackupLock } from '#backup-set/lock.ts';
import type { Runtime } from '#runtime/runtime.ts';

/** The signals a person or a service manager stops a CLI backup with, and the exit code each gives. */
const EXIT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
type StopSignal = keyof typeof EXIT_CODES;

/**
 * Ctrl-C, a closed terminal or `kill` during a CLI backup. Left alone, the process died holding the
 * lock, its set stayed `running`, and every backup after it was refused ("a backup is already
 * running") until the lock went stale, a day later. Instead the run stops starting states, gives
 * its lock back, records its set `failed` with the signal, and the CLI exits 128 + the signal's
 * number. Once Commit has begun, the run is left to finish: it is quick and gives the lock back
 * itself. A second signal exits at once.
 */
export class BackupInterrupt {
  private readonly controller = new AbortController();
  private committing = false;
  private handled: Promise<number> | undefined;
  private readonly listeners = new Map<StopSignal, () => void>();

  constructor(
    private readonly rt: Runtime,
    private readonly executionId: string,
    private readonly say: (line: string) => void,
  ) {
    for (const name of Object.keys(EXIT_CODES) as StopSignal[]) {
      const listener = () => this.receive(name);
      this.listeners.set(name, listener);
      process.on(name, listener);
    }
  }

  /** Aborted when a signal came before Commit: the workflow starts no further state. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The exit code, once the interrupted run gave its lock back; undefined when no signal stopped it. */
  get exitCode(): Promise<number> | undefined {
    return this.handled;
  }

  /** Follows the workflow: from Commit on, a signal no longer stops the run. */
  stateEntered(name: string): void {
    if (name.startsWith('Commit')) this.committing = true;
  }

  dispose(): void {
    for (const [name, listener] of this.listeners) process.off(name, listener);
  }

  private receive(name: StopSignal): void {
    if (this.handled) {
      this.say(
        `${name} again: exiting now (if the lock was not given back yet, delete ${storeKeys.backupLock} from the store once no backup runs)`,
      );
      process.exit(EXIT_CODES[name]);
    }
    if (this.committing) {
      this.say(`${name}: the set is being committed, letting Commit finish`);
      return;
    }
    this.say(`${name}: stopping the backup, giving its lock back and recording the set as failed`);
    this.controller.abort();
    this.handled = this.giveBack(name).then(() => EXIT_CODES[name]);
  }

  private async giveBack(name: StopSignal): Promise<void> {
    try {
      const held = await readBackupLock(this.rt.store, storeKeys.backupLock);
      // Not ours: Begin had not taken it yet (nothing to give back), or another run holds it.
      if (held?.executionId !== this.executionId) return;
      // A signal during Begin itself: its manifest may be a moment away (Begin still runs).
      for (let wait = 0; wait < 20; wait += 1) {
        const recorded = await recordAbandonedSet(
          this.rt,
          held.backupId,
          `it was interrupted (${name})`,
          this.rt.now(),
        );
        if (recorded !== 'no manifest') break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await releaseBackupLock(this.rt.store, storeKeys.backupLock, held.backupId);
      this.say(`set ${held.backupId} recorded as failed; the lock is free`);
    } catch (error) {
      this.say(
        `could not give the lock back (${(error as Error).message}): if no backup runs, delete ${storeKeys.backupLock} from the store`,
      );
    }
  }
}
