import { Annotations, Duration, TimeZone } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { ComponentName } from '#components/component.ts';
import type { LiferayBackupConfig } from './config.ts';
import { daylightSavingGap } from './schedule-conflicts.ts';

export interface SchedulesProps {
  readonly schedules: LiferayBackupConfig['schedules'];
  /** Components a schedule without its own list backs up. */
  readonly enabledComponents: readonly ComponentName[];
  readonly backup: sfn.IStateMachine;
}

/** One EventBridge Scheduler schedule per configured schedule, each starting the Backup workflow. */
export class Schedules extends Construct {
  readonly schedules: scheduler.Schedule[];

  constructor(scope: Construct, id: string, props: SchedulesProps) {
    super(scope, id);
    for (const schedule of props.schedules) {
      const gap = schedule.enabled ? daylightSavingGap(schedule.expression, schedule.timezone) : undefined;
      if (gap) {
        Annotations.of(this).addWarningV2(
          `liferay-backup:daylightSavingGap:${schedule.name}`,
          `schedule ${schedule.name}: ${gap}`,
        );
      }
    }
    this.schedules = props.schedules.map(
      (schedule) =>
        new scheduler.Schedule(this, schedule.name, {
          description: `liferay-backup ${schedule.name}: ${schedule.expression}`,
          schedule: scheduleExpression(schedule.expression, schedule.timezone),
          enabled: schedule.enabled,
          target: new targets.StepFunctionsStartExecution(props.backup, {
            input: scheduler.ScheduleTargetInput.fromObject({
              schedule: schedule.name,
              components: schedule.components ?? props.enabledComponents,
              ...(schedule.full ? { full: true } : {}),
            }),
            retryAttempts: 3,
            maxEventAge: Duration.hours(1),
          }),
        }),
    );
  }
}

function scheduleExpression(expression: string, timezone: string): scheduler.ScheduleExpression {
  // Validated by the config schema; here it only needs the time zone attached to cron and at.
  return expression.startsWith('rate(')
    ? scheduler.ScheduleExpression.expression(expression)
    : scheduler.ScheduleExpression.expression(expression, TimeZone.of(timezone));
}
