import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkPattern,
  compileSelection,
  defaultRules,
  describeDefaultRules,
  recordedSelection,
  type Selection,
} from '#components/files/liferay-rules.ts';
import { generateSampleHome } from '#local/sample-home.ts';

/** Walks a real tree the way the files engine does: ask prunes() before descending. */
async function walk(root: string, selection: Selection, dir = ''): Promise<string[]> {
  const selected: string[] = [];
  const entries = await readdir(join(root, dir), { withFileTypes: true });
  for (const entry of entries) {
    const rel = dir === '' ? entry.name : `${dir}/${entry.name}`;
    const isDirectory = entry.isDirectory();
    if (selection.includes(rel, isDirectory)) selected.push(isDirectory ? `${rel}/` : rel);
    if (isDirectory && !selection.prunes(rel)) selected.push(...(await walk(root, selection, rel)));
  }
  return selected.sort();
}

describe('default Liferay Home rules', () => {
  const home = compileSelection('liferayHome');

  it.each([
    'portal-ext.properties',
    'portal-setup-wizard.properties',
    'portal-bundle.properties',
    'system-ext.properties',
    '.liferay-home',
    '.liferay-version',
    '.githash',
    'data/document_library/20097/20121/1234/1.0',
    'data/document_library/README.txt',
    'data/hypersonic/lportal.script',
    'data/keystore.jks',
    'license/activation-key-dxp-production.xml',
    'osgi/configs/com.liferay.portal.store.file.system.configuration.FileSystemStoreConfiguration.config',
    'osgi/modules/com.example.blog-1.0.0.jar',
    'osgi/marketplace/override/com.liferay.x.jar',
    'osgi/war/my-theme.war',
    'osgi/static/com.example.static.jar',
    'patching-tool/default.properties',
    'logs/liferay.2024-05-01.log',
    // dotfiles inside selected folders are ordinary files
    'data/document_library/.hidden',
  ])('keeps %s', (path) => {
    expect(home.includes(path, false)).toBe(true);
  });

  it.each([
    'osgi/state/org.eclipse.osgi/12/data/bundle.bin',
    'osgi/wabs/my-theme.war',
    'work/com.liferay.x/view.jsp',
    'data/elasticsearch7/nodes/0/indices/x',
    'data/elasticsearch/x',
    'elasticsearch-sidecar/bin/elasticsearch',
    'elasticsearch7/bin/elasticsearch',
    'tomcat/work/Catalina/localhost/ROOT/x.class',
    'tomcat-9.0.83/temp/upload.tmp',
    // not Liferay's to keep: the app server is its own component; deploy/ is a drop folder
    'tomcat/conf/server.xml',
    'deploy/com.example.jar',
    'osgi/portal/com.liferay.x.jar',
    'osgi/state',
    'patching-tool/patches/liferay-hotfix-1.zip',
    'tools/portal-tools-db-upgrade-client/x.jar',
  ])('leaves out %s', (path) => {
    expect(home.includes(path, false)).toBe(false);
  });

  it('is exact about folder boundaries', () => {
    // `osgi/state` is excluded; `osgi/state-old` is not under it, and `osgi/statement` neither.
    const withOsgi = compileSelection('liferayHome', { include: ['osgi'] });
    expect(withOsgi.includes('osgi/state/x', false)).toBe(false);
    expect(withOsgi.includes('osgi/state-old/x', false)).toBe(true);
    expect(withOsgi.includes('osgi/statement', false)).toBe(true);
    // `data` includes data/…, not database.txt or data2/.
    expect(home.includes('database.txt', false)).toBe(false);
    expect(home.includes('data2/x', false)).toBe(false);
    // `portal-*.properties` is anchored: not in a subfolder, and `*` never crosses a `/`.
    expect(home.includes('backup/portal-ext.properties', false)).toBe(false);
    expect(home.includes('portal-x/y.properties', false)).toBe(false);
    // `logs` is a folder rule and a file rule at once: a file named logs is kept too.
    expect(home.includes('logs', false)).toBe(true);
  });

  it('records selected directories and prunes the ones that cannot hold a selected file', () => {
    expect(home.includes('data', true)).toBe(true);
    expect(home.includes('data/document_library', true)).toBe(true);
    expect(home.includes('osgi', true)).toBe(false); // only some of its subfolders are selected
    expect(home.prunes('osgi')).toBe(false);
    expect(home.prunes('osgi/state')).toBe(true);
    expect(home.prunes('osgi/portal')).toBe(true);
    expect(home.prunes('tomcat')).toBe(true);
    expect(home.prunes('deploy')).toBe(true);
    expect(home.prunes('data/elasticsearch7')).toBe(true);
    expect(home.prunes('data')).toBe(false);
    expect(home.prunes('patching-tool')).toBe(false); // holds default.properties
    expect(home.prunes('patching-tool/patches')).toBe(true);
  });

  it('lists a reason for every default rule', () => {
    for (const kind of ['liferayHome', 'appServer'] as const) {
      const described = describeDefaultRules(kind);
      for (const rule of [...described.include, ...described.exclude]) {
        expect(rule.why.length, rule.pattern).toBeGreaterThan(10);
        expect(checkPattern(rule.pattern), rule.pattern).toBeUndefined();
      }
    }
  });

  it('are all in the README section, each in a table row of its own', async () => {
    const doc = await readFile(join(import.meta.dirname, '../../../docs/readme/liferay-rules.md'), 'utf8');
    for (const kind of ['liferayHome', 'appServer'] as const) {
      const rules = defaultRules(kind);
      for (const pattern of [...rules.include, ...rules.exclude]) {
        expect(doc, pattern).toContain(`| \`${pattern}\` |`);
      }
    }
  });

  it('hands out copies of the defaults', () => {
    const rules = defaultRules('liferayHome');
    rules.include.push('x');
    expect(defaultRules('liferayHome').include).not.toContain('x');
  });
});

