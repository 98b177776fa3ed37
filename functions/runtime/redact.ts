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

/**
 * Where a URL starts inside a free text: its scheme and `//`, not preceded by what may come before a
 * scheme within a URL's own user info (`https://bot:a://b@host`, `...:p@https://...`), so a password
 * holding `://` is not cut into two URLs. `=` is not among them: `--git SOURCE=MIRROR` and
 * `?next=https://...` hold a second URL right after it.
 */
const URL_START = /(?<![a-z0-9+.\-:/@%?#])[a-z][a-z0-9+.-]*:\/\//gi;

/**
 * Every URL in a free text (an error message, a notification, a `SOURCE=MIRROR` pair) with its user
 * info masked by maskBeforeLastAt's rule: a URL runs to the next whitespace or the next URL, and all
 * between its scheme and its last '@' is masked, so a token alone (`https://TOKEN@host`) and a
 * password with an unencoded '/', '?', '#', ':' or '@' are masked whole. Text outside URLs (an
 * e-mail address, `a@b`), URLs without '@' and file URLs (a stack frame's
 * `file:///…/node_modules/@scope/…`) are left as they are. What follows a URL without a
 * space, up to its last '@', is masked too (`https://host/x,ops@example.com`): more than needed,
 * never less.
 */
export function maskUrlUserInfo(text: string): string {
  return text.replace(/\S+/g, (run) => {
    const starts = Array.from(run.matchAll(URL_START), (match) => match.index);
    if (starts.length === 0) return run;
    let out = run.slice(0, starts[0]);
    starts.forEach((start, index) => {
      const url = run.slice(start, starts[index + 1] ?? run.length);
      // A file URL has no user info; its '@' is a path's (a stack frame in node_modules/@scope/...).
      out += /^file:/i.test(url) ? url : maskBeforeLastAt(url);
    });
    return out;
  });
}
