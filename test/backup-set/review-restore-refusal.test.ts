import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { restoreLockKey } from '#backup-set/restore-lock.ts';
import { restoreTargets, validateRestore } from '#backup-set/validate-restore.ts';
import type { Runtime } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';
import { testRuntime } from '../support/local-runtime.ts';

/**
 * What the refusal tells the SRE, for each kind of holder and refuser: a CLI run refused by a
 * console execution's lock was told that stopping that execution lets "the next restore take its
 * lock over at once", but a CLI run cannot ask Step Functions (its execution is local) and stayed
 * refused; a restore refused by a CLI process running on this machine was told its lock "counts
 * as stale from" a time, but such a lock is never taken over while the process runs. And a Git
 * target's name (the lock, the message, the logs) kept the URL's query string, where a token may
 * sit, and named one repository two ways (host case, default port).
 */

const sfn = mockClient(SFNClient);
beforeEach(() => {
  sfn.reset();
  sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
});
afterEach(() => sfn.reset());

const AWS_EXECUTION = 'arn:aws:states:eu-west-1:111111111111:execution:RestoreStateMachine5D6E7F:night';
const local = (name: string) => `arn:aws:states:local:000000000000:execution:local:${name}`;
const ROOT = '/srv/liferay';
const T0 = new Date('2026-11-27T02:00:00Z');

function clock(start = T0) {
  let t = start.getTime();
  return () => {
    t += 1000;
    return new Date(t);
  };
}

async function deployment(): Promise<{ store: ContentStore; cli: () => Runtime; lambda: () => Runtime }> {
  const components = { liferayHome: { root: ROOT } };
  const rt = testRuntime({ components, now: clock() });
  const backup = await beginBackup({}, rt);
  await commitBackup(
    {
      backup,
      results: [
        {
          component: 'liferayHome',
          status: 'complete',
          warnings: [],
          summary: {},
          details: {
            engine: 'files',
            index: { key: 'objects/indexes/x', size: 1, sha256: '0'.repeat(64) },
            sources: [{ mount: '', root: ROOT, role: 'tree' }],
            rules: { include: [], exclude: [] },
          },
        },
      ],
    },
    rt,
  );
  const later = () => clock(new Date(T0.getTime() + 3_600_000));
  const cli = () => testRuntime({ store: rt.store, components, now: later() });
  const lambda = () => {
    const { process: _, ...withoutProcess } = testRuntime({ store: rt.store, components, now: later() });
    return withoutProcess as Runtime;
  };
  return { store: rt.store, cli, lambda };
}

const request = { backupId: 'latest', components: ['liferayHome'] };
const wrapped = (executionId: string, startTime = '2026-11-27T03:00:00.000Z') => ({
  request,
  executionId,
  startTime,
});

describe('the refusal says what this run can do', () => {
  it('a CLI restore refused by a console execution: stop it, then delete the lock (the CLI cannot ask Step Functions)', async () => {
    const { cli, lambda } = await deployment();
    await validateRestore(wrapped(AWS_EXECUTION), lambda());

    const refused = await validateRestore(wrapped(local('cli')), cli()).catch((error: Error) => error);

    expect(refused).toMatchObject({ name: 'RestoreAlreadyRunningError' });
    const { message } = refused as Error;
    expect(message).toContain('"Stop execution"');
    expect(message).not.toContain('takes its lock over at once');
    expect(message).toContain(`delete ${restoreLockKey(`folder ${ROOT}`)} from the backup store`);
    expect(sfn.commandCalls(DescribeExecutionCommand)).toEqual([]);
  });

  it('a console restore refused by the same kind of execution: the next one takes the lock over at once', async () => {
    const { lambda } = await deployment();
    await validateRestore(wrapped(AWS_EXECUTION), lambda());
    await expect(validateRestore(wrapped(`${AWS_EXECUTION}-2`), lambda())).rejects.toThrow(
      /"Stop execution" \(the next restore then takes its lock over at once\)/,
    );
  });

  it('a restore refused by a CLI process running on this machine: never "stale", stop that process', async () => {
    const { cli } = await deployment();
    await validateRestore(wrapped(local('first')), cli());

    const refused = await validateRestore(wrapped(local('second')), cli()).catch((error: Error) => error);

    const { message } = refused as Error;
    expect(message).toContain(`kill -INT ${process.pid}`);
    expect(message).not.toContain('stale from');
    expect(message).toContain('its lock is never taken over while that process runs');
  });
});

describe('a Git target is named by its repository alone', () => {
  it('without the query string or fragment, with the host as URL parsing writes it', () => {
    const result = {
      component: 'source' as const,
      status: 'complete' as const,
      warnings: [],
      summary: {},
      details: {},
    };
    const targets = restoreTargets('source', {
      request: {
        targets: [
          { url: 'https://GIT.example.com:443/liferay/workspace.git?private_token=s3cr3t#x' },
          { url: 'https://git.example.com/liferay/workspace.git/' },
        ],
      },
      settings: undefined,
      backup: result,
    });
    expect(targets).toEqual(['Git repository https://git.example.com/liferay/workspace.git']);
    expect(JSON.stringify(targets)).not.toContain('s3cr3t');
  });
});
