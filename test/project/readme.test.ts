import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const ci = readFileSync(path.join(root, '.ci/run'), 'utf8');

/** The shell lines of the README's fenced `sh` blocks, in order. */
function commandLines(markdown: string): string[] {
  return [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((match) =>
    (match[1] ?? '')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#')),
  );
}

describe('the README', () => {
  it('opens with the demo command and the test command', () => {
    const [demo, tests] = commandLines(readme);
    expect(demo).toBe('npm ci && npm start');
    expect(tests).toMatch(/^apt-get update && apt-get install -y .+ && npm ci && npm test$/);
  });

  it('gives exactly the test command that .ci/run runs', () => {
    const tests = commandLines(readme)[1];
    const ciCommand = ci.split('\n').find((line) => line.startsWith('apt-get update'));
    expect(ciCommand).toBe(tests);
  });
});
