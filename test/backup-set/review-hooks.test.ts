import { ListCommandsCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { checkHook, runHook } from '#backup-set/run-hook.ts';
import { parseSettings } from '#runtime/settings.ts';
import { testRuntime } from '../support/local-runtime.ts';

const ssm = mockClient(SSMClient);
afterEach(() => {
  ssm.reset();
});

function withHooks(hooks: unknown) {
  const rt = testRuntime({ components: { liferayHome: { root: '/tmp/x' } } });
  const settings = parseSettings({ ...rt.settings, hooks }, 'test');
  return { ...rt, settings };
}

describe('an SSM capture hook', () => {
  it('whose targets match no instance is failed, not succeeded (Run Command ends it Success, NoInstancesInTag)', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm.on(ListCommandsCommand).resolves({ Commands: [] });
    // What Run Command answers for a tag that matches no managed instance (an Auto Scaling group
    // that replaced the hosts, a tag spelt differently): a terminal Success over zero targets.
    ssm.on(ListCommandsCommand, { CommandId: 'cmd-1' }).resolves({
      Commands: [
        {
          CommandId: 'cmd-1',
          Status: 'Success',
          StatusDetails: 'NoInstancesInTag',
          TargetCount: 0,
          CompletedCount: 0,
          ErrorCount: 0,
        },
      ],
    });
    const rt = withHooks({
      pre: {
        type: 'ssm',
        documentName: 'LiferayPauseWrites',
        targets: [{ key: 'tag:Role', values: ['liferay'] }],
      },
    });
    const backup = await beginBackup({}, rt);
    const started = await runHook({ backup, phase: 'pre' }, rt);

    const done = await checkHook({ backup, phase: 'pre', outcome: started }, rt);

    expect(done.status).toBe('failed');
    expect(done.message).toMatch(/cmd-1 ran on no host: no instance matched its targets/);
  });
});
