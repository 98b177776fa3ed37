import type { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { ConfigError, RetryableError } from '#runtime/errors.ts';
import type { SecretReader } from './credentials.ts';

/**
 * Git credentials from SSM SecureString parameters (decrypted with the parameter's KMS key).
 * Values live in Powertools' in-memory cache for a few minutes of a warm container and nowhere
 * else: never in /tmp, never in a log line, never in a result.
 */
export class SsmSecretReader implements SecretReader {
  private provider: Promise<SSMProvider> | undefined;

  constructor(private readonly client?: SSMClient) {}

  /** Powertools and the SSM client are loaded on first use: a CLI run without Git never loads them. */
  private ssm(): Promise<SSMProvider> {
    this.provider ??= import('@aws-lambda-powertools/parameters/ssm').then(({ SSMProvider }) =>
      this.client ? new SSMProvider({ awsSdkV3Client: this.client }) : new SSMProvider(),
    );
    return this.provider;
  }

  async parameter(name: string): Promise<string> {
    let value: string | undefined;
    try {
      value = await (await this.ssm()).get(name, { decrypt: true, maxAge: 300 });
    } catch (error) {
      const cause = (error as { cause?: { name?: string } }).cause ?? error;
      const kind = (cause as { name?: string }).name ?? 'Error';
      if (kind === 'ThrottlingException' || kind === 'InternalServerError') {
        throw new RetryableError(`could not read SSM parameter ${name}: ${kind}`, { cause: error });
      }
      throw new ConfigError(`could not read SSM parameter ${name} (Git credentials): ${kind}`, {
        cause: error,
      });
    }
    if (value === undefined || value === '')
      throw new ConfigError(`SSM parameter ${name} (Git credentials) is empty`);
    return value;
  }
}
