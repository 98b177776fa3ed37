import * as z from 'zod';
import { MAX_CHAIN_STEPS } from './manifest.ts';

/**
 * Grandfather-father-son retention, as a pure decision over the sets in the store: which to keep
 * and why, which to delete and why. No I/O here; the retention handler gathers the facts and acts.
 */
export const retentionPolicySchema = z.strictObject({
  /** Keep the newest complete set of each of the last N days (UTC). */
  daily: z.number().int().min(0).max(3660).default(7),
  /** ... of each of the last N ISO weeks. */
  weekly: z.number().int().min(0).max(520).default(5),
  /** ... of each of the last N months. */
  monthly: z.number().int().min(0).max(240).default(12),
  /** Never delete the newest N complete sets, whatever the dates say. */
  minComplete: z.number().int().min(1).max(1000).default(3),
  /** Partial and failed sets are kept this many days (long enough to look at them). */
  incompleteDays: z.number().int().min(0).max(3660).default(14),
});
export type RetentionPolicy = z.infer<typeof retentionPolicySchema>;

export interface SetFacts {
  readonly backupId: string;
  readonly status: 'running' | 'complete' | 'partial' | 'failed' | 'unreadable';
  readonly startedAt: Date;
  /** Object Lock retention of the set's objects: it cannot be deleted before. */
  readonly lockedUntil?: Date;
  /** A restore or a drill is reading this set now. */
  readonly inUse?: boolean;
  /**
   * The components the set holds a complete copy of. Sets of different schedules hold different
   * components (an hourly database-only set, a nightly full one): the rules apply per component,
   * so the newest sets of one schedule never push out every copy of another's components.
   * Absent: the set counts as holding one undivided whole.
   */
  readonly components?: readonly string[];
  /** The set that was `latest` when this one began (the manifest's previousBackupId). */
  readonly previousBackupId?: string;
}

export interface RetentionDecision {
  readonly backupId: string;
  readonly keep: boolean;
  readonly reasons: string[];
}

const DAY = 86_400_000;

function dayKey(date: Date): string {
  return date.toISOString().slice(0, 10);
}

function monthKey(date: Date): string {
  return date.toISOString().slice(0, 7);
}

/** ISO-8601 week, e.g. 2026-W48. */
function weekKey(date: Date): string {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / DAY + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/** The last `count` period keys, newest first (today's included). */
function lastPeriods(
  now: Date,
  count: number,
  keyOf: (date: Date) => string,
  step: (date: Date, n: number) => Date,
): Set<string> {
  const keys = new Set<string>();
  for (let i = 0; i < count; i++) keys.add(keyOf(step(now, i)));
  return keys;
}

const daysBack = (date: Date, n: number) => new Date(date.getTime() - n * DAY);
const weeksBack = (date: Date, n: number) => new Date(date.getTime() - n * 7 * DAY);
const monthsBack = (date: Date, n: number) =>
  new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() - n, 1));

