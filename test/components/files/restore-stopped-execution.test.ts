import * as fs from 'node:fs';
import * as path from 'node:path';
import { DescribeExecutionCommand, SFNClient, SFNServiceException } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { validateRestore } from '#backup-set/validate-restore.ts';
import { filesKeys } from '#components/files/keys.ts';
import { planRestore, readRestorePlan } from '#components/files/restore-plan.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { backup, backupIdOf, homeSettings, makeHome, runtimeWith } from '../../reliability/support.ts';
import { tempDir } from '../../support/local-runtime.ts';

/**
 * On AWS, a Restore execution stopped in the console never reaches Report: its report stays
 * `running` and its partial staging tree stays beside the target. The next restore's plan asks
 * Step Functions about it (DescribeExecution, mocked at the SDK client: exact input, statuses,
 * documented errors) when both are executions of the same Restore state machine, and removes the
 * tree of one that has ended; anything else waits for the workflow's 24-hour time-out.
 */

const sfn = mockClient(SFNClient);
beforeEach(() => sfn.reset());

const MACHINE = 'arn:aws:states:eu-west-1:111111111111:execution:RestoreStateMachine1A2B3C';
const STOPPED = `${MACHINE}:stopped-in-the-console`;
const NEXT = `${MACHINE}:next`;

const work = tempDir('restore-stopped-execution');
afterAll(() => work.cleanup());
let counter = 0;

/** A set, and a restore of it into `target` that planned (staging made) and then was stopped. */
async function stoppedRestore(executionId: string) {
  counter += 1;
  const dir = path.join(work.dir, `case-${counter}`);
  const home = path.join(dir, 'home');
  makeHome(home, 4);
  const store = new LocalFolderStore(path.join(dir, 'store'));
  const target = path.join(dir, 'restored');
  const rt = runtimeWith(store, { liferayHome: homeSettings(home) });
  const backupId = backupIdOf(await backup(rt));
  const request = { backupId, liferayHome: { target } };
  const plan = async (id: string) => {
    const restore = await validateRestore(request, rt);
    await planRestore({ restore, component: 'liferayHome', executionId: id }, rt);
    return readRestorePlan(store, filesKeys.plan(restore.restoreId, 'liferayHome'));
  };
  const stopped = await plan(executionId);
  expect(stopped.executionId).toBe(executionId);
  expect(fs.existsSync(stopped.staging)).toBe(true);
  return { stopped, next: () => plan(NEXT) };
}

describe("a restore's plan, with the staging tree of a restore whose report still says running", () => {
  it('removes it when Step Functions says that execution has ended, and says why', async () => {
    for (const status of ['ABORTED', 'TIMED_OUT', 'FAILED'] as const) {
      sfn.reset();
      const { stopped, next } = await stoppedRestore(STOPPED);
      sfn.on(DescribeExecutionCommand, { executionArn: STOPPED }).resolves({ status });
      const plan = await next();
      expect(sfn.commandCalls(DescribeExecutionCommand).map((call) => call.args[0].input)).toEqual([
        { executionArn: STOPPED },
      ]);
      expect(plan.warnings).toContain(
        `removed ${stopped.staging}, the partial tree of restore ${stopped.restoreId} (still recorded running, but its execution ended (${status}))`,
      );
      expect(fs.existsSync(stopped.staging)).toBe(false);
      expect(fs.existsSync(plan.staging)).toBe(true);
    }
  });

  it('keeps it while that execution runs, and when Step Functions cannot say', async () => {
    const answers = [
      () => sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' }),
      () =>
        sfn.on(DescribeExecutionCommand).rejects(
          new SFNServiceException({
            name: 'AccessDeniedException',
            $fault: 'client',
            message: 'not authorized to perform: states:DescribeExecution',
            $metadata: {},
          }),
        ),
    ];
    for (const answer of answers) {
      sfn.reset();
      const { stopped, next } = await stoppedRestore(STOPPED);
      answer();
      const plan = await next();
      expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(1);
      expect(plan.warnings.join('\n')).not.toContain(stopped.staging);
      expect(fs.existsSync(stopped.staging)).toBe(true);
    }
  });

  it('does not ask about an execution of another state machine or a local run', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ status: 'ABORTED' });
    for (const other of [
      'arn:aws:states:eu-west-1:111111111111:execution:SomethingElse:x',
      'arn:aws:states:local:000000000000:execution:local:0b5c',
    ]) {
      const { stopped, next } = await stoppedRestore(other);
      await next();
      expect(fs.existsSync(stopped.staging)).toBe(true);
    }
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
  });
});
