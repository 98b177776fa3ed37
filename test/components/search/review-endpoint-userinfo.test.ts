import { afterEach, describe, expect, it } from 'vitest';
import { closeEngines } from '#components/search/connect.ts';
import { searchRuntime } from '#components/search/handlers/context.ts';
import { clusterFromUrl } from '#components/search/index.ts';
import { searchSettingsSchema } from '#components/search/settings.ts';
import { ConfigError, InvalidInputError } from '#runtime/errors.ts';
import { SearchEngineStandIn } from '../../support/search-engine-server.ts';
import { searchRuntimeFor } from './fixtures.ts';

/**
 * A password with an unencoded "/", "?" or "#" in a search URL: the URL parser ends the authority
 * there, so `http://elastic:2024/S3cret@127.0.0.1:9200` is host `elastic`, port 2024 and path
 * `/S3cret@127.0.0.1:9200`, with no user info at all. Such a URL must be refused before any
 * request (a request would go to a host named by part of the password, with the credentials
 * from elsewhere), and the refusal must not repeat the password.
 */

const SECRET = 'S3cret';

afterEach(async () => {
  await closeEngines();
});

function issuesFor(endpoint: string): string {
  const parsed = searchSettingsSchema.safeParse({
    engine: 'elasticsearch',
    endpoint,
    credentials: { type: 'env' },
    repository: { name: 'liferay-backup' },
  });
  expect(parsed.success).toBe(false);
  return parsed.error?.issues.map((issue) => issue.message).join('; ') ?? '';
}

describe('a search URL whose password holds an unencoded "/", "?" or "#"', () => {
  it.each([
    ['/', `http://elastic:2024/${SECRET}@127.0.0.1:9200`],
    ['?', `http://elastic:2024?${SECRET}@127.0.0.1:9200`],
    ['#', `http://elastic:2024#${SECRET}@127.0.0.1:9200`],
  ])('with "%s" is refused by the settings, saying to percent-encode, without the password', (_char, raw) => {
    const message = issuesFor(raw);
    expect(message).toMatch(/percent-encode/);
    expect(message).toMatch(/SSM/);
    expect(message).not.toContain(SECRET);
  });

  it('is refused when the CLI gives it as --search-url, before any request, naming no secret', async () => {
    const server = await SearchEngineStandIn.start({ flavour: 'elasticsearch', version: '8.15.0' });
    try {
      // The parser reads 127.0.0.1:<port> as host and port; the "password" ends up in the path.
      const port = new URL(server.url).port;
      const raw = `http://127.0.0.1:${port}/${SECRET}@127.0.0.1:${port}`;
      let failure: unknown;
      try {
        const { endpoint, credentials } = clusterFromUrl(raw, undefined);
        const { engine } = await searchRuntime(searchRuntimeFor(endpoint, { credentials }));
        await engine.info();
      } catch (error) {
        failure = error;
      }
      expect(failure).toBeInstanceOf(Error);
      expect(failure instanceof ConfigError || failure instanceof InvalidInputError).toBe(true);
      expect((failure as Error).message).toMatch(/percent-encode/);
      expect((failure as Error).message).not.toContain(SECRET);
      expect(server.requests).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  it('a --search-url the parser cannot read at all says the same when the user info holds a "/"', () => {
    expect(() => clusterFromUrl(`http://elastic:${SECRET}/x@127.0.0.1:9200`, undefined)).toThrow(
      InvalidInputError,
    );
    expect(() => clusterFromUrl(`http://elastic:${SECRET}/x@127.0.0.1:9200`, undefined)).toThrow(
      /percent-encode/,
    );
    // Any other unreadable URL keeps its plain message (and still never repeats the value).
    expect(() => clusterFromUrl('http://elastic:hunter2@[::1', undefined)).toThrow(
      /^--search-url: not a URL \(expected/,
    );
  });

  it('a percent-encoded password still works, and so does a plain endpoint', () => {
    expect(clusterFromUrl('http://elastic:2024%2FS3cret@127.0.0.1:9200', undefined)).toEqual({
      endpoint: 'http://127.0.0.1:9200',
      credentials: { type: 'basic', username: 'elastic', password: '2024/S3cret' },
    });
    expect(
      searchSettingsSchema.safeParse({
        engine: 'elasticsearch',
        endpoint: 'https://search.example.com:9200/proxy/path',
        credentials: { type: 'none' },
        repository: { name: 'liferay-backup' },
      }).success,
    ).toBe(true);
  });
});
