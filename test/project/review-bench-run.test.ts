import { describe, expect, it } from 'vitest';
import { invalidResults, type Measure, median, ratioVerdict } from '../../bench/run.ts';

const run = (wall: number, ok = true): Measure => ({ wall, cpu: wall, rssMiB: 100, serverCpu: 0, ok });

describe('bench/run.ts: medians and verdicts', () => {
  it('takes the mean of the two middle values for an even number of runs (RUNS=2 or 4)', () => {
    expect(median([9, 1, 5])).toBe(5);
    // Before: the upper middle value (9 for [1, 9], 7 for four runs), not a median.
    expect(median([1, 9])).toBe(5);
    expect(median([4, 1, 7, 2])).toBe(3);
    expect(median([])).toBeNaN();
  });

  it('gives no verdict on a target when one of its runs failed, however fast it failed', () => {
    // The engine exits 1 after 0.2 s (a bad flag, an unreachable endpoint): before, the ratio
    // against restic's 13 s was "met".
    const verdict = ratioVerdict(
      [run(9.3), run(0.2, false), run(0.2, false)],
      [run(13.5), run(13.6), run(13.4)],
      0.7,
    );
    expect(verdict.verdict).not.toBe('met');
    expect(verdict.verdict).toMatch(/failed/);
    // A failed run of the other tool is no verdict either.
    expect(ratioVerdict([run(9.3)], [run(13.5, false)], 0.7).verdict).toMatch(/failed/);
    expect(ratioVerdict([run(9.3), run(9.1)], [run(13.5), run(13.4)], 0.7)).toEqual({
      value: 9.2 / 13.45,
      verdict: 'met',
    });
    expect(ratioVerdict([run(9.8)], [run(13.5)], 0.7).verdict).toBe('**NOT met**');
  });

  it('calls the results invalid when a run failed or a file count differs', () => {
    expect(
      invalidResults({ 'ours full': [run(9)] }, ['same: this engine read (full, run 1): 1 files']),
    ).toEqual([]);
    expect(invalidResults({ 'ours full': [run(9), run(0.1, false)] }, [])).toEqual([
      'ours full: 1 of 2 run(s) failed',
    ]);
    expect(
      invalidResults({}, ['DIFFERENT: rclone stored (full, run 1): 10 files, 5 B (expected 11, 6)']),
    ).toHaveLength(1);
  });
});
