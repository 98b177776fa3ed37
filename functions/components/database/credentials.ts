import type { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { ConfigError } from '#runtime/errors.ts';
import { type DatabaseConnection, parseDatabaseUrl, withPassword } from './connection.ts';
import type { DumpSettings } from './schemas.ts';

/**
 * The self-managed database's URL and password: from the settings' URL (local mode), or an SSM
 * SecureString parameter holding the URL (Lambda: the stack never puts a password in the
 * environment); a URL without a password takes it from an environment variable.
 */
let provider: Promise<SSMProvider> | undefined;

/** Built once per container, on first use; local runs without SSM never build it, nor load its modules. */
export function ssmProvider(): Promise<SSMProvider> {
  provider ??= Promise.all([
    import('@aws-lambda-powertools/parameters/ssm'),
    import('@aws-sdk/client-ssm'),
  ]).then(
    ([{ SSMProvider }, { SSMClient }]) =>
      new SSMProvider({ awsSdkV3Client: new SSMClient({ maxAttempts: 4 }) }),
  );
  return provider;
}

export async function resolveConnection(settings: DumpSettings): Promise<DatabaseConnection> {
  let url = settings.url;
  let what = 'components.database.url';
  if (url === undefined && settings.urlParameterName) {
    what = `the SSM parameter ${settings.urlParameterName}`;
    try {
      const value = await (await ssmProvider()).get(settings.urlParameterName, {
        decrypt: true,
        maxAge: 300,
      });
      url = typeof value === 'string' ? value : undefined;
    } catch (error) {
      // The SDK's message names the parameter and the reason; it never holds the value.
      throw new ConfigError(`cannot read ${what}: ${(error as Error).name}: ${(error as Error).message}`);
    }
    if (!url) throw new ConfigError(`${what} is empty`);
  }
  if (url === undefined) throw new ConfigError('components.database: no url and no urlParameterName');
  const connection = parseDatabaseUrl(url, what);
  if (connection.password !== undefined) return connection;
  const fromEnv = process.env[settings.passwordEnv];
  return fromEnv ? withPassword(connection, fromEnv) : connection;
}
