/**
 * Backup schedules that fire in the same minute collide on the backup lock: one backup runs at a
 * time per environment, so the later execution fails at Begin (BackupAlreadyRunningError), alarms,
 * and does so every time the two meet (an hourly schedule at minute 0 and a nightly one at 02:00
 * meet every night). This finds such pairs in the configuration, so `cdk synth` refuses them.
 *
 * It reads the common cron forms only (numbers, `*`, ranges, lists and steps in the minute and
 * hour fields) and claims a conflict only when it is certain: one of them fires on every day, and
 * the two share a minute of the day, in the same time zone or, across zones (or two names of one
 * zone, UTC and Etc/UTC), at the same instant in winter or in summer (each zone's offset from UTC
 * then; the other schedule must run in every month). Anything it cannot read is not flagged.
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

/** A cron expression's six fields (checked field by field in schedule-expressions.ts). */
export const CRON = /^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$/;

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
  /** True when it fires in every month of every year (on some days of each). */
  readonly everyMonth: boolean;
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
    everyMonth: wildcard(month) && wildcard(year),
  };
}

/**
 * Days whose UTC offsets stand for the two halves of the year (standard and daylight saving time,
 * north and south). Fixed dates, so that synth gives the same answer every day.
 */
const SAMPLE_DAYS = [Date.UTC(2025, 0, 15, 12), Date.UTC(2025, 6, 15, 12)];

const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/** The zone's offset from UTC in minutes at that instant (Europe/Madrid in winter: 60). */
function utcOffsetMinutes(timeZone: string, at: number): number | undefined {
  try {
    let format = offsetFormats.get(timeZone);
    if (!format) {
      format = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
      offsetFormats.set(timeZone, format);
    }
    const name = format.formatToParts(new Date(at)).find((part) => part.type === 'timeZoneName')?.value;
    if (name === 'GMT') return 0;
    const match = /^GMT([+-])(\d{2}):(\d{2})$/.exec(name ?? '');
    if (!match) return undefined;
    return (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3]));
  } catch {
    return undefined;
  }
}

const DAY_MINUTES = 24 * 60;
const toUtc = (minutes: Set<number>, offset: number) =>
  new Set([...minutes].map((minute) => (((minute - offset) % DAY_MINUTES) + DAY_MINUTES) % DAY_MINUTES));

interface SharedMinute {
  /** The first shared minute, in the later schedule's own clock and in the earlier one's. */
  readonly mine: number;
  readonly theirs: number;
  /** How many of its minutes of the day meet the other schedule. */
  readonly count: number;
  /** False when they meet in one half of the year only (the zones' offsets differ by season). */
  readonly allYear: boolean;
}

/** The minutes at which two schedules fire at the same instant, on the sample days. */
function sharedMinute(
  mine: CronTimes,
  myZone: string,
  theirs: CronTimes,
  theirZone: string,
): SharedMinute | undefined {
  if (myZone === theirZone) {
    const shared = [...mine.minutes].filter((minute) => theirs.minutes.has(minute)).sort((a, b) => a - b);
    const first = shared[0];
    return first === undefined
      ? undefined
      : { mine: first, theirs: first, count: shared.length, allYear: true };
  }
  // Across zones only when both run in both halves of the year (a sample day stands for months).
  if (!mine.everyMonth || !theirs.everyMonth) return undefined;
  const found: SharedMinute[] = [];
  for (const day of SAMPLE_DAYS) {
    const myOffset = utcOffsetMinutes(myZone, day);
    const theirOffset = utcOffsetMinutes(theirZone, day);
    if (myOffset === undefined || theirOffset === undefined) continue;
    const theirsUtc = toUtc(theirs.minutes, theirOffset);
    const shared = [...mine.minutes]
      .filter((minute) => theirsUtc.has((((minute - myOffset) % DAY_MINUTES) + DAY_MINUTES) % DAY_MINUTES))
      .sort((a, b) => a - b);
    const first = shared[0];
    if (first === undefined) continue;
    const theirClock = (((first - myOffset + theirOffset) % DAY_MINUTES) + DAY_MINUTES) % DAY_MINUTES;
    found.push({ mine: first, theirs: theirClock, count: shared.length, allYear: false });
  }
  const first = found[0];
  if (!first) return undefined;
  return { ...first, allYear: found.length === SAMPLE_DAYS.length };
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
      if (!other || !theirs) continue;
      if (!mine.everyDay && !theirs.everyDay) continue;
      const shared = sharedMinute(mine, schedule.timezone, theirs, other.timezone);
      if (!shared) continue;
      const when = `${mine.everyDay && theirs.everyDay ? 'every day' : 'on each day both run'}${shared.allYear ? '' : ' in part of the year'}`;
      const more = shared.count > 1 ? ` and ${shared.count - 1} more times` : '';
      const where =
        other.timezone === schedule.timezone
          ? schedule.timezone
          : `${schedule.timezone}; ${clock(shared.theirs)} ${other.timezone}`;
      conflicts.push({
        index,
        message: `fires at the same minute as schedule ${other.name} (${clock(shared.mine)} ${when}${more}, ${where}): one backup runs at a time, so the later one finds the lock taken and fails each time; move one of them to another minute`,
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

/** The year whose daylight saving transitions are looked at (fixed, so synth answers the same every day). */
const DST_SAMPLE_YEAR = 2025;

/**
 * EventBridge Scheduler skips a cron run whose local time does not exist: on the day daylight
 * saving time begins, the clock jumps (02:00 → 03:00 in Europe/Madrid). A schedule that fires every
 * day only at such times then does not run that day. Returns why, or undefined when it runs.
 */
export function daylightSavingGap(expression: string, timezone: string): string | undefined {
  const times = cronTimes(expression);
  if (!times?.everyDay) return undefined;
  const hour = 3_600_000;
  const start = Date.UTC(DST_SAMPLE_YEAR, 0, 1);
  const end = Date.UTC(DST_SAMPLE_YEAR + 1, 0, 1);
  let before = utcOffsetMinutes(timezone, start);
  for (let at = start + hour; at <= end && before !== undefined; at += hour) {
    const after = utcOffsetMinutes(timezone, at);
    if (after === undefined) return undefined;
    const from = before;
    if (after > from) {
      // The jump happened within the last hour: find its minute.
      let low = at - hour;
      let high = at;
      while (high - low > 60_000) {
        const middle = low + Math.floor((high - low) / 120_000) * 60_000;
        if (utcOffsetMinutes(timezone, middle) === from) low = middle;
        else high = middle;
      }
      const localStart = (((Math.floor(high / 60_000) + from) % DAY_MINUTES) + DAY_MINUTES) % DAY_MINUTES;
      const skipped = (minute: number) =>
        (((minute - localStart) % DAY_MINUTES) + DAY_MINUTES) % DAY_MINUTES < after - from;
      if ([...times.minutes].every(skipped)) {
        const day = new Date(high + from * 60_000).toISOString().slice(0, 10);
        const firing = [...times.minutes]
          .sort((a, b) => a - b)
          .map(clock)
          .join(', ');
        return `${expression} fires only at ${firing} ${timezone}, which does not exist on the day daylight saving time begins (${day}): EventBridge Scheduler skips that run, so no backup of this schedule runs that day (and the RPO alarms may fire); move it out of ${clock(localStart)}-${clock((localStart + after - from - 1) % DAY_MINUTES)}`;
      }
    }
    before = after;
  }
  return undefined;
}
