import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { ComponentName } from '#components/component.ts';
import { WORKFLOW_METADATA_KEY } from '#local/template-definitions.ts';
import type { WorkflowComponent } from './components/component.ts';
import { invokeTask } from './workflow-tasks.ts';

/** Human titles for state names in the console graph. */
const TITLES: Record<ComponentName, string> = {
  database: 'Database',
  liferayHome: 'Liferay Home',
  appServer: 'App server',
  search: 'Search',
  source: 'Source',
};

export function componentTitle(name: ComponentName): string {
  return TITLES[name];
}

export interface WorkflowsProps {
  readonly components: readonly WorkflowComponent[];
  readonly beginBackup: lambda.IFunction;
  readonly commitBackup: lambda.IFunction;
  readonly validateRestore: lambda.IFunction;
  readonly reportRestore: lambda.IFunction;
  readonly backupTimeout: Duration;
  readonly logRetentionDays: logs.RetentionDays;
}

/**
 * Wraps a component's chain so that its failure becomes a failed result instead of failing the
 * whole Parallel, and an unselected component is skipped. The single-branch Parallel is the
 * Step Functions idiom for "Catch around a chain".
 */
function componentBranch(
  scope: Construct,
  name: ComponentName,
  chain: sfn.IChainable,
  selectedPath: string,
  verb: 'Capture' | 'Restore',
): sfn.IChainable {
  const title = TITLES[name];
  const guarded = new sfn.Parallel(scope, `${verb} ${title}`, {
    stateName: `${verb} ${title}`,
    outputPath: '$[0]',
  }).branch(chain);
  guarded.addCatch(
    new sfn.Pass(scope, `${title} ${verb.toLowerCase()} failed`, {
      stateName: `${title} ${verb.toLowerCase()} failed`,
      parameters: { component: name, 'caught.$': '$.caught' },
    }),
    { resultPath: '$.caught' },
  );
  const skipped = new sfn.Pass(scope, `${title} not selected (${verb.toLowerCase()})`, {
    stateName: `${title} not selected (${verb.toLowerCase()})`,
    parameters: { component: name, status: 'skipped', warnings: [], summary: {}, details: {} },
  });
  return new sfn.Choice(scope, `${title} selected? (${verb.toLowerCase()})`, {
    stateName: `${title} selected? (${verb.toLowerCase()})`,
  })
    .when(sfn.Condition.booleanEquals(`${selectedPath}.${name}`, true), guarded)
    .otherwise(skipped);
}

/**
 * A component's prepare step, run before the capture branches. Its output lands at
 * `$.prepared.<name>.result`; on failure the Catch puts `{Error, Cause}` at `$.prepared.<name>`
 * and the run goes on (the component's capture branch turns it into a failed result).
 */
function prepareStep(scope: Construct, name: ComponentName, chain: sfn.IChainable): sfn.Parallel {
  const title = TITLES[name];
  const skipped = new sfn.Pass(scope, `${title} not selected (prepare)`, {
    stateName: `${title} not selected (prepare)`,
    result: sfn.Result.fromObject({ skipped: true }),
  });
  const choice = new sfn.Choice(scope, `${title} selected? (prepare)`, {
    stateName: `${title} selected? (prepare)`,
  })
    .when(sfn.Condition.booleanEquals(`$.backup.selected.${name}`, true), chain)
    .otherwise(skipped);
  return new sfn.Parallel(scope, `Prepare ${title}`, {
    stateName: `Prepare ${title}`,
    resultSelector: { 'result.$': '$[0]' },
    resultPath: `$.prepared.${name}`,
  }).branch(choice);
}

function finish(
  scope: Construct,
  what: 'Backup' | 'Restore',
  statusPath: string,
  causePath: string,
): sfn.IChainable {
  return new sfn.Choice(scope, `${what} complete?`, { stateName: `${what} complete?` })
    .when(sfn.Condition.stringEquals(statusPath, 'complete'), new sfn.Succeed(scope, `${what} complete`))
    .when(
      sfn.Condition.stringEquals(statusPath, 'partial'),
      new sfn.Fail(scope, `${what} partial`, { error: `${what}Partial`, causePath }),
    )
    .otherwise(new sfn.Fail(scope, `${what} failed`, { error: `${what}Failed`, causePath }));
}

