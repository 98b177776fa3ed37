import { ConfigError } from '#runtime/errors.ts';
import { maskBeforeLastAt } from '#runtime/redact.ts';
import { cleartextToNetwork } from '#runtime/transport.ts';
import type { Credentials } from './settings.ts';

/** Reads secrets by name: SSM SecureString parameters on AWS (decrypted), tests' fakes elsewhere. */
export interface SecretReader {
  parameter(name: string): Promise<string>;
}

/** A Git remote as the transport uses it: a URL without user info and the header that authenticates. */
export interface Remote {
  /** Without user info: safe to log and record. */
  readonly url: string;
  /** `Basic ...`; undefined for anonymous access. Never logged. */
  readonly authorization: string | undefined;
  /** Says where the credentials came from (for error messages), never what they are. */
  readonly credentialsLabel: string;
}

/** The URL without user info (and the user info apart, decoded). */
export function splitUserInfo(raw: string): { url: string; username?: string; password?: string } {
  const url = new URL(raw);
  if (url.username === '' && url.password === '') return { url: stripTrailingSlash(url.toString()) };
  const username = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  return { url: stripTrailingSlash(url.toString()), username, password };
}

/** A URL fit for logs, errors and the manifest: user info removed. */
export function redactUrl(raw: string): string {
  let url: string;
  try {
    url = splitUserInfo(raw).url;
  } catch {
    return '(invalid URL)';
  }
  return maskBeforeLastAt(url);
}

function stripTrailingSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

function fromEnv(name: string, env: NodeJS.ProcessEnv): string {
  const value = env[name];
  if (value === undefined || value === '')
    throw new ConfigError(`environment variable ${name} (Git credentials) is not set`);
  return value;
}

/**
 * Builds the remote for a URL: user info in the URL wins (the CLI), then the given credentials,
 * then the defaults; none means anonymous. Secrets stay in memory only.
 */
export async function resolveRemote(
  rawUrl: string,
  credentials: Credentials | undefined,
  secrets: SecretReader,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Remote> {
  const { url, username, password } = splitUserInfo(rawUrl);
  if (username === undefined && rawUrl.includes('@')) {
    // `https://bot:2024/S3cret@host/repo.git`: the parser reads `bot:2024` as host and port, and
    // the password as the path, where nothing strips it. Refused, without repeating it.
    throw new ConfigError(
      `the Git URL ${maskBeforeLastAt(rawUrl)} has an "@" outside its user info: percent-encode "/", "?", "#" and "@" in the user name and password (%2F, %3F, %23, %40)`,
    );
  }
  if (username !== undefined && (username !== '' || password !== '')) {
    return { url, authorization: basic(username, password ?? ''), credentialsLabel: "the URL's user info" };
  }
  if (!credentials) return { url, authorization: undefined, credentialsLabel: 'no credentials' };
  if (parameterNames(credentials).length > 0 && cleartextToNetwork(url)) {
    // cdk.json takes https:// Git URLs only; a restore request's target may be any http(s) URL.
    throw new ConfigError(
      `${url}: credentials from SSM are sent over https:// only (plain http:// would carry them in clear text)`,
    );
  }
  if ('tokenParameter' in credentials) {
    return {
      url,
      authorization: basic(credentials.username, await secrets.parameter(credentials.tokenParameter)),
      credentialsLabel: `the token in SSM parameter ${credentials.tokenParameter}`,
    };
  }
  if ('passwordParameter' in credentials) {
    const user = credentials.usernameParameter
      ? await secrets.parameter(credentials.usernameParameter)
      : (credentials.username ?? '');
    return {
      url,
      authorization: basic(user, await secrets.parameter(credentials.passwordParameter)),
      credentialsLabel: `the password in SSM parameter ${credentials.passwordParameter}`,
    };
  }
  if ('tokenEnv' in credentials) {
    return {
      url,
      authorization: basic(credentials.username, fromEnv(credentials.tokenEnv, env)),
      credentialsLabel: `the token in environment variable ${credentials.tokenEnv}`,
    };
  }
  const user = credentials.usernameEnv ? fromEnv(credentials.usernameEnv, env) : (credentials.username ?? '');
  return {
    url,
    authorization: basic(user, fromEnv(credentials.passwordEnv, env)),
    credentialsLabel: `the password in environment variable ${credentials.passwordEnv}`,
  };
}

/** The SSM parameters a set of credentials reads (what the stack grants, and what a restore may name). */
export function parameterNames(credentials: Credentials | undefined): string[] {
  if (!credentials) return [];
  if ('tokenParameter' in credentials) return [credentials.tokenParameter];
  if ('passwordParameter' in credentials) {
    return [
      credentials.passwordParameter,
      ...(credentials.usernameParameter ? [credentials.usernameParameter] : []),
    ];
  }
  return [];
}
