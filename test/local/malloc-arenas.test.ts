import { describe, expect, it } from 'vitest';
import { needsArenaLimit } from '#local/malloc-arenas.ts';

describe('the malloc arena limit of the CLI', () => {
  const argv = (...args: string[]) => ['node', 'cli.mjs', ...args];

  it('starts again only for the commands with fetch workers, on Linux, when not set already', () => {
    expect(needsArenaLimit(argv('restore', 'latest', '--to', '/x'), {}, 'linux')).toBe(true);
    expect(needsArenaLimit(argv('verify', 'latest'), {}, 'linux')).toBe(true);
    expect(needsArenaLimit(argv('backup', '--home', '/x'), {}, 'linux')).toBe(false);
    expect(needsArenaLimit(argv('restore', '--help'), {}, 'linux')).toBe(false);
    expect(needsArenaLimit(argv('restore', 'latest'), { MALLOC_ARENA_MAX: '4' }, 'linux')).toBe(false);
    expect(needsArenaLimit(argv('restore', 'latest'), {}, 'darwin')).toBe(false);
  });
});
