import * as z from 'zod';
import { ConfigError } from '#runtime/errors.ts';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { backupContextSchema } from './begin-backup.ts';
import { pollSsmHook, startHook } from './hook-runners.ts';
import {
  describeHookTarget,
  HOOK_POLL_SECONDS,
  type HookOutcome,
  type HookSpec,
  hookOutcomeSchema,
  hookPhaseSchema,
} from './hooks.ts';

const runHookInputSchema = z.object({ backup: backupContextSchema, phase: hookPhaseSchema });
const checkHookInputSchema = runHookInputSchema.extend({ outcome: hookOutcomeSchema });

function specFor(rt: Runtime, phase: 'pre' | 'post'): HookSpec {
  const spec = rt.settings.hooks?.[phase];
  if (!spec) throw new ConfigError(`no ${phase} hook is configured`);
  return spec;
}

/** Starts the pre or post hook; an SSM command comes back `running` and the workflow polls it. */
export async function runHook(event: unknown, rt: Runtime): Promise<HookOutcome> {
  const { backup, phase } = parseInput(runHookInputSchema, event, 'run-hook input');
  const spec = specFor(rt, phase);
  const startedAt = rt.now().toISOString();
  const progress = await startHook(
    spec,
    { phase, backupId: backup.backupId, environment: backup.environment },
    backup.startedAt,
  );
  if (progress.state === 'running' && progress.adopted) {
    rt.logger.info(
      `${phase} hook: Run Command ${progress.commandId} was sent by an earlier attempt of this step (its answer was lost); following it instead of sending another`,
    );
  }
  const outcome: HookOutcome = {
    phase,
    type: spec.type,
    target: describeHookTarget(spec),
    status: progress.state,
    startedAt,
    polls: 0,
    ...(progress.state === 'running'
      ? { commandId: progress.commandId }
      : { finishedAt: rt.now().toISOString() }),
    ...(progress.state === 'failed' ? { message: progress.message } : {}),
  };
  rt.logger.info(`${phase} hook ${outcome.status}`, { target: outcome.target, commandId: outcome.commandId });
  return outcome;
}

/** Polls a running SSM hook; bounded by the hook's timeout in time and in number of polls. */
export async function checkHook(event: unknown, rt: Runtime): Promise<HookOutcome> {
  const { phase, outcome } = parseInput(checkHookInputSchema, event, 'check-hook input');
  const spec = specFor(rt, phase);
  if (outcome.status !== 'running' || !outcome.commandId) return outcome;
  const polls = outcome.polls + 1;
  const elapsedSeconds = (rt.now().getTime() - Date.parse(outcome.startedAt)) / 1000;
  const maxPolls = Math.ceil(spec.timeoutSeconds / HOOK_POLL_SECONDS) + 2;
  const progress = await pollSsmHook(
    outcome.commandId,
    elapsedSeconds > spec.timeoutSeconds || polls >= maxPolls,
  );
  if (progress.state === 'running') return { ...outcome, polls };
  return {
    ...outcome,
    polls,
    status: progress.state,
    finishedAt: rt.now().toISOString(),
    ...(progress.state === 'failed' ? { message: progress.message } : {}),
  };
}

export const handler = lambdaHandler(runHook);
