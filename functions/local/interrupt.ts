import { recordAbandonedSet } from '#backup-set/abandoned-set.ts';
import { isBackupId, isRunId } from '#backup-set/backup-id.ts';
import { storeKeys } from '#backup-set/keys.ts';
import { readBackupLock, releaseBackupLock } from '#backup-set/lock.ts';
import { RESTORE_LOCKS_PREFIX, releaseRestoreLocks } from '#backup-set/restore-lock.ts';
import { readRestoreReport, writeRestoreReport } from '#backup-set/restore-report.ts';
import { runHook } from '#backup-set/run-hook.ts';
import { readVerificationReport } from '#backup-set/verify.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { jsonBody, readJson } from '#store/content-store.ts';

/** The signals a person or a service manager stops a CLI run with, and the exit code each gives. */
const EXIT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
export type StopSignal = keyof typeof EXIT_CODES;

/** What a command does when a signal stops it. */
export interface StopPlan {
  /** Said at the first signal: what stopping does. */
  readonly stopping: string;
  /** From this state on, the run is left to finish: it writes its outcome itself, quickly. */
  readonly finishesFrom: (state: string) => boolean;
  /** Said when a signal comes once the run finishes by itself. */
  readonly finishing: string;
  /** Said at a second signal, which exits at once. */
  readonly exitingNow: string;
  /**
   * While such a state runs, a signal waits for it to end before it stops the run: a pre hook
   * pausing writes is let finish, so that the post hook that `stop` runs comes after it.
   */
  readonly settlesIn?: (state: string) => boolean;
  /** Sees each state's output (the run's ids come from the first state). */
  readonly observe?: (state: string, output: unknown) => void;
  /** Leaves things right (the lock given back, the report recorded) and says what it did. */
  readonly stop: (signal: StopSignal) => Promise<void>;
}

/**
 * Ctrl-C, a closed terminal (an SSH session that drops sends SIGHUP) or `kill` during a CLI run.
 * Left alone, Node.js exits at once: a backup died holding the lock and its set stayed `running`;
 * a restore's or drill's report stayed `running`, and a drill left its scratch copy behind.
 * Instead the run starts no further state, the plan leaves things right, and the CLI exits
 * 128 + the signal's number. Once the run is writing its own outcome, it is left to finish. A
 * second signal exits at once.
 */
export class RunInterrupt {
  private readonly controller = new AbortController();
  private finishingAlone = false;
  private handled: Promise<number> | undefined;
  /** States running that a signal waits for (settlesIn), and the signal that waits. */
  private readonly settling = new Set<string>();
  private pending: StopSignal | undefined;
  private readonly listeners = new Map<StopSignal, () => void>();

  constructor(
    private readonly plan: StopPlan,
    private readonly say: (line: string) => void,
  ) {
    for (const name of Object.keys(EXIT_CODES) as StopSignal[]) {
      const listener = () => this.receive(name);
      this.listeners.set(name, listener);
      process.on(name, listener);
    }
  }

  /** Aborted when a signal came before the run's last states: the workflow starts no further state. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The exit code, once the plan has left things right; undefined when no signal stopped the run. */
  get exitCode(): Promise<number> | undefined {
    return this.handled;
  }

  /** Follows the workflow: from the plan's last states on, a signal no longer stops the run. */
  stateEntered(name: string): void {
    if (this.plan.finishesFrom(name)) this.finishingAlone = true;
    if (this.plan.settlesIn?.(name)) this.settling.add(name);
  }

  stateExited(name: string, output: unknown): void {
    this.plan.observe?.(name, output);
    if (this.settling.delete(name) && this.settling.size === 0 && this.pending) {
      const signal = this.pending;
      this.pending = undefined;
      this.stop(signal);
    }
  }

  dispose(): void {
    for (const [name, listener] of this.listeners) process.off(name, listener);
  }

  private receive(name: StopSignal): void {
    if (this.handled || this.pending) {
      this.say(`${name} again: exiting now (${this.plan.exitingNow})`);
      process.exit(EXIT_CODES[name]);
    }
    if (this.finishingAlone) {
      this.say(`${name}: ${this.plan.finishing}`);
      return;
    }
    if (this.settling.size > 0) {
      this.pending = name;
      this.say(`${name}: ${this.plan.stopping}, once ${[...this.settling].join(', ')} has ended`);
      return;
    }
    this.say(`${name}: ${this.plan.stopping}`);
    this.stop(name);
  }

  private stop(name: StopSignal): void {
    this.controller.abort();
    this.handled = this.plan.stop(name).then(
      () => EXIT_CODES[name],
      (error: unknown) => {
        this.say(`${name}: could not leave things right: ${(error as Error).message}`);
        return EXIT_CODES[name];
      },
    );
  }
}

