/**
 * A URL split at the LAST '@': its scheme ('' when it has none), what lies between the scheme and
 * that '@' (the user info), and the rest from the '@' on. A password with an unencoded '/', '?',
 * '#' or '@' (https://bot:2024/S3cret@host) still ends there, although a URL parser reads it as
 * host and path. Undefined when there is no '@'.
 */
export function splitAtUserInfo(url: string): { scheme: string; userInfo: string; rest: string } | undefined {
  const at = url.lastIndexOf('@');
  if (at < 0) return undefined;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? '';
  return { scheme, userInfo: url.slice(scheme.length, at), rest: url.slice(at) };
}

/**
 * Removing the parsed user info from a URL whose password held an unencoded '/', '?' or '#' leaves
 * the secret in: whatever comes before the last '@' is masked as well.
 */
export function maskBeforeLastAt(url: string): string {
  const parts = splitAtUserInfo(url);
  return parts ? `${parts.scheme}***${parts.rest}` : url;
}
