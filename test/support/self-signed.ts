import { spawnSync } from 'node:child_process';

/**
 * A self-signed certificate for a local TLS server (the benchmark's restic endpoint, the fetch
 * workers' TLS test), made with the openssl command; without it, an error naming the package.
 */
export function makeSelfSignedCertificate(files: { key: string; cert: string }, host: string): void {
  const altName = /^[\d.]+$/.test(host) ? `IP:${host}` : `DNS:${host}`;
  const made = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', files.key, '-out', files.cert].concat([
      '-days',
      '30',
      '-subj',
      `/CN=${host}`,
      '-addext',
      `subjectAltName=${altName}`,
    ]),
    { encoding: 'utf8' },
  );
  if (made.error || made.status !== 0)
    throw new Error(
      `making a test certificate needs the openssl command (apt-get install -y openssl): ${made.error?.message ?? made.stderr}`,
    );
}
