import { spawn } from 'node:child_process';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { HookPhase, HookSpec } from './hooks.ts';

/** The outcome of one attempt to start or poll a hook. */
export type HookProgress =
  /** `adopted`: the command an earlier attempt of this start sent (its answer was lost). */
  | { readonly state: 'running'; readonly commandId: string; readonly adopted?: true }
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

/**
 * Starts a hook. SSM commands run asynchronously (polled by the workflow); the others finish here.
 * `runStartedAt` (the backup's start) bounds the search for an SSM command sent by an earlier attempt.
 */
export async function startHook(
  spec: HookSpec,
  context: HookContext,
  runStartedAt: string,
): Promise<HookProgress> {
  switch (spec.type) {
    case 'ssm': {
      const comment = hookCommandComment(context);
      const earlier = await findSentCommand(spec.documentName, comment, runStartedAt);
      if (earlier.found === 'yes') return { state: 'running', commandId: earlier.commandId, adopted: true };
      // Not knowing whether it was sent: a pause or "flush and lock" run twice may outlast the one
      // resume, so the pre hook is not sent; the post hook is, as a second resume is the lesser harm.
      if (earlier.found === 'unknown' && context.phase === 'pre') {
        return {
          state: 'failed',
          message: `not sent: more than ${SENT_COMMAND_SEARCH_PAGES * COMMANDS_PER_PAGE} Run Commands of document ${spec.documentName} since this backup began, so whether an earlier attempt of this step already sent the pre hook is unknown; give the hook a document of its own (not a shared one such as AWS-RunShellScript)`,
        };
      }
      const { SendCommandCommand } = await ssmSdk();
      const sent = await (await ssmClient()).send(
        new SendCommandCommand({
          DocumentName: spec.documentName,
          Targets: spec.targets.map((target) => ({ Key: target.key, Values: target.values })),
          Parameters: spec.parameters,
          TimeoutSeconds: Math.max(30, spec.timeoutSeconds),
          Comment: comment,
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

/**
 * What marks a hook's command as this run's and this phase's: SendCommand has no idempotency
 * token, so a start retried after its SendCommand went through finds its command by this comment.
 * Backup ids are unique (time and a random suffix), so another run never matches.
 */
function hookCommandComment(context: HookContext): string {
  return `liferay-backup ${context.phase} hook for ${context.backupId}`.slice(0, 100);
}

/** ListCommands' largest page. */
const COMMANDS_PER_PAGE = 50;
/** Pages read looking for an earlier attempt's command: a few seconds, well within the Lambda's minute. */
const SENT_COMMAND_SEARCH_PAGES = 10;
/** Allowance for a local run's clock against Run Command's: the run's start bounds the search. */
const CLOCK_SKEW_MS = 5 * 60_000;

type SentCommandSearch =
  | { readonly found: 'yes'; readonly commandId: string }
  | { readonly found: 'no' }
  /** More commands of the document than the search reads: one of them may be this hook's. */
  | { readonly found: 'unknown' };

/** The command of the document carrying `comment` sent since the run began, read within a bound. */
async function findSentCommand(
  documentName: string,
  comment: string,
  runStartedAt: string,
): Promise<SentCommandSearch> {
  const { ListCommandsCommand } = await ssmSdk();
  const client = await ssmClient();
  // Filters cannot match the comment: narrow by document and time, and compare the comment here.
  const invokedAfter = new Date(Date.parse(runStartedAt) - CLOCK_SKEW_MS)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z');
  let nextToken: string | undefined;
  for (let page = 0; page < SENT_COMMAND_SEARCH_PAGES; page++) {
    const listed = await client.send(
      new ListCommandsCommand({
        Filters: [
          { key: 'DocumentName', value: documentName },
          { key: 'InvokedAfter', value: invokedAfter },
        ],
        MaxResults: COMMANDS_PER_PAGE,
        ...(nextToken ? { NextToken: nextToken } : {}),
      }),
    );
    const match = listed.Commands?.find(
      (command) => command.Comment === comment && command.DocumentName === documentName,
    );
    if (match?.CommandId) return { found: 'yes', commandId: match.CommandId };
    nextToken = listed.NextToken;
    if (!nextToken) return { found: 'no' };
  }
  return { found: 'unknown' };
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
