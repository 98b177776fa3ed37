import type { AslDefinition } from './template-definitions.ts';
import { LOCAL_FUNCTION_ARN_PREFIX } from './template-definitions.ts';

/**
 * The one place where a synthesized definition is changed before the local interpreter
 * (aws-local-stepfunctions) runs it, because the interpreter does not implement everything
 * Step Functions does:
 *
 * 1. Distributed Map `ItemReader` (items read from S3) and `ItemBatcher` are ignored by the
 *    interpreter. Each such Map gets a Task in front of it, bound to the local item reader, that
 *    reads the same object from the store (and batches the items as ItemBatcher would); the Map
 *    then iterates `ItemsPath`. `ResultWriter` is dropped (results stay inline).
 *    `ToleratedFailurePercentage`/`Count` are NOT emulated: locally any failed item fails the Map.
 * 2. A Task without TimeoutSeconds times out after 60 s in the interpreter; on AWS it is bounded
 *    by the Lambda's own timeout. Locally every Task gets a long timeout instead, since one
 *    process does the work of many Lambdas.
 *
 * 3. A Task that starts another workflow and waits for it (`states:startExecution.sync:2`, the
 *    drill's restore) becomes a Task bound to the local runner itself, which runs the named
 *    workflow in the same process and answers as Step Functions does: the child's output under
 *    `Output`, or a `States.TaskFailed` whose cause is the child's `{Error, Cause}` as JSON.
 *
 * Everything else (Choice, Parallel, Retry, Catch, paths, Wait) runs as synthesized.
 */
export const LOCAL_ITEM_READER_HANDLER = 'local-item-reader';
export const LOCAL_START_EXECUTION_HANDLER = 'local-start-execution';
const START_EXECUTION_SYNC = 'arn:aws:states:::states:startExecution.sync:2';
const LOCAL_ITEMS_PATH = '$.localItemReaderItems';
const LOCAL_TASK_TIMEOUT_SECONDS = 24 * 3600;

type State = Record<string, unknown> & { Type: string };
type States = Record<string, State>;

export function adaptForLocalInterpreter(definition: AslDefinition): AslDefinition {
  const copy = structuredClone(definition);
  adaptStates(copy);
  return copy;
}

function adaptStates(machine: { StartAt: string; States: Record<string, unknown> }): void {
  const states = machine.States as States;
  for (const [name, state] of Object.entries(states)) {
    if (
      state.Type === 'Task' &&
      state.TimeoutSeconds === undefined &&
      state.TimeoutSecondsPath === undefined
    ) {
      state.TimeoutSeconds = LOCAL_TASK_TIMEOUT_SECONDS;
    }
    if (state.Type === 'Task' && state.Resource === START_EXECUTION_SYNC) {
      state.Resource = `${LOCAL_FUNCTION_ARN_PREFIX}${LOCAL_START_EXECUTION_HANDLER}`;
    } else if (state.Type === 'Task' && String(state.Resource).startsWith('arn:aws:states:::states:')) {
      throw new Error(
        `${name}: the local runner runs only ${START_EXECUTION_SYNC}, not ${String(state.Resource)}`,
      );
    }
    if (state.Type === 'Parallel') {
      for (const branch of state.Branches as { StartAt: string; States: Record<string, unknown> }[])
        adaptStates(branch);
    }
    if (state.Type === 'Map') {
      const processor = (state.ItemProcessor ?? state.Iterator) as
        | { StartAt: string; States: Record<string, unknown> }
        | undefined;
      if (processor) {
        delete (processor as Record<string, unknown>).ProcessorConfig;
        adaptStates(processor);
      }
      if (state.ItemReader) insertItemReader(machine, states, name, state);
    }
  }
}

function insertItemReader(machine: { StartAt: string }, states: States, mapName: string, map: State): void {
  const reader = map.ItemReader as {
    Parameters?: Record<string, unknown>;
    ReaderConfig?: { InputType?: string };
  };
  const batcher = map.ItemBatcher as { MaxItemsPerBatch?: number; BatchInput?: unknown } | undefined;
  const readerName = `${mapName} (local item reader)`;
  const parameters: Record<string, unknown> = { ...(reader.Parameters ?? {}) };
  if (batcher?.MaxItemsPerBatch !== undefined) parameters.MaxItemsPerBatch = batcher.MaxItemsPerBatch;
  if (batcher?.BatchInput !== undefined) parameters.BatchInput = batcher.BatchInput;
  if (reader.ReaderConfig?.InputType && reader.ReaderConfig.InputType !== 'JSON') {
    throw new Error(
      `${mapName}: the local item reader reads JSON arrays only, not ${reader.ReaderConfig.InputType}`,
    );
  }

  // Every transition into the Map now goes through the reader first.
  for (const state of Object.values(states)) redirect(state, mapName, readerName);
  if (machine.StartAt === mapName) machine.StartAt = readerName;

  states[readerName] = {
    Type: 'Task',
    Comment:
      'Local mode only: reads the Distributed Map items that Step Functions would read with ItemReader',
    Resource: `${LOCAL_FUNCTION_ARN_PREFIX}${LOCAL_ITEM_READER_HANDLER}`,
    Parameters: parameters,
    ResultPath: LOCAL_ITEMS_PATH,
    TimeoutSeconds: LOCAL_TASK_TIMEOUT_SECONDS,
    Next: mapName,
  };
  delete map.ItemReader;
  delete map.ItemBatcher;
  delete map.ResultWriter;
  delete map.ToleratedFailurePercentage;
  delete map.ToleratedFailureCount;
  delete map.Label;
  map.ItemsPath = LOCAL_ITEMS_PATH;
}

function redirect(state: State, from: string, to: string): void {
  if (state.Next === from) state.Next = to;
  if (state.Default === from) state.Default = to;
  for (const choice of (state.Choices as { Next?: string }[] | undefined) ?? [])
    if (choice.Next === from) choice.Next = to;
  for (const catcher of (state.Catch as { Next?: string }[] | undefined) ?? [])
    if (catcher.Next === from) catcher.Next = to;
}
