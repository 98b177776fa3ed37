import { ExecutionError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { localExecutionId } from '#backup-set/executions.ts';
import { asStepFunctionsError } from '#runtime/errors.ts';
import type { Handler, Runtime } from '#runtime/runtime.ts';
import { adaptForLocalInterpreter, LOCAL_START_EXECUTION_HANDLER } from './adapt-for-local-interpreter.ts';
import { allHandlers } from './handlers.ts';
import {
  type AslDefinition,
  LOCAL_FUNCTION_ARN_PREFIX,
  LOCAL_STATE_MACHINE_ARN_PREFIX,
} from './template-definitions.ts';
import { WORKFLOWS } from './workflows.ts';

// aws-local-stepfunctions 3 calls Promise.withResolvers, which Node.js 20 lacks.
if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void;
      let reject!: (reason?: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

/**
 * Step Functions' payload quota: 262,144 bytes of UTF-8 JSON for a state's input (as it enters
 * the state, and after Parameters), a state's output, a task's result (a Lambda answer, a child
 * execution's output) and a Map's or Parallel's gathered results, which count even when ResultPath
 * discards them (a Distributed Map without ResultWriter). Exceeding it fails the execution with
 * States.DataLimitExceeded, a terminal error that no Retry and no Catch (States.ALL included)
 * matches: on AWS a Backup that exceeds it never reaches Commit.
 */
export const STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES = 262_144;

/** The size Step Functions measures: the value as UTF-8 JSON. */
export function payloadBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value ?? null), 'utf8');
}

/**
 * States.DataLimitExceeded as the local interpreter sees it: `isRetryable`/`isCatchable` false
 * make its Retry and Catch pass it by (aws-local-stepfunctions reads them), as Step Functions does.
 */
export class StatesDataLimitExceededError extends Error {
  override readonly name = 'States.DataLimitExceeded';
  readonly isRetryable = false;
  readonly isCatchable = false;
}

export interface WorkflowRunOptions {
  /** Handlers by id. @default every handler of this build (handlers.ts) */
  readonly handlers?: ReadonlyMap<string, Handler>;
  /** Replaces the handler of a Task state, by state name (tests inject faults this way). */
  readonly taskOverrides?: Readonly<Record<string, Handler>>;
  /** Milliseconds a Wait state pauses locally. @default 0 */
  readonly waitMs?: number;
  /**
   * Milliseconds before a Retry locally, or 'as-defined': the definition's own intervals, backoff
   * and jitter (the CLI: a store that throttles or a server that stalls needs the time the
   * workflow gives it on AWS). @default 50
   */
  readonly retryDelayMs?: number | 'as-defined';
  /** Called as states are entered, with the state's name. */
  readonly onStateEntered?: (stateName: string) => void;
  /** Each state's output as it leaves (child executions' states included). */
  readonly onStateExited?: (stateName: string, output: unknown) => void;
  /**
   * Validates the definition (asl-validator, compiled with ajv: about 0.6 s of every start) before
   * running it. The CLI runs the committed definitions, which the tests validate
   * (test/local/workflow-definitions.test.ts), so it turns this off. @default true
   */
  readonly validate?: boolean;
  /** The execution's id (`$$.Execution.Id`). @default a new local execution ARN */
  readonly executionId?: string;
  /** Aborting it stops the execution: no further state starts (a task already running finishes). */
  readonly signal?: AbortSignal;
  /**
   * The payload quota enforced on every state (enforcePayloadLimit below). Only a test of the
   * enforcement itself changes it. @default STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES
   */
  readonly payloadLimitBytes?: number;
}

export type WorkflowOutcome =
  | { readonly status: 'SUCCEEDED'; readonly output: unknown; readonly statesEntered: string[] }
  | {
      readonly status: 'FAILED';
      readonly error: string;
      readonly cause: string;
      readonly statesEntered: string[];
    };

/**
 * The CLI's exit code for a run that ended without a set, report or drill to show: 2 when the
 * workflow refused the request itself (bad input, nothing was touched), as for a bad flag; else 1.
 */
