import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TRANSIENT_ERRORS } from '../../cdk/workflow-tasks.ts';

/**
 * Every Task of the generated workflows (kept equal to the stack by synth.test.ts) retries the
 * transient errors, never a permanent one, and its retries fit the workflow's time-out.
 */

const folder = path.join(import.meta.dirname, '../../functions/local/workflows');

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
}
interface State {
  Type: string;
  Resource?: string;
  Retry?: Retrier[];
  Branches?: { States: Record<string, State> }[];
  ItemProcessor?: { States: Record<string, State> };
  Iterator?: { States: Record<string, State> };
}

function tasks(states: Record<string, State>): [string, State][] {
  return Object.entries(states).flatMap(([name, state]): [string, State][] => [
    ...(state.Type === 'Task' ? ([[name, state]] as [string, State][]) : []),
    ...(state.Branches ?? []).flatMap((branch) => tasks(branch.States)),
    ...tasks((state.ItemProcessor ?? state.Iterator)?.States ?? {}),
  ]);
}

/** Errors a component raises on purpose to be retried (each beside its Task, cdk/components). */
const COMPONENT_TRANSIENT = new Set(['DatabaseNotAvailableError', 'SearchSnapshotBusyError']);
/** Lambda's timeouts and crashes: retried only by shards that resume from their checkpoint. */
const RESUMABLE = new Set(['Sandbox.Timedout', 'Lambda.Unknown', 'States.Timeout']);

const workflows = readdirSync(folder)
  .filter((file) => file.endsWith('.asl.json'))
  .map((file) => [file, JSON.parse(readFileSync(path.join(folder, file), 'utf8'))] as const);

describe('retry rules of the generated workflows', () => {
  it('finds the workflows', () => {
    expect(workflows.map(([file]) => file).sort()).toEqual([
      'backup.asl.json',
      'restore.asl.json',
      'retention.asl.json',
      'verify.asl.json',
    ]);
  });

  for (const [file, definition] of workflows) {
    for (const [name, task] of tasks(definition.States)) {
      if (!task.Resource?.includes(':lambda:') && !task.Resource?.includes(':function:')) continue;
      it(`${file} ${name}: retries the transient errors, no permanent one, within the time-out`, () => {
        const retried = (task.Retry ?? []).flatMap((retrier) => retrier.ErrorEquals);
        for (const transient of TRANSIENT_ERRORS) expect(retried).toContain(transient);
        for (const error of retried) {
          expect(
            TRANSIENT_ERRORS.includes(error) || COMPONENT_TRANSIENT.has(error) || RESUMABLE.has(error),
            `${error} is retried`,
          ).toBe(true);
        }
        const budget = (task.Retry ?? []).reduce((sum, retrier) => {
          let wait = 0;
          for (let attempt = 0; attempt < (retrier.MaxAttempts ?? 3); attempt++)
            wait += (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** attempt;
          return sum + wait;
        }, 0);
        expect(budget).toBeLessThan(definition.TimeoutSeconds / 4);
      });
    }
  }
});
