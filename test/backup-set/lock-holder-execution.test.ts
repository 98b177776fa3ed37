import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  SFNClient,
  SFNServiceException,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { endedStatus, sameStateMachine } from '#backup-set/executions.ts';
import { readManifest } from '#backup-set/manifest.ts';
import { BackupAlreadyRunningError } from '#runtime/errors.ts';
import { testRuntime } from '../support/local-runtime.ts';

/**
 * A lock left by a Backup execution that was stopped (or ended without reaching Commit) is taken
 * over at once when Step Functions says that execution has ended, instead of a day later when the
 * lock goes stale. Step Functions is mocked at the SDK client: DescribeExecution's exact input,
 * its statuses and its documented errors.
 */

const sfn = mockClient(SFNClient);
beforeEach(() => sfn.reset());
afterEach(() => sfn.reset());

const MACHINE = 'arn:aws:states:eu-west-1:111111111111:execution:BackupStateMachine1A2B3C';
const DEAD = `${MACHINE}:stopped-in-the-console`;
const NEXT = `${MACHINE}:nightly-2`;
const HOME = { liferayHome: { root: '/tmp/does-not-matter-here' } };
const T0 = new Date('2026-11-27T02:00:00Z');

function clock(start: Date) {
  let t = start.getTime();
  return () => {
    t += 1000;
    return new Date(t);
  };
}

/** A running set whose execution holds the lock, and a runtime ten minutes later (the lock is not stale: 60 minutes). */
async function heldBy(executionId: string) {
  const store = testRuntime({ components: HOME }).store;
  const first = await beginBackup(
    { request: {}, executionId },
    testRuntime({ store, components: HOME, now: clock(T0) }),
  );
  const later = testRuntime({ store, components: HOME, now: clock(new Date(T0.getTime() + 10 * 60_000)) });
  return { store, first, later };
}

describe('executions', () => {
  it('asks only about executions of the same state machine on AWS', () => {
    expect(sameStateMachine(NEXT, DEAD)).toBe(true);
    expect(
      sameStateMachine(
        'arn:aws-us-gov:states:us-gov-west-1:111111111111:execution:B:x',
        'arn:aws-us-gov:states:us-gov-west-1:111111111111:execution:B:y',
      ),
    ).toBe(true);
    expect(
      sameStateMachine(NEXT, 'arn:aws:states:eu-west-1:111111111111:execution:RestoreStateMachine:x'),
    ).toBe(false);
    expect(
      sameStateMachine(NEXT, 'arn:aws:states:eu-west-1:222222222222:execution:BackupStateMachine1A2B3C:x'),
    ).toBe(false);
    // The local runner's ids: no AWS to ask.
    const local = 'arn:aws:states:local:000000000000:execution:local:0b5c';
    expect(sameStateMachine(local, 'arn:aws:states:local:000000000000:execution:local:9f1e')).toBe(false);
    expect(sameStateMachine(NEXT, 'not an arn')).toBe(false);
  });

  it('reports the final status of an ended execution, nothing for one that runs or is about to run again', async () => {
    for (const status of ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const) {
      sfn.reset();
      sfn.on(DescribeExecutionCommand).resolves({ status });
      expect(await endedStatus(DEAD)).toBe(status);
      expect(sfn.commandCalls(DescribeExecutionCommand).map((call) => call.args[0].input)).toEqual([
        { executionArn: DEAD },
      ]);
    }
    for (const status of ['RUNNING', 'PENDING_REDRIVE'] as const) {
      sfn.on(DescribeExecutionCommand).resolves({ status });
      expect(await endedStatus(DEAD)).toBeUndefined();
    }
  });
});

describe('Begin, with the lock of another Backup execution that is not stale yet', () => {
  it('takes it over at once when that execution has ended, and records its set failed saying why', async () => {
    const { store, first, later } = await heldBy(DEAD);
    sfn.on(DescribeExecutionCommand, { executionArn: DEAD }).resolves({ status: 'ABORTED' });
    const next = await beginBackup({ request: {}, executionId: NEXT }, later);
    expect(sfn.commandCalls(DescribeExecutionCommand).map((call) => call.args[0].input)).toEqual([
      { executionArn: DEAD },
    ]);
    expect((await readManifest(store, next.backupId)).warnings).toEqual([
      `took over the lock of ${first.backupId}: its execution had ended (ABORTED) without giving the lock back`,
    ]);
    expect(await readManifest(store, first.backupId)).toMatchObject({
      status: 'failed',
      warnings: [
        `the run ended without committing: its execution had ended (ABORTED) without giving the lock back, and ${next.backupId} took over its lock`,
      ],
    });
  });

  it('refuses while that execution runs, and when Step Functions cannot say (the lock then waits to go stale)', async () => {
    const { store, first, later } = await heldBy(DEAD);
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
    const running = beginBackup({ request: {}, executionId: NEXT }, later);
    await expect(running).rejects.toBeInstanceOf(BackupAlreadyRunningError);
    await expect(running).rejects.toThrow(`a backup is already running: ${first.backupId}`);
    for (const error of [
      // IAM's refusal: no modelled class, the service's generic exception by name.
      new SFNServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        message: 'not authorized to perform: states:DescribeExecution',
        $metadata: {},
      }),
      new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${DEAD}'`, $metadata: {} }),
    ]) {
      sfn.reset();
      sfn.on(DescribeExecutionCommand).rejects(error);
      await expect(beginBackup({ request: {}, executionId: NEXT }, later)).rejects.toThrow(
        `a backup is already running: ${first.backupId}`,
      );
      expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(1);
    }
    expect((await readManifest(store, first.backupId)).status).toBe('running');
  });

  it('does not ask about a holder of another state machine, a local run, or a lock without an execution', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ status: 'ABORTED' });
    const other = await heldBy('arn:aws:states:eu-west-1:111111111111:execution:SomethingElse:x');
    await expect(beginBackup({ request: {}, executionId: NEXT }, other.later)).rejects.toThrow(
      BackupAlreadyRunningError,
    );
    const local = await heldBy('arn:aws:states:local:000000000000:execution:local:0b5c');
    await expect(
      beginBackup(
        { request: {}, executionId: 'arn:aws:states:local:000000000000:execution:local:9f1e' },
        local.later,
      ),
    ).rejects.toThrow(BackupAlreadyRunningError);
    const store = testRuntime({ components: HOME }).store;
    await beginBackup({}, testRuntime({ store, components: HOME, now: clock(T0) }));
    const later = testRuntime({ store, components: HOME, now: clock(new Date(T0.getTime() + 10 * 60_000)) });
    await expect(beginBackup({ request: {}, executionId: NEXT }, later)).rejects.toThrow(
      BackupAlreadyRunningError,
    );
    expect(sfn.commandCalls(DescribeExecutionCommand)).toEqual([]);
  });
});
