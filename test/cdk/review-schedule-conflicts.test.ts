import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../cdk/config.ts';
import { FULL_CONFIG } from './support.ts';

/**
 * Backup schedules in different time zones (or two names of one zone) that fire at the same
 * instant collide on the backup lock just as two schedules of one zone do: the later execution
 * fails at Begin (BackupAlreadyRunningError) and alarms, each time they meet. `cdk synth` must
 * refuse them the same way.
 */

interface ScheduleInput {
  name: string;
  expression: string;
  timezone?: string;
  components?: string[];
}

const withSchedules = (schedules: ScheduleInput[]) => ({ ...FULL_CONFIG, schedules });

describe('schedules that fire at the same instant in different time zones', () => {
  it('refuses an hourly UTC schedule at minute 0 beside a nightly one at 02:00 Europe/Madrid (whole-hour offsets: they meet every night)', () => {
    // Prepare
    const config = withSchedules([
      { name: 'nightly-full', expression: 'cron(0 2 * * ? *)', timezone: 'Europe/Madrid' },
      { name: 'hourly-database', expression: 'cron(0 * * * ? *)', timezone: 'UTC', components: ['database'] },
    ]);
    // Act / Assess
    expect(() => parseConfig(config)).toThrow(
      /liferayBackup\.schedules\.1\.expression: fires at the same minute as schedule nightly-full \(01:00 every day, UTC; 02:00 Europe\/Madrid\)/,
    );
  });

  it('refuses two names of the same zone at the same time (UTC and Etc/UTC)', () => {
    const config = withSchedules([
      { name: 'nightly', expression: 'cron(0 2 * * ? *)' },
      { name: 'database', expression: 'cron(0 2 * * ? *)', timezone: 'Etc/UTC', components: ['database'] },
    ]);
    expect(() => parseConfig(config)).toThrow(
      /liferayBackup\.schedules\.1\.expression: fires at the same minute as schedule nightly/,
    );
  });

  it('refuses daily schedules that meet in part of the year only (02:00 Madrid is 01:00 UTC in winter)', () => {
    const config = withSchedules([
      { name: 'nightly', expression: 'cron(0 2 * * ? *)', timezone: 'Europe/Madrid' },
      { name: 'database', expression: 'cron(0 1 * * ? *)', timezone: 'UTC', components: ['database'] },
    ]);
    expect(() => parseConfig(config)).toThrow(
      /liferayBackup\.schedules\.1\.expression: fires at the same minute as schedule nightly .*part of the year/,
    );
  });

  it('accepts schedules of different zones that never meet (the half-hour offset of Asia/Kolkata, the cdk.json pair)', () => {
    expect(() =>
      parseConfig(
        withSchedules([
          { name: 'nightly', expression: 'cron(0 2 * * ? *)', timezone: 'Europe/Madrid' },
          {
            name: 'hourly',
            expression: 'cron(0 * * * ? *)',
            timezone: 'Asia/Kolkata',
            components: ['database'],
          },
        ]),
      ),
    ).not.toThrow();
    expect(() =>
      parseConfig(
        withSchedules([
          { name: 'nightly', expression: 'cron(0 2 * * ? *)', timezone: 'Europe/Madrid' },
          { name: 'hourly', expression: 'cron(30 * * * ? *)', timezone: 'UTC', components: ['database'] },
        ]),
      ),
    ).not.toThrow();
  });
});
