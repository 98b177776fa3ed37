import { ConfigError } from '#runtime/errors.ts';
import { splitAtUserInfo } from '#runtime/redact.ts';

/**
 * A self-managed database named by URL: `mysql://user:password@host:3306/lportal`,
 * `mariadb://...` or `postgresql://...` (`postgres://` too). The password never leaves this
 * object except into a 0600 client option file (dump-adapter.ts); everything that is shown,
 * logged or recorded goes through `redactUrl`.
 */
export type DatabaseEngine = 'mysql' | 'mariadb' | 'postgresql';

export interface DatabaseConnection {
  readonly engine: DatabaseEngine;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string | undefined;
  /** The database in the URL's path; undefined when the URL names none. */
  readonly database: string | undefined;
  /** TLS settings from the query string (sslmode / ssl, sslrootcert / ssl-ca). */
  readonly tls: { readonly mode?: string; readonly ca?: string };
}

const ENGINES: Record<string, DatabaseEngine> = {
  'mysql:': 'mysql',
  'mariadb:': 'mariadb',
  'postgresql:': 'postgresql',
  'postgres:': 'postgresql',
};
const DEFAULT_PORTS: Record<DatabaseEngine, number> = { mysql: 3306, mariadb: 3306, postgresql: 5432 };
const QUERY_KEYS: Record<DatabaseEngine, readonly string[]> = {
  mysql: ['ssl', 'ssl-mode', 'ssl-ca'],
  mariadb: ['ssl', 'ssl-mode', 'ssl-ca'],
  postgresql: ['sslmode', 'sslrootcert'],
};

/** Query parameters shown as given; every other parameter's value may be a password (libpq's and JDBC's `?password=`). */
const SHOWN_QUERY_KEYS = new Set(Object.values(QUERY_KEYS).flat());

/**
 * The URL with its password replaced by `***` (and never an error that quotes the original). The
 * user part runs to the LAST `@`: a password with an unencoded `/`, `?`, `#` or `@` (base64-style
 * generated passwords) still ends there, even when the URL parser read it as a port and a path.
 * A query parameter's value is masked unless it is one of the TLS settings (`?password=...`), and
 * without `//` after the scheme (`mysql:/user:pw@host`, a typo) all before the last `@` is masked.
 * Both readings are masked at once: a password holding `?k=v` (`mysql://u:ab?k=v@host/db`) looks like
 * a query whose value swallows the last `@`, and masking the query first left `ab` in clear.
 */
export function redactUrl(url: string): string {
  const hidden: Array<[number, number]> = [];
  // A value runs to the next `&` (a `#` may be part of the password).
  for (const match of url.matchAll(/([?&])([^=&#]*)=([^&]*)/g)) {
    const [whole, , key = '', value = ''] = match;
    if (SHOWN_QUERY_KEYS.has(key) && !/[?=@]/.test(value)) continue;
    const end = match.index + whole.length;
    hidden.push([end - value.length, end]);
  }
  const parts = splitAtUserInfo(url);
  if (parts) {
    const { scheme, userInfo } = parts;
    const end = scheme.length + userInfo.length;
    if (!scheme) hidden.push([/^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0].length ?? 0, end]);
    else if (userInfo.includes(':')) hidden.push([scheme.length + userInfo.indexOf(':') + 1, end]);
  }
  return maskRanges(url, hidden);
}

/** The text with each run of characters covered by the ranges (overlapping, adjacent or empty) as `***`. */
function maskRanges(text: string, ranges: Array<[number, number]>): string {
  const merged: Array<[number, number]> = [];
  for (const [from, to] of ranges.sort((a, b) => a[0] - b[0])) {
    const last = merged.at(-1);
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else merged.push([from, to]);
  }
  let out = '';
  let at = 0;
  for (const [from, to] of merged) {
    out += `${text.slice(at, from)}***`;
    at = to;
  }
  return out + text.slice(at);
}

/** Removes every occurrence of the secrets from a text (tool stderr, error messages). */
export function redactSecrets(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 1) out = out.split(secret).join('***');
  }
  return out;
}

export function parseDatabaseUrl(url: string, what = 'database URL'): DatabaseConnection {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // URL's TypeError carries the input (with its password): never chain it.
    throw new ConfigError(
      `${what} is not a URL (not shown: it may hold a password); expected mysql://, mariadb:// or postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE`,
    );
  }
  const engine = ENGINES[parsed.protocol];
  if (!engine) {
    throw new ConfigError(`${what} ${redactUrl(url)}: scheme must be mysql://, mariadb:// or postgresql://`);
  }
  if (!parsed.hostname) throw new ConfigError(`${what} ${redactUrl(url)} names no host`);
  const user = decodeURIComponent(parsed.username);
  if (!user)
    throw new ConfigError(`${what} ${redactUrl(url)} names no user (mysql://USER[:PASSWORD]@host/db)`);
  const path = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (path.includes('/'))
    throw new ConfigError(`${what} ${redactUrl(url)}: the path must be one database name`);
  const allowed = QUERY_KEYS[engine];
  const tls: { mode?: string; ca?: string } = {};
  for (const [key, value] of parsed.searchParams) {
    if (!allowed.includes(key)) {
      throw new ConfigError(
        `${what} ${redactUrl(url)}: unknown parameter ${key}; allowed: ${allowed.join(', ')}`,
      );
    }
    if (key === 'sslmode' || key === 'ssl-mode') tls.mode = value;
    else if (key === 'ssl')
      tls.mode =
        value === 'true' || value === '1'
          ? 'required'
          : value === 'false' || value === '0'
            ? 'disabled'
            : value;
    else tls.ca = value;
  }
  return {
    engine,
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : DEFAULT_PORTS[engine],
    user,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    database: path || undefined,
    tls,
  };
}

/** The connection shown to people: no password, ever. */
export function describeConnection(connection: DatabaseConnection, database = connection.database): string {
  const scheme = connection.engine === 'postgresql' ? 'postgresql' : connection.engine;
  return `${scheme}://${encodeURIComponent(connection.user)}@${hostAndPort(connection)}/${database ?? ''}`;
}

/** The server as `host:port` (an IPv6 host in brackets), never with the user or password. */
export function hostAndPort(connection: Pick<DatabaseConnection, 'host' | 'port'>): string {
  return `${connection.host.includes(':') ? `[${connection.host}]` : connection.host}:${connection.port}`;
}

export function withPassword(
  connection: DatabaseConnection,
  password: string | undefined,
): DatabaseConnection {
  return { ...connection, password };
}

export function withDatabase(connection: DatabaseConnection, database: string): DatabaseConnection {
  return { ...connection, database };
}
