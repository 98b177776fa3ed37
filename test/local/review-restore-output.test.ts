import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '#local/cli.ts';
import { makeHome } from '../reliability/support.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * What `liferay-backup restore` prints after real restores: the verdict, then the next steps,
 * then the details per component.
 */

const work = tempDir('review-restore-output');
afterAll(() => work.cleanup());

async function run(args: string[]) {
  const lines: string[] = [];
  const code = await main([...args, '--quiet'], { out: (line) => lines.push(line), err: process.stderr });
  return { code, lines };
}

describe('restore output', () => {
  it('a swap: the next steps follow the verdict, name the kept tree and say to reindex and start Liferay', async () => {
    // Prepare: a backed-up home, and a live tree at the target.
    const home = path.join(work.dir, 'home');
    const store = path.join(work.dir, 'store');
    makeHome(home, 3);
    expect((await run(['backup', '--home', home, '--store', store])).code).toBe(0);
    // Act
    const { code, lines } = await run(['restore', 'latest', '--to', home, '--swap', '--store', store]);
    // Assess
    expect(code, lines.join('\n')).toBe(0);
    const restoreId = /^restore (r\S+) of \S+: complete/.exec(lines[0] ?? '')?.[1];
    expect(restoreId, lines.join('\n')).toBeDefined();
    expect(lines.slice(1, 5)).toEqual([
      'next:',
      expect.stringMatching(/^ {2}1\. the search indexes were not restored: once Liferay runs, reindex/),
      `  2. start Liferay from the Liferay Home in ${home}`,
      `  3. once Liferay runs from the restored liferayHome, remove the previous tree kept as ${home}.before-${restoreId}`,
    ]);
    expect(lines[5]).toMatch(
      new RegExp(
        `^ {2}liferayHome: complete → ${home} \\(the previous tree was kept as ${home}\\.before-${restoreId}\\) {2}files=`,
      ),
    );
    expect(fs.existsSync(`${home}.before-${restoreId}`)).toBe(true);
  }, 60_000);

  it('a partial restore: the failed component, that its target was not changed, and how to restore it alone come first', async () => {
    const home = path.join(work.dir, 'home2');
    const tomcat = path.join(work.dir, 'tomcat');
    const store = path.join(work.dir, 'store2');
    makeHome(home, 2);
    fs.mkdirSync(path.join(tomcat, 'conf'), { recursive: true });
    fs.writeFileSync(path.join(tomcat, 'conf', 'server.xml'), '<Server/>');
    expect((await run(['backup', '--home', home, '--app-server', tomcat, '--store', store])).code).toBe(0);
    const notAFolder = path.join(work.dir, 'a-file');
    fs.writeFileSync(notAFolder, 'live');
    const to = path.join(work.dir, 'restored');
    const { code, lines } = await run([
      'restore',
      'latest',
      '--to',
      to,
      '--app-server',
      notAFolder,
      '--store',
      store,
    ]);
    expect(code).toBe(1);
    expect(lines[0]).toMatch(/: partial, took/);
    expect(lines[1]).toBe('next:');
    expect(lines[2]).toMatch(
      new RegExp(
        `^ {2}1\\. appServer failed: ${notAFolder} was not changed unless the error names the last step .*restore it alone: \\{"backupId": "b\\S+", "components": \\["appServer"\\]\\} \\(CLI: --components appServer\\)$`,
      ),
    );
    expect(lines).toContain(`  3. start Liferay from the Liferay Home in ${to}`);
    expect(lines.some((line) => line.startsWith(`  liferayHome: complete → ${to}  files=`))).toBe(true);
    expect(fs.readFileSync(notAFolder, 'utf8')).toBe('live');
  }, 60_000);
});
