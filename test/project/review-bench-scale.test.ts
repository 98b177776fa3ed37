import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The scale simulation on a tenth of the tree (same shape: 1 M files, 0.5 TB). */
function simulate(): string {
  const result = spawnSync(
    path.join(ROOT, 'node_modules/.bin/tsx'),
    [path.join(ROOT, 'bench/scale-simulation.ts')],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, FILES: '1000000', TIB: String(5e11 / 2 ** 40) } },
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
