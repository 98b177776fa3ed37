import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../cdk/config.ts';
import { scheduleExpressionProblem } from '../../cdk/schedule-expressions.ts';
import { FULL_CONFIG } from './support.ts';

describe('schedule expressions EventBridge Scheduler would refuse at deploy are refused at synth', () => {
  it.each([
    ['cron(0 3 * * ? *)'],
    ['cron(0 3 ? * SUN *)'],
    ['cron(0/15 8-18 ? * MON-FRI *)'],
    ['cron(0 3 1 * ? *)'],
    ['cron(0 3 2-31 JAN,MAR * ? 2026-2030)'],
    ['cron(30 3 L * ? *)'],
    ['cron(0 3 ? * 6#3 *)'],
    ['cron(0 3 15W * ? *)'],
    ['cron(0 3 ? * 5L *)'],
    ['rate(1 hour)'],
    ['rate(15 minutes)'],
    ['at(2026-12-01T03:00:00)'],
  ])('accepts %s', (expression) => {
    expect(scheduleExpressionProblem(expression)).toBeUndefined();
  });

  it.each([
    ['cron(99 3 * * ? *)', /minutes "99": values are 0-59/],
    ['cron(0 24 * * ? *)', /hours "24": values are 0-23/],
    ['cron(0 3 * * * *)', /exactly one of them is \?/],
    ['cron(0 3 ? * ? *)', /exactly one of them is \?/],
    ['cron(0 3 32 * ? *)', /day-of-month "32"/],
    ['cron(0 3 ? FOO * *)', /month "FOO": values are 1-12 or JAN-DEC/],
    ['cron(0 3 ? * 1/2 *)', /day-of-week "1\/2": no \/ in this field/],
    ['cron(0 3 ? * 6#3,2#1 *)', /# allows one expression/],
    ['cron(0 3 * * ? 1969)', /year "1969": values are 1970-2199/],
    ['cron(0/0 3 * * ? *)', /a step is at least 1/],
    ['rate(0 minutes)', /a rate is at least 1/],
    ['rate(1 hours)', /singular for 1 and plural above: rate\(1 hour\)/],
    ['rate(5 minute)', /rate\(5 minutes\)/],
  ])('refuses %s, saying why', (expression, why) => {
    expect(scheduleExpressionProblem(expression)).toMatch(why);
  });

  it('refuses it in the configuration, naming the key', () => {
    expect(() =>
      parseConfig({
        ...FULL_CONFIG,
        schedules: [{ name: 'nightly', expression: 'cron(0 3 * * * *)', timezone: 'Europe/Madrid' }],
      }),
    ).toThrow(/schedules\.0\.expression: EventBridge Scheduler would refuse cron\(0 3 \* \* \* \*\)/);
  });
});
