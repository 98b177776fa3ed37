import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, readZipEntry } from '#components/files/liferay-discovery.ts';
import { generateSampleHome, manifestText, SAMPLE_FACTS, zipBytes } from '#local/sample-home.ts';

interface Listed {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtime: number;
  size: number;
  sha256?: string;
  target?: string;
}

async function list(root: string, dir = ''): Promise<Listed[]> {
  const out: Listed[] = [];
  for (const name of (await readdir(join(root, dir))).sort()) {
    const rel = dir === '' ? name : `${dir}/${name}`;
    const info = await lstat(join(root, rel));
    const base = {
      path: rel,
      mode: info.mode & 0o7777,
      mtime: Math.floor(info.mtimeMs / 1000),
      size: info.size,
    };
    if (info.isSymbolicLink())
      out.push({ ...base, type: 'symlink', target: await readlink(join(root, rel)) });
    else if (info.isDirectory()) {
      out.push({ ...base, size: 0, type: 'dir' });
      out.push(...(await list(root, rel)));
    } else {
      const sha256 = createHash('sha256')
        .update(await readFile(join(root, rel)))
        .digest('hex');
      out.push({ ...base, type: 'file', sha256 });
    }
  }
  return out;
}

describe('the sample Liferay Home', () => {
  let work: string;
  let first: Listed[];
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'sample-home-'));
    await generateSampleHome(join(work, 'a'));
    first = await list(join(work, 'a'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('is the same tree every time: names, bytes, modes, mtimes, symlink targets', async () => {
    await generateSampleHome(join(work, 'b'));
    expect(await list(join(work, 'b'))).toEqual(first);
  });

  it('changes with the seed', async () => {
    await generateSampleHome(join(work, 'c'), { seed: 'another' });
    const other = await list(join(work, 'c'));
    expect(other.map((entry) => entry.path)).not.toEqual([]);
    const pick = (entries: Listed[]) => entries.find((entry) => entry.path.endsWith('/34501/1.0'))?.sha256;
    expect(pick(other)).not.toEqual(pick(first));
  });

  it('is small but not trivial (a few MB)', () => {
    const bytes = first.reduce((sum, entry) => sum + (entry.type === 'file' ? entry.size : 0), 0);
    expect(bytes).toBeGreaterThan(2 * 1024 * 1024);
    expect(bytes).toBeLessThan(8 * 1024 * 1024);
    expect(first.filter((entry) => entry.type === 'file').length).toBeGreaterThan(50);
  });

  it('has the Liferay Home layout and the markers of a release bundle', () => {
    const paths = new Set(first.map((entry) => entry.path));
    for (const path of [
      '.liferay-home',
      '.liferay-version',
      '.githash',
      'portal-ext.properties',
      'portal-setup-wizard.properties',
      'system-ext.properties',
      'osgi/configs/com.liferay.portal.store.file.system.configuration.FileSystemStoreConfiguration.config',
      `data/document_library/${SAMPLE_FACTS.companyId}/${SAMPLE_FACTS.repositoryId}/34501/1.0`,
      `data/document_library/${SAMPLE_FACTS.companyId}/${SAMPLE_FACTS.repositoryId}/34501/2.0`,
      'data/hypersonic/lportal.script',
      'osgi/state',
      'work',
      'logs/liferay.2024-05-01.log',
      'tomcat/conf/server.xml',
      'tomcat/bin/setenv.sh',
      'tomcat/webapps/ROOT/WEB-INF/shielded-container-lib/portal-impl.jar',
    ]) {
      expect(paths.has(path), path).toBe(true);
    }
  });

  it('has the hard cases: a symlink, empty files, empty folders, non-ASCII names, a deep path, modes', () => {
    const find = (path: string) => first.find((entry) => entry.path === path);
    expect(find('logs/liferay.log')).toMatchObject({ type: 'symlink', target: 'liferay.2024-05-03.log' });
    expect(find('tomcat/lib/mariadb.jar')).toMatchObject({ type: 'symlink' });
    expect(find('.liferay-home')).toMatchObject({ type: 'file', size: 0 });
    const emptyDirs = first.filter(
      (entry) => entry.type === 'dir' && !first.some((other) => other.path.startsWith(`${entry.path}/`)),
    );
    expect(emptyDirs.map((entry) => entry.path)).toEqual(
      expect.arrayContaining(['osgi/marketplace/override', 'data/hypersonic/lportal.tmp', 'deploy']),
    );
    expect(first.some((entry) => entry.path.includes('Präsentation Übersicht.odp'))).toBe(true);
    expect(first.some((entry) => entry.path.includes('報告書.pdf'))).toBe(true);
    expect(Math.max(...first.map((entry) => Buffer.byteLength(entry.path)))).toBeGreaterThan(255);
    expect(find('tomcat/bin/setenv.sh')?.mode).toBe(0o755);
    expect(find('portal-ext.properties')?.mode).toBe(0o600);
    expect(find('license')?.mode).toBe(0o755);
    // whole-second mtimes in May 2024, never "now"
    for (const entry of first) expect(entry.mtime, entry.path).toBeLessThan(Date.UTC(2024, 6, 1) / 1000);
  });

  it('carries a real portal-impl.jar whose manifest names the build', async () => {
    const jar = join(work, 'a', 'tomcat/webapps/ROOT/WEB-INF/shielded-container-lib/portal-impl.jar');
    const manifest = await readZipEntry(jar, 'META-INF/MANIFEST.MF', 64 * 1024);
    const attributes = parseManifest(String(manifest));
    expect(attributes.get('liferay-portal-build-number')).toBe(SAMPLE_FACTS.buildNumber);
    expect(attributes.get('liferay-portal-version')).toBe(SAMPLE_FACTS.portalVersion);
    expect(attributes.get('liferay-portal-release-info')).toContain('Build 7413');
    const catalina = await readZipEntry(
      join(work, 'a', 'tomcat/lib/catalina.jar'),
      'org/apache/catalina/util/ServerInfo.properties',
      4096,
    );
    expect(String(catalina)).toContain(`server.info=${SAMPLE_FACTS.tomcatServerInfo}`);
  });

  it('refuses to write into a folder that is not empty', async () => {
    const busy = join(work, 'busy');
    await mkdir(busy);
    await writeFile(join(busy, 'keep-me'), 'x');
    await expect(generateSampleHome(busy)).rejects.toThrow(/not empty/);
    expect(await readdir(busy)).toEqual(['keep-me']);
  });
});

