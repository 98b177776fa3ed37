import { describe, expect, it } from 'vitest';
import {
  chainLinks,
  decideRetention,
  retentionPolicySchema,
  type SetFacts,
} from '#backup-set/retention-policy.ts';

const NOW = new Date('2026-11-27T12:00:00Z');
const id = (date: string, suffix = '0000') =>
  `b${date.replace(/[-:]/g, '').replace('T', 't').slice(0, 15)}z-${suffix}`;

function nightly(days: number, status: SetFacts['status'] = 'complete'): SetFacts[] {
  return Array.from({ length: days }, (_, i) => {
    const at = new Date(Date.UTC(2026, 10, 27 - i, 2, 0, 0));
    return { backupId: id(at.toISOString()), status, startedAt: at };
  });
}

const kept = (decisions: ReturnType<typeof decideRetention>) =>
  decisions.filter((d) => d.keep).map((d) => d.backupId);

describe('grandfather-father-son retention', () => {
  it('keeps the newest set of each of the last N days, weeks and months, and deletes the rest with a reason', () => {
    const sets = nightly(400);
    const policy = retentionPolicySchema.parse({ daily: 7, weekly: 4, monthly: 6, minComplete: 3 });
    const decisions = decideRetention(sets, policy, NOW);
    const keep = kept(decisions);
    // 7 days (Nov 21-27), + the newest of earlier weeks, + month ends: far fewer than 400.
    expect(keep.slice(0, 7)).toEqual(sets.slice(0, 7).map((s) => s.backupId));
    expect(keep.length).toBeGreaterThanOrEqual(7 + 2);
    expect(keep.length).toBeLessThanOrEqual(7 + 4 + 6);
    // The newest set of October is kept (monthly), an arbitrary mid-October one is not.
    expect(keep).toContain(id('2026-10-31T02:00:00'));
    const midOctober = decisions.find((d) => d.backupId === id('2026-10-15T02:00:00'));
    expect(midOctober).toMatchObject({
      keep: false,
      reasons: [expect.stringContaining('neither among the newest')],
    });
    // Two sets a day: only the newer of the day is kept by the daily rule.
    const twice = [
      ...sets.slice(0, 1),
      {
        backupId: id('2026-11-27T01:00:00', '1111'),
        status: 'complete' as const,
        startedAt: new Date('2026-11-27T01:00:00Z'),
      },
    ];
    const dayOnly = retentionPolicySchema.parse({ daily: 1, weekly: 0, monthly: 0, minComplete: 1 });
    expect(kept(decideRetention(twice, dayOnly, NOW))).toEqual([sets[0]?.backupId]);
  });

  it('never deletes the newest minComplete complete sets, even when all are old', () => {
    const old = nightly(10).map((set) => ({
      ...set,
      startedAt: new Date(set.startedAt.getTime() - 1000 * 86_400_000),
    }));
    const decisions = decideRetention(
      old,
      retentionPolicySchema.parse({ daily: 7, weekly: 0, monthly: 0, minComplete: 2 }),
      NOW,
    );
    expect(kept(decisions)).toEqual([old[0]?.backupId, old[1]?.backupId]);
  });

  it('never deletes a running set, a set under Object Lock, a set being restored, or an unreadable one', () => {
    const base = new Date('2025-01-01T00:00:00Z');
    const sets: SetFacts[] = [
      { backupId: 'b20250101t000000z-0001', status: 'running', startedAt: base },
      {
        backupId: 'b20250101t000000z-0002',
        status: 'complete',
        startedAt: base,
        lockedUntil: new Date('2027-01-01T00:00:00Z'),
      },
      { backupId: 'b20250101t000000z-0003', status: 'complete', startedAt: base, inUse: true },
      { backupId: 'b20250101t000000z-0004', status: 'unreadable', startedAt: base },
      { backupId: 'b20250101t000000z-0005', status: 'failed', startedAt: base },
      ...nightly(3),
    ];
    const decisions = decideRetention(
      sets,
      retentionPolicySchema.parse({ daily: 1, weekly: 0, monthly: 0, minComplete: 1 }),
      NOW,
    );
    const byId = Object.fromEntries(decisions.map((d) => [d.backupId, d]));
    expect(byId['b20250101t000000z-0001']?.reasons).toEqual(['still running']);
    expect(byId['b20250101t000000z-0002']?.reasons[0]).toMatch(/under Object Lock until 2027/);
    expect(byId['b20250101t000000z-0003']?.reasons).toEqual(['a restore or drill is reading it']);
    expect(byId['b20250101t000000z-0004']?.keep).toBe(true);
    expect(byId['b20250101t000000z-0005']).toMatchObject({
      keep: false,
      reasons: ['failed and older than 14 days'],
    });
  });

  it('keeps a recent partial set for a while, then lets it go', () => {
    const recent = {
      backupId: 'b20261125t020000z-0000',
      status: 'partial' as const,
      startedAt: new Date('2026-11-25T02:00:00Z'),
    };
    const stale = {
      backupId: 'b20261001t020000z-0000',
      status: 'partial' as const,
      startedAt: new Date('2026-10-01T02:00:00Z'),
    };
    const decisions = decideRetention([recent, stale, ...nightly(1)], retentionPolicySchema.parse({}), NOW);
    expect(decisions.find((d) => d.backupId === recent.backupId)?.keep).toBe(true);
    expect(decisions.find((d) => d.backupId === stale.backupId)?.keep).toBe(false);
  });

  it('refuses a policy that could delete every set', () => {
    expect(() => retentionPolicySchema.parse({ minComplete: 0 })).toThrow(/minComplete/);
  });

  it('applies the rules per component: hourly database-only sets never push out the nightly full sets', () => {
    const ALL = ['database', 'liferayHome', 'appServer', 'search', 'source'];
    const sets: SetFacts[] = [];
    for (let day = 0; day < 10; day += 1) {
      for (let hour = 23; hour >= 0; hour -= 1) {
        const at = new Date(Date.UTC(2026, 10, 27 - day, hour, 30, 0));
        if (at > NOW) continue;
        sets.push({
          backupId: id(at.toISOString(), 'db00'),
          status: 'complete',
          startedAt: at,
          components: ['database'],
        });
      }
      const full = new Date(Date.UTC(2026, 10, 27 - day, 1, 0, 0));
      sets.push({
        backupId: id(full.toISOString(), 'f000'),
        status: 'complete',
        startedAt: full,
        components: ALL,
      });
    }
    const policy = retentionPolicySchema.parse({ daily: 7, weekly: 0, monthly: 0, minComplete: 3 });
    const decisions = decideRetention(sets, policy, NOW);
    const fulls = decisions.filter((d) => d.backupId.endsWith('-f000'));
    // The full set of each of the last 7 days is kept for its files, the 3 older ones go.
    expect(fulls.filter((d) => d.keep)).toHaveLength(7);
    expect(fulls[0]?.reasons).toContain('newest complete set holding liferayHome of daily period 2026-11-27');
    expect(fulls.filter((d) => !d.keep).map((d) => d.reasons)).toEqual([
      [expect.stringContaining('neither among the newest')],
      [expect.stringContaining('neither among the newest')],
      [expect.stringContaining('neither among the newest')],
    ]);
    // The database: the newest set of each day and the newest 3; the other hourly sets go.
    const hourly = decisions.filter((d) => d.backupId.endsWith('-db00') && d.keep);
    expect(hourly.length).toBeGreaterThanOrEqual(7);
    expect(hourly.length).toBeLessThanOrEqual(7 + 3);
    // Without knowing the components, the same sets would lose every full set but the newest few.
    const blind = decideRetention(
      sets.map(({ components: _, ...set }) => set),
      policy,
      NOW,
    ).filter((d) => d.backupId.endsWith('-f000') && d.keep);
    expect(blind.length).toBeLessThan(7);
  });

  it("keeps a component's newest complete copy even in an old partial set: the next backup builds on it", () => {
    const old = new Date('2026-09-01T01:00:00Z');
    const sets: SetFacts[] = [
      {
        backupId: id('2026-11-27T10:30:00', 'db00'),
        status: 'complete',
        startedAt: new Date('2026-11-27T10:30:00Z'),
        components: ['database'],
      },
      // The nightly full whose database failed, long ago; no set since holds the files.
      {
        backupId: id(old.toISOString(), 'f000'),
        status: 'partial',
        startedAt: old,
        components: ['liferayHome'],
      },
    ];
    const policy = retentionPolicySchema.parse({
      daily: 1,
      weekly: 0,
      monthly: 0,
      minComplete: 1,
      incompleteDays: 14,
    });
    expect(decideRetention(sets, policy, NOW)[1]).toMatchObject({
      keep: true,
      reasons: ['the newest complete copy of liferayHome (the next backup builds on it)'],
    });
  });

  it("keeps the chain of sets from latest back to each component's copy, through which the next backup finds it", () => {
    const at = (hour: number, minute: number) => new Date(Date.UTC(2026, 10, 27, hour, minute));
    const full = {
      backupId: id(at(1, 0).toISOString(), 'f000'),
      status: 'complete' as const,
      startedAt: at(1, 0),
      components: ['database', 'liferayHome'],
    };
    const sets: SetFacts[] = [full];
    for (const hour of [1, 2, 3, 4]) {
      const previous = sets[sets.length - 1]?.backupId;
      sets.push({
        backupId: id(at(hour, 30).toISOString(), 'db00'),
        status: 'complete',
        startedAt: at(hour, 30),
        components: ['database'],
        ...(previous ? { previousBackupId: previous } : {}),
      });
    }
    const latest = sets[sets.length - 1]?.backupId;
    const policy = retentionPolicySchema.parse({ daily: 7, weekly: 0, monthly: 0, minComplete: 3 });
    // By the dates alone the 01:30 database set goes: it is neither among the newest 3 nor the newest of its day.
    const link = sets[1]?.backupId ?? '';
    expect(decideRetention(sets, policy, NOW).find((d) => d.backupId === link)?.keep).toBe(false);
    const links = chainLinks(sets, latest);
    expect(links.get(link)).toBe(
      `links the latest set to ${full.backupId}, the copy of liferayHome the next backup builds on`,
    );
    expect(links.get(full.backupId)).toBe('the copy of liferayHome the next backup builds on');
    // A chain that reaches a set that is gone stops there.
    expect(
      [...chainLinks(sets.slice(2), latest).values()].filter((why) => why.includes('liferayHome')),
    ).toEqual([]);
  });
});
