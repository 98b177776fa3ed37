import * as fs from 'node:fs';
import {
  type Command,
  ListCommandsCommand,
  type ListCommandsCommandInput,
  SendCommandCommand,
  type SendCommandCommandInput,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { listBackupIds, readManifest } from '#backup-set/manifest.ts';
import { runHook } from '#backup-set/run-hook.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Handler } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir, testRuntime } from '../support/local-runtime.ts';

/**
 * SendCommand has no idempotency token: a Run hook step retried by the state machine after its
 * SendCommand went through (its answer lost) must find the command it sent and adopt it.
 */

const ssm = mockClient(SSMClient);
afterEach(() => {
  ssm.reset();
});
const work = tempDir('review-hook-retry');
afterAll(() => work.cleanup());

const DOCUMENT = 'LiferayPauseWrites';
const ssmHook = (mode: string) => ({
  type: 'ssm',
  documentName: DOCUMENT,
  targets: [{ key: 'tag:Role', values: ['liferay'] }],
  parameters: { mode: [mode] },
  timeoutSeconds: 120,
});

/**
 * Run Command as far as the hooks see it: SendCommand records a command, ListCommands answers by
 * command id (the poll: it has succeeded) or by the DocumentName and InvokedAfter filters, newest
 * first, in pages of MaxResults.
 */
function fakeRunCommand(earlier: Command[] = []) {
  const commands: Command[] = [...earlier];
  let sent = 0;
  ssm.on(SendCommandCommand).callsFake((input: SendCommandCommandInput) => {
    sent += 1;
    const command: Command = {
      CommandId: `cmd-sent-${sent}`,
      DocumentName: input.DocumentName,
      Comment: input.Comment,
      Targets: input.Targets,
      RequestedDateTime: new Date(),
      Status: 'Pending',
    };
    commands.push(command);
    return { Command: command };
  });
  ssm.on(ListCommandsCommand).callsFake((input: ListCommandsCommandInput) => {
    if (input.CommandId) {
      const command = commands.find((c) => c.CommandId === input.CommandId);
      return {
        Commands: command ? [{ ...command, Status: 'Success', TargetCount: 1, CompletedCount: 1 }] : [],
      };
    }
    const filter = (key: string) => input.Filters?.find((f) => f.key === key)?.value;
    const document = filter('DocumentName');
    const after = filter('InvokedAfter');
    const matching = commands
      .filter((c) => document === undefined || c.DocumentName === document)
      .filter((c) => after === undefined || (c.RequestedDateTime?.getTime() ?? 0) >= Date.parse(after))
      .sort((a, b) => (b.RequestedDateTime?.getTime() ?? 0) - (a.RequestedDateTime?.getTime() ?? 0));
    const start = Number(input.NextToken ?? 0);
    const end = start + (input.MaxResults ?? 50);
    return {
      Commands: matching.slice(start, end),
      ...(end < matching.length ? { NextToken: String(end) } : {}),
    };
  });
  return { commands };
}

function answerLost(): Error {
  return Object.assign(new Error('Lambda service error: the invocation answer was lost'), {
    name: 'Lambda.ServiceException',
  });
}

/** Runs `inner`, and the first time only loses its answer after it ran. */
function losesFirstAnswer(inner: Handler): { handler: Handler; calls: () => number } {
  let calls = 0;
  return {
    handler: async (event, rt) => {
      calls += 1;
      const result = await inner(event, rt);
      if (calls === 1) throw answerLost();
      return result;
    },
    calls: () => calls,
  };
}

const sentComments = () => ssm.commandCalls(SendCommandCommand).map((call) => call.args[0].input.Comment);

function withHooks(hooks: unknown) {
  const rt = testRuntime({ components: { liferayHome: { root: '/tmp/not-read-here' } } });
  return { ...rt, settings: parseSettings({ ...rt.settings, hooks }, 'test') };
}

/** InvokedAfter as the start sends it: the run's start less the allowance for clock skew, to the second. */
const invokedAfter = (startedAt: string) =>
  new Date(Date.parse(startedAt) - 5 * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('Run pre/post hook retried after its SendCommand went through (answer lost)', () => {
  it('adopts the command it sent: each hook runs once, and the set records those commands', async () => {
    // Prepare
    fakeRunCommand();
    const root = `${work.dir}/workflow/home`;
    fs.mkdirSync(root, { recursive: true });
    fs.writeFileSync(`${root}/portal-ext.properties`, 'x=1\n');
    const store = new LocalFolderStore(`${work.dir}/workflow/store`);
    const rt = localRuntime({
      store,
      settings: parseSettings(
        {
          environment: 'test-env',
          configuredComponents: ['liferayHome'],
          components: { liferayHome: { root } },
          hooks: { pre: ssmHook('pause'), post: ssmHook('resume') },
        },
        'test',
      ),
    });
    const pre = losesFirstAnswer(runHook);
    const post = losesFirstAnswer(runHook);
    // Act
    const outcome = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt, {
      taskOverrides: { 'Run pre hook': pre.handler, 'Run post hook': post.handler },
    });
    // Assess: both starts were retried, and each phase sent one command
    expect(outcome.status === 'FAILED' ? `${outcome.error}: ${outcome.cause}` : outcome.status).toBe(
      'SUCCEEDED',
    );
    expect([pre.calls(), post.calls()]).toEqual([2, 2]);
    const [backupId] = await listBackupIds(store);
    expect(sentComments()).toEqual([
      `liferay-backup pre hook for ${backupId}`,
      `liferay-backup post hook for ${backupId}`,
    ]);
    const manifest = await readManifest(store, backupId ?? '');
    expect(manifest.status).toBe('complete');
    expect(manifest.hooks?.pre).toMatchObject({ status: 'succeeded', commandId: 'cmd-sent-1' });
    expect(manifest.hooks?.post).toMatchObject({ status: 'succeeded', commandId: 'cmd-sent-2' });
  });

  it('never adopts a command of another run or of the other phase, and asks SSM as narrowly as it can', async () => {
    // Prepare: the same document ran a minute ago for an earlier backup, and for this run's pre hook
    const rt = withHooks({ pre: ssmHook('pause'), post: ssmHook('resume') });
    const backup = await beginBackup({}, rt);
    const earlierRun = 'b20261127t020000z-7f3a';
    fakeRunCommand([
      {
        CommandId: 'cmd-earlier-run',
        DocumentName: DOCUMENT,
        Comment: `liferay-backup post hook for ${earlierRun}`,
        RequestedDateTime: new Date(Date.now() - 60_000),
        Status: 'Success',
      },
      {
        CommandId: 'cmd-this-run-pre',
        DocumentName: DOCUMENT,
        Comment: `liferay-backup pre hook for ${backup.backupId}`,
        RequestedDateTime: new Date(),
        Status: 'Success',
      },
    ]);
    // Act
    const outcome = await runHook({ backup, phase: 'post' }, rt);
    // Assess
    expect(outcome).toMatchObject({ status: 'running', commandId: 'cmd-sent-1' });
    expect(sentComments()).toEqual([`liferay-backup post hook for ${backup.backupId}`]);
    expect(ssm.commandCalls(ListCommandsCommand).map((call) => call.args[0].input)).toEqual([
      {
        Filters: [
          { key: 'DocumentName', value: DOCUMENT },
          { key: 'InvokedAfter', value: invokedAfter(backup.startedAt) },
        ],
        MaxResults: 50,
      },
    ]);
  });

  it('follows ListCommands pages to the command it sent', async () => {
    // Prepare: this run's pre hook command, then 70 newer commands of the same document
    const rt = withHooks({ pre: ssmHook('pause') });
    const backup = await beginBackup({}, rt);
    const now = Date.now();
    fakeRunCommand([
      {
        CommandId: 'cmd-this-run-pre',
        DocumentName: DOCUMENT,
        Comment: `liferay-backup pre hook for ${backup.backupId}`,
        RequestedDateTime: new Date(now - 1000),
        Status: 'InProgress',
      },
      ...Array.from({ length: 70 }, (_, i) => ({
        CommandId: `cmd-other-${i}`,
        DocumentName: DOCUMENT,
        Comment: 'someone else',
        RequestedDateTime: new Date(now + i),
        Status: 'Success' as const,
      })),
    ]);
    // Act
    const outcome = await runHook({ backup, phase: 'pre' }, rt);
    // Assess
    expect(outcome).toMatchObject({ status: 'running', commandId: 'cmd-this-run-pre' });
    expect(ssm.commandCalls(SendCommandCommand)).toEqual([]);
    expect(ssm.commandCalls(ListCommandsCommand).map((call) => call.args[0].input.NextToken)).toEqual([
      undefined,
      '50',
    ]);
  });

  it('reads a bounded number of pages: past it, a pre hook is not sent, a post hook is', async () => {
    // Prepare: more commands of the document since the run began than the search reads
    const rt = withHooks({ pre: ssmHook('pause'), post: ssmHook('resume') });
    const backup = await beginBackup({}, rt);
    const now = Date.now();
    const others = Array.from({ length: 600 }, (_, i) => ({
      CommandId: `cmd-other-${i}`,
      DocumentName: DOCUMENT,
      Comment: 'someone else',
      RequestedDateTime: new Date(now + i),
      Status: 'Success' as const,
    }));
    fakeRunCommand(others);
    // Act
    const pre = await runHook({ backup, phase: 'pre' }, rt);
    const listedForPre = ssm.commandCalls(ListCommandsCommand).length;
    const post = await runHook({ backup, phase: 'post' }, rt);
    // Assess
    expect(listedForPre).toBe(10);
    expect(pre).toMatchObject({
      status: 'failed',
      message: expect.stringMatching(
        new RegExp(
          `^not sent: more than 500 Run Commands of document ${DOCUMENT} since this backup began, so whether an earlier attempt of this step already sent the pre hook is unknown; give the hook a document of its own`,
        ),
      ),
    });
    expect(post).toMatchObject({ status: 'running', commandId: 'cmd-sent-1' });
    expect(sentComments()).toEqual([`liferay-backup post hook for ${backup.backupId}`]);
  });
});
