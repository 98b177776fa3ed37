import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { RETENTION_WORKFLOW_HOURS } from '#backup-set/retention.ts';
import { WORKFLOW_METADATA_KEY } from '#local/template-definitions.ts';
import type { BackupStore } from './backup-store.ts';
import type { WorkflowComponent } from './components/component.ts';
import type { BackupFunctionProps } from './lambda-function.ts';
import { StoreItemReader } from './store-item-reader.ts';
import { invokeTask } from './workflow-tasks.ts';

export interface RetentionProps {
  readonly store: BackupStore;
  readonly components: readonly WorkflowComponent[];
  readonly createFunction: (scope: Construct, id: string, props: BackupFunctionProps) => lambda.Function;
  /** EventBridge Scheduler expression. @default daily at 05:00 UTC */
  readonly schedule: string;
  readonly logRetentionDays: logs.RetentionDays;
}

/**
 * The Retention workflow: Plan (decide, report) → delete each expired set → mark what each kept
 * set references → sweep each prefix → Finish. `{"dryRun": true}` only writes the report.
 */
export class Retention extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly functions: Record<'plan' | 'deleteSet' | 'markSet' | 'sweep' | 'finish', lambda.Function>;

  constructor(scope: Construct, id: string, props: RetentionProps) {
    super(scope, id);
    const { store } = props;
    const create = (
      fnId: string,
      handlerId: string,
      description: string,
      extra: Partial<BackupFunctionProps> = {},
    ) =>
      props.createFunction(this, fnId, {
        handlerId,
        entry: `functions/backup-set/${handlerId}.ts`,
        description,
        ...extra,
      });
    this.functions = {
      plan: create('PlanRetention', 'plan-retention', 'Decide which backup sets retention deletes', {
        timeout: Duration.minutes(5),
      }),
      deleteSet: create('DeleteSet', 'delete-set', 'Delete one expired backup set', {
        timeout: Duration.minutes(15),
      }),
      markSet: create('MarkSet', 'mark-set', 'Mark the content one kept set references', {
        timeout: Duration.minutes(15),
        memorySize: 1024,
        ephemeralStorageMiB: 4096,
      }),
      sweep: create('SweepPrefix', 'sweep-prefix', 'Collect unreferenced content under one prefix', {
        timeout: Duration.minutes(15),
        memorySize: 1024,
      }),
      finish: create('FinishRetention', 'finish-retention', 'Write the retention report, release the lock', {
        timeout: Duration.minutes(5),
      }),
    };
    const f = this.functions;
    store.grantRead(f.plan, 'backups/*', 'pointers/*', 'locks/*');
    store.grantReadWrite(f.plan, 'reports/*', 'work/*', 'locks/*');
    // A Plan that fails after taking the lock gives it back (functions/backup-set/retention.ts).
    store.grantDelete(f.plan, 'locks/*');
    store.grantRead(f.deleteSet, 'backups/*', 'pointers/*', 'dumps/*');
    store.grantReadWrite(f.deleteSet, 'backups/*/deleting.json', 'work/*');
    store.grantDelete(f.deleteSet, 'backups/*', 'dumps/*');
    store.grantRead(f.markSet, 'backups/*');
    store.grantReadWrite(f.markSet, 'work/*');
    store.grantRead(f.sweep, 'work/*');
    store.grantReadWrite(f.sweep, 'work/*');
    store.grantDeleteSeenVersions(f.sweep, 'objects/*');
    store.grantReadWrite(f.finish, 'reports/*', 'work/*', 'locks/*');
    store.grantDelete(f.finish, 'work/*', 'locks/*');
    for (const component of props.components)
      component.grantRetention?.({ deleteSet: f.deleteSet, markSet: f.markSet });

    const states = new Construct(this, 'States');
    const plan = invokeTask(states, 'Plan retention', f.plan, {
      // The execution's id lets a retried Plan resume the run it planned (functions/backup-set/retention.ts).
      payload: { 'request.$': '$', 'executionId.$': '$$.Execution.Id' },
      resultPath: '$.plan',
    });
    const fanOut = (
      name: string,
      keyPath: string,
      fn: lambda.Function,
      selector: Record<string, string>,
      concurrency: number,
      retry: { retries?: number; retryIntervalSeconds?: number } = {},
    ) => {
      const map = new sfn.DistributedMap(states, name, {
        stateName: name,
        itemReader: new StoreItemReader({ bucket: store.bucket, key: sfn.JsonPath.stringAt(keyPath) }),
        itemSelector: { 'runId.$': '$.plan.runId', ...selector },
        maxConcurrency: concurrency,
        toleratedFailurePercentage: 0,
        resultPath: sfn.JsonPath.DISCARD,
      });
      map.itemProcessor(invokeTask(states, `${name} item`, fn, { ...retry, mapItem: true }));
      return map;
    };
    const deleteSets = fanOut(
      'Delete expired sets',
      '$.plan.deleteKey',
      f.deleteSet,
      { 'backupId.$': '$$.Map.Item.Value.backupId' },
      4,
      // A snapshot still copying cannot be deleted yet (RetryableError): wait for it, up to about an hour.
      { retries: 6, retryIntervalSeconds: 60 },
    );
    const markSets = fanOut(
      'Mark kept sets',
      '$.plan.keepKey',
      f.markSet,
      { 'backupId.$': '$$.Map.Item.Value.backupId' },
      8,
    );
    const sweep = fanOut(
      'Sweep unreferenced content',
      '$.plan.prefixesKey',
      f.sweep,
      { 'prefix.$': '$$.Map.Item.Value.prefix', 'index.$': '$$.Map.Item.Value.index' },
      16,
    );
    const finish = invokeTask(states, 'Finish retention', f.finish, {
      payload: { 'plan.$': '$.plan' },
      resultPath: '$.outcome',
    });
    const finishAfterFailure = invokeTask(states, 'Finish retention after failure', f.finish, {
      payload: { 'plan.$': '$.plan', 'failure.$': '$.failure' },
      resultPath: '$.outcome',
    });
    const outcome = new sfn.Choice(states, 'Retention complete?', { stateName: 'Retention complete?' })
      .when(
        sfn.Condition.stringEquals('$.outcome.status', 'complete'),
        new sfn.Succeed(states, 'Retention done'),
      )
      .otherwise(
        new sfn.Fail(states, 'Retention failed', {
          error: 'RetentionFailed',
          causePath: '$.outcome.message',
        }),
      );
    finish.next(outcome);
    finishAfterFailure.next(outcome);
    for (const step of [deleteSets, markSets, sweep])
      step.addCatch(finishAfterFailure, { resultPath: '$.failure' });
    const dryRun = new sfn.Choice(states, 'Dry run?', { stateName: 'Dry run?' })
      .when(
        sfn.Condition.booleanEquals('$.plan.dryRun', true),
        new sfn.Succeed(states, 'Dry run reported', {
          comment: 'The report lists what would be deleted and why',
        }),
      )
      .otherwise(deleteSets);
    deleteSets.next(markSets).next(sweep).next(finish);

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment:
        'liferay-backup: delete expired backup sets (grandfather-father-son) and collect unreferenced content',
      definitionBody: sfn.DefinitionBody.fromChainable(sfn.Chain.start(plan).next(dryRun)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: Duration.hours(RETENTION_WORKFLOW_HOURS),
      tracingEnabled: true,
      logs: {
        destination: new logs.LogGroup(this, 'Logs', { retention: props.logRetentionDays }),
        level: sfn.LogLevel.ALL,
        includeExecutionData: false,
      },
    });
    (this.stateMachine.node.defaultChild as sfn.CfnStateMachine).addMetadata(
      WORKFLOW_METADATA_KEY,
      'retention',
    );
    // The Distributed Maps read their item lists from the store's work area only.
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [store.bucket.arnForObjects('work/*')],
      }),
    );
    store.key.grantDecrypt(this.stateMachine);

    new scheduler.Schedule(this, 'Daily', {
      description: 'liferay-backup: retention and garbage collection',
      schedule: scheduler.ScheduleExpression.expression(props.schedule),
      target: new targets.StepFunctionsStartExecution(this.stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject({ dryRun: false, requestedBy: 'schedule' }),
        retryAttempts: 3,
      }),
    });
  }
}
