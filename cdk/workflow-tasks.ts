import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';

/** Errors that mean "try again": Lambda's own transient faults and the handlers' RetryableError. */
export const TRANSIENT_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
  'RetryableError',
];

export interface InvokeOptions {
  /** The task's input. @default the whole state */
  readonly payload?: Record<string, unknown>;
  /** Where the result goes in the state. @default '$' (replaces the state) */
  readonly resultPath?: string;
  /** Retry transient errors this many times. @default 3 */
  readonly retries?: number;
  /** Seconds before the first retry (doubling after). @default 2 */
  readonly retryIntervalSeconds?: number;
  readonly comment?: string;
  /**
   * The item of a Distributed Map: its output is `{}`. A Distributed Map gathers every item's
   * output before its ResultPath discards them (aws-cdk#24799: States.DataLimitExceeded with
   * ResultPath null), so items whose answers are read from the store answer nothing.
   */
  readonly mapItem?: boolean;
}

/**
 * A Lambda task that passes the handler's return value through unchanged (payloadResponseOnly),
 * retrying transient failures with backoff. Retries belong to the state machine, never to handlers.
 */
export function invokeTask(
  scope: Construct,
  stateName: string,
  fn: lambda.IFunction,
  options: InvokeOptions = {},
) {
  const task = new tasks.LambdaInvoke(scope, stateName, {
    stateName,
    lambdaFunction: fn,
    payloadResponseOnly: true,
    retryOnServiceExceptions: false,
    ...(options.payload ? { payload: sfn.TaskInput.fromObject(options.payload) } : {}),
    ...(options.resultPath ? { resultPath: options.resultPath } : {}),
    ...(options.comment ? { comment: options.comment } : {}),
    ...(options.mapItem ? { outputPath: sfn.JsonPath.DISCARD } : {}),
  });
  task.addRetry({
    errors: TRANSIENT_ERRORS,
    interval: Duration.seconds(options.retryIntervalSeconds ?? 2),
    maxAttempts: options.retries ?? 3,
    backoffRate: 2,
    jitterStrategy: sfn.JitterType.FULL,
  });
  return task;
}
