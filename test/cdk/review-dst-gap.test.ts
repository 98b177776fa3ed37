import { App } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../cdk/config.ts';
import { InlineFunctionFactory } from '../../cdk/lambda-function.ts';
import { LiferayBackupStack } from '../../cdk/liferay-backup-stack.ts';
import { CDK_JSON, FULL_CONFIG } from './support.ts';

/**
 * EventBridge Scheduler skips a cron run whose local time does not exist, on the day daylight
 * saving time begins (AWS re:Post knowledge center, "eventbridge-scheduler-adjust-dst"). A daily
 * backup at 02:00 Europe/Madrid (the cdk.json example's nightly-full, until it moved to 03:00) therefore does not run on
 * the last Sunday of March: no files, search or source backup that day, and the component RPO
 * alarm fires at night. `cdk synth` must say so, naming the schedule.
 */

function warningsOf(rawConfig: unknown): string[] {
  const app = new App();
  const stack = new LiferayBackupStack(app, 'LiferayBackup', {
    config: parseConfig(rawConfig),
    env: { account: '111111111111', region: 'eu-west-1' },
    functionFactory: (options) => new InlineFunctionFactory(options),
  });
  return Annotations.fromStack(stack)
    .findWarning('*', Match.stringLikeRegexp('daylight saving'))
    .map((warning) => String(warning.entry.data));
}

describe('a daily schedule in the hour that daylight saving time skips', () => {
  it('warns at synth about a nightly at 02:00 Europe/Madrid, naming it and the day', () => {
    // Act
    const warnings = warningsOf({
      ...FULL_CONFIG,
      schedules: [{ name: 'nightly-full', expression: 'cron(0 2 * * ? *)', timezone: 'Europe/Madrid' }],
    });
    // Assess
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /schedule nightly-full: cron\(0 2 \* \* \? \*\) fires only at 02:00 Europe\/Madrid, which does not exist on the day daylight saving time begins \(2025-03-30\)/,
    );
  });

  it('says nothing of the cdk.json example (its nightly runs at 03:00, outside the gap)', () => {
    expect(warningsOf(CDK_JSON.context.liferayBackup)).toEqual([]);
  });

  it('says nothing of schedules outside the gap, hourly ones and UTC', () => {
    const warnings = warningsOf({
      ...FULL_CONFIG,
      schedules: [
        { name: 'nightly', expression: 'cron(0 4 * * ? *)', timezone: 'Europe/Madrid' },
        {
          name: 'hourly',
          expression: 'cron(30 * * * ? *)',
          timezone: 'Europe/Madrid',
          components: ['database'],
        },
        { name: 'utc', expression: 'cron(15 2 * * ? *)', components: ['search'] },
      ],
    });
    expect(warnings).toEqual([]);
  });
});
