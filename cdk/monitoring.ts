import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { ComponentName } from '#components/component.ts';
import { METRICS_NAMESPACE } from '#runtime/metrics.ts';

/** The `service` dimension Powertools adds to every metric (functions/runtime/metrics.ts, POWERTOOLS_SERVICE_NAME). */
export const METRICS_SERVICE = 'liferay-backup';

import { pascalCase } from './names.ts';
import { componentTitle } from './workflows.ts';

/** Where to see a set: the CLI works on the deployment's bucket too (`--bucket`). */
const SHOW = 'liferay-backup show <backup id> --bucket <the store bucket>';
/**
 * What to do when a recovery point alarm fires: its own text is all an alarm mail carries, and it
 * has no set to name (no run ended, or every run since failed).
 */
const RPO_NEXT =
  "Look at the Backup state machine's recent executions (each failed one also sent a notification naming its set and errors) and at its schedules; 'liferay-backup list --bucket <the store bucket>' shows the newest complete set, which a restore of \"latest\" uses.";

export interface MonitoringProps {
  readonly environment: string;
  readonly components: readonly ComponentName[];
  readonly backup: sfn.IStateMachine;
  readonly restore: sfn.IStateMachine;
  /** Extra workflows whose failure alarms (e.g. the restore drill). @default none */
  readonly otherWorkflows?: Readonly<Record<string, sfn.IStateMachine>>;
  readonly topic: sns.ITopic;
  /** Publishes LatestCompleteBackupAge; invoked hourly. */
  readonly checkBackupAge: lambda.IFunction;
  /** Recovery point objective: alarm when the newest complete set is older. */
  readonly rpoHours: number;
  /** Per-component objectives (default rpoHours). */
  readonly componentRpoHours?: Partial<Record<ComponentName, number>>;
}

