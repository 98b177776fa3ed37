import { describe, expect, it } from 'vitest';
import { redactUrl } from '#components/database/connection.ts';

/**
 * A database URL is shown in errors, logs and the manifest through redactUrl: a password holding
 * `?k=v` reads as a query whose value swallows the last `@`, and masking the query alone left the
 * start of the password in clear.
 */
describe('redactUrl of a database URL', () => {
  const SECRET = 'Pw9x';
  it.each([
    { url: `mysql://u:${SECRET}?k=v@host/db`, shown: 'mysql://u:***' },
    { url: `mysql://u:${SECRET}?password=x@host/db`, shown: 'mysql://u:***' },
    { url: `mysql://u:${SECRET}&x=1@host/db`, shown: 'mysql://u:***' },
    { url: `mysql://u:${SECRET}#b?c=d@host/db`, shown: 'mysql://u:***' },
    { url: `mysql://u:${SECRET}=@host/db`, shown: 'mysql://u:***@host/db' },
  ])('masks all of a password holding "?", "=" or "&": $url', ({ url, shown }) => {
    expect(redactUrl(url)).toBe(shown);
    expect(redactUrl(url)).not.toContain(SECRET);
  });

  it.each([
    [
      'postgresql://liferay:pw@db:6432/lportal?sslmode=verify-full',
      'postgresql://liferay:***@db:6432/lportal?sslmode=verify-full',
    ],
    ['postgresql://u@h/db?password=a@b', 'postgresql://u@h/db?password=***'],
    ['mysql://u:pw@h/db?ssl-mode=REQUIRED&x=y', 'mysql://u:***@h/db?ssl-mode=REQUIRED&x=***'],
    ['postgresql://u@h/db?password=', 'postgresql://u@h/db?password=***'],
    ['mysql:/u:pw@h/db', 'mysql:***@h/db'],
    ['mysql://root@h/db', 'mysql://root@h/db'],
  ])('keeps what held no secret as before: %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });
});