describe('default application server rules', () => {
  const server = compileSelection('appServer');

  it.each([
    'conf/server.xml',
    'conf/Catalina/localhost/ROOT.xml',
    'bin/setenv.sh',
    'bin/catalina.sh',
    'lib/mariadb-java-client-3.3.3.jar',
    'webapps/ROOT/WEB-INF/web.xml',
    'webapps/ROOT/WEB-INF/classes/META-INF/portal-log4j-ext.xml',
    'webapps/ROOT/WEB-INF/shielded-container-lib/portal-impl.jar',
    'webapps/custom-app/index.html',
    'RELEASE-NOTES',
    '.hidden-in-root',
  ])('keeps %s', (path) => {
    expect(server.includes(path, false)).toBe(true);
  });

  it.each(['work/Catalina/localhost/ROOT/org/apache/jsp/x.class', 'temp/upload_1.tmp', 'logs/catalina.out'])(
    'leaves out %s',
    (path) => {
      expect(server.includes(path, false)).toBe(false);
    },
  );

  it('keeps the scratch folders themselves, empty, and never prunes a folder it records', () => {
    for (const dir of ['work', 'temp', 'logs']) {
      expect(server.includes(dir, true)).toBe(true);
      expect(server.prunes(dir)).toBe(false); // the files engine skips a pruned folder entirely
      expect(server.includes(`${dir}/x`, false)).toBe(false);
      expect(server.includes(`${dir}/sub`, true)).toBe(false);
      expect(server.prunes(`${dir}/sub`)).toBe(true);
    }
    expect(server.includes('webapps/work', true)).toBe(true); // only the top-level work/ is scratch
    expect(server.prunes('webapps/work')).toBe(false);
  });
});

