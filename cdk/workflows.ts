import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { HOOK_POLL_SECONDS } from '#backup-set/hooks.ts';
import { REPORT_RUN_HOURS } from '#backup-set/report-run.ts';
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

/**
 * Lets a function ask whether an execution of `machine` has ended (DescribeExecution on that state
 * machine's executions only): Begin about the backup lock's holder, PlanRestore about an earlier
 * restore (functions/backup-set/executions.ts). A policy of its own: the function's default policy
 * would make the state machine that invokes the function depend on itself.
 */
export function allowDescribeExecutions(
  scope: Construct,
  id: string,
  fn: lambda.IFunction,
  machine: sfn.StateMachine,
): iam.Policy {
  return new iam.Policy(scope, id, {
    roles: [fn.role as iam.IRole],
    statements: [
      new iam.PolicyStatement({
        actions: ['states:DescribeExecution'],
        resources: [
          Stack.of(scope).formatArn({
            service: 'states',
            resource: 'execution',
            resourceName: `${machine.stateMachineName}:*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    ],
  });
}

export function componentTitle(name: ComponentName): string {
  return TITLES[name];
}

export interface WorkflowsProps {
  readonly components: readonly WorkflowComponent[];
  readonly beginBackup: lambda.IFunction;
  readonly commitBackup: lambda.IFunction;
  readonly runHook: lambda.IFunction;
  readonly checkHook: lambda.IFunction;
  readonly validateRestore: lambda.IFunction;
  readonly reportRestore: lambda.IFunction;
  readonly backupTimeout: Duration;
  readonly beginVerify: lambda.IFunction;
  readonly reportVerify: lambda.IFunction;
  /** Each component's check for the restore drill (a generic task unless the component has its own branch). */
  readonly verifyComponent: (name: ComponentName) => lambda.IFunction;
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
  verb: 'Capture' | 'Restore' | 'Verify',
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
 * The restores that run one after the other, in this order, in one branch of the Restore Parallel
 * (the other components each keep a branch of their own). In the DXP bundle the app server lives
 * inside the Liferay Home (`<home>/tomcat-9.0.83`): a swap of the Liferay Home renames the live home
 * with everything in it, the app server's staging folder `<target>.restore-<restoreId>` included.
 * So the app server restore starts only once the Liferay Home restore has ended, whatever its
 * outcome (complete, failed or not selected). Only when both components are deployed.
 */
const RESTORE_IN_SEQUENCE: readonly [ComponentName, ComponentName] = ['liferayHome', 'appServer'];

/**
 * Runs two components' branches (componentBranch chains, each with its own skip and Catch) one
 * after the other. Each runs in a single-branch Parallel whose result lands at
 * `$.sequence.<name>`, so the next one still sees `$.restore`; the last state outputs both results
 * as one array, which the Restore Parallel puts into `$.results` as one (nested) item.
 */
function sequenceBranch(
  scope: Construct,
  first: { readonly name: ComponentName; readonly branch: sfn.IChainable },
  second: { readonly name: ComponentName; readonly branch: sfn.IChainable },
): sfn.IChainable {
  const firstTitle = TITLES[first.name];
  const secondTitle = TITLES[second.name];
  const start = new sfn.Parallel(scope, `Restore ${firstTitle}, then ${secondTitle.toLowerCase()}`, {
    stateName: `Restore ${firstTitle}, then ${secondTitle.toLowerCase()}`,
    comment: `The ${secondTitle.toLowerCase()} restore starts once this one has ended, whatever its outcome`,
    resultPath: `$.sequence.${first.name}`,
  }).branch(first.branch);
  const next = new sfn.Parallel(scope, `Restore ${secondTitle} after ${firstTitle}`, {
    stateName: `Restore ${secondTitle} after ${firstTitle}`,
    resultPath: `$.sequence.${second.name}`,
  }).branch(second.branch);
  const both = new sfn.Pass(scope, `${firstTitle} and ${secondTitle.toLowerCase()} results`, {
    stateName: `${firstTitle} and ${secondTitle.toLowerCase()} results`,
    parameters: {
      'results.$': `States.Array($.sequence.${first.name}[0], $.sequence.${second.name}[0])`,
    },
    outputPath: '$.results',
  });
  return start.next(next).next(both);
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
  readonly verify: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: WorkflowsProps) {
    super(scope, id);
    this.backup = this.buildBackup(props);
    this.restore = this.buildRestore(props);
    this.verify = this.buildVerify(props);
    (this.verify.node.defaultChild as sfn.CfnStateMachine).addMetadata(WORKFLOW_METADATA_KEY, 'verify');
    // The local runner finds the definitions by this tag (functions/local/template-definitions.ts).
    (this.backup.node.defaultChild as sfn.CfnStateMachine).addMetadata(WORKFLOW_METADATA_KEY, 'backup');
    (this.restore.node.defaultChild as sfn.CfnStateMachine).addMetadata(WORKFLOW_METADATA_KEY, 'restore');
    for (const component of props.components) {
      component.grantStateMachine?.(this.backup, 'backup');
      component.grantStateMachine?.(this.restore, 'restore');
      component.grantStateMachine?.(this.verify, 'verify');
    }
  }

  private buildBackup(props: WorkflowsProps): sfn.StateMachine {
    const scope = new Construct(this, 'BackupStates');
    const begin = invokeTask(scope, 'Begin', props.beginBackup, {
      // The execution's id lets a retried Begin resume the run it started (functions/backup-set/begin-backup.ts).
      payload: { 'request.$': '$', 'executionId.$': '$$.Execution.Id' },
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
    const done = new sfn.Choice(scope, 'Hooks succeeded?', { stateName: 'Hooks succeeded?' })
      .when(
        sfn.Condition.booleanEquals('$.commit.hooksFailed', true),
        new sfn.Fail(scope, 'Backup hook failed', {
          error: 'BackupHookFailed',
          causePath: '$.commit.message',
        }),
      )
      .otherwise(finish(scope, 'Backup', '$.commit.status', '$.commit.message'));
    commit.next(done);
    commitAfterFailure.next(done);

    // The post hook runs after the capture whether it succeeded or not; then Commit records it.
    const toCommit = new sfn.Choice(scope, 'Capture failed?', { stateName: 'Capture failed?' })
      .when(sfn.Condition.isPresent('$.failure'), commitAfterFailure)
      .otherwise(commit);
    const postHook = this.hookSteps(scope, 'post', props);
    postHook.end.next(toCommit);
    const afterCapture = new sfn.Choice(scope, 'Post hook configured?', {
      stateName: 'Post hook configured?',
    })
      .when(sfn.Condition.booleanEquals('$.backup.hooks.post', true), postHook.start)
      .otherwise(toCommit);
    capture.addCatch(afterCapture, { resultPath: '$.failure' });
    capture.next(afterCapture);

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
      step.next(prepares[index + 1]?.step ?? capture);
    });
    const startCapture = prepares[0]?.step ?? capture;

    const preHook = this.hookSteps(scope, 'pre', props);
    const captureSkipped = new sfn.Pass(scope, 'Capture skipped', {
      stateName: 'Capture skipped',
      result: sfn.Result.fromObject({
        Error: 'PreHookFailed',
        Cause: 'the pre hook failed, so nothing was captured',
      }),
      resultPath: '$.failure',
    });
    captureSkipped.next(afterCapture);
    preHook.end.next(
      new sfn.Choice(scope, 'Pre hook succeeded?', { stateName: 'Pre hook succeeded?' })
        .when(
          sfn.Condition.and(
            sfn.Condition.isPresent('$.backup.hookOutcomes.pre.status'),
            sfn.Condition.stringEquals('$.backup.hookOutcomes.pre.status', 'succeeded'),
          ),
          startCapture,
        )
        .when(sfn.Condition.booleanEquals('$.backup.hooks.continueOnPreHookFailure', true), startCapture)
        .otherwise(captureSkipped),
    );
    begin.next(
      new sfn.Choice(scope, 'Pre hook configured?', { stateName: 'Pre hook configured?' })
        .when(sfn.Condition.booleanEquals('$.backup.hooks.pre', true), preHook.start)
        .otherwise(startCapture),
    );
    const chain = sfn.Chain.start(begin);

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

  /**
   * Runs a capture hook: start it, and while an SSM command is running, Wait and poll (the poll
   * itself ends the loop at the hook's timeout). A failure of the hook step lands in the outcome.
   */
  private hookSteps(scope: Construct, phase: 'pre' | 'post', props: WorkflowsProps) {
    const title = phase === 'pre' ? 'Pre' : 'Post';
    const outcomePath = `$.backup.hookOutcomes.${phase}`;
    const run = invokeTask(scope, `Run ${phase} hook`, props.runHook, {
      payload: { 'backup.$': '$.backup', phase },
      resultPath: outcomePath,
    });
    const check = invokeTask(scope, `Check ${phase} hook`, props.checkHook, {
      payload: { 'backup.$': '$.backup', phase, 'outcome.$': outcomePath },
      resultPath: outcomePath,
    });
    const wait = new sfn.Wait(scope, `Wait for ${phase} hook`, {
      stateName: `Wait for ${phase} hook`,
      time: sfn.WaitTime.duration(Duration.seconds(HOOK_POLL_SECONDS)),
    });
    const end = new sfn.Pass(scope, `${title} hook done`, { stateName: `${title} hook done` });
    const running = new sfn.Choice(scope, `${title} hook running?`, { stateName: `${title} hook running?` })
      .when(sfn.Condition.stringEquals(`${outcomePath}.status`, 'running'), wait)
      .otherwise(end);
    run.next(running);
    wait.next(check);
    check.next(running);
    run.addCatch(end, { resultPath: outcomePath });
    check.addCatch(end, { resultPath: outcomePath });
    return { start: run, end };
  }

  private buildRestore(props: WorkflowsProps): sfn.StateMachine {
    const scope = new Construct(this, 'RestoreStates');
    const validate = invokeTask(scope, 'Validate', props.validateRestore, {
      // The execution's id and start make the restore's id, so a retried Validate resumes the
      // restore it started, with its report and target locks (functions/backup-set/validate-restore.ts).
      payload: {
        'request.$': '$',
        'executionId.$': '$$.Execution.Id',
        'startTime.$': '$$.Execution.StartTime',
      },
      resultPath: '$.restore',
      comment:
        'Resolve latest, load the manifest, check the request, lock the targets; a bad request, or one whose targets another restore writes, stops here and changes nothing',
    });
    const restore = new sfn.Parallel(scope, 'Restore', { stateName: 'Restore', resultPath: '$.results' });
    const branches = new Map<ComponentName, sfn.IChainable>();
    for (const component of props.components) {
      const branchScope = new Construct(scope, `${component.name}Restore`);
      branches.set(
        component.name,
        componentBranch(
          branchScope,
          component.name,
          component.restoreBranch(branchScope),
          '$.restore.selected',
          'Restore',
        ),
      );
    }
    // Both components deployed: one branch restores them in sequence, where the first one's branch was.
    const [first, second] = RESTORE_IN_SEQUENCE;
    const firstBranch = branches.get(first);
    const secondBranch = branches.get(second);
    for (const [name, branch] of branches) {
      if (!firstBranch || !secondBranch) restore.branch(branch);
      else if (name === first)
        restore.branch(
          sequenceBranch(scope, { name: first, branch: firstBranch }, { name: second, branch: secondBranch }),
        );
      else if (name !== second) restore.branch(branch);
    }
    const report = invokeTask(scope, 'Report', props.reportRestore, {
      payload: { 'restore.$': '$.restore', 'results.$': '$.results' },
      resultPath: '$.report',
      comment: 'Write the restore report next to the manifest, give the target locks back',
    });
    const reportAfterFailure = invokeTask(scope, 'Report after failure', props.reportRestore, {
      payload: { 'restore.$': '$.restore', 'failure.$': '$.failure' },
      resultPath: '$.report',
    });
    // Every path past Validate reaches a Report, which gives the target locks back: each branch
    // catches its own failure, and this Catch takes anything else. A run that ends without one
    // (stopped in the console, timed out) leaves its locks to the next Validate, which takes them
    // over once Step Functions says the run has ended.
    restore.addCatch(reportAfterFailure, { resultPath: '$.failure' });
    const done = finish(scope, 'Restore', '$.report.status', '$.report.message');
    report.next(done);
    reportAfterFailure.next(done);

    return new sfn.StateMachine(this, 'Restore', {
      comment: 'liferay-backup: restore a backup set (Validate, restore the chosen components, Report)',
      definitionBody: sfn.DefinitionBody.fromChainable(sfn.Chain.start(validate).next(restore).next(report)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: Duration.hours(REPORT_RUN_HOURS),
      tracingEnabled: true,
      logs: {
        destination: new logs.LogGroup(this, 'RestoreLogs', { retention: props.logRetentionDays }),
        level: sfn.LogLevel.ALL,
        includeExecutionData: false,
      },
    });
  }

  /** The restore drill: Begin → each component verifies its part → Report (DESIGN.md; issue: restore drills). */
  private buildVerify(props: WorkflowsProps): sfn.StateMachine {
    const scope = new Construct(this, 'VerifyStates');
    const begin = invokeTask(scope, 'Begin verify', props.beginVerify, {
      resultPath: '$.verify',
      comment: 'Resolve latest or the id, record a running verification report',
    });
    const verify = new sfn.Parallel(scope, 'Verify', { stateName: 'Verify', resultPath: '$.results' });
    for (const component of props.components) {
      const branchScope = new Construct(scope, `${component.name}Verify`);
      const chain =
        component.verifyBranch?.(branchScope, { restore: this.restore }) ??
        invokeTask(branchScope, `${TITLES[component.name]} check`, props.verifyComponent(component.name), {
          payload: { 'verify.$': '$.verify', component: component.name },
        });
      verify.branch(componentBranch(branchScope, component.name, chain, '$.verify.selected', 'Verify'));
    }
    const report = invokeTask(scope, 'Report verify', props.reportVerify, {
      payload: { 'verify.$': '$.verify', 'results.$': '$.results' },
      resultPath: '$.report',
    });
    const reportAfterFailure = invokeTask(scope, 'Report verify after failure', props.reportVerify, {
      payload: { 'verify.$': '$.verify', 'failure.$': '$.failure' },
      resultPath: '$.report',
    });
    verify.addCatch(reportAfterFailure, { resultPath: '$.failure' });
    const done = new sfn.Choice(scope, 'Verified?', { stateName: 'Verified?' })
      .when(sfn.Condition.stringEquals('$.report.status', 'verified'), new sfn.Succeed(scope, 'Verified'))
      .otherwise(
        new sfn.Fail(scope, 'Verification failed', { error: 'VerifyFailed', causePath: '$.report.message' }),
      );
    report.next(done);
    reportAfterFailure.next(done);
    return new sfn.StateMachine(this, 'Verify', {
      comment:
        'liferay-backup: restore drill (every checksum, every snapshot, every Git ref) without restoring over anything',
      definitionBody: sfn.DefinitionBody.fromChainable(sfn.Chain.start(begin).next(verify).next(report)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: Duration.hours(REPORT_RUN_HOURS),
      tracingEnabled: true,
      logs: {
        destination: new logs.LogGroup(this, 'VerifyLogs', { retention: props.logRetentionDays }),
        level: sfn.LogLevel.ALL,
        includeExecutionData: false,
      },
    });
  }
}
