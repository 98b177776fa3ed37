import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  CancelCommandCommand,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { readManifest } from '#backup-set/manifest.ts';
import { checkHook, runHook } from '#backup-set/run-hook.ts';
import { parseSettings } from '#runtime/settings.ts';
import { tempDir, testRuntime } from '../support/local-runtime.ts';

const HOME = { liferayHome: { root: '/tmp/x' } };
const ssm = mockClient(SSMClient);
const lambda = mockClient(LambdaClient);
afterEach(() => {
  ssm.reset();
  lambda.reset();
});

function withHooks(hooks: unknown) {
  const rt = testRuntime({ components: HOME });
  const settings = parseSettings({ ...rt.settings, hooks }, 'test');
  return { ...rt, settings };
}

describe('capture hooks', () => {
  it('run a local command with the phase and backup id in its environment', async () => {
    const { dir, cleanup } = tempDir('hook');
    const rt = withHooks({
      pre: { type: 'command', command: `echo "$LIFERAY_BACKUP_PHASE $LIFERAY_BACKUP_ID" > ${dir}/ran` },
    });
    const backup = await beginBackup({}, rt);
    expect(backup.hooks).toEqual({ pre: true, post: false, continueOnPreHookFailure: false });
    const outcome = await runHook({ backup, phase: 'pre' }, rt);
    expect(outcome).toMatchObject({ phase: 'pre', type: 'command', status: 'succeeded' });
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(`${dir}/ran`, 'utf8').trim()).toBe(`pre ${backup.backupId}`);
    cleanup();
  });

  it('report a failing or hanging local command, never its output', async () => {
    const rt = withHooks({
      pre: { type: 'command', command: 'echo secret-token-123; exit 3' },
      post: { type: 'command', command: 'sleep 30', timeoutSeconds: 1 },
    });
    const backup = await beginBackup({}, rt);
    const pre = await runHook({ backup, phase: 'pre' }, rt);
    expect(pre).toMatchObject({ status: 'failed', message: 'the pre hook command exited with code 3' });
    const post = await runHook({ backup, phase: 'post' }, rt);
    expect(post).toMatchObject({
      status: 'failed',
      message: 'the post hook command did not finish within 1 s and was killed',
    });
    const committed = await commitBackup(
      {
        backup: { ...backup, hookOutcomes: { pre, post } },
        results: [{ component: 'liferayHome', status: 'complete', warnings: [], summary: {}, details: {} }],
      },
      rt,
    );
    expect(committed.hooksFailed).toBe(true);
    const manifest = await readManifest(rt.store, backup.backupId);
    expect(manifest.hooks?.pre?.status).toBe('failed');
    expect(manifest.hooks?.post?.status).toBe('failed');
    expect(JSON.stringify(manifest)).not.toContain('secret-token-123');
  });

  it('send the configured SSM document and poll it until it succeeds', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    // The start's search for a command an earlier attempt sent finds none; the polls ask by id.
    ssm.on(ListCommandsCommand).resolves({ Commands: [] });
    ssm
      .on(ListCommandsCommand, { CommandId: 'cmd-1' })
      .resolvesOnce({ Commands: [{ Status: 'InProgress' }] })
      .resolves({ Commands: [{ Status: 'Success' }] });
    const rt = withHooks({
      pre: {
        type: 'ssm',
        documentName: 'LiferayPauseWrites',
        targets: [{ key: 'tag:Role', values: ['liferay'] }],
        parameters: { mode: ['pause'] },
        timeoutSeconds: 120,
      },
    });
    const backup = await beginBackup({}, rt);
    const started = await runHook({ backup, phase: 'pre' }, rt);
    expect(started).toMatchObject({ status: 'running', commandId: 'cmd-1' });
    expect(ssm.commandCalls(SendCommandCommand)[0]?.args[0].input).toMatchObject({
      DocumentName: 'LiferayPauseWrites',
      Targets: [{ Key: 'tag:Role', Values: ['liferay'] }],
      Parameters: { mode: ['pause'] },
      TimeoutSeconds: 120,
    });
    const stillRunning = await checkHook({ backup, phase: 'pre', outcome: started }, rt);
    expect(stillRunning).toMatchObject({ status: 'running', polls: 1 });
    const done = await checkHook({ backup, phase: 'pre', outcome: stillRunning }, rt);
    expect(done).toMatchObject({ status: 'succeeded', polls: 2 });
  });

  it('cancel an SSM command that outlives its timeout', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-2' } });
    ssm.on(ListCommandsCommand).resolves({ Commands: [{ Status: 'InProgress' }] });
    ssm.on(CancelCommandCommand).resolves({});
    const rt = withHooks({
      post: {
        type: 'ssm',
        documentName: 'AWS-RunShellScript',
        targets: [{ key: 'InstanceIds', values: ['i-0123456789abcdef0'] }],
        timeoutSeconds: 30,
      },
    });
    const backup = await beginBackup({}, rt);
    let outcome = await runHook({ backup, phase: 'post' }, rt);
    for (let i = 0; i < 10 && outcome.status === 'running'; i++)
      outcome = await checkHook({ backup, phase: 'post', outcome }, rt);
    expect(outcome).toMatchObject({
      status: 'failed',
      message: 'Run Command cmd-2 did not finish within its timeout and was cancelled',
    });
    expect(ssm.commandCalls(CancelCommandCommand)[0]?.args[0].input).toEqual({ CommandId: 'cmd-2' });
    expect(outcome.polls).toBeLessThanOrEqual(Math.ceil(30 / 15) + 2);
  });

  it('invoke a Lambda hook and report its function error', async () => {
    lambda.on(InvokeCommand).resolves({ FunctionError: 'Unhandled', StatusCode: 200 });
    const arn = 'arn:aws:lambda:eu-west-1:111111111111:function:drain-liferay';
    const rt = withHooks({ pre: { type: 'lambda', functionArn: arn } });
    const backup = await beginBackup({}, rt);
    const outcome = await runHook({ backup, phase: 'pre' }, rt);
    expect(outcome).toMatchObject({ status: 'failed', target: `lambda ${arn}` });
    const input = lambda.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(input?.FunctionName).toBe(arn);
    expect(JSON.parse(Buffer.from(input?.Payload as Uint8Array).toString())).toEqual({
      phase: 'pre',
      backupId: backup.backupId,
      environment: 'test-env',
    });
  });

  it('refuse hook settings that are not valid, naming the key', () => {
    expect(() => withHooks({ pre: { type: 'ssm', documentName: 'x', targets: [] } })).toThrow(
      /hooks\.pre\.targets/,
    );
    expect(() => withHooks({ pre: { type: 'lambda', functionArn: 'drain' } })).toThrow(
      /a Lambda function ARN/,
    );
  });
});

