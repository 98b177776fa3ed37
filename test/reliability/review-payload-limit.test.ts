import { describe, expect, it } from 'vitest';
import { payloadBytes, runWorkflow, STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES } from '#local/run-workflow.ts';
import { type AslDefinition, LOCAL_FUNCTION_ARN_PREFIX } from '#local/template-definitions.ts';
import type { Handler } from '#runtime/runtime.ts';
import { testRuntime } from '../support/local-runtime.ts';

/**
 * The local runner enforces Step Functions' payload quota (262,144 bytes of UTF-8 JSON) on every
 * state, as AWS does: States.DataLimitExceeded fails the execution, and neither Retry nor a Catch
 * on States.ALL stops it (docs: "Error handling in Step Functions", States.DataLimitExceeded).
 */
const task = (handlerId: string, extra: Record<string, unknown> = {}) => ({
  Type: 'Task',
  Resource: `${LOCAL_FUNCTION_ARN_PREFIX}${handlerId}`,
  ...extra,
});

function handlers(entries: Record<string, Handler>): ReadonlyMap<string, Handler> {
  return new Map(Object.entries(entries));
}

/** A guarded branch as the workflows build it: a single-branch Parallel with a Catch on States.ALL. */
function guarded(inner: Record<string, unknown>): AslDefinition {
  return {
    StartAt: 'Guard',
    States: {
      Guard: {
        Type: 'Parallel',
        Branches: [{ StartAt: 'Inner', States: { Inner: { ...inner, End: true } } }],
        ResultPath: '$.results',
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Caught' }],
        Next: 'Done',
      },
      Caught: { Type: 'Pass', End: true },
      Done: { Type: 'Pass', End: true },
    },
  };
}

const rt = () => testRuntime({});
const text = (bytes: number) => 'x'.repeat(bytes);

describe('the local runner enforces the Step Functions payload quota', () => {
  it('measures UTF-8 JSON: a multi-byte character counts as its bytes', () => {
    expect(payloadBytes({ a: 'é' })).toBe(10);
    expect(payloadBytes(undefined)).toBe(4);
  });

  it('fails the execution when a task answers more than 256 KiB, past Retry and a Catch on States.ALL', async () => {
    let calls = 0;
    const big: Handler = async () => {
      calls += 1;
      return { text: text(STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES) };
    };
    const definition = guarded(
      task('big', { Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 3, IntervalSeconds: 1 }] }),
    );
    const outcome = await runWorkflow(definition, {}, rt(), { handlers: handlers({ big }) });
    expect(outcome.status).toBe('FAILED');
    expect(outcome.status === 'FAILED' ? [outcome.error, outcome.cause] : []).toEqual([
      'States.DataLimitExceeded',
      expect.stringMatching(/^the result of task 'Inner' has 262155 bytes, more than .* 262144 bytes$/),
    ]);
    expect(calls).toBe(1);
    expect(outcome.statesEntered).not.toContain('Caught');
  });

  it('fails a state whose output (its input with the result merged at ResultPath) passes the quota', async () => {
    const half: Handler = async () => text(150_000);
    const definition: AslDefinition = {
      StartAt: 'First',
      States: {
        First: task('half', { ResultPath: '$.a', Next: 'Second' }),
        Second: task('half', { ResultPath: '$.b', End: true }),
      },
    };
    const outcome = await runWorkflow(definition, {}, rt(), { handlers: handlers({ half }) });
    expect(outcome.status === 'FAILED' ? [outcome.error, outcome.cause] : []).toEqual([
      'States.DataLimitExceeded',
      expect.stringMatching(/^the output of state 'Second' has 300\d{3} bytes/),
    ]);
  });

  it("counts a Map's gathered results even when ResultPath discards them", async () => {
    const item: Handler = async () => text(30_000);
    const definition = guarded({
      Type: 'Map',
      ItemsPath: '$.items',
      ResultPath: null,
      ItemProcessor: { StartAt: 'Item', States: { Item: task('item', { End: true }) } },
    });
    const input = { items: Array.from({ length: 9 }, (_, i) => i) };
    const outcome = await runWorkflow(definition, input, rt(), { handlers: handlers({ item }) });
    expect(outcome.status === 'FAILED' ? [outcome.error, outcome.cause] : []).toEqual([
      'States.DataLimitExceeded',
      expect.stringMatching(/^the results gathered by state 'Inner' have more than 2\d{5} bytes/),
    ]);
  });

  it('fails an execution whose input passes the quota before any state runs', async () => {
    let calls = 0;
    const noop: Handler = async () => {
      calls += 1;
      return {};
    };
    const outcome = await runWorkflow(guarded(task('noop')), { text: text(300_000) }, rt(), {
      handlers: handlers({ noop }),
    });
    expect(outcome.status === 'FAILED' ? outcome.error : '').toBe('States.DataLimitExceeded');
    expect(calls).toBe(0);
  });

  it('lets a run that stays under the quota succeed, however close', async () => {
    const near: Handler = async () => text(STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES - 1_000);
    const definition: AslDefinition = {
      StartAt: 'Near',
      States: { Near: task('near', { End: true }) },
    };
    const outcome = await runWorkflow(definition, {}, rt(), { handlers: handlers({ near }) });
    expect(outcome.status).toBe('SUCCEEDED');
  });
});
