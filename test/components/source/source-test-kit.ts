import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchHttpClient } from '#components/source/http-client.ts';
import type { SourceDeps } from '#components/source/mirror.ts';
import { type RepositorySettings, repositorySchema } from '#components/source/settings.ts';
import { GitTransport } from '#components/source/smart-http.ts';
import type { GitHttpServer } from '../../support/git-http-server.ts';
import { WorkRepo } from './git-fixtures.ts';

/** The password the test server accepts for user `git`, handed over as the code reads it: by variable name. */
export const PASSWORD_ENV = 'TEST_GIT_PASSWORD';

export function testDeps(env: NodeJS.ProcessEnv = { [PASSWORD_ENV]: 'secret' }): SourceDeps {
  return {
    transport: new GitTransport({
      http: fetchHttpClient({ defaultTimeoutMs: 20_000, userAgent: 'liferay-backup-test' }),
      transferTimeoutMs: 120_000,
      agent: 'liferay-backup-test',
    }),
    secrets: {
      parameter: async (name) => {
        throw new Error(`no SSM in this test (asked for ${name})`);
      },
    },
    env,
  };
}

let counter = 0;

/** A source repository (built from `work`) and an empty mirror on the server, with settings for them. */
export async function sourceAndMirror(
  server: GitHttpServer,
  work: WorkRepo | undefined,
  overrides: Partial<RepositorySettings> = {},
): Promise<{ sourcePath: string; mirrorPath: string; settings: RepositorySettings; name: string }> {
  counter += 1;
  const name = `repo-${counter}`;
  const sourcePath = await server.createBareRepo(`${name}-source.git`);
  const mirrorPath = await server.createBareRepo(`${name}-mirror.git`);
  if (work) await work.pushMirror(sourcePath);
  const credentials = { passwordEnv: PASSWORD_ENV, username: 'git' };
  const settings = repositorySchema.parse({
    name,
    sourceUrl: server.repoUrl(`${name}-source.git`),
    mirrorUrl: server.repoUrl(`${name}-mirror.git`),
    sourceCredentials: credentials,
    mirrorCredentials: credentials,
    ...overrides,
  });
  return { sourcePath, mirrorPath, settings, name };
}

/** Requests to one repository's service, e.g. count('x-mirror.git', 'git-receive-pack'). */
export function posts(server: GitHttpServer, repo: string, service: string): number {
  return server.requests.filter(
    (request) => request.method === 'POST' && request.path === `/${repo}/${service}`,
  ).length;
}

/** A loopback port nothing listens on (a server was there a moment ago). */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export { WorkRepo };
