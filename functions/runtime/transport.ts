/**
 * Whether a URL would carry credentials in clear text over a network: plain `http:` to any host
 * but this machine's loopback (where the local tests and a CLI next to its cluster talk).
 * Credentials read from SSM SecureString parameters (the AWS side) are never sent that way.
 */
export function cleartextToNetwork(raw: string): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return true;
  }
  if (url.protocol !== 'http:') return false;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return !(host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host));
}
