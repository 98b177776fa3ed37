import { describe, expect, it } from 'vitest';
import { GitRemoteError } from '#components/source/errors.ts';
import { remoteError } from '#components/source/smart-http.ts';
import { RetryableError } from '#runtime/errors.ts';

/**
 * The Git client's transport failures as fetch (undici) reports them: a cause with a code. The
 * faults the Lambda wrapper retries are retried here too (the runtime's one list), but for a refused
 * connection, which is most often a wrong URL and fails that repository at once, naming it.
 */

const remote = { url: 'https://git.example.com/ws.git', authorization: undefined, credentialsLabel: 'none' };

function fetchFailure(code: string): Error {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
}

describe('remoteError: network faults', () => {
  it.each([
    'ECONNRESET',
    'ECONNABORTED',
    'ETIMEDOUT',
    'EPIPE',
    'EAI_AGAIN',
    'UND_ERR_SOCKET',
    'UND_ERR_CLOSED',
    'UND_ERR_CONNECT_TIMEOUT',
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_BODY_TIMEOUT',
  ])('%s is retried', (code) => {
    const error = remoteError(fetchFailure(code), remote, 'list the refs of https://git.example.com/ws.git');
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.message).toBe(`could not list the refs of https://git.example.com/ws.git: ${code}`);
  });

  it('a refused connection fails the repository at once, naming the code', () => {
    const error = remoteError(
      fetchFailure('ECONNREFUSED'),
      remote,
      'list the refs of https://git.example.com/ws.git',
    );
    expect(error).toBeInstanceOf(GitRemoteError);
    expect(error.message).toBe('could not list the refs of https://git.example.com/ws.git: ECONNREFUSED');
  });
});
