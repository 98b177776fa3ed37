import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The scale simulation on a tenth of the tree (same shape: 1 M files, 0.5 TB). */
function simulate(env: Record<string, string> = {}): string {
  const result = spawnSync(
    path.join(ROOT, 'node_modules/.bin/tsx'),
    [path.join(ROOT, 'bench/scale-simulation.ts')],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, FILES: '1000000', TIB: String(5e11 / 2 ** 40), ...env },
    },
  );
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

describe('bench/scale-simulation.ts', () => {
  it('runs Finalize at the vCPU share of its 1,024 MB, not a whole core', () => {
    const out = simulate();
    // Finalize merges a line per file at 8 µs on a whole core; FinalizeBackup has 1024/1769 of a
    // vCPU: 10 s + 1,000,001 × 8 µs × 1769/1024 = 23.8 s (before: 18 s, as if on a whole core).
    const row = out.split('\n').find((line) => line.startsWith('| first full | elastic |')) ?? '';
    expect(row.split('|')[5]?.trim()).toBe('24 s');
    // The largest 1 % incremental is bound by Finalize's 15 minutes, not by the 4-hour window:
    // (900 - 10) s / (8 µs × 1769/1024) = 64.4 M files (before: 111 M).
    const window = out.split('\n').find((line) => line.startsWith('| elastic |')) ?? '';
    expect(window.split('|')[3]?.trim()).toMatch(/^64 M files/);
  });
});

describe("bench/scale-simulation.ts, a first backup's Plan", () => {
  it('takes the longer of its EFS calls and its own CPU', () => {
    // At 0.25 ms per EFS call the 64 calls in flight list fast; Plan's CPU per entry then binds.
    const out = simulate({ EFS_LATENCY_MS: '0.25' });
    const [, entries, folders] = /Synthetic listing: ([\d,]+) entries \(([\d,]+) folders\)/.exec(out) ?? [];
    const [, cpuUs, vcpus] = /Plan's CPU ([\d.]+) µs per entry at ([\d.]+) vCPU/.exec(out) ?? [];
    const count = (text = '') => Number(text.replaceAll(',', ''));
    const efsSeconds = (count(entries) + count(folders)) / (64 / 0.00025);
    const cpuSeconds = (count(entries) * Number(cpuUs)) / 1e6 / Number(vcpus);
    expect(cpuSeconds).toBeGreaterThan(efsSeconds);
    const row = out.split('\n').find((line) => line.startsWith('| first full | elastic |')) ?? '';
    expect(row.split('|')[3]?.trim()).toBe(`${cpuSeconds.toFixed(0)} s`);
    expect(out).toMatch(
      /Plan \(one function walking the whole tree\) lists about [\d.]+ M files in the 13 minutes it may, bound by its own CPU/,
    );
  });
});
