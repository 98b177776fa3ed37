/**
 * A URL whose password held an unencoded '/', '?' or '#' (https://bot:2024/S3cret@host) parses as
 * host and path, not as user info, so removing the parsed user info leaves the secret in: whatever
 * comes before the last '@' is masked as well.
 */
export function maskBeforeLastAt(url: string): string {
  const at = url.lastIndexOf('@');
  if (at < 0) return url;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? '';
  return `${scheme}***${url.slice(at)}`;
}
