import * as fs from 'node:fs';
import * as path from 'node:path';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '#components/database/connection.ts';
import { main } from '#local/cli.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import { databaseRuntime } from '../components/database/support.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * A database URL that parseDatabaseUrl refuses is quoted in the error "redacted" — but the
 * redaction only knew passwords in the user info of a `scheme://` URL. libpq and JDBC URLs carry
 * the password as a query parameter (`?user=liferay&password=...`, the form Liferay's
 * portal-ext.properties uses), and a scheme typo (`mysql:/`, `mysql:`) leaves no `//`: the error
 * quoted the password whole, into the CLI's output, the Lambda's log, the failed state's cause and
 * the manifest.
 */

const SECRET = 'dbQuery^Pw~4471';

const BAD_URLS = {
  'password as a query parameter': `mariadb://liferay@db.example.com/lportal?password=${SECRET}`,
  'user and password as query parameters (no user info)': `postgresql://db.example.com/lportal?user=liferay&password=${SECRET}`,
  'a TLS parameter, then the password': `postgresql://liferay@db.example.com/lportal?sslmode=require&password=${SECRET}`,
  'mysql:/ for mysql://': `mysql:/liferay:${SECRET}@db.example.com/lportal`,
  'mysql: for mysql://': `mysql:liferay:${SECRET}@db.example.com/lportal`,
} as const;

const ssm = mockClient(SSMClient);
const work = tempDir('review-db-url');
afterAll(() => {
  ssm.restore();
  work.cleanup();
});

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(full) : [full];
  });
}

describe('a database URL that is refused never has its password quoted', () => {
  it.each(Object.entries(BAD_URLS))('parseDatabaseUrl: %s', (_, url) => {
    let error: Error | undefined;
    try {
      parseDatabaseUrl(url);
    } catch (thrown) {
      error = thrown as Error;
    }
    expect(error?.name).toBe('ConfigError');
    expect(error?.message).not.toContain(SECRET);
    expect(error?.message).not.toContain(encodeURIComponent(SECRET));
  });

  it.each(Object.entries(BAD_URLS))('the CLI backup with --database-url: %s', async (name, url) => {
    const store = path.join(work.dir, `cli-${name.replace(/[^a-z]+/g, '-')}`);
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['backup', '--database-url', url, '--store', store], {
      out: (line) => out.push(line),
      err: {
        isTTY: false,
        write: (chunk: unknown) => {
          err.push(String(chunk));
          return true;
        },
      } as unknown as NodeJS.WriteStream,
    });
    expect(code).not.toBe(0);
    expect(out.join('\n')).toMatch(/--database-url/);
    expect(out.join('\n')).not.toContain(SECRET);
    expect(err.join('')).not.toContain(SECRET);
    for (const file of filesUnder(store)) expect(fs.readFileSync(file, 'utf8'), file).not.toContain(SECRET);
  });

  it('the Lambda backup with the URL in SSM: neither the failed state nor the manifest quotes it', async () => {
    const parameters = new Map(
      Object.values(BAD_URLS).map((url, index) => [`/liferay/review/db-url-${index}`, url]),
    );
    ssm.reset();
    ssm.on(GetParameterCommand).callsFake((input: { Name: string }) => ({
      Parameter: { Name: input.Name, Type: 'SecureString', Value: parameters.get(input.Name) },
    }));
    for (const name of parameters.keys()) {
      const rt = databaseRuntime({ mode: 'dump', urlParameterName: name });
      const outcome = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'schedule' }, rt, {
        validate: false,
      });
      expect(outcome.status, name).toBe('FAILED');
      expect(outcome.status === 'FAILED' ? outcome.cause : '', name).toMatch(/database/);
      expect(JSON.stringify(outcome), name).not.toContain(SECRET);
      const keys: string[] = [];
      for await (const object of rt.store.list('')) keys.push(object.key);
      expect(
        keys.some((key) => key.endsWith('manifest.json')),
        name,
      ).toBe(true);
      for (const key of keys) {
        expect((await rt.store.read(key)).toString('utf8'), `${name}: ${key}`).not.toContain(SECRET);
      }
    }
  });
});