export function exitCodeOfFailure(outcome: WorkflowOutcome): 1 | 2 {
  return outcome.status === 'FAILED' && outcome.error === 'InvalidInputError' ? 2 : 1;
}

/**
 * What the CLI prints for a run that ended without a set, report or drill to show: one line for
 * people, or with --json one JSON object, so that stdout stays JSON for a script reading it.
 */
export function describeFailure(what: string, outcome: WorkflowOutcome, json: boolean): string {
  const error = outcome.status === 'FAILED' ? outcome.error : 'NoResult';
  const cause = outcome.status === 'FAILED' ? outcome.cause : 'the run ended without a result';
  return json
    ? JSON.stringify({ status: 'failed', what, error, cause }, null, 2)
    : `${what}: ${error}: ${cause}`;
}

interface TaskBinding {
  readonly stateName: string;
  readonly handlerId: string;
}

/** Calls `visit` for every state at any depth (Parallel branches, Map item processors). */
function forEachState(
  definition: { States: Record<string, unknown> },
  visit: (name: string, state: Record<string, unknown>) => void,
): void {
  for (const [name, raw] of Object.entries(definition.States)) {
    const state = raw as Record<string, unknown>;
    visit(name, state);
    for (const branch of (state.Branches as { States: Record<string, unknown> }[] | undefined) ?? []) {
      forEachState(branch, visit);
    }
    const processor = (state.ItemProcessor ?? state.Iterator) as
      | { States: Record<string, unknown> }
      | undefined;
    if (processor) forEachState(processor, visit);
  }
}

/** Finds every Lambda Task (at any depth) and the handler id its local ARN names. */
export function lambdaTasks(definition: { States: Record<string, unknown> }): TaskBinding[] {
  const found: TaskBinding[] = [];
  forEachState(definition, (stateName, state) => {
    if (
      state.Type === 'Task' &&
      typeof state.Resource === 'string' &&
      state.Resource.startsWith(LOCAL_FUNCTION_ARN_PREFIX)
    ) {
      found.push({ stateName, handlerId: state.Resource.slice(LOCAL_FUNCTION_ARN_PREFIX.length) });
    }
  });
  return found;
}

/** States whose pauses the local run shortens: Waits, and every state that Retries. */
function pausingStates(definition: { States: Record<string, unknown> }): string[] {
  const names: string[] = [];
  forEachState(definition, (name, state) => {
    if (Array.isArray(state.Retry) || state.Type === 'Wait') names.push(name);
  });
  return names;
}

/**
 * What `states:startExecution.sync:2` does, in this process: runs the workflow the ARN names with
 * the same runtime and options, and answers with its output, or fails as Step Functions fails the
 * parent's Task (States.TaskFailed, the child's Error and Cause as JSON in the cause).
 */
function startChildExecution(options: WorkflowRunOptions): Handler {
  // Each child is an execution of its own, with its own id (a restore's id derives from it).
  const { executionId: _parentsOwn, ...childOptions } = options;
  return async (event, runtime) => {
    const { StateMachineArn: arn, Input: input } = event as { StateMachineArn?: unknown; Input?: unknown };
    const name =
      typeof arn === 'string' && arn.startsWith(LOCAL_STATE_MACHINE_ARN_PREFIX)
        ? arn.slice(LOCAL_STATE_MACHINE_ARN_PREFIX.length)
        : '';
    const definition = (WORKFLOWS as Record<string, AslDefinition>)[name];
    if (!definition) throw new Error(`no local workflow for state machine ${String(arn)}`);
    const outcome = await runWorkflow(definition, input, runtime, childOptions);
    if (outcome.status === 'SUCCEEDED')
      return { StateMachineArn: arn, Status: 'SUCCEEDED', Output: outcome.output };
    const failure = new Error(
      JSON.stringify({ StateMachineArn: arn, Status: 'FAILED', Error: outcome.error, Cause: outcome.cause }),
    );
    failure.name = 'States.TaskFailed';
    throw failure;
  };
}

