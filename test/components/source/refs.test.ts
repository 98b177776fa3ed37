import { describe, expect, it } from 'vitest';
import {
  changedRefs,
  headTarget,
  mirroredRefs,
  planMirror,
  refMatcher,
  restoreCommands,
  selectRefs,
  verifyMirror,
  ZERO_OID,
} from '#components/source/refs.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

describe('refMatcher', () => {
  it('lets * cross slashes like a refspec glob, ? match one character, and everything else match itself', () => {
    const excluded = refMatcher(['refs/pull/*', 'refs/heads/tmp-?', 'refs/tags/v1.0']);
    expect(excluded('refs/pull/12/head')).toBe(true);
    expect(excluded('refs/pull/12/merge')).toBe(true);
    expect(excluded('refs/heads/tmp-1')).toBe(true);
    expect(excluded('refs/heads/tmp-12')).toBe(false);
    expect(excluded('refs/tags/v1.0')).toBe(true);
    expect(excluded('refs/tags/v1x0')).toBe(false); // "." is literal
    expect(excluded('refs/heads/main')).toBe(false);
  });

  it('matches nothing without patterns', () => {
    expect(refMatcher([])('refs/heads/main')).toBe(false);
  });
});

describe('mirroredRefs', () => {
  it('keeps every ref under refs/ that is neither symbolic nor excluded, sorted, and reads HEAD apart', () => {
    const advertised = [
      { ref: 'HEAD', oid: A, target: 'refs/heads/main' },
      { ref: 'refs/tags/v1', oid: B, peeled: A },
      { ref: 'refs/heads/main', oid: A },
      { ref: 'refs/notes/commits', oid: C },
      { ref: 'refs/pull/1/head', oid: C },
    ];
    expect(mirroredRefs(advertised, refMatcher(['refs/pull/*']))).toEqual({
      'refs/heads/main': A,
      'refs/notes/commits': C,
      'refs/tags/v1': B,
    });
    expect(Object.keys(mirroredRefs(advertised, refMatcher([])))).toEqual([
      'refs/heads/main',
      'refs/notes/commits',
      'refs/pull/1/head',
      'refs/tags/v1',
    ]);
    expect(headTarget(advertised)).toBe('refs/heads/main');
  });
});

describe('planMirror', () => {
  const source = { 'refs/heads/main': B, 'refs/heads/new': C, 'refs/tags/v1': A };
  const mirror = { 'refs/heads/main': A, 'refs/heads/gone': A, 'refs/tags/v1': A };

  it('force-updates what differs, creates what is missing and keeps what the source dropped', () => {
    const plan = planMirror(source, mirror, false);
    expect(plan.commands).toEqual([
      { ref: 'refs/heads/main', oldOid: A, newOid: B },
      { ref: 'refs/heads/new', oldOid: ZERO_OID, newOid: C },
    ]);
    expect(plan).toMatchObject({ created: 1, updated: 1, deleted: [], kept: ['refs/heads/gone'] });
    expect(plan.wants).toEqual([B, C]);
  });

  it('deletes what the source dropped only when pruning', () => {
    const plan = planMirror(source, mirror, true);
    expect(plan.commands.at(-1)).toEqual({ ref: 'refs/heads/gone', oldOid: A, newOid: ZERO_OID });
    expect(plan.deleted).toEqual(['refs/heads/gone']);
    expect(plan.kept).toEqual([]);
    expect(plan.wants).toEqual([B, C]);
  });

  it('has nothing to do when both sides are equal', () => {
    expect(planMirror(source, source, true)).toMatchObject({ commands: [], wants: [] });
  });
});

describe('verifyMirror', () => {
  it('names every ref that is missing, different, or left behind when pruning', () => {
    const expected = { 'refs/heads/main': A, 'refs/heads/dev': B };
    const mirror = { 'refs/heads/main': C, 'refs/heads/old': A };
    expect(verifyMirror(expected, mirror, true).differences).toEqual([
      `refs/heads/main: mirror ${C}, source ${A}`,
      `refs/heads/dev: missing on the mirror (source ${B})`,
      `refs/heads/old: still on the mirror (${A}) although the source deleted it`,
    ]);
    const kept = verifyMirror(expected, { ...expected, 'refs/heads/old': A }, false);
    expect(kept).toEqual({ differences: [], kept: ['refs/heads/old'] });
  });
});

describe('changedRefs, selectRefs, restoreCommands', () => {
  it('lists refs that moved, appeared or vanished', () => {
    expect(changedRefs({ 'refs/a': A, 'refs/b': B }, { 'refs/a': A, 'refs/b': C, 'refs/c': C })).toEqual([
      'refs/b',
      'refs/c',
    ]);
  });

  it('selects recorded refs by pattern, all without patterns', () => {
    const recorded = { 'refs/heads/main': A, 'refs/tags/v1': B, 'refs/notes/commits': C };
    expect(selectRefs(recorded, ['refs/tags/*'])).toEqual({ 'refs/tags/v1': B });
    expect(selectRefs(recorded, undefined)).toEqual(recorded);
  });

  it('creates missing refs and updates differing ones, never deleting', () => {
    expect(
      restoreCommands(
        { 'refs/heads/main': A, 'refs/tags/v1': B },
        { 'refs/heads/main': C, 'refs/heads/x': C },
      ),
    ).toEqual([
      { ref: 'refs/heads/main', oldOid: C, newOid: A },
      { ref: 'refs/tags/v1', oldOid: ZERO_OID, newOid: B },
    ]);
  });
});
