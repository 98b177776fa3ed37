import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSelection } from '#components/files/liferay-rules.ts';
import { compareTrees, restoredTreeOf } from '#local/demo-compare.ts';
import { generateSampleHome } from '#local/sample-home.ts';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'demo-'));
  await generateSampleHome(join(work, 'home'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function capture() {
  const lines: string[] = [];
  return { lines, io: { out: (line: string) => lines.push(line), err: process.stderr } };
}

/** A copy of the selected part of the sample home, as a perfect restore would write it. */
async function perfectRestore(name: string): Promise<string> {
  const target = join(work, name);
  execFileSync('cp', ['-a', join(work, 'home'), target]);
  for (const excluded of [
    'osgi/state',
    'osgi/wabs',
    'work',
    'elasticsearch-sidecar',
    'data/elasticsearch7',
    'tomcat',
    'deploy',
  ]) {
    await rm(join(target, excluded), { recursive: true, force: true });
  }
  // Removing children changed their parents' mtimes: put them back as they were.
  execFileSync('touch', ['-h', '-r', join(work, 'home/osgi'), join(target, 'osgi')]);
  execFileSync('touch', ['-h', '-r', join(work, 'home/data'), join(target, 'data')]);
  return target;
}

describe('compareTrees', () => {
  const selection = compileSelection('liferayHome');

  it('finds no difference in a perfect restore', async () => {
    const restored = await perfectRestore('perfect');
    const result = await compareTrees(join(work, 'home'), restored, selection);
    expect(result.differences).toEqual([]);
    expect(result.files).toBeGreaterThan(40);
    expect(result.symlinks).toBe(1);
    expect(result.bytes).toBeGreaterThan(2 * 1024 * 1024);
  });

  it('names every kind of difference', async () => {
    const restored = await perfectRestore('damaged');
    const dl = 'data/document_library/20097/20121';
    await writeFile(join(restored, `${dl}/34501/1.0`), 'corrupted');
    await utimes(
      join(restored, `${dl}/34508/1.0`),
      new Date('2024-05-01T08:00:00Z'),
      new Date('2030-01-01T00:00:00Z'),
    );
    await chmod(join(restored, 'portal-ext.properties'), 0o644);
    await unlink(join(restored, 'logs/liferay.log'));
    await symlink('liferay.2024-05-01.log', join(restored, 'logs/liferay.log'));
    await rm(join(restored, 'license'), { recursive: true });
    await mkdir(join(restored, 'osgi/state'), { recursive: true });
    await rm(join(restored, '.githash'));
    await mkdir(join(restored, '.githash'));
    const result = await compareTrees(join(work, 'home'), restored, selection);
    const text = result.differences.join('\n');
    expect(text).toContain(`${dl}/34501/1.0: content differs`);
    expect(text).toContain(`${dl}/34508/1.0: mtime 2030-01-01T00:00:00.000Z`);
    expect(text).toContain('portal-ext.properties: mode 644, was 600');
    expect(text).toContain(
      'logs/liferay.log: symlink to liferay.2024-05-01.log, was to liferay.2024-05-03.log',
    );
    expect(text).toMatch(/^license: missing from the restored tree$/m);
    expect(text).toMatch(/^license\/activation-key.*: missing from the restored tree$/m);
    expect(text).toContain('osgi/state: in the restored tree but not selected in the source');
    expect(text).toContain('.githash: is a dir, was a file');
  });
});

describe('restoredTreeOf', () => {
  it('takes the location the restore report names, else the target asked for', () => {
    expect(restoredTreeOf({ location: '/srv/home.restore-r1', target: '/srv/home' }, '/tmp/home')).toBe(
      '/srv/home.restore-r1',
    );
    expect(restoredTreeOf({ target: '/srv/home' }, '/tmp/home')).toBe('/srv/home');
    expect(restoredTreeOf({ location: 'relative/ignored' }, '/tmp/home')).toBe('/tmp/home');
    expect(restoredTreeOf(undefined, '/tmp/home')).toBe('/tmp/home');
  });
});

// The CLI loads the synthesized workflow definitions (functions/local/workflows/*.asl.json, written
// by `npm run workflows`), and the end-to-end run needs the files engine's components registered in
// functions/components/registry.ts. Until both are in the tree these blocks have nothing to run
// against; compareTrees above runs regardless.
const cli = await import('#local/cli.ts').then(
  async (module) => {
    await import('#local/demo.ts'); // registers the command, as main.ts does
    return module;
  },
  () => undefined,
);
const registry = await import('#components/registry.ts').catch(() => undefined);
const filesRegistered =
  registry?.componentModule('liferayHome') !== undefined &&
  registry?.componentModule('appServer') !== undefined;

describe.runIf(cli)('the demo command', () => {
  it('prints its usage', async () => {
    const { lines, io } = capture();
    expect(await cli?.main(['demo', '--help'], io)).toBe(0);
    expect(lines.join('\n')).toMatch(/usage: liferay-backup demo \[--dir DIR\]/);
  });

  it('refuses unknown flags with exit code 2', async () => {
    const { lines, io } = capture();
    expect(await cli?.main(['demo', '--nope'], io)).toBe(2);
    expect(lines.join('\n')).toMatch(/usage: liferay-backup demo/);
  });
});

describe.runIf(cli && filesRegistered)('npm start (demo) end to end', () => {
  it('backs up the sample, restores it and finds the restored trees identical; a second run is incremental', async () => {
    const dir = join(work, 'demo-run');
    const first = capture();
    const code = await cli?.main(['demo', '--dir', dir, '--quiet'], first.io);
    const output = first.lines.join('\n');
    expect(output, output).toMatch(/verdict: OK/);
    expect(code).toBe(0);
    expect(output).toMatch(/Generated a sample Liferay Home/);
    expect(output).toMatch(/liferayHome: .* identical/);
    expect(output).toMatch(/appServer: .* identical/);

    const second = capture();
    expect(await cli?.main(['demo', '--dir', dir, '--quiet'], second.io)).toBe(0);
    expect(second.lines.join('\n')).toMatch(/Using the sample Liferay Home/);
  });
});
