import { describe, expect, it } from 'vitest';
import { parseGitPair } from '#components/source/local-options.ts';
import { InvalidInputError } from '#runtime/errors.ts';

/** The CLI prints `error: <message>` for a bad `--git` pair: the user info of its URLs must not be in it. */
describe('the --git SOURCE=MIRROR error', () => {
  const SECRET = 'S3cret-9f2c';

  function messageOf(value: string): string {
    try {
      parseGitPair(value);
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidInputError);
      return (error as Error).message;
    }
    throw new Error(`parseGitPair accepted ${value}`);
  }

  it.each([
    { what: 'a token', value: `https://${SECRET}@h.example/a.git`, shown: 'https://***@h.example/a.git' },
    {
      what: "a password with '/'",
      value: `https://bot:2024/${SECRET}@h.example/a.git`,
      shown: 'https://***@h.example/a.git',
    },
    {
      what: "a password with '@' and ':'",
      value: `https://bot:a@b:${SECRET}@h.example/a.git`,
      shown: 'https://***@h.example/a.git',
    },
    {
      what: 'a mirror that is not http(s)',
      value: `https://bot:2024/${SECRET}@h.example/a.git=ssh://git:${SECRET}@m.example/a.git`,
      shown: 'https://***@h.example/a.git=ssh://***@m.example/a.git',
    },
  ])('masks $what', ({ value, shown }) => {
    const message = messageOf(value);
    expect(message).toBe(`--git ${shown}: expected SOURCE_URL=MIRROR_URL (both http(s) URLs)`);
    expect(message).not.toContain(SECRET);
  });

  it('leaves a URL without user info as given', () => {
    expect(messageOf('https://git.example.com/a.git')).toBe(
      '--git https://git.example.com/a.git: expected SOURCE_URL=MIRROR_URL (both http(s) URLs)',
    );
  });
});