/** The dashboard and the alarms that page people (issue: monitoring). */
export class Monitoring extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    // Powertools adds its service name to every metric's dimensions, and CloudWatch matches the
    // whole set: an alarm on Environment alone would watch a metric nothing ever publishes.
    const env = { service: METRICS_SERVICE, Environment: props.environment };
    const custom = (
      metricName: string,
      dimensions: Record<string, string> = env,
      statistic = 'Sum',
      period = Duration.hours(1),
    ) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: dimensions,
        statistic,
        period,
      });
    const notify = new actions.SnsAction(props.topic);
    const alarm = (alarmId: string, alarmProps: cloudwatch.AlarmProps) => {
      const created = new cloudwatch.Alarm(this, alarmId, alarmProps);
      created.addAlarmAction(notify);
      this.alarms.push(created);
      return created;
    };

    const workflowDidNotSucceed = (machine: sfn.IStateMachine) =>
      new cloudwatch.MathExpression({
        // FILL: a failed execution publishes ExecutionsFailed alone; a sum over series of which two
        // have no datapoint in the period is not guaranteed a value, and missing data does not breach.
        expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
        usingMetrics: {
          failed: machine.metricFailed({ period: Duration.minutes(5) }),
          timedOut: machine.metricTimedOut({ period: Duration.minutes(5) }),
          aborted: machine.metricAborted({ period: Duration.minutes(5) }),
        },
        period: Duration.minutes(5),
      });
    const workflows: Record<string, sfn.IStateMachine> = {
      Backup: props.backup,
      Restore: props.restore,
      ...props.otherWorkflows,
    };
    for (const [name, machine] of Object.entries(workflows)) {
      alarm(`${name}DidNotSucceed`, {
        alarmDescription: `liferay-backup ${props.environment}: a ${name} execution failed, timed out or was aborted; the notification and the execution's failure cause name the backup id, the component and the reason`,
        metric: workflowDidNotSucceed(machine),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    alarm('BackupSetPartial', {
      alarmDescription: `liferay-backup ${props.environment}: a backup set is partial (some components failed). The notification of its failed Backup execution names the set, each failed component with its error, and the set a restore of "latest" uses now; '${SHOW}' shows the manifest.`,
      metric: custom('BackupPartial', env, 'Sum', Duration.minutes(5)),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // The age check runs hourly, but CloudWatch evaluates every minute over a window ending at that
    // minute: a one-hour window would be empty (breaching) whenever one run is a little later than the
    // one before, or one run failed. Three hours tolerate that; Maximum still pages at the first
    // check that sees the set too old, and three hours without a check page too.
    const agePeriod = Duration.hours(3);
    alarm('RecoveryPointObjective', {
      alarmDescription: `liferay-backup ${props.environment}: no complete backup set in the last ${props.rpoHours} hours (no data counts as breaching: the hourly age check did not run either). ${RPO_NEXT}`,
      metric: custom('LatestCompleteBackupAge', env, 'Maximum', agePeriod),
      threshold: props.rpoHours,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    // Hourly database-only sets keep the newest set young while the nightly files backup may have
    // stopped: each component has its own recovery point.
    for (const component of props.components) {
      const hours = props.componentRpoHours?.[component] ?? props.rpoHours;
      alarm(`RecoveryPointObjective${pascalCase(component)}`, {
        alarmDescription: `liferay-backup ${props.environment}: no complete copy of ${componentTitle(component)} (${component}) in the last ${hours} hours (no data counts as breaching: the hourly age check did not run either). ${RPO_NEXT}`,
        metric: custom('ComponentCompleteBackupAge', { ...env, Component: component }, 'Maximum', agePeriod),
        threshold: hours,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
    }

    new scheduler.Schedule(this, 'CheckBackupAgeHourly', {
      description: 'liferay-backup: publish the age of the newest complete backup set',
      schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
      target: new targets.LambdaInvoke(props.checkBackupAge, { retryAttempts: 2 }),
    });

    const perComponent = (metricName: string, statistic: string) =>
      props.components.map((component) =>
        custom(metricName, { ...env, Component: component }, statistic, Duration.days(1)).with({
          label: componentTitle(component),
        }),
      );
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(14),
      widgets: [
        [
          new cloudwatch.SingleValueWidget({
            title: 'Hours since the newest complete backup set, and per component',
            metrics: [
              custom('LatestCompleteBackupAge', env, 'Maximum'),
              ...props.components.map((component) =>
                custom('ComponentCompleteBackupAge', { ...env, Component: component }, 'Maximum').with({
                  label: componentTitle(component),
                }),
              ),
            ],
            width: 6,
          }),
          new cloudwatch.GraphWidget({
            title: 'Backup sets: complete / partial / failed',
            left: [
              custom('BackupComplete', env, 'Sum', Duration.days(1)),
              custom('BackupPartial', env, 'Sum', Duration.days(1)),
              custom('BackupFailed', env, 'Sum', Duration.days(1)),
            ],
            width: 9,
          }),
          new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 9 }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Duration per component (s)',
            left: perComponent('ComponentDuration', 'Maximum'),
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Size per component (tree, dump or snapshot)',
            left: perComponent('ComponentBytes', 'Maximum'),
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Bytes stored per component',
            left: perComponent('BytesStored', 'Sum'),
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Bytes read per component',
            left: perComponent('BytesRead', 'Sum'),
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Files seen / changed',
            left: [...perComponent('FilesSeen', 'Sum')],
            right: [...perComponent('FilesChanged', 'Sum')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Snapshot size',
            left: perComponent('SnapshotBytes', 'Maximum'),
            width: 8,
          }),
        ],
        [
          // A set retention keeps night after night (a search snapshot stuck IN_PROGRESS) fails no
          // run and pages nobody: it shows here, and in each run's report.
          new cloudwatch.GraphWidget({
            title: 'Retention: sets deleted / kept for the next run; bytes collected',
            left: [
              custom('RetentionDeletedSets', env, 'Sum', Duration.days(1)),
              custom('RetentionPostponedSets', env, 'Sum', Duration.days(1)),
            ],
            right: [custom('RetentionSweptBytes', env, 'Sum', Duration.days(1))],
            width: 12,
          }),
        ],
      ],
    });
  }
}
