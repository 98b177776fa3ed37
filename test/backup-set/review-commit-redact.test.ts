import { afterEach, describe, expect, it, vi } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { createLogger } from '#runtime/logger.ts';
import { testRuntime } from '../support/local-runtime.ts';

/**
 * Commit's message leaves the account (the Fail state's cause, the notification by e-mail or SMS)
 * and its problems are logged: a component error that quotes a Git URL with its token or password
 * must reach neither with the secret.
 */

const TOKEN = 'ghp_R3dactMe0123456789';
const PASSWORD = `2024/${TOKEN}`;
const HOME = { liferayHome: { root: '/tmp/does-not-matter-here' } };

const caught = (component: string, errorMessage: string) => ({
  component,
  caught: {
    Error: 'GitFetchError',
    Cause: JSON.stringify({ errorType: 'GitFetchError', errorMessage }),
  },
});

/** Commit with an INFO logger whose lines are captured (the Lambda's one writes them to stdout). */
async function commitWithLogs(errorMessage: string) {
  const rt = { ...testRuntime({ components: HOME }), logger: createLogger({ logLevel: 'INFO' }) };
  const lines: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    const backup = await beginBackup({}, rt);
    const result = await commitBackup({ backup, results: [caught('liferayHome', errorMessage)] }, rt);
    return { result, logs: lines.join('') };
  } finally {
    write.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe("Commit's not-complete message and log", () => {
  it.each([
    {
      what: 'a token alone',
      error: `cloning https://${TOKEN}@github.com/acme/site.git failed: 403\n  at frame (x.js:1:1)`,
      shown: 'liferayHome: GitFetchError: cloning https://***@github.com/acme/site.git failed: 403',
    },
    {
      what: "a password with '/'",
      error: `cloning https://bot:${PASSWORD}@github.com/acme/site.git failed: 403`,
      shown: 'liferayHome: GitFetchError: cloning https://***@github.com/acme/site.git failed: 403',
    },
    {
      what: "a password with '@', two URLs, a ')' after the URL",
      error: `mirror (https://bot:p@${TOKEN}@github.com/a.git) to https://${TOKEN}@m.example/a.git.`,
      shown:
        'liferayHome: GitFetchError: mirror (https://***@github.com/a.git) to https://***@m.example/a.git.',
    },
  ])('masks $what in the message, the problems and the log line', async ({ error, shown }) => {
    // Act
    const { result, logs } = await commitWithLogs(error);
    // Assess
    expect(result.status).toBe('failed');
    expect(result.message).toContain(`is failed: ${shown}.`);
    expect(result.problems[0]).toContain(shown);
    expect(logs).toContain('backup committed');
    for (const text of [result.message, JSON.stringify(result.problems), logs]) {
      expect(text).not.toContain(TOKEN);
    }
  });

  it('keeps the wording of errors whose URLs hold no secret, and e-mail addresses', async () => {
    const error = 'reading http://127.0.0.1:9/_snapshot failed: ECONNREFUSED; ask ops@example.com';
    const { result } = await commitWithLogs(error);
    expect(result.message).toContain(`is failed: liferayHome: GitFetchError: ${error}.`);
    expect(result.problems).toEqual([`liferayHome: GitFetchError: ${error}`]);
  });
});
