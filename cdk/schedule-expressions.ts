/**
 * What EventBridge Scheduler would refuse in a schedule expression, found at synth instead of at
 * `cdk deploy` (half-way through a deployment). The rules are those of the EventBridge cron and
 * rate reference ("Using cron and rate expressions to schedule rules"): six fields with their
 * ranges and wildcards, `?` in exactly one of day-of-month and day-of-week, `#` alone in its field,
 * a rate of at least 1 whose unit is singular for 1 and plural above.
 */

import { CRON } from './schedule-conflicts.ts';

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldRule {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Names standing for min, min + 1, ... (JAN-DEC, SUN-SAT). */
  readonly names?: readonly string[];
  readonly step: boolean;
  /** Forms allowed beside the common ones (a whole part of the field). */
  readonly special?: RegExp;
}

const FIELDS: readonly FieldRule[] = [
  { name: 'minutes', min: 0, max: 59, step: true },
  { name: 'hours', min: 0, max: 23, step: true },
  { name: 'day-of-month', min: 1, max: 31, step: true, special: /^(\?|L|LW|([1-9]|[12]\d|3[01])W)$/ },
  { name: 'month', min: 1, max: 12, names: MONTHS, step: true },
  { name: 'day-of-week', min: 1, max: 7, names: DAYS, step: false, special: /^(\?|L|[1-7]L|[1-7]#[1-5])$/ },
  { name: 'year', min: 1970, max: 2199, step: true },
];

function fieldValue(text: string, rule: FieldRule): number | undefined {
  if (/^\d+$/.test(text)) {
    const value = Number(text);
    return value >= rule.min && value <= rule.max ? value : undefined;
  }
  const index = rule.names?.indexOf(text.toUpperCase()) ?? -1;
  return index >= 0 ? rule.min + index : undefined;
}

/** Why one field is not acceptable, or undefined. */
function fieldProblem(field: string, rule: FieldRule): string | undefined {
  const allowed = `${rule.min}-${rule.max}${rule.names ? ` or ${rule.names[0]}-${rule.names[rule.names.length - 1]}` : ''}`;
  const parts = field.split(',');
  for (const part of parts) {
    if (rule.special?.test(part.toUpperCase())) {
      if (part.includes('#') && parts.length > 1)
        return `${rule.name} "${field}": # allows one expression in the field`;
      if (part === '?' && parts.length > 1) return `${rule.name} "${field}": ? stands alone`;
      continue;
    }
    const match = /^(\*|[A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?(?:\/(\d+))?$/.exec(part);
    if (!match?.[1]) return `${rule.name} "${field}": "${part}" is not a value, range or step of ${allowed}`;
    if (match[3] !== undefined && (!rule.step || Number(match[3]) < 1))
      return `${rule.name} "${field}": ${rule.step ? 'a step is at least 1' : 'no / in this field'}`;
    if (match[1] === '*') {
      if (match[2] !== undefined) return `${rule.name} "${field}": * takes no range`;
      continue;
    }
    const start = fieldValue(match[1], rule);
    const end = match[2] === undefined ? start : fieldValue(match[2], rule);
    if (start === undefined || end === undefined) return `${rule.name} "${field}": values are ${allowed}`;
  }
  return undefined;
}

/** Why EventBridge Scheduler would refuse the expression, or undefined when it accepts it. */
export function scheduleExpressionProblem(expression: string): string | undefined {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2] ?? '';
    if (value < 1) return 'a rate is at least 1';
    if ((value === 1) !== !unit.endsWith('s'))
      return `the unit is singular for 1 and plural above: rate(${value} ${value === 1 ? unit.replace(/s$/, '') : unit.endsWith('s') ? unit : `${unit}s`})`;
    return undefined;
  }
  const cron = CRON.exec(expression);
  if (!cron) return undefined;
  const fields = cron.slice(1);
  for (const [index, rule] of FIELDS.entries()) {
    const problem = fieldProblem(fields[index] ?? '', rule);
    if (problem) return problem;
  }
  const [dayOfMonth, dayOfWeek] = [fields[2], fields[4]];
  if ((dayOfMonth === '?') === (dayOfWeek === '?'))
    return `day-of-month "${dayOfMonth}" and day-of-week "${dayOfWeek}": exactly one of them is ? (e.g. cron(0 3 * * ? *) every day, cron(0 3 ? * SUN *) on Sundays)`;
  return undefined;
}