describe('the zip writer and manifest format', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'zip-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('writes stored and deflated entries that an independent reader (yauzl) reads back', async () => {
    const big = Buffer.alloc(200_000, 'liferay ');
    const path = join(work, 'x.jar');
    await writeFile(
      path,
      zipBytes([
        { name: 'META-INF/MANIFEST.MF', data: 'Manifest-Version: 1.0\r\n\r\n' },
        { name: 'stored.bin', data: Buffer.from([0, 1, 2, 255]), method: 'store' },
        { name: 'deflated.txt', data: big },
        { name: 'ünïcode/名前.txt', data: 'ok' },
      ]),
    );
    expect(await readZipEntry(path, 'stored.bin', 10)).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(await readZipEntry(path, 'deflated.txt', 300_000)).toEqual(big);
    expect(String(await readZipEntry(path, 'ünïcode/名前.txt', 10))).toBe('ok');
    expect(await readZipEntry(path, 'absent', 10)).toBeUndefined();
    expect((await readFile(path)).length).toBeLessThan(10_000); // the repetitive entry was deflated
  });

  it('wraps manifest lines at 72 bytes without splitting a UTF-8 character, and reads them back', () => {
    const value = `${'x'.repeat(60)}é${'y'.repeat(100)}ü`;
    const text = manifestText([
      ['Manifest-Version', '1.0'],
      ['Liferay-Portal-Release-Info', value],
    ]);
    for (const line of text.split('\r\n')) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(72);
    expect(text).not.toContain('\uFFFD');
    expect(parseManifest(text).get('liferay-portal-release-info')).toBe(value);
  });
});
