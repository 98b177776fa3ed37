import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '#local/cli.ts';
import '#local/verify-command.ts';
import '#local/retention-command.ts';
import { formatDuration } from '#local/format.ts';
import { tempDir } from '../support/local-runtime.ts';

/** What the CLI prints, for people and, with --json, for scripts. */

const work = tempDir('cli-output');
afterAll(() => work.cleanup());

/** The CLI in this process: its exit code and what it printed on stdout. */
async function run(args: string[]) {
  const lines: string[] = [];
  const code = await main(args, { out: (line) => lines.push(line), err: process.stderr });
  return { code, stdout: lines.join('\n') };
}

describe('durations', () => {
  it.each([
    ['2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.250Z', '250 ms'],
    ['2026-01-01T00:00:00.000Z', '2026-01-01T00:01:59.940Z', '119.9 s'],
    ['2026-01-01T00:00:00.000Z', '2026-01-01T00:02:59.600Z', '3 min 0 s'],
    ['2026-01-01T00:00:00.000Z', '2026-01-01T01:05:07.400Z', '65 min 7 s'],
  ])('%s to %s is %s (never "60 s")', (start, end, expected) => {
    expect(formatDuration(start, end)).toBe(expected);
  });
});

describe('--json when the workflow refuses the request', () => {
  it.each([
    ['verify', ['verify', 'b20200101t000000z-0000', '--scratch', 'none'], 'verification failed'],
    ['restore', ['restore', 'b20200101t000000z-0000', '--to', '/tmp/never-written'], 'restore failed'],
  ])(
    '%s prints one JSON object on stdout (a script pipes it to jq), and exits 2',
    async (_name, args, what) => {
      const store = path.join(work.dir, `store-${_name}`);
      fs.mkdirSync(store);
      const result = await run([...args, '--store', store, '--json', '--quiet']);
      expect(result.code).toBe(2);
      expect(JSON.parse(result.stdout)).toMatchObject({
        status: 'failed',
        what,
        error: 'InvalidInputError',
        cause: expect.stringMatching(/b20200101t000000z-0000/),
      });
    },
  );
});