/** The Backup and Restore state machines (DESIGN.md "Workflows"). */
export class Workflows extends Construct {
  readonly backup: sfn.StateMachine;
  readonly restore: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: WorkflowsProps) {
    super(scope, id);
    this.backup = this.buildBackup(props);
    this.restore = this.buildRestore(props);
    // The local runner finds the definitions by this tag (functions/local/template-definitions.ts).
    (this.backup.node.defaultChild as sfn.CfnStateMachine).addMetadata(WORKFLOW_METADATA_KEY, 'backup');
    (this.restore.node.defaultChild as sfn.CfnStateMachine).addMetadata(WORKFLOW_METADATA_KEY, 'restore');
    for (const component of props.components) {
      component.grantStateMachine?.(this.backup, 'backup');
      component.grantStateMachine?.(this.restore, 'restore');
    }
  }

  private buildBackup(props: WorkflowsProps): sfn.StateMachine {
    const scope = new Construct(this, 'BackupStates');
    const begin = invokeTask(scope, 'Begin', props.beginBackup, {
      resultPath: '$.backup',
      comment: 'Allocate the backup id, take the lock, write the running manifest',
    });
    const capture = new sfn.Parallel(scope, 'Capture', { stateName: 'Capture', resultPath: '$.results' });
    for (const component of props.components) {
      const branchScope = new Construct(scope, `${component.name}Capture`);
      capture.branch(
        componentBranch(
          branchScope,
          component.name,
          component.captureBranch(branchScope),
          '$.backup.selected',
          'Capture',
        ),
      );
    }
    const commit = invokeTask(scope, 'Commit', props.commitBackup, {
      payload: { 'backup.$': '$.backup', 'results.$': '$.results' },
      resultPath: '$.commit',
      comment: 'Write the final manifest, move latest on complete, release the lock',
    });
    const commitAfterFailure = invokeTask(scope, 'Commit after failure', props.commitBackup, {
      payload: { 'backup.$': '$.backup', 'failure.$': '$.failure' },
      resultPath: '$.commit',
    });
    capture.addCatch(commitAfterFailure, { resultPath: '$.failure' });
    const done = finish(scope, 'Backup', '$.commit.status', '$.commit.message');
    commit.next(done);
    commitAfterFailure.next(done);

    const prepares = props.components.flatMap((component) => {
      if (!component.prepareBackup) return [];
      const prepareScope = new Construct(scope, `${component.name}Prepare`);
      return [
        {
          name: component.name,
          step: prepareStep(prepareScope, component.name, component.prepareBackup(prepareScope)),
        },
      ];
    });
    // A failed prepare step is recorded and the run goes on to the next one.
    prepares.forEach(({ name, step }, index) => {
      step.addCatch(prepares[index + 1]?.step ?? capture, { resultPath: `$.prepared.${name}` });
    });
    let chain: sfn.Chain = sfn.Chain.start(begin);
    for (const { step } of prepares) chain = chain.next(step);
    chain = chain.next(capture).next(commit);

    return new sfn.StateMachine(this, 'Backup', {
      comment: 'liferay-backup: one backup set per run (Begin, capture every component, Commit)',
      definitionBody: sfn.DefinitionBody.fromChainable(chain),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: props.backupTimeout,
      tracingEnabled: true,
      logs: {
        destination: new logs.LogGroup(this, 'BackupLogs', { retention: props.logRetentionDays }),
        level: sfn.LogLevel.ALL,
        includeExecutionData: false,
      },
    });
  }

  private buildRestore(props: WorkflowsProps): sfn.StateMachine {
    const scope = new Construct(this, 'RestoreStates');
    const validate = invokeTask(scope, 'Validate', props.validateRestore, {
      resultPath: '$.restore',
      comment:
        'Resolve latest, load the manifest, check the request; a bad request stops here and changes nothing',
    });
    const restore = new sfn.Parallel(scope, 'Restore', { stateName: 'Restore', resultPath: '$.results' });
    for (const component of props.components) {
      const branchScope = new Construct(scope, `${component.name}Restore`);
      restore.branch(
        componentBranch(
          branchScope,
          component.name,
          component.restoreBranch(branchScope),
          '$.restore.selected',
          'Restore',
        ),
      );
    }
    const report = invokeTask(scope, 'Report', props.reportRestore, {
      payload: { 'restore.$': '$.restore', 'results.$': '$.results' },
      resultPath: '$.report',
      comment: 'Write the restore report next to the manifest',
    });
    const reportAfterFailure = invokeTask(scope, 'Report after failure', props.reportRestore, {
      payload: { 'restore.$': '$.restore', 'failure.$': '$.failure' },
      resultPath: '$.report',
    });
    restore.addCatch(reportAfterFailure, { resultPath: '$.failure' });
    const done = finish(scope, 'Restore', '$.report.status', '$.report.message');
    report.next(done);
    reportAfterFailure.next(done);

    return new sfn.StateMachine(this, 'Restore', {
      comment: 'liferay-backup: restore a backup set (Validate, restore the chosen components, Report)',
      definitionBody: sfn.DefinitionBody.fromChainable(sfn.Chain.start(validate).next(restore).next(report)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: Duration.hours(24),
      tracingEnabled: true,
      logs: {
        destination: new logs.LogGroup(this, 'RestoreLogs', { retention: props.logRetentionDays }),
        level: sfn.LogLevel.ALL,
        includeExecutionData: false,
      },
    });
  }
}
