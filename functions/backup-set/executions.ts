import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SFNClient } from '@aws-sdk/client-sfn';

/**
 * Step Functions, for one question Begin asks: has the execution that holds the backup lock
 * ended? An execution stopped in the console (or ended some other way its Catch never saw) leaves
 * its lock behind, and without asking, the next run waits for the lock to go stale: a day by
 * default, so the next night's backup fails too.
 */

/** An execution in these states runs nothing any more (PENDING_REDRIVE is about to run again). */
const ENDED = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);

/**
 * A Step Functions execution ARN in a real region, split at its state machine:
 * `arn:aws:states:eu-west-1:111111111111:execution:<state machine>:<execution>`. The local
 * runner's ids (`arn:aws:states:local:000000000000:execution:local:<uuid>`) do not match.
 */
const EXECUTION_ARN = /^(arn:aws[a-z-]*:states:[a-z]{2}(?:-[a-z]+)+-\d+:\d{12}:execution:[^:]+):[^:]+$/;

/**
 * True when both ids are executions of the same state machine on AWS: only then is the holder's
 * status worth asking (and allowed: Begin may describe its own state machine's executions only).
 */
export function sameStateMachine(own: string, holder: string): boolean {
  const mine = EXECUTION_ARN.exec(own)?.[1];
  return mine !== undefined && mine === EXECUTION_ARN.exec(holder)?.[1];
}

/**
 * Executions the CLI runs in its own process (the local interpreter): an ARN's shape, in no real
 * region, so nothing on AWS is ever asked about them.
 */
const LOCAL_EXECUTION_PREFIX = 'arn:aws:states:local:000000000000:execution:local:';

export function localExecutionId(): string {
  return `${LOCAL_EXECUTION_PREFIX}${randomUUID()}`;
}

// The SDK client is imported on first use: a local run never asks.
let client: SFNClient | undefined;
const sdk = () => import('@aws-sdk/client-sfn');

/** The execution's final status once it has ended; undefined while it runs or is about to run again. */
export async function endedStatus(executionArn: string): Promise<string | undefined> {
  const { SFNClient, DescribeExecutionCommand } = await sdk();
  // A question Begin can do without: it waits seconds for the answer (two tries of 5 s at most),
  // never the task's time-out. Without throwOnRequestTimeout the SDK only logs a time-out and waits on.
  client ??= new SFNClient({
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 3000, requestTimeout: 5000, throwOnRequestTimeout: true },
  });
  const { status } = await client.send(new DescribeExecutionCommand({ executionArn }));
  return status !== undefined && ENDED.has(status) ? status : undefined;
}

/**
 * The final status of `other`, asked of Step Functions only when it and `own` are executions of
 * the same state machine on AWS (the only ones a function may describe). Undefined while it runs,
 * for anything else, and when Step Functions gives no answer (logged): the caller then waits for
 * its own time-out, as it would without asking.
 */
export async function siblingEndedStatus(
  logger: Logger,
  own: string | undefined,
  other: string | undefined,
  what: string,
): Promise<string | undefined> {
  if (own === undefined || other === undefined || !sameStateMachine(own, other)) return undefined;
  try {
    return await endedStatus(other);
  } catch (error) {
    logger.warn(`could not ask Step Functions whether ${what} still runs`, {
      execution: other,
      error: (error as Error).message,
    });
    return undefined;
  }
}