export function decideRetention(
  sets: readonly SetFacts[],
  policy: RetentionPolicy,
  now: Date,
): RetentionDecision[] {
  const reasons = new Map<string, string[]>(sets.map((set) => [set.backupId, []]));
  const add = (id: string, reason: string) => reasons.get(id)?.push(reason);
  const newestFirst = [...sets].sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime());
  const perComponent = sets.some((set) => set.components !== undefined);
  const groups = perComponent
    ? [...new Set(sets.flatMap((set) => set.components ?? []))].sort()
    : [undefined];
  const grandfathering: [string, number, (date: Date) => string, (date: Date, n: number) => Date][] = [
    ['daily', policy.daily, dayKey, daysBack],
    ['weekly', policy.weekly, weekKey, weeksBack],
    ['monthly', policy.monthly, monthKey, monthsBack],
  ];
  for (const component of groups) {
    const holding = (set: SetFacts) => component === undefined || (set.components ?? []).includes(component);
    const of = component === undefined ? '' : ` holding ${component}`;
    const complete = newestFirst.filter((set) => set.status === 'complete' && holding(set));
    complete.slice(0, policy.minComplete).forEach((set, index) => {
      add(set.backupId, `among the newest ${policy.minComplete} complete sets${of} (#${index + 1})`);
    });
    for (const [label, count, keyOf, step] of grandfathering) {
      const periods = lastPeriods(now, count, keyOf, step);
      const seen = new Set<string>();
      for (const set of complete) {
        const key = keyOf(set.startedAt);
        if (periods.has(key) && !seen.has(key)) {
          seen.add(key);
          add(set.backupId, `newest complete set${of} of ${label} period ${key}`);
        }
      }
    }
    // The next backup of a component builds on its newest complete copy, even in a partial set
    // (files: its index and content are reused), so that copy stays whatever the set's status.
    const newest = newestFirst.find(
      (set) => holding(set) && set.status !== 'running' && set.status !== 'unreadable',
    );
    if (component !== undefined && newest && newest.status !== 'complete')
      add(newest.backupId, `the newest complete copy of ${component} (the next backup builds on it)`);
  }
  for (const set of sets) {
    if (set.status === 'running') add(set.backupId, 'still running');
    if (set.status === 'unreadable')
      add(set.backupId, 'its manifest cannot be read: left for a person to look at');
    if (
      (set.status === 'partial' || set.status === 'failed') &&
      now.getTime() - set.startedAt.getTime() < policy.incompleteDays * DAY
    ) {
      add(set.backupId, `${set.status} set younger than ${policy.incompleteDays} days`);
    }
    if (set.lockedUntil && set.lockedUntil.getTime() > now.getTime()) {
      add(set.backupId, `under Object Lock until ${set.lockedUntil.toISOString()}`);
    }
    if (set.inUse) add(set.backupId, 'a restore or drill is reading it');
  }
  return sets.map((set) => {
    const kept = reasons.get(set.backupId) ?? [];
    if (kept.length > 0) return { backupId: set.backupId, keep: true, reasons: kept };
    const why =
      set.status === 'complete'
        ? 'complete, but neither among the newest nor the newest of a kept day, week or month'
        : `${set.status} and older than ${policy.incompleteDays} days`;
    return { backupId: set.backupId, keep: false, reasons: [why] };
  });
}

/**
 * A backup finds a component's previous copy by following the chain of sets from `latest` back
 * (each manifest names the set that was latest when it began) until a set holds that component:
 * an hourly database-only set sits between two nightly full ones. Deleting a link breaks the
 * chain, and the next backup of the component reads and uploads everything again. These are the
 * sets on the chain up to and including each component's copy, with why they stay.
 */
export function chainLinks(sets: readonly SetFacts[], latest: string | undefined): Map<string, string> {
  const byId = new Map(sets.map((set) => [set.backupId, set]));
  const links = new Map<string, string>();
  const components = [...new Set(sets.flatMap((set) => set.components ?? []))].sort();
  for (const component of components) {
    const visited: string[] = [];
    let id = latest;
    for (let step = 0; id !== undefined && step < MAX_CHAIN_STEPS; step += 1) {
      const set = byId.get(id);
      if (!set) break;
      if (set.components?.includes(component)) {
        for (const link of visited) {
          if (!links.has(link))
            links.set(
              link,
              `links the latest set to ${id}, the copy of ${component} the next backup builds on`,
            );
        }
        if (!links.has(id)) links.set(id, `the copy of ${component} the next backup builds on`);
        break;
      }
      visited.push(id);
      id = set.previousBackupId;
    }
  }
  return links;
}

/** The retention settings every retention function runs with (cdk.json `retention`, CLI flags). */
export const retentionSettingsSchema = z.strictObject({
  policy: retentionPolicySchema.default(retentionPolicySchema.parse({})),
  /**
   * Content younger than this is never collected, whatever the marks say: a backup running at the
   * same time writes objects that no set references yet. Longer than any backup may run.
   */
  graceHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 30)
    .default(48),
  /** The bucket's Object Lock default retention: a set younger than this cannot be deleted. */
  objectLockDays: z.number().int().min(1).max(36_500).optional(),
});
export type RetentionSettings = z.infer<typeof retentionSettingsSchema>;
