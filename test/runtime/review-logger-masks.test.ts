import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '#runtime/logger.ts';

/**
 * Found in the review of the URL maskers: the handlers log every error they end with as it was
 * thrown ('handler failed'), and so does any step that logs a library's error; the components mask
 * what they write themselves, but a library's message (a fetch of `https://TOKEN@host/...`) went to
 * CloudWatch unmasked. The logger now masks the user info of every URL in every string it writes.
 */

const TOKEN = 'ghp_16C7e42F292c6912E7710c838347Ae178B4a';

function captured(log: () => void): string {
  const lines: string[] = [];
  const keep = (chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  };
  // Errors go to stderr, the rest to stdout.
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(keep);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(keep);
  try {
    log();
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return lines.join('');
}

afterEach(() => vi.restoreAllMocks());

describe('review: the logger masks URL user info in whatever it writes', () => {
  it("an error's message, stack and cause, as the handlers log them", () => {
    // Prepare
    const logger = createLogger({ logLevel: 'INFO' });
    const cause = new Error(`connect ECONNRESET https://bot:p/ss@git.example.com/a.git`);
    const error = new Error(`fetching https://${TOKEN}@github.com/acme/site.git failed`, { cause });
    // Act
    const text = captured(() => logger.error('handler failed', error));
    // Assess
    expect(text).toContain('fetching https://***@github.com/acme/site.git failed');
    expect(text).toContain('https://***@git.example.com/a.git');
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('p/ss');
    // Stack frames keep their paths, scoped packages' '@' included.
    expect(text).not.toMatch(/file:\/\/\*\*\*/);
  });

  it('attributes and messages, nested ones too; text without a URL is written as it was', () => {
    // Prepare
    const logger = createLogger({ logLevel: 'INFO' });
    // Act
    const text = captured(() =>
      logger.info('mirror https://u:secret@h.example/r.git failed', {
        repositories: [{ url: 'https://u:secret@h.example/r.git' }],
        contact: 'ops@example.com',
      }),
    );
    // Assess
    const line = JSON.parse(text) as {
      message: string;
      repositories: Array<{ url: string }>;
      contact: string;
    };
    expect(line.message).toBe('mirror https://***@h.example/r.git failed');
    expect(line.repositories[0]?.url).toBe('https://***@h.example/r.git');
    expect(line.contact).toBe('ops@example.com');
    expect(text).not.toContain('secret');
  });
});
