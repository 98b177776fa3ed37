import { describe, expect, it } from 'vitest';
import { maskBeforeLastAt, maskUrlUserInfo } from '#runtime/redact.ts';

/**
 * One rule for the user info of every URL in a free text (error messages, notifications, `--git`
 * pairs): all between the scheme and the URL's last '@' is masked, as maskBeforeLastAt does for one URL.
 */
describe('maskUrlUserInfo', () => {
  const SECRET = 'S3cret';
  const cases: Array<{ what: string; text: string; masked: string }> = [
    {
      what: 'text without a URL',
      text: 'permission denied: conf/server.xml',
      masked: 'permission denied: conf/server.xml',
    },
    {
      what: 'an e-mail address outside any URL',
      text: 'mail ops@example.com or a@b',
      masked: 'mail ops@example.com or a@b',
    },
    {
      what: 'a URL without user info',
      text: 'connect ECONNREFUSED on http://127.0.0.1:9/_snapshot',
      masked: 'connect ECONNREFUSED on http://127.0.0.1:9/_snapshot',
    },
    {
      what: 'a token alone',
      text: `cloning https://${SECRET}@github.com/acme/site.git failed`,
      masked: 'cloning https://***@github.com/acme/site.git failed',
    },
    {
      what: 'user and password',
      text: `https://bot:${SECRET}@git.example.com/a.git`,
      masked: 'https://***@git.example.com/a.git',
    },
    {
      what: "a '/' in the password",
      text: `https://bot:2024/${SECRET}@git.example.com/a.git`,
      masked: 'https://***@git.example.com/a.git',
    },
    {
      what: "an '@' in the password",
      text: `https://bot:p@${SECRET}@git.example.com/a.git`,
      masked: 'https://***@git.example.com/a.git',
    },
    {
      what: "a ':' in the password",
      text: `https://bot:p:${SECRET}@git.example.com/a.git`,
      masked: 'https://***@git.example.com/a.git',
    },
    {
      what: "'?' and '#' in the password",
      text: `https://bot:a?b#${SECRET}@git.example.com/a.git`,
      masked: 'https://***@git.example.com/a.git',
    },
    {
      what: "'://' in the password",
      text: `https://bot:x://${SECRET}@git.example.com/a.git`,
      masked: 'https://***@git.example.com/a.git',
    },
    {
      what: 'two URLs on one line',
      text: `from https://${SECRET}@a.example/x to https://u:${SECRET}/1@b.example/y`,
      masked: 'from https://***@a.example/x to https://***@b.example/y',
    },
    {
      what: 'a SOURCE=MIRROR pair',
      text: `https://u:${SECRET}/1@a.example/x.git=https://m.example/x.git`,
      masked: 'https://***@a.example/x.git=https://m.example/x.git',
    },
    {
      what: 'a pair with user info in the mirror only',
      text: `https://a.example/x.git=https://${SECRET}@m.example/x.git`,
      masked: 'https://a.example/x.git=https://***@m.example/x.git',
    },
    {
      what: "a '.' after the URL",
      text: `could not reach https://${SECRET}@h.example/x.`,
      masked: 'could not reach https://***@h.example/x.',
    },
    {
      what: "a ')' and a '.' after the URL",
      text: `(see https://u:${SECRET}@h.example/x).`,
      masked: '(see https://***@h.example/x).',
    },
    {
      what: 'a quoted URL',
      text: `remote "https://u:${SECRET}@h.example/x": 403`,
      masked: 'remote "https://***@h.example/x": 403',
    },
    {
      what: 'an upper-case scheme and a port',
      text: `HTTPS://u:${SECRET}@h.example:8443/x`,
      masked: 'HTTPS://***@h.example:8443/x',
    },
    {
      what: 'a database URL',
      text: `mysql://root:${SECRET}@db:3306/lportal refused`,
      masked: 'mysql://***@db:3306/lportal refused',
    },
    {
      what: "an e-mail glued after a URL: masked to its '@' (more, never less)",
      text: 'https://h.example/x,ops@example.com',
      masked: 'https://***@example.com',
    },
  ];

  it.each(cases)('$what', ({ text, masked }) => {
    expect(maskUrlUserInfo(text)).toBe(masked);
    expect(maskUrlUserInfo(text)).not.toContain(SECRET);
  });

  it('masks a single URL exactly as maskBeforeLastAt does', () => {
    for (const url of [
      `https://bot:2024/${SECRET}@h/a.git`,
      `https://${SECRET}@h/a.git`,
      'https://h/a.git',
      `git+ssh://git:${SECRET}@h/a.git`,
    ])
      expect(maskUrlUserInfo(url)).toBe(maskBeforeLastAt(url));
  });

  it('leaves line breaks and spacing as they were', () => {
    expect(maskUrlUserInfo(`a  https://${SECRET}@h/x\n\tb`)).toBe('a  https://***@h/x\n\tb');
  });
});