describe('capture hooks in the Backup workflow', () => {
  async function run(root: string, hooks: unknown) {
    const { LocalFolderStore } = await import('#store/local-folder-store.ts');
    const { localRuntime } = await import('#local/local-runtime.ts');
    const { runWorkflow } = await import('#local/run-workflow.ts');
    const { WORKFLOWS } = await import('#local/workflows.ts');
    const { dir } = tempDir('hook-workflow');
    const store = new LocalFolderStore(`${dir}/store`);
    const rt = localRuntime({
      store,
      settings: parseSettings(
        {
          environment: 'test-env',
          configuredComponents: ['liferayHome'],
          components: { liferayHome: { root } },
          hooks,
        },
        'test',
      ),
    });
    const outcome = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt);
    const { listBackupIds } = await import('#backup-set/manifest.ts');
    const [backupId] = await listBackupIds(store);
    return { outcome, manifest: await readManifest(store, backupId ?? '') };
  }

  it('run the post hook when the capture fails, and record both in the manifest', async () => {
    const { dir } = tempDir('hook-capture-fails');
    const log = `${dir}/ran`;
    const hook = { type: 'command', command: `echo "$LIFERAY_BACKUP_PHASE" >> ${log}` };
    const { outcome, manifest } = await run(`${dir}/no-such-home`, { pre: hook, post: hook });
    expect(outcome.status).toBe('FAILED');
    expect(manifest.status).not.toBe('complete');
    expect(outcome.statesEntered).toContain('Capture');
    expect(manifest.results.liferayHome?.status).toBe('failed');
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(log, 'utf8').split('\n').filter(Boolean)).toEqual(['pre', 'post']);
    expect(manifest.hooks?.pre).toMatchObject({ status: 'succeeded', target: 'local command' });
    expect(manifest.hooks?.post).toMatchObject({ status: 'succeeded', target: 'local command' });
  });

  it('skip the capture when the pre hook fails, still run the post hook, and fail the set', async () => {
    const { dir } = tempDir('hook-pre-fails');
    const log = `${dir}/ran`;
    const { outcome, manifest } = await run(dir, {
      pre: { type: 'command', command: 'exit 4' },
      post: { type: 'command', command: `echo "$LIFERAY_BACKUP_PHASE" >> ${log}` },
    });
    expect(outcome.status).toBe('FAILED');
    expect(outcome.status === 'FAILED' ? outcome.cause : '').toMatch(/pre hook/);
    expect(manifest.status).toBe('failed');
    expect(outcome.statesEntered).not.toContain('Capture');
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(log, 'utf8').trim()).toBe('post');
    expect(manifest.hooks?.pre).toMatchObject({
      status: 'failed',
      message: 'the pre hook command exited with code 4',
    });
    expect(manifest.hooks?.post).toMatchObject({ status: 'succeeded' });
  });
  it('with onPreHookFailure "continue", capture and complete the set after a failed pre hook, and still end red', async () => {
    const { dir } = tempDir('hook-pre-continue');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(`${dir}/home`);
    writeFileSync(`${dir}/home/portal-ext.properties`, 'x=1\n');
    const { outcome, manifest } = await run(`${dir}/home`, {
      pre: { type: 'command', command: 'exit 3' },
      onPreHookFailure: 'continue',
    });
    // The set is usable (it becomes latest), the failure is in it, and the alarm still fires.
    expect(outcome.statesEntered).toContain('Capture');
    expect(manifest.status).toBe('complete');
    expect(manifest.warnings.join('\n')).toMatch(/pre hook/);
    expect(outcome.status === 'FAILED' ? outcome.error : outcome.status).toBe('BackupHookFailed');
    expect(outcome.status === 'FAILED' ? outcome.cause : '').toMatch(/is complete, but pre hook .* failed/);
  });
});
