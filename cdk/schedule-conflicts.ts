/**
 * Backup schedules that fire in the same minute collide on the backup lock: one backup runs at a
 * time per environment, so the later execution fails at Begin (BackupAlreadyRunningError), alarms,
 * and does so every time the two meet (an hourly schedule at minute 0 and a nightly one at 02:00
 * meet every night). This finds such pairs in the configuration, so `cdk synth` refuses them.
 *
 * It reads the common cron forms only (numbers, `*`, ranges, lists and steps in the minute and
 * hour fields) and claims a conflict only when it is certain: the two share a minute of the day,
 * the same time zone, and one of them fires on every day. Anything it cannot read is not flagged.
 */

export interface ScheduleEntry {
  readonly name: string;
  readonly expression: string;
  readonly timezone: string;
  readonly enabled: boolean;
}

export interface ScheduleConflict {
  /** Index of the later schedule of the pair, in the configuration's list. */
  readonly index: number;
  readonly message: string;
}

const CRON = /^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$/;

/** The values a cron field takes in [min, max], or undefined for a form this reading does not know. */
export function cronFieldValues(field: string, min: number, max: number): Set<number> | undefined {
  const values = new Set<number>();
  for (const part of field.split(',')) {
    const match = /^(\*|\d+)(?:-(\d+))?(?:\/(\d+))?$/.exec(part);
    if (!match?.[1]) return undefined;
    const start = match[1] === '*' ? min : Number(match[1]);
    const end = match[2] !== undefined ? Number(match[2]) : match[1] === '*' || match[3] ? max : start;
    const step = match[3] !== undefined ? Number(match[3]) : 1;
    if (start < min || end > max || start > end || step < 1) return undefined;
    for (let value = start; value <= end; value += step) values.add(value);
  }
  return values;
}

interface CronTimes {
  /** Minutes of the day (hour * 60 + minute) it fires at, on the days it fires. */
  readonly minutes: Set<number>;
  /** True when it fires on every day of every month and year. */
  readonly everyDay: boolean;
}

function cronTimes(expression: string): CronTimes | undefined {
  const fields = CRON.exec(expression);
  if (!fields) return undefined;
  const [, minuteField = '', hourField = '', dayOfMonth, month, dayOfWeek, year] = fields;
  const minutes = cronFieldValues(minuteField, 0, 59);
  const hours = cronFieldValues(hourField, 0, 23);
  if (!minutes || !hours) return undefined;
  const all = new Set<number>();
  for (const hour of hours) for (const minute of minutes) all.add(hour * 60 + minute);
  const wildcard = (field: string | undefined) => field === '*' || field === '?';
  return {
    minutes: all,
    everyDay: wildcard(dayOfMonth) && wildcard(month) && wildcard(dayOfWeek) && wildcard(year),
  };
}

function clock(minuteOfDay: number): string {
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${pad(Math.floor(minuteOfDay / 60))}:${pad(minuteOfDay % 60)}`;
}

/** Every pair of enabled schedules that certainly fire in the same minute, reported on the later one. */
export function scheduleConflicts(schedules: readonly ScheduleEntry[]): ScheduleConflict[] {
  const conflicts: ScheduleConflict[] = [];
  const times = schedules.map((schedule) => (schedule.enabled ? cronTimes(schedule.expression) : undefined));
  schedules.forEach((schedule, index) => {
    const mine = times[index];
    if (!mine) return;
    for (let earlier = 0; earlier < index; earlier += 1) {
      const other = schedules[earlier];
      const theirs = times[earlier];
      if (!other || !theirs || other.timezone !== schedule.timezone) continue;
      if (!mine.everyDay && !theirs.everyDay) continue;
      const shared = [...mine.minutes].filter((minute) => theirs.minutes.has(minute)).sort((a, b) => a - b);
      const first = shared[0];
      if (first === undefined) continue;
      const when = mine.everyDay && theirs.everyDay ? 'every day' : 'on each day both run';
      conflicts.push({
        index,
        message: `fires at the same minute as schedule ${other.name} (${clock(first)} ${when}${shared.length > 1 ? ` and ${shared.length - 1} more times` : ''}, ${schedule.timezone}): one backup runs at a time, so the later one finds the lock taken and fails each time; move one of them to another minute`,
      });
      return;
    }
  });
  return conflicts;
}

/** Whether the runtime knows the time zone (the IANA names EventBridge Scheduler accepts). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
