import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowOutcome } from '#local/run-workflow.ts';
import type { Handler } from '#runtime/runtime.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import {
  executionStatusChange,
  type RuleTransformer,
  renderNotification,
  workflowRuleTransformer,
} from '../cdk/notification-text.ts';
import { FULL_CONFIG, synthesize } from '../cdk/support.ts';
import { backup, backupIdOf, causeOf, homeSettings, runtimeWith, writeTree } from '../reliability/support.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * What an SRE woken at night reads: a real Backup run through the synthesized workflow ends partial
 * or failed, and its failure, as Step Functions puts it in the "Execution Status Change" event
 * (`detail.error`, `detail.cause`; `detail.output` is null for a failed execution), goes through the
 * synthesized rule's input transformer. The text must say which set, what state, which component
 * failed and why (one line each), what a restore of `latest` uses now, and where to look further.
 */

const work = tempDir('failure-messages');
afterAll(() => work.cleanup());

const STATE_MACHINE = 'WorkflowsBackupEDFEA0C8-Xk3vQ9pLm2Ab';
const REFUSED = 'http://127.0.0.1:9';
const SECRET = 'Sup3rSecret-7f1d';

let transformer: RuleTransformer;
let home: string;
beforeAll(() => {
  transformer = workflowRuleTransformer(synthesize(FULL_CONFIG));
  home = path.join(work.dir, 'home');
  writeTree(home, { 'portal-ext.properties': 'a=1\n', 'osgi/configs/x.config': 'b=2\n' });
});

const search = {
  engine: 'elasticsearch',
  endpoint: REFUSED,
  credentials: { type: 'basic', username: 'elastic', password: SECRET },
  repository: { name: 'liferay-backup' },
  waitSeconds: 0,
  maxChecks: 2,
};

/** The text the topic's subscribers get for this run, as if it ran on AWS as `execution`. */
function notificationOf(outcome: WorkflowOutcome, execution: string): string {
  if (outcome.status !== 'FAILED') throw new Error('the run succeeded');
  return renderNotification(
    transformer,
    executionStatusChange({
      stateMachine: STATE_MACHINE,
      execution,
      status: 'FAILED',
      error: outcome.error,
      cause: outcome.cause,
    }),
  );
}

const executionArn = (execution: string) =>
  `arn:aws:states:eu-west-1:111111111111:execution:${STATE_MACHINE}:${execution}`;

describe('notifications of backups that are not complete', () => {
  let store: LocalFolderStore;
  let complete: string;
  beforeAll(async () => {
    store = new LocalFolderStore(path.join(work.dir, 'store'));
    complete = backupIdOf(await backup(runtimeWith(store, { liferayHome: homeSettings(home) })));
  });

  it('a partial set: the set, its status, the failed component with its error, what latest still is, where to look', async () => {
    // Act
    const outcome = await backup(runtimeWith(store, { liferayHome: homeSettings(home), search }));
    const id = backupIdOf(outcome);
    const text = notificationOf(outcome, 'nightly-1');
    // Assess
    expect(text).toContain(
      `FAILED (BackupPartial): backup set ${id} is partial: search: RetryableError: reading the cluster information on ${REFUSED}: connect ECONNREFUSED 127.0.0.1:9.`,
    );
    expect(text).toContain(`A restore of "latest" still uses ${complete}, the newest complete set (taken `);
    expect(text).toContain(`'liferay-backup show ${id}'`);
    expect(text).toContain(`backups/${id}/manifest.json`);
    expect(text).toContain(`Execution: ${executionArn('nightly-1')}`);
    expect(text).toContain(
      `Console: https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${executionArn('nightly-1')}`,
    );
    expect(text).toContain(
      `aws stepfunctions describe-execution --execution-arn ${executionArn('nightly-1')}`,
    );
    expect(text).not.toContain(SECRET);
  });

  it('a failed set says so, with latest unchanged', async () => {
    const outcome = await backup(runtimeWith(store, { search }));
    const id = backupIdOf(outcome);
    const text = notificationOf(outcome, 'nightly-2');
    expect(text).toContain(`FAILED (BackupFailed): backup set ${id} is failed: search: RetryableError: `);
    expect(text).toContain(`A restore of "latest" still uses ${complete},`);
  });

  it('with no complete set yet, it says that a restore of latest is refused', async () => {
    const empty = new LocalFolderStore(path.join(work.dir, 'store-empty'));
    const outcome = await backup(runtimeWith(empty, { liferayHome: homeSettings(home), search }));
    expect(notificationOf(outcome, 'first')).toContain(
      'There is no complete set yet: a restore of "latest" is refused.',
    );
  });

  it('long, multi-line errors holding a URL with a password: one line each, no password, within the 32,768 characters of a cause', async () => {
    // Prepare: three components whose steps fail with what a library may say (16,000 characters
    // are kept of each error), the first line naming a URL with its password.
    const store3 = new LocalFolderStore(path.join(work.dir, 'store-long'));
    const rt = runtimeWith(store3, {
      liferayHome: homeSettings(home),
      appServer: homeSettings(home),
      search,
    });
    const failing =
      (what: string): Handler =>
      async () => {
        throw new Error(
          `${what} could not reach https://elastic:${SECRET}@search.internal:9200/_snapshot\n${'  at frame (x.js:1:1)\n'.repeat(2000)}`,
        );
      };
    // Act
    const outcome = await backup(rt, {
      taskOverrides: {
        'Liferay Home plan': failing('the Liferay Home plan'),
        'App server plan': failing('the app server plan'),
        'Search prepare repository': failing('the search step'),
      },
    });
    // Assess
    const cause = causeOf(outcome);
    expect(cause.length).toBeLessThanOrEqual(32_768);
    expect(cause).not.toContain(SECRET);
    expect(cause).not.toContain('\n');
    expect(cause).toMatch(
      /is failed: liferayHome: Error: the Liferay Home plan could not reach https:\/\/\*\*\*@search\.internal:9200\/_snapshot; appServer: .*; search: .*\. There is no complete set yet/,
    );
    expect(notificationOf(outcome, 'long')).not.toContain(SECRET);
  });
});