/**
 * Begin (it takes the lock and writes the running manifest: stopped under it, the lock would stay
 * taken) and the pre hook's states: a signal waits for them. Then the first of the post hook's.
 */
const SETTLING_BACKUP_STATES = new Set(['Begin', 'Run pre hook', 'Check pre hook']);
const POST_HOOK_FIRST_STATE = 'Post hook configured?';

/**
 * A backup: runs the post hook, gives its lock back and records its set `failed`. The post hook
 * runs on every path past Begin (hooks.ts): it undoes what the pre hook did (writes paused, a node
 * drained), so a pre hook running when the signal comes is let finish first. Once the post hook
 * or Commit has begun, the run is left to finish: it gives the lock back itself.
 */
export function backupStopPlan(rt: Runtime, executionId: string, say: (line: string) => void): StopPlan {
  let backup: unknown;
  return {
    stopping: 'stopping the backup, giving its lock back and recording the set as failed',
    finishesFrom: (state) => state.startsWith('Commit') || state === POST_HOOK_FIRST_STATE,
    finishing: 'the capture is over, letting the post hook and Commit finish',
    exitingNow: `if the lock was not given back yet, delete ${storeKeys.backupLock} from the store once no backup runs${
      rt.settings.hooks?.post ? ', and undo what the pre hook did if the post hook did not run' : ''
    }`,
    settlesIn: (state) => SETTLING_BACKUP_STATES.has(state),
    observe: (state, output) => {
      if (state === 'Begin') backup = (output as { backup?: unknown } | null)?.backup;
    },
    stop: async (name) => {
      let postHook: string | undefined;
      if (backup !== undefined && rt.settings.hooks?.post) {
        try {
          const outcome = await runHook({ backup, phase: 'post' }, rt);
          postHook = `the post hook ${outcome.status}${outcome.message ? ` (${outcome.message})` : ''}`;
        } catch (error) {
          postHook = `the post hook could not run (${(error as Error).message})`;
        }
        say(postHook);
      }
      try {
        const held = await readBackupLock(rt.store, storeKeys.backupLock);
        // Not ours: Begin had not taken it yet (nothing to give back), or another run holds it.
        if (held?.executionId !== executionId) return;
        // A signal during Begin itself: its manifest may be a moment away (Begin still runs).
        let recorded: Awaited<ReturnType<typeof recordAbandonedSet>> = 'no manifest';
        for (let wait = 0; wait < 20; wait += 1) {
          recorded = await recordAbandonedSet(
            rt,
            held.backupId,
            `it was interrupted (${name})${postHook ? `; ${postHook}` : ''}`,
            rt.now(),
          );
          if (recorded !== 'no manifest') break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        await releaseBackupLock(rt.store, storeKeys.backupLock, held.backupId);
        say(`set ${held.backupId} ${RECORDED[recorded]}; the lock is free`);
      } catch (error) {
        say(
          `could not give the lock back (${(error as Error).message}): if no backup runs, delete ${storeKeys.backupLock} from the store`,
        );
      }
    },
  };
}

/** What became of the interrupted backup's set (recordAbandonedSet's answer), said as such. */
const RECORDED = {
  recorded: 'recorded as failed',
  'not running': 'had already ended (its manifest is final)',
  'no manifest': 'had no manifest yet (nothing to record)',
  unreadable: 'could not be recorded as failed (its manifest could not be read)',
} as const;

/** The ids a workflow's first state put at `$.<at>` (the restore's or drill's context). */
function idsAt(output: unknown, at: 'restore' | 'verify', idKey: 'restoreId' | 'verifyId') {
  const context = (output as Record<string, Record<string, unknown> | undefined> | null)?.[at];
  const id = context?.[idKey];
  const backupId = context?.backupId;
  return typeof id === 'string' &&
    isRunId(id, at === 'restore' ? 'r' : 'v') &&
    typeof backupId === 'string' &&
    isBackupId(backupId)
    ? { id, backupId }
    : undefined;
}

/** The restore lock keys Validate put at `$.restore.locks`. */
function locksAt(output: unknown): string[] {
  const locks = (output as { restore?: { locks?: unknown } } | null)?.restore?.locks;
  return Array.isArray(locks)
    ? locks.filter((key): key is string => typeof key === 'string' && key.startsWith(RESTORE_LOCKS_PREFIX))
    : [];
}

/** A running report as an interrupted run leaves it: failed, saying why, its process no longer running it. */
function interrupted<T extends { readonly warnings?: string[] | undefined; readonly process?: unknown }>(
  report: T,
  warning: string,
  now: Date,
) {
  const { process: _, ...rest } = report;
  return {
    ...rest,
    status: 'failed' as const,
    finishedAt: now.toISOString(),
    warnings: [...(report.warnings ?? []), warning],
  };
}

/**
 * A restore: records its report `failed`, saying it was interrupted. What it wrote stays in its
 * staging folder beside the target (the live tree is untouched unless the swap had begun); the next
 * restore into that target removes it (restore-plan.ts).
 */
export function restoreStopPlan(rt: Runtime, say: (line: string) => void): StopPlan {
  let ids: { id: string; backupId: string } | undefined;
  /** The target locks Validate took (restore-lock.ts): given back, so the next restore may start. */
  let locks: string[] = [];
  return {
    stopping: 'stopping the restore and recording it as failed',
    finishesFrom: (state) => state.startsWith('Report'),
    finishing: 'the restore is writing its report, letting it finish',
    exitingNow:
      'its report may still say running; its target locks are taken over by the next restore once this process has ended',
    // Validate writes the running report: a signal waits for it, so that the report is known.
    settlesIn: (state) => state === 'Validate',
    observe: (state, output) => {
      if (state === 'Validate') {
        ids = idsAt(output, 'restore', 'restoreId');
        locks = locksAt(output);
      }
    },
    stop: async (name) => {
      if (!ids) {
        say('the restore had not begun: nothing was written');
        return;
      }
      const report = await readRestoreReport(rt.store, ids.backupId, ids.id);
      if (report.status !== 'running') return;
      await writeRestoreReport(
        rt.store,
        interrupted(
          report,
          `interrupted (${name}): what it wrote stays in its staging folder beside each target, and the next restore into that target removes it`,
          rt.now(),
        ),
      );
      // Given back once the report says failed: the next restore into these targets finds it ended.
      await releaseRestoreLocks(rt.store, locks, ids.id);
      say(
        `restore ${ids.id} of ${ids.backupId} recorded as failed; run it again: it removes the partial tree first`,
      );
    },
  };
}

/**
 * A drill: records its verification `failed`, saying it was interrupted. The command removes its
 * scratch folder as it does after any drill.
 */
export function drillStopPlan(rt: Runtime, say: (line: string) => void): StopPlan {
  let ids: { id: string; backupId: string } | undefined;
  return {
    stopping: 'stopping the drill, recording it as failed and removing its scratch copy',
    finishesFrom: (state) => state.startsWith('Report verify'),
    finishing: 'the drill is writing its report, letting it finish',
    exitingNow: 'its scratch folder may be left behind',
    // Begin verify writes the running report: a signal waits for it, so that the report is known.
    settlesIn: (state) => state === 'Begin verify',
    observe: (state, output) => {
      if (state === 'Begin verify') ids = idsAt(output, 'verify', 'verifyId');
    },
    stop: async (name) => {
      if (!ids) return;
      const key = storeKeys.verificationReport(ids.backupId, ids.id);
      const report = await readVerificationReport(rt.store, ids.backupId, ids.id);
      if (report.status !== 'running') return;
      await rt.store.put(
        key,
        jsonBody(interrupted(report, `interrupted (${name}) before it finished`, rt.now())),
      );
      say(`drill ${ids.id} of ${ids.backupId} recorded as failed`);
    },
  };
}

/**
 * A retention run: records its report `failed` and gives its lock back. A deletion it began is
 * finished by the next run (its marker stays); content it was sweeping is swept again.
 */
export function retentionStopPlan(rt: Runtime, say: (line: string) => void): StopPlan {
  let plan: { runId: string; reportKey: string } | undefined;
  return {
    stopping: 'stopping the retention run, recording it as failed and giving its lock back',
    finishesFrom: (state) => state.startsWith('Finish retention'),
    finishing: 'the retention run is writing its report, letting it finish',
    exitingNow: `if the lock was not given back yet, delete ${storeKeys.retentionLock} from the store once no retention runs`,
    // Plan retention takes the lock and writes the running report: a signal waits for it.
    settlesIn: (state) => state === 'Plan retention',
    observe: (state, output) => {
      const planned = (output as { plan?: { runId?: unknown; reportKey?: unknown; dryRun?: unknown } } | null)
        ?.plan;
      if (
        state === 'Plan retention' &&
        planned?.dryRun === false &&
        typeof planned.runId === 'string' &&
        isRunId(planned.runId, 'g') &&
        planned.reportKey === storeKeys.retentionReport(planned.runId)
      )
        plan = { runId: planned.runId, reportKey: planned.reportKey };
    },
    stop: async (name) => {
      if (!plan) return;
      const report = (await readJson(rt.store, plan.reportKey)) as Record<string, unknown>;
      if (report.status === 'running') {
        await rt.store.put(
          plan.reportKey,
          jsonBody({
            ...report,
            status: 'failed',
            finishedAt: rt.now().toISOString(),
            failure: `interrupted (${name}): the next run finishes any deletion this one began`,
          }),
        );
      }
      await releaseBackupLock(rt.store, storeKeys.retentionLock, plan.runId);
      say(
        `retention run ${plan.runId} recorded as failed; the lock is free; the next run finishes what it began`,
      );
    },
  };
}