/**
 * Runs a synthesized workflow in this process: the same definition Step Functions runs (after
 * adapt-for-local-interpreter.ts), each Lambda Task bound to the same handler code, with the
 * local runtime (store, settings). Values cross each Task as JSON, as they do between Lambda and
 * Step Functions.
 */
export async function runWorkflow(
  definition: AslDefinition,
  input: unknown,
  runtime: Runtime,
  options: WorkflowRunOptions = {},
): Promise<WorkflowOutcome> {
  const adapted = adaptForLocalInterpreter(definition);
  const limit = options.payloadLimitBytes ?? STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES;
  const handlers = options.handlers ?? allHandlers();
  const taskResourceLocalHandlers: Record<string, (input: unknown) => Promise<never>> = {};
  for (const { stateName, handlerId } of lambdaTasks(adapted)) {
    const handler =
      options.taskOverrides?.[stateName] ??
      (handlerId === LOCAL_START_EXECUTION_HANDLER ? startChildExecution(options) : handlers.get(handlerId));
    if (!handler) throw new Error(`no handler ${handlerId} for state "${stateName}" in this build`);
    taskResourceLocalHandlers[stateName] = async (taskInput) => {
      const sent = JSON.stringify(taskInput ?? null);
      checkPayload(limit, sent, () => `the input of state '${stateName}' (after Parameters)`);
      let result: unknown;
      try {
        result = await handler(JSON.parse(sent), runtime);
      } catch (error) {
        // As the Lambda wrapper does (lambda.ts): a cut connection or a store still throttling is retried.
        throw asStepFunctionsError(error);
      }
      const answered = JSON.stringify(result ?? null);
      checkPayload(limit, answered, () => `the result of task '${stateName}'`);
      return JSON.parse(answered) as never;
    };
  }
  const waitTimeOverrides: Record<string, number> = {};
  const retryIntervalOverrides: Record<string, number> = {};
  for (const name of pausingStates(adapted)) {
    waitTimeOverrides[name] = options.waitMs ?? 0;
    if (options.retryDelayMs !== 'as-defined') retryIntervalOverrides[name] = options.retryDelayMs ?? 50;
  }

  const machine = new StateMachine(adapted as unknown as StateMachineDefinition, {
    validationOptions: options.validate === false ? { noValidate: true } : { checkArn: false },
  });
  const execution = machine.run(
    input as never,
    {
      // Step Functions' context object as far as the definitions read it (Begin takes the execution id).
      context: {
        Execution: {
          Id: options.executionId ?? localExecutionId(),
          Input: input as never,
          StartTime: new Date().toISOString(),
        },
      },
      overrides: {
        taskResourceLocalHandlers: taskResourceLocalHandlers as never,
        waitTimeOverrides,
        retryIntervalOverrides,
      },
      // Read by enforcePayloadLimit; the interpreter hands these options on to every branch and iteration.
      [PAYLOAD_LIMIT_OPTION]: limit,
    } as never,
  );
  if (options.signal?.aborted) execution.abort();
  options.signal?.addEventListener('abort', () => execution.abort(), { once: true });
  const statesEntered: string[] = [];
  const watching = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered') {
        statesEntered.push(event.state.name);
        options.onStateEntered?.(event.state.name);
      } else if (event.type === 'StateExited') {
        options.onStateExited?.(event.state.name, event.state.output);
      }
    }
  })();
  try {
    const output = await execution.result;
    await watching.catch(() => undefined);
    return { status: 'SUCCEEDED', output, statesEntered };
  } catch (error) {
    await watching.catch(() => undefined);
    if (error instanceof ExecutionError) {
      const caught = error.cause as { name?: string; message?: string } | undefined;
      return {
        status: 'FAILED',
        error: caught?.name ?? 'Error',
        cause: caught?.message ?? error.message,
        statesEntered,
      };
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// enforcePayloadLimit: Step Functions' 256 KiB payload quota, checked on every state of every
// local run (and so by every workflow test). The interpreter does not enforce it; these hooks do:
// - a state's input as it enters (the execution's input, a branch's or an iteration's input) and
//   its output as it leaves (after ResultSelector, ResultPath, OutputPath; a caught error's too),
//   through the interpreter's per-execution event logger, whose calls sit inside its state loop,
//   so a throw there fails the state;
// - a Map's or Parallel's gathered results, summed as each branch or iteration ends (run below),
//   since ResultPath null does not exempt them;
// - a Task's input after Parameters and its result, in the task handlers (runWorkflow).
// The error is StatesDataLimitExceededError, which no Retry or Catch matches.
// ---------------------------------------------------------------------------------------------

const PAYLOAD_LIMIT_OPTION = 'liferayBackupPayloadLimitBytes';

function checkPayload(limit: number, json: string, what: () => string): void {
  // A UTF-8 byte is at least one UTF-16 unit and at most three: only measure when it may matter.
  if (json.length * 3 <= limit) return;
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > limit) {
    throw new StatesDataLimitExceededError(
      `${what()} has ${bytes} bytes, more than Step Functions' payload quota of ${limit} bytes`,
    );
  }
}

interface EventLoggerHooks {
  dispatchStateEnteredEvent(stateName: string, stateType: string, input: unknown): void;
  dispatchStateExitedEvent(stateName: string, stateType: string, input: unknown, output: unknown): void;
}
interface InterpreterExecuteOptions {
  readonly runOptions?: Record<string, unknown>;
  readonly eventLogger: EventLoggerHooks;
}
interface InterpreterExecution {
  readonly abort: () => void;
  readonly eventLogs: unknown;
  readonly result: Promise<unknown>;
}
interface InterpreterInternals {
  execute(input: unknown, options: InterpreterExecuteOptions, cleanup: () => void): Promise<unknown>;
  run(input: unknown, options?: Record<string, unknown>): InterpreterExecution;
}

/** The state each execution (by its run options) is in, and the bytes its branches or iterations returned. */
const runningStates = new WeakMap<object, { name: string; type: string; gatheredBytes: number }>();

function enforcePayloadLimit(): void {
  const prototype = StateMachine.prototype as unknown as InterpreterInternals;
  const execute = prototype.execute;
  const run = prototype.run;
  prototype.execute = function (input, options, cleanup) {
    const limit = options.runOptions?.[PAYLOAD_LIMIT_OPTION];
    const runOptions = options.runOptions;
    if (typeof limit !== 'number' || !runOptions) return execute.call(this, input, options, cleanup);
    const logger = options.eventLogger;
    const entered = logger.dispatchStateEnteredEvent.bind(logger);
    const exited = logger.dispatchStateExitedEvent.bind(logger);
    logger.dispatchStateEnteredEvent = (name, type, stateInput) => {
      checkPayload(limit, JSON.stringify(stateInput ?? null), () => `the input of state '${name}'`);
      runningStates.set(runOptions, { name, type, gatheredBytes: 1 });
      entered(name, type, stateInput);
    };
    logger.dispatchStateExitedEvent = (name, type, stateInput, output) => {
      checkPayload(limit, JSON.stringify(output ?? null), () => `the output of state '${name}'`);
      exited(name, type, stateInput, output);
    };
    return execute.call(this, input, options, cleanup);
  };
  prototype.run = function (input, options) {
    const execution = run.call(this, input, options);
    const limit = options?.[PAYLOAD_LIMIT_OPTION];
    // A branch or an iteration: the options are those of the execution running the Parallel or Map.
    const parent = options ? runningStates.get(options) : undefined;
    if (typeof limit !== 'number' || !parent) return execution;
    return {
      ...execution,
      result: execution.result.then((output) => {
        parent.gatheredBytes += payloadBytes(output) + 1;
        if (parent.gatheredBytes > limit) {
          throw new StatesDataLimitExceededError(
            `the results gathered by state '${parent.name}' have more than ${parent.gatheredBytes - 1} bytes, more than Step Functions' payload quota of ${limit} bytes${parent.type === 'Map' ? ' (ResultPath null does not exempt them: a Distributed Map needs a ResultWriter)' : ''}`,
          );
        }
        return output;
      }),
    };
  };
}
enforcePayloadLimit();
