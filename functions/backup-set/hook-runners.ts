import { spawn } from 'node:child_process';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { HookPhase, HookSpec } from './hooks.ts';

/** The outcome of one attempt to start or poll a hook. */
export type HookProgress =
  | { readonly state: 'running'; readonly commandId: string }
  | { readonly state: 'succeeded' }
  | { readonly state: 'failed'; readonly message: string };

export interface HookContext {
  readonly phase: HookPhase;
  readonly backupId: string;
  readonly environment: string;
}

// The SDK clients are imported on first use: a CLI run (command hooks only) never loads them.
let ssm: SSMClient | undefined;
let lambda: LambdaClient | undefined;
const ssmSdk = () => import('@aws-sdk/client-ssm');
const lambdaSdk = () => import('@aws-sdk/client-lambda');
const ssmClient = async () => {
  ssm ??= new (await ssmSdk()).SSMClient({});
  return ssm;
};
const lambdaClient = async () => {
  lambda ??= new (await lambdaSdk()).LambdaClient({});
  return lambda;
};

/** Starts a hook. SSM commands run asynchronously (polled by the workflow); the others finish here. */
export async function startHook(spec: HookSpec, context: HookContext): Promise<HookProgress> {
  switch (spec.type) {
    case 'ssm': {
      const { SendCommandCommand } = await ssmSdk();
      const sent = await (await ssmClient()).send(
        new SendCommandCommand({
          DocumentName: spec.documentName,
          Targets: spec.targets.map((target) => ({ Key: target.key, Values: target.values })),
          Parameters: spec.parameters,
          TimeoutSeconds: Math.max(30, spec.timeoutSeconds),
          Comment: `liferay-backup ${context.phase} hook for ${context.backupId}`.slice(0, 100),
        }),
      );
      const commandId = sent.Command?.CommandId;
      if (!commandId) return { state: 'failed', message: 'SendCommand returned no command id' };
      return { state: 'running', commandId };
    }
    case 'lambda': {
      const { InvokeCommand } = await lambdaSdk();
      const response = await (await lambdaClient()).send(
        new InvokeCommand({
          FunctionName: spec.functionArn,
          InvocationType: 'RequestResponse',
          Payload: Buffer.from(JSON.stringify(context)),
        }),
      );
      if (response.FunctionError) {
        return {
          state: 'failed',
          message: `the hook function failed (${response.FunctionError}); see its logs`,
        };
      }
      return { state: 'succeeded' };
    }
    case 'command':
      return runLocalCommand(spec.command, spec.timeoutSeconds, context);
  }
}

/** Polls a running SSM command; past the deadline it is cancelled and reported as failed. */
export async function pollSsmHook(commandId: string, deadlinePassed: boolean): Promise<HookProgress> {
  const { ListCommandsCommand, CancelCommandCommand } = await ssmSdk();
  const listed = await (await ssmClient()).send(new ListCommandsCommand({ CommandId: commandId }));
  const command = listed.Commands?.[0];
  const status = command?.Status;
  // Run Command ends a command whose targets match no managed instance `Success` (StatusDetails
  // NoInstancesInTag, zero targets): the hook ran nowhere, so writes were never paused.
  if (status === 'Success' && (command?.StatusDetails === 'NoInstancesInTag' || command?.TargetCount === 0))
    return {
      state: 'failed',
      message: `Run Command ${commandId} ran on no host: no instance matched its targets (${command?.StatusDetails ?? 'TargetCount 0'})`,
    };
  if (status === 'Success') return { state: 'succeeded' };
  if (status === 'Failed' || status === 'Cancelled' || status === 'TimedOut') {
    return {
      state: 'failed',
      message: `Run Command ${commandId} ended ${status}${command?.StatusDetails ? ` (${command.StatusDetails})` : ''}: ${command?.ErrorCount ?? 0} of ${command?.TargetCount ?? 0} targets failed; see Run Command history`,
    };
  }
  if (deadlinePassed) {
    await (await ssmClient()).send(new CancelCommandCommand({ CommandId: commandId }));
    return {
      state: 'failed',
      message: `Run Command ${commandId} did not finish within its timeout and was cancelled`,
    };
  }
  return { state: 'running', commandId };
}

function runLocalCommand(
  command: string,
  timeoutSeconds: number,
  context: HookContext,
): Promise<HookProgress> {
  if (process.env.AWS_LAMBDA_FUNCTION_NAME) {
    return Promise.resolve({
      state: 'failed',
      message: 'a "command" hook runs only in local mode; use "ssm" or "lambda" on AWS',
    });
  }
  return new Promise((resolve) => {
    // Output goes to this process's stderr for the person running it (its stdout too: the CLI's
    // stdout may be one JSON object, `--json`); it is never stored.
    // Its own process group, so that a timeout kills what the command started, not only the shell.
    const child = spawn('/bin/sh', ['-c', command], {
      stdio: ['ignore', 2, 2],
      env: { ...process.env, LIFERAY_BACKUP_PHASE: context.phase, LIFERAY_BACKUP_ID: context.backupId },
      detached: true,
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      resolve({
        state: 'failed',
        message: `the ${context.phase} hook command did not finish within ${timeoutSeconds} s and was killed`,
      });
    }, timeoutSeconds * 1000);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({
        state: 'failed',
        message: `the ${context.phase} hook command could not start: ${error.message}`,
      });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ state: 'succeeded' });
      else
        resolve({
          state: 'failed',
          message: `the ${context.phase} hook command exited with ${signal ?? `code ${code}`}`,
        });
    });
  });
}
