import { lstatSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { msFromNs } from '#components/files/copy-shard.ts';

/** The reference: seconds and nanoseconds split with BigInt, as Node.js combines them for Stats.mtimeMs. */
function reference(ns: string): number {
  const value = BigInt(ns);
  return Number(value / 1_000_000_000n) * 1000 + Number(value % 1_000_000_000n) / 1_000_000;
}

describe('msFromNs (the quick check of an unchanged entry)', () => {
  it('equals the BigInt computation to the last bit, at the edges of its fast path and beyond', () => {
    // Prepare
    const values = [
      '0',
      '7',
      '999999999',
      '1000000000',
      '1000000001',
      '1764229123456789012',
      '9007199254740991999999999',
      '000001764229123456789012',
      '123456789012345678901234',
      '1234567890123456789012345',
      '-1',
      '-1000000001',
      '-1764229123456789012',
    ];
    for (let i = 0; i < 2000; i += 1)
      values.push(
        `${Math.floor(Math.random() * 4e9)}${String(Math.floor(Math.random() * 1e9)).padStart(9, '0')}`,
      );
    // Act / Assess
    for (const ns of values) expect(msFromNs(ns), ns).toBe(reference(ns));
  });

  it("matches the mtimeMs of a file's number stats when given its bigint stats' nanoseconds", () => {
    // Prepare
    const dir = mkdtempSync(path.join(tmpdir(), 'quick-check-'));
    try {
      const file = path.join(dir, 'f');
      writeFileSync(file, 'x');
      utimesSync(file, 1764229123.456789, 1764229123.456789);
      // Act
      const exact = lstatSync(file, { bigint: true });
      // Assess
      expect(msFromNs(exact.mtimeNs.toString())).toBe(statSync(file).mtimeMs);
      expect(msFromNs(exact.ctimeNs.toString())).toBe(statSync(file).ctimeMs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