describe('overrides', () => {
  it('adds include rules', () => {
    const selection = compileSelection('liferayHome', { include: ['deploy', 'custom/*.properties'] });
    expect(selection.includes('deploy/x.jar', false)).toBe(true);
    expect(selection.includes('custom/env.properties', false)).toBe(true);
    expect(selection.includes('custom/sub/env.properties', false)).toBe(false);
    expect(selection.prunes('custom')).toBe(false);
    expect(selection.prunes('custom/sub')).toBe(true);
  });

  it('lets exclude win over every include, default or added', () => {
    const selection = compileSelection('liferayHome', {
      include: ['osgi/state/keep-me'],
      exclude: ['data/document_library/20097/0/document_preview', 'logs/*.gz'],
    });
    expect(selection.includes('osgi/state/keep-me', false)).toBe(false);
    expect(selection.includes('data/document_library/20097/0/document_preview/1.png', false)).toBe(false);
    expect(selection.includes('data/document_library/20097/20121/1/1.0', false)).toBe(true);
    expect(selection.includes('logs/liferay.2024-01-01.log.gz', false)).toBe(false);
    expect(selection.includes('logs/liferay.2024-01-01.log', false)).toBe(true);
  });

  it('removes a default rule with !rule', () => {
    const selection = compileSelection('liferayHome', {
      exclude: ['!data/elasticsearch*'],
      include: ['!logs'],
    });
    expect(selection.includes('data/elasticsearch7/x', false)).toBe(true);
    expect(selection.includes('logs/liferay.log', false)).toBe(false);
    expect(selection.rules.include).not.toContain('logs');
    expect(selection.rules.exclude).not.toContain('data/elasticsearch*');
    const tomcatLogs = compileSelection('appServer', { exclude: ['!logs/*'] });
    expect(tomcatLogs.includes('logs/catalina.out', false)).toBe(true);
  });

  it('honours directory-only rules', () => {
    const selection = compileSelection('appServer', { exclude: ['webapps/*/WEB-INF/tmp/'] });
    expect(selection.includes('webapps/ROOT/WEB-INF/tmp/x', false)).toBe(false);
    expect(selection.includes('webapps/ROOT/WEB-INF/tmp', false)).toBe(true); // a file named tmp
    expect(selection.includes('webapps/ROOT/WEB-INF/tmp', true)).toBe(false);
  });

  it.each([
    [{ include: [''] }, 'liferayHome.include[0]: the rule "" is empty'],
    [{ include: ['/etc/passwd'] }, 'is absolute'],
    [{ exclude: ['data/../etc'] }, 'contains . or ..'],
    [{ exclude: ['a//b'] }, 'empty folder name'],
    [{ include: ['data\\x'] }, 'backslash'],
    [{ exclude: ['!not-a-default'] }, 'removes a default rule, but "not-a-default" is not one'],
  ])('rejects %j with a message naming the rule', (overrides, message) => {
    expect(() => compileSelection('liferayHome', overrides)).toThrowError(message);
    try {
      compileSelection('liferayHome', overrides);
    } catch (error) {
      expect((error as Error).name).toBe('ConfigError');
    }
  });
});

describe('on a real tree (the bundled sample Liferay Home)', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'rules-'));
    await generateSampleHome(join(root, 'home'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('selects what Liferay needs back and nothing it rebuilds', async () => {
    const selected = await walk(join(root, 'home'), compileSelection('liferayHome'));
    expect(selected).toContain('portal-ext.properties');
    expect(selected).toContain('.liferay-home');
    expect(selected).toContain('data/document_library/');
    expect(selected).toContain('osgi/marketplace/override/'); // an empty folder is recorded
    expect(selected.some((path) => path.startsWith('data/document_library/20097/'))).toBe(true);
    expect(
      selected.filter((path) =>
        /^(osgi\/state|osgi\/wabs|work|elasticsearch-sidecar|data\/elasticsearch7|tomcat)\b/.test(path),
      ),
    ).toEqual([]);
  });

  it('selects the Tomcat tree without its scratch contents', async () => {
    const selected = await walk(join(root, 'home', 'tomcat'), compileSelection('appServer'));
    expect(selected).toContain('conf/server.xml');
    expect(selected).toContain('bin/setenv.sh');
    expect(selected).toContain('webapps/ROOT/WEB-INF/shielded-container-lib/portal-impl.jar');
    expect(selected).toContain('temp/');
    expect(selected.filter((path) => /^(work|temp|logs)\/./.test(path))).toEqual([]);
  });
});

describe('the verdict a swap reads (what the rules make of a live entry)', () => {
  it('tells selected, excluded, outside and folders holding selected entries apart', () => {
    const home = recordedSelection('liferayHome', defaultRules('liferayHome'));
    expect(home.verdict('portal-ext.properties', false)).toBe('selected');
    expect(home.verdict('data/document_library/20101/1/1.0', false)).toBe('selected');
    expect(home.verdict('osgi/state', true)).toBe('excluded');
    expect(home.verdict('osgi/state/org.eclipse.osgi/40', true)).toBe('excluded');
    expect(home.verdict('work', true)).toBe('excluded');
    expect(home.verdict('osgi', true)).toBe('holding');
    expect(home.verdict('patching-tool', true)).toBe('holding');
    expect(home.verdict('patching-tool/lib', true)).toBe('outside');
    expect(home.verdict('osgi/core', true)).toBe('outside');
    expect(home.verdict('tomcat-9.0.83', true)).toBe('outside');
    expect(home.verdict('tools', true)).toBe('outside');
    expect(home.verdict('nohup.out', false)).toBe('outside');
  });

  it('refuses a recorded rule that a backup could not have written', () => {
    expect(() => recordedSelection('liferayHome', { include: ['../etc'], exclude: [] })).toThrow(
      /the backup's liferayHome.include rule "..\/etc" contains . or .. \(rules name paths inside the root\)/,
    );
  });
});
