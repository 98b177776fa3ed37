import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  discoverAppServer,
  discoverLiferayHome,
  documentLibraryRule,
  parseManifest,
  parseOsgiConfig,
  parseProperties,
} from '#components/files/liferay-discovery.ts';
import { generateSampleHome, manifestText, SAMPLE_FACTS, zipBytes } from '#local/sample-home.ts';

const FS_PID = 'com.liferay.portal.store.file.system.configuration.FileSystemStoreConfiguration';
const ADVANCED_PID =
  'com.liferay.portal.store.file.system.configuration.AdvancedFileSystemStoreConfiguration';
// biome-ignore lint/suspicious/noTemplateCurlyInString: Liferay's own variable syntax, not a JS template
const LIFERAY_HOME = '${liferay.home}';
const ES7_PID = 'com.liferay.portal.search.elasticsearch7.configuration.ElasticsearchConfiguration';

let work: string;
let counter = 0;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'discovery-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A Liferay Home made of the given files (string or bytes); folders end with '/'. */
async function home(files: Record<string, string | Buffer>): Promise<string> {
  counter += 1;
  const root = join(work, `home-${counter}`);
  await mkdir(root, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    if (path.endsWith('/')) {
      await mkdir(join(root, path), { recursive: true });
      continue;
    }
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

function portalImpl(attributes: Array<[string, string]>): Buffer {
  return zipBytes([
    { name: 'META-INF/MANIFEST.MF', data: manifestText([['Manifest-Version', '1.0'], ...attributes]) },
    { name: 'com/liferay/portal/Dummy.class', data: Buffer.alloc(64, 7) },
  ]);
}

const joined = (warnings: string[]) => warnings.join('\n');

// ---------------------------------------------------------------------------------------------

describe('parseProperties: the java.util.Properties format (Properties.load javadoc)', () => {
  it('reads separators, comments, continuations and escapes', () => {
    const text = [
      '# a comment',
      '! another comment',
      '   leading.space = value with spaces   ',
      'colon:value',
      'space value',
      'empty=',
      'dl.store.impl=com.liferay.portal.store.file.system.\\',
      '    FileSystemStore',
      'a\\=b=c',
      'unicode=caf\\u00e9',
      'escapes=tab\\there\\nnewline',
      '# a comment line ending in a backslash does not continue \\',
      'after.comment=yes',
      'even.backslashes=ends with a backslash\\\\',
      'next=line',
      'windows.path=C:\\\\liferay\\\\data',
    ].join('\r\n');
    const { entries, problems } = parseProperties(text);
    const map = new Map(entries.map((entry) => [entry.key, entry.value]));
    expect(problems).toEqual([]);
    expect(map.get('leading.space')).toBe('value with spaces   ');
    expect(map.get('colon')).toBe('value');
    expect(map.get('space')).toBe('value');
    expect(map.get('empty')).toBe('');
    expect(map.get('dl.store.impl')).toBe('com.liferay.portal.store.file.system.FileSystemStore');
    expect(map.get('a=b')).toBe('c');
    expect(map.get('unicode')).toBe('café');
    expect(map.get('escapes')).toBe('tab\there\nnewline');
    expect(map.get('after.comment')).toBe('yes');
    expect(map.get('even.backslashes')).toBe('ends with a backslash\\');
    expect(map.get('next')).toBe('line');
    expect(map.get('windows.path')).toBe('C:\\liferay\\data');
    expect(entries.find((entry) => entry.key === 'dl.store.impl')?.line).toBe(7);
  });

  it('keeps every occurrence of a repeated key, in order', () => {
    const { entries } = parseProperties(
      'include-and-override=a.properties\ninclude-and-override=b.properties\n',
    );
    expect(entries.map((entry) => entry.value)).toEqual(['a.properties', 'b.properties']);
  });

  it('reports a malformed \\u escape and skips only that entry', () => {
    const { entries, problems } = parseProperties('bad=\\u12G4\ngood=1\n');
    expect(problems).toEqual(['line 1: malformed \\uxxxx escape']);
    expect(entries.map((entry) => entry.key)).toEqual(['good']);
  });

  it('joins a continuation on the last line without failing', () => {
    expect(parseProperties('key=value\\').entries).toEqual([{ key: 'key', value: 'value', line: 1 }]);
  });
});

describe('parseOsgiConfig: the Felix .config format (Liferay: modules/third-party/org-apache-felix-fileinstall ConfigurationHandler.java)', () => {
  it('reads quoted, typed, array and escaped values, comments and repeats', () => {
    const text = [
      '# exported from System Settings',
      'rootDir="/mnt/liferay/document_library"',
      'productionModeEnabled=B"true"',
      'maxConnections=I"75"  # a trailing comment',
      'networkHostAddresses=[ \\',
      '  "http://es1:9200", \\',
      '  "http://es2:9200", \\',
      '  ]',
      'charactersblacklist=["&","\\"","\\="]',
      'names=["Liferay\\ Marketplace"]',
      'collection=("a","b")',
      'unicode="caf\\u00e9"',
      'repeated="first"',
      'repeated="second"',
      'falsy=B"yes"',
      'spaced = "around the equals"',
    ].join('\n');
    const { values, error } = parseOsgiConfig(text);
    expect(error).toBeUndefined();
    expect(values.get('rootDir')).toBe('/mnt/liferay/document_library');
    expect(values.get('productionModeEnabled')).toBe(true);
    expect(values.get('maxConnections')).toBe(75);
    expect(values.get('networkHostAddresses')).toEqual(['http://es1:9200', 'http://es2:9200']);
    expect(values.get('charactersblacklist')).toEqual(['&', '"', '=']);
    expect(values.get('names')).toEqual(['Liferay Marketplace']);
    expect(values.get('collection')).toEqual(['a', 'b']);
    expect(values.get('unicode')).toBe('café');
    expect(values.get('repeated')).toBe('second'); // a Hashtable: the last put wins
    expect(values.get('falsy')).toBe(false); // Boolean.valueOf
    expect(values.get('spaced')).toBe('around the equals');
  });

  it.each([
    ['an unquoted value', 'rootDir=/mnt/dl\n'],
    ['an unclosed quote', 'rootDir="/mnt/dl\n'],
    ['a missing equals sign', 'rootDir "x"\n'],
    ['a bad integer', 'count=I"ten"\n'],
    ['a bad list', 'list=["a" "b"]\n'],
  ])('rejects the whole file on %s, as Felix does', (_what, text) => {
    expect(parseOsgiConfig(text).error).toMatch(/line \d+/);
  });

  it('accepts an empty file and a file of comments', () => {
    expect(parseOsgiConfig('')).toEqual({ values: new Map() });
    expect(parseOsgiConfig('# nothing\n\n# here\n').values.size).toBe(0);
  });
});

describe('parseManifest (JAR File Specification)', () => {
  it('joins continuation lines, ignores case, stops at the end of the main section', () => {
    // The shape of a real DXP 7.0 manifest (Liferay-Portal-Release-Info wrapped at 72 bytes).
    const text = [
      'Manifest-Version: 1.0',
      'Liferay-Portal-Build-Number: 7010',
      'Liferay-Portal-Installed-Patches: de-40-7010',
      'Liferay-Portal-Release-Info: Liferay DXP Digital Enterprise 7.0.10 GA1',
      '  (Wilberforce / Build 7010 / June 15, 2016)',
      'Liferay-Portal-Version: 7.0.10',
      '',
      'Name: com/liferay/Other.class',
      'Liferay-Portal-Version: 9.9.9',
    ].join('\r\n');
    const attributes = parseManifest(text);
    expect(attributes.get('liferay-portal-release-info')).toBe(
      'Liferay DXP Digital Enterprise 7.0.10 GA1 (Wilberforce / Build 7010 / June 15, 2016)',
    );
    expect(attributes.get('liferay-portal-version')).toBe('7.0.10');
    expect(attributes.get('liferay-portal-installed-patches')).toBe('de-40-7010');
  });
});

// ---------------------------------------------------------------------------------------------

describe('discoverLiferayHome on the sample Liferay Home', () => {
  it('finds the build, the file system store in data/document_library, and the sidecar', async () => {
    const root = join(work, 'sample');
    await generateSampleHome(root);
    const facts = await discoverLiferayHome(root);
    expect(facts.dxp).toMatchObject({
      version: SAMPLE_FACTS.dxpVersion,
      build: SAMPLE_FACTS.buildNumber,
      portalVersion: SAMPLE_FACTS.portalVersion,
      source: '.liferay-version + tomcat/webapps/ROOT/WEB-INF/shielded-container-lib/portal-impl.jar',
    });
    expect(facts.dxp?.gitHash).toMatch(/^[0-9a-f]{40}$/);
    expect(facts.documentLibrary).toEqual({
      store: 'com.liferay.portal.store.file.system.FileSystemStore',
      kind: 'FileSystemStore',
      rootDir: join(root, 'data/document_library'),
      insideHome: true,
      relPath: 'data/document_library',
      source: `osgi/configs/${FS_PID}.config`,
    });
    expect(documentLibraryRule(facts)).toBe('data/document_library');
    expect(facts.searchEngine.mode).toBe('sidecar');
    expect(facts.warnings).toHaveLength(1);
    expect(facts.warnings[0]).toMatch(/not support the sidecar in production/);
    expect(facts.warnings[0]).toMatch(/left out of this backup/);
    expect(JSON.parse(JSON.stringify(facts))).toEqual(facts); // goes into the manifest as JSON
  });
});

describe('discoverLiferayHome: stores with nothing on disk', () => {
  it('S3Store: says to back up the bucket, and names it from S3StoreConfiguration', async () => {
    const root = await home({
      'portal-ext.properties': 'dl.store.impl=com.liferay.portal.store.s3.S3Store\n',
      // key names from liferay-portal S3StoreConfiguration.java (bucketName, s3Region)
      'osgi/configs/com.liferay.portal.store.s3.configuration.S3StoreConfiguration.config':
        'bucketName="acme-liferay-dl"\ns3Region="eu-west-1"\naccessKey="AKIAEXAMPLE"\nsecretKey="do-not-print"\n',
    });
    const facts = await discoverLiferayHome(root);
    expect(facts.documentLibrary).toMatchObject({ kind: 'S3Store', rootDir: '', insideHome: false });
    const text = joined(facts.warnings);
    expect(text).toMatch(/no document files on disk to copy/);
    expect(text).toMatch(/Back up the S3 bucket "acme-liferay-dl" \("eu-west-1"\) instead/);
    expect(text).not.toContain('do-not-print');
    expect(text).not.toContain('AKIAEXAMPLE');
  });

  it.each([
    ['com.liferay.portal.store.db.DBStore', 'DBStore', /inside the portal database/],
    ['com.liferay.portal.store.gcs.GCSStore', 'GCSStore', /Google Cloud Storage bucket/],
    ['com.liferay.portal.store.azure.AzureStore', 'AzureStore', /Azure Blob Storage container/],
    ['com.liferay.portlet.documentlibrary.store.JCRStore', 'JCRStore', /deprecated/],
  ])('%s: says where the documents are instead', async (store, kind, advice) => {
    const facts = await discoverLiferayHome(
      await home({ 'portal-ext.properties': `dl.store.impl=${store}\n` }),
    );
    expect(facts.documentLibrary).toMatchObject({ store, kind, rootDir: '', insideHome: false });
    expect(joined(facts.warnings)).toMatch(advice);
  });

  it('an unknown store class: says discovery cannot tell', async () => {
    const facts = await discoverLiferayHome(
      await home({ 'portal-ext.properties': 'dl.store.impl=com.acme.MyStore\n' }),
    );
    expect(facts.documentLibrary.kind).toBe('unknown');
    expect(joined(facts.warnings)).toMatch(/a store discovery does not know/);
  });
});

describe('discoverLiferayHome: property precedence (learn reference/portal-properties.md)', () => {
  it('portal-setup-wizard.properties overrides portal-ext.properties, which overrides portal-bundle.properties', async () => {
    const facts = await discoverLiferayHome(
      await home({
        'portal-bundle.properties': 'dl.store.impl=com.liferay.portal.store.s3.S3Store\n',
        'portal-ext.properties': 'dl.store.impl=com.liferay.portal.store.db.DBStore\n',
        'portal-setup-wizard.properties':
          'dl.store.impl=com.liferay.portal.store.file.system.FileSystemStore\n',
        'data/document_library/': '',
      }),
    );
    expect(facts.documentLibrary.kind).toBe('FileSystemStore');
  });

  it('a file added with include-and-override is read after, and overrides, the one that added it', async () => {
    const facts = await discoverLiferayHome(
      await home({
        'portal-ext.properties': `dl.store.impl=com.liferay.portal.store.file.system.FileSystemStore\ninclude-and-override=${LIFERAY_HOME}/portal-prod.properties,portal-extra.properties\n`,
        'portal-prod.properties': 'dl.store.impl=com.liferay.portal.store.db.DBStore\n',
        'portal-extra.properties': 'company.default.web.id=example.com\n',
      }),
    );
    expect(facts.documentLibrary.kind).toBe('DBStore');
  });

  it('warns about an included file the default rules would leave out, and one outside the home', async () => {
    const facts = await discoverLiferayHome(
      await home({
        'portal-ext.properties':
          'include-and-override=env/prod.properties\ninclude-and-override=/etc/liferay/secret.properties\n',
        'env/prod.properties': 'web.server.protocol=https\n',
        'data/document_library/': '',
      }),
    );
    const text = joined(facts.warnings);
    expect(text).toMatch(
      /env\/prod.properties is read by Liferay .* add "env\/prod.properties" to the liferayHome include rules/,
    );
    expect(text).toMatch(/"\/etc\/liferay\/secret.properties", which is outside the Liferay Home: not read/);
  });

  it('warns when a watched key is set twice in one file', async () => {
    const facts = await discoverLiferayHome(
      await home({
        'portal-ext.properties':
          'dl.store.impl=com.liferay.portal.store.db.DBStore\ndl.store.impl=com.liferay.portal.store.file.system.FileSystemStore\n',
        'data/document_library/': '',
      }),
    );
    expect(facts.documentLibrary.kind).toBe('FileSystemStore');
    expect(joined(facts.warnings)).toMatch(/sets dl.store.impl 2 times/);
  });
});

describe('discoverLiferayHome: where the file system store lives', () => {
  it('uses data/document_library when nothing is configured (FileSystemStoreConfiguration default)', async () => {
    const root = await home({
      'portal-ext.properties': 'web.server.protocol=https\n',
      'data/document_library/': '',
    });
    const facts = await discoverLiferayHome(root);
    expect(facts.documentLibrary).toMatchObject({
      kind: 'FileSystemStore',
      rootDir: join(root, 'data/document_library'),
      insideHome: true,
      relPath: 'data/document_library',
      source: 'default (data/document_library)',
    });
  });

  it('maps an absolute rootDir under the declared liferay.home into this copy of the home', async () => {
    // In a container liferay.home is /opt/liferay; the backup sees the same files at another path.
    const root = await home({
      'portal-ext.properties': 'liferay.home=/opt/liferay\n',
      [`osgi/configs/${FS_PID}.config`]: 'rootDir="/opt/liferay/dl-store"\n',
      'dl-store/': '',
    });
    const facts = await discoverLiferayHome(root);
    expect(facts.documentLibrary).toMatchObject({
      rootDir: join(root, 'dl-store'),
      insideHome: true,
      relPath: 'dl-store',
    });
  });

  it('resolves a relative rootDir that climbs out with .. and reports it outside the home', async () => {
    const root = await home({ [`osgi/configs/${FS_PID}.config`]: 'rootDir="../shared-dl"\n' });
    await mkdir(join(root, '..', 'shared-dl'), { recursive: true });
    const facts = await discoverLiferayHome(root);
    expect(facts.documentLibrary).toMatchObject({ rootDir: join(work, 'shared-dl'), insideHome: false });
    expect(facts.documentLibrary.relPath).toBeUndefined();
    // what to do with an outside root is the engine's call (backup-plan.ts): discovery reports the fact
    expect(joined(facts.warnings)).not.toMatch(/document library/);
  });

  it('warns when the configured root does not exist', async () => {
    const root = await home({ [`osgi/configs/${FS_PID}.config`]: 'rootDir="/nonexistent/liferay/dl"\n' });
    const facts = await discoverLiferayHome(root);
    expect(facts.documentLibrary).toMatchObject({ rootDir: '/nonexistent/liferay/dl', insideHome: false });
    expect(joined(facts.warnings)).toMatch(/does not exist: no document is on disk there/);
  });

  it('sees through a data/document_library symlink that leads out of the home', async () => {
    const outside = join(work, 'efs-dl');
    await mkdir(outside, { recursive: true });
    const root = await home({ 'data/': '' });
    await symlink(outside, join(root, 'data/document_library'));
    const facts = await discoverLiferayHome(root);
    expect(facts.documentLibrary).toMatchObject({ rootDir: outside, insideHome: false });
    expect(joined(facts.warnings)).toMatch(
      /data\/document_library is a symlink to .*efs-dl: the document library lies outside the Liferay Home/,
    );
  });

  it('reads the advanced store root from AdvancedFileSystemStoreConfiguration', async () => {
    const root = await home({
      'portal-ext.properties': 'dl.store.impl=com.liferay.portal.store.file.system.AdvancedFileSystemStore\n',
      [`osgi/configs/${ADVANCED_PID}.config`]: 'rootDir="data/advanced_document_library"\n',
      'data/advanced_document_library/': '',
    });
    const facts = await discoverLiferayHome(root);
    expect(facts.documentLibrary).toMatchObject({
      kind: 'AdvancedFileSystemStore',
      relPath: 'data/advanced_document_library',
    });
    expect(joined(facts.warnings)).not.toMatch(/document library|AdvancedFileSystemStore/);
  });

  it('warns that the advanced store needs its configuration (ConfigurationPolicy.REQUIRE)', async () => {
    const facts = await discoverLiferayHome(
      await home({
        'portal-ext.properties':
          'dl.store.impl=com.liferay.portal.store.file.system.AdvancedFileSystemStore\n',
        'data/document_library/': '',
      }),
    );
    expect(joined(facts.warnings)).toMatch(/registers that store only when it is configured/);
  });

  it('reads a .cfg file (Java properties syntax) and prefers .config when both exist', async () => {
    const cfgOnly = await discoverLiferayHome(
      await home({ [`osgi/configs/${FS_PID}.cfg`]: 'rootDir=data/dl-from-cfg\n', 'data/dl-from-cfg/': '' }),
    );
    expect(cfgOnly.documentLibrary.relPath).toBe('data/dl-from-cfg');
    const both = await discoverLiferayHome(
      await home({
        [`osgi/configs/${FS_PID}.cfg`]: 'rootDir=data/dl-from-cfg\n',
        [`osgi/configs/${FS_PID}.config`]: 'rootDir="data/dl-from-config"\n',
        'data/dl-from-config/': '',
      }),
    );
    expect(both.documentLibrary.relPath).toBe('data/dl-from-config');
    expect(joined(both.warnings)).toMatch(/both .*\.config and .*\.cfg exist/);
  });

  it('lets configuration.override.<pid>_rootDir beat the configuration file (learn using-configuration-files.md)', async () => {
    const facts = await discoverLiferayHome(
      await home({
        'portal-ext.properties': `configuration.override.${FS_PID}_rootDir="data/overridden"\n`,
        [`osgi/configs/${FS_PID}.config`]: 'rootDir="data/from-file"\n',
        'data/overridden/': '',
      }),
    );
    expect(facts.documentLibrary).toMatchObject({
      relPath: 'data/overridden',
      source: 'portal-ext.properties (configuration.override)',
    });
  });

  it('ignores the 6.x property dl.store.file.system.root.dir on 7.x, with a warning (VerifyProperties: modularized)', async () => {
    const facts = await discoverLiferayHome(
      await home({
        '.liferay-version': '7.4.13-u112\n',
        'portal-ext.properties': `dl.store.file.system.root.dir=${LIFERAY_HOME}/old-dl\n`,
        'data/document_library/': '',
        'old-dl/': '',
      }),
    );
    expect(facts.documentLibrary.relPath).toBe('data/document_library');
    expect(joined(facts.warnings)).toMatch(/a Liferay 6.x property that 7.0 and later ignore/);
  });

  it('honours dl.store.file.system.root.dir on 6.x, read from portal-impl.jar in WEB-INF/lib (the pre-7.4 place)', async () => {
    const facts = await discoverLiferayHome(
      await home({
        'portal-ext.properties': `dl.store.file.system.root.dir=${LIFERAY_HOME}/old-dl\n`,
        'tomcat-7.0.62/webapps/ROOT/WEB-INF/lib/portal-impl.jar': portalImpl([
          ['Liferay-Portal-Version', '6.2.5'],
          ['Liferay-Portal-Build-Number', '6205'],
        ]),
        'old-dl/': '',
      }),
    );
    expect(facts.dxp).toMatchObject({
      version: '6.2.5',
      build: '6205',
      source: 'tomcat-7.0.62/webapps/ROOT/WEB-INF/lib/portal-impl.jar',
    });
    expect(facts.documentLibrary).toMatchObject({
      relPath: 'old-dl',
      source: 'portal-ext.properties (dl.store.file.system.root.dir)',
    });
  });

  it('cannot see environment variables in rootDir: warns and assumes the default', async () => {
    const facts = await discoverLiferayHome(
      await home({
        [`osgi/configs/${FS_PID}.config`]: 'rootDir="$[env:LIFERAY_DL_ROOT]"\n',
        'data/document_library/': '',
      }),
    );
    expect(facts.documentLibrary.relPath).toBe('data/document_library');
    expect(joined(facts.warnings)).toMatch(/uses a variable that discovery cannot see/);
  });

  it('warns about an empty rootDir, which Liferay refuses', async () => {
    const facts = await discoverLiferayHome(
      await home({ [`osgi/configs/${FS_PID}.config`]: 'rootDir=""\n', 'data/document_library/': '' }),
    );
    expect(facts.documentLibrary.relPath).toBe('data/document_library');
    expect(joined(facts.warnings)).toMatch(/root directory is not set/);
  });

  it('follows module.framework.configs.dir when it moves osgi/configs inside the home', async () => {
    const facts = await discoverLiferayHome(
      await home({
        'portal-ext.properties': `module.framework.configs.dir=${LIFERAY_HOME}/configs\n`,
        [`configs/${FS_PID}.config`]: 'rootDir="data/moved"\n',
        'data/moved/': '',
      }),
    );
    expect(facts.documentLibrary.relPath).toBe('data/moved');
  });
});

describe('discoverLiferayHome: the search engine (OperationModeResolver, ElasticsearchConfiguration defaults)', () => {
  it.each([
    [
      'productionModeEnabled=B"true"',
      { [`osgi/configs/${ES7_PID}.config`]: 'productionModeEnabled=B"true"\n' },
    ],
    [
      'operationMode="REMOTE" (7.2, elasticsearch6)',
      {
        'osgi/configs/com.liferay.portal.search.elasticsearch6.configuration.ElasticsearchConfiguration.config':
          'operationMode="REMOTE"\n',
      },
    ],
    [
      'an OpenSearch connector',
      {
        'osgi/configs/com.liferay.portal.search.opensearch2.configuration.OpenSearchConfiguration.config':
          'remoteClusterConnectionId="REMOTE"\n',
      },
    ],
    [
      'configuration.override',
      { 'portal-ext.properties': `configuration.override.${ES7_PID}_productionModeEnabled=B"true"\n` },
    ],
  ])('remote with %s, and no warning about search', async (_what, files) => {
    const facts = await discoverLiferayHome(await home({ ...files, 'data/document_library/': '' }));
    expect(facts.searchEngine.mode).toBe('remote');
    expect(joined(facts.warnings)).not.toMatch(/search|sidecar/i);
  });

  it('sidecar when the connector configuration does not enable production mode', async () => {
    const facts = await discoverLiferayHome(
      await home({
        [`osgi/configs/${ES7_PID}.config`]: 'indexNamePrefix="liferay-"\n',
        'data/document_library/': '',
      }),
    );
    expect(facts.searchEngine.mode).toBe('sidecar');
    expect(joined(facts.warnings)).toMatch(/defaults to false/);
  });

  it('sidecar when there is no configuration but the sidecar folders exist', async () => {
    const facts = await discoverLiferayHome(
      await home({ 'elasticsearch-sidecar/': '', 'data/elasticsearch7/': '', 'data/document_library/': '' }),
    );
    expect(facts.searchEngine).toEqual({
      mode: 'sidecar',
      source: 'elasticsearch-sidecar/, data/elasticsearch7/',
    });
  });

  it('unknown, with a warning, when nothing says', async () => {
    const facts = await discoverLiferayHome(await home({ 'data/document_library/': '' }));
    expect(facts.searchEngine.mode).toBe('unknown');
    expect(joined(facts.warnings)).toMatch(/Discovery cannot tell which/);
  });
});

describe('discoverLiferayHome: the DXP build', () => {
  it('reads Installed-Patches and prefers the tomcat/ folder when there are several', async () => {
    const facts = await discoverLiferayHome(
      await home({
        'tomcat/webapps/ROOT/WEB-INF/shielded-container-lib/portal-impl.jar': portalImpl([
          ['Liferay-Portal-Version', '7.4.13'],
          ['Liferay-Portal-Build-Number', '7413'],
          ['Liferay-Portal-Installed-Patches', 'dxp-2-7413 hotfix-1234-7413'],
        ]),
        'tomcat-9.0.56/webapps/ROOT/WEB-INF/lib/portal-impl.jar': portalImpl([
          ['Liferay-Portal-Version', '7.3.10'],
        ]),
        'data/document_library/': '',
      }),
    );
    expect(facts.dxp).toMatchObject({
      version: '7.4.13',
      build: '7413',
      installedPatches: ['dxp-2-7413', 'hotfix-1234-7413'],
      source: 'tomcat/webapps/ROOT/WEB-INF/shielded-container-lib/portal-impl.jar',
    });
    expect(joined(facts.warnings)).toMatch(/several Tomcat folders \(tomcat, tomcat-9.0.56\)/);
  });

  it('says so when there is no way to know the build', async () => {
    const facts = await discoverLiferayHome(await home({ 'data/document_library/': '' }));
    expect(facts.dxp).toBeUndefined();
    expect(joined(facts.warnings)).toMatch(/The DXP build could not be found/);
  });
});

describe('discoverLiferayHome: broken inputs give warnings, never exceptions', () => {
  it('a home that does not exist, or is a file', async () => {
    const missing = await discoverLiferayHome(join(work, 'no-such-home'));
    expect(missing.warnings[0]).toMatch(/cannot be read/);
    const file = join(work, 'a-file');
    await writeFile(file, 'x');
    expect((await discoverLiferayHome(file)).warnings[0]).toMatch(/is not a folder/);
  });

  it('an empty folder: not a Liferay Home', async () => {
    const facts = await discoverLiferayHome(await home({}));
    expect(joined(facts.warnings)).toMatch(/does not look like a Liferay Home/);
  });

  it('garbage everywhere', async () => {
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, index) => (index * 7919) % 256));
    const facts = await discoverLiferayHome(
      await home({
        'portal-ext.properties': garbage,
        [`osgi/configs/${FS_PID}.config`]: garbage,
        [`osgi/configs/${ES7_PID}.config`]: 'productionModeEnabled=B"true\n', // unclosed
        '.liferay-version': garbage,
        '.githash': 'not a hash\n',
        'tomcat/webapps/ROOT/WEB-INF/shielded-container-lib/portal-impl.jar': garbage,
        'data/document_library/': '',
      }),
    );
    const text = joined(facts.warnings);
    expect(text).toMatch(/FileSystemStoreConfiguration.config is not a valid .config file/);
    expect(text).toMatch(/ElasticsearchConfiguration.config is not a valid .config file/);
    expect(text).toMatch(/.liferay-version does not hold what it should/);
    expect(text).toMatch(/.githash does not hold what it should/);
    expect(text).toMatch(/portal-impl.jar could not be read as a jar/);
    expect(facts.documentLibrary.relPath).toBe('data/document_library');
    expect(facts.searchEngine.mode).toBe('sidecar'); // Liferay rejects the broken file and keeps its default
    for (const warning of facts.warnings) expect(warning.length).toBeLessThanOrEqual(1000);
  });

  it('a huge portal-ext.properties is not read', async () => {
    const huge = `dl.store.impl=com.liferay.portal.store.db.DBStore\n${'#'.repeat(2 * 1024 * 1024)}\n`;
    const facts = await discoverLiferayHome(
      await home({ 'portal-ext.properties': huge, 'data/document_library/': '' }),
    );
    expect(facts.documentLibrary.kind).toBe('FileSystemStore');
    expect(joined(facts.warnings)).toMatch(
      /portal-ext.properties could not be read \(it is \d+ bytes, more than the 1048576/,
    );
  });

  it('a jar whose manifest is huge, and a jar without a manifest', async () => {
    const hugeManifest = zipBytes([
      {
        name: 'META-INF/MANIFEST.MF',
        data: `Liferay-Portal-Version: 7.4.13\n${'X-Pad: y\n'.repeat(60_000)}`,
      },
    ]);
    const facts = await discoverLiferayHome(
      await home({
        'tomcat/webapps/ROOT/WEB-INF/shielded-container-lib/portal-impl.jar': hugeManifest,
        'tomcat/webapps/ROOT/WEB-INF/lib/portal-impl.jar': zipBytes([{ name: 'x.class', data: 'x' }]),
        'data/document_library/': '',
      }),
    );
    const text = joined(facts.warnings);
    expect(text).toMatch(/MANIFEST.MF is \d+ bytes, more than the 262144 read/);
    expect(text).toMatch(/WEB-INF\/lib\/portal-impl.jar has no META-INF\/MANIFEST.MF/);
    expect(facts.dxp).toBeUndefined();
  });

  it('a properties file that is a folder, a FIFO, or a symlink out of the home', async () => {
    const secret = join(work, 'outside-secret.properties');
    await writeFile(secret, 'dl.store.impl=com.liferay.portal.store.db.DBStore\n');
    const root = await home({ 'portal-ext.properties/': '', 'data/document_library/': '' });
    await symlink(secret, join(root, 'portal-setup-wizard.properties'));
    execFileSync('mkfifo', [join(root, 'portal-bundle.properties')]);
    const facts = await discoverLiferayHome(root);
    const text = joined(facts.warnings);
    expect(text).toMatch(/portal-ext.properties could not be read \(it is not a regular file\)/);
    expect(text).toMatch(/portal-bundle.properties could not be read \(it is not a regular file\)/);
    expect(text).toMatch(
      /portal-setup-wizard.properties could not be read \(it leads out of the Liferay Home/,
    );
    expect(facts.documentLibrary.kind).toBe('FileSystemStore'); // the outside file was not read
  });

  it('markers and portal-impl.jar that are symlinks out of the home are not read', async () => {
    const outsideJar = join(work, 'outside-portal-impl.jar');
    await writeFile(outsideJar, portalImpl([['Liferay-Portal-Version', '7.4.13']]));
    const outsideVersion = join(work, 'outside-version');
    await writeFile(outsideVersion, '2024.q9.9\n');
    const root = await home({
      'tomcat/webapps/ROOT/WEB-INF/shielded-container-lib/': '',
      'data/document_library/': '',
    });
    await symlink(
      outsideJar,
      join(root, 'tomcat/webapps/ROOT/WEB-INF/shielded-container-lib/portal-impl.jar'),
    );
    await symlink(outsideVersion, join(root, '.liferay-version'));
    const facts = await discoverLiferayHome(root);
    expect(facts.dxp).toBeUndefined();
    const text = joined(facts.warnings);
    expect(text).toMatch(/portal-impl.jar leads out of the folder being backed up/);
    expect(text).toMatch(/.liferay-version could not be read \(it leads out of the Liferay Home/);
  });

  it('an include-and-override loop ends', async () => {
    const facts = await discoverLiferayHome(
      await home({
        'portal-ext.properties': 'include-and-override=portal-a.properties\n',
        'portal-a.properties':
          'include-and-override=portal-ext.properties\ndl.store.impl=com.liferay.portal.store.db.DBStore\n',
      }),
    );
    expect(facts.documentLibrary.kind).toBe('DBStore');
  });
});

describe('discoverAppServer', () => {
  it('reads the Tomcat version from catalina.jar and the DXP build from webapps/ROOT', async () => {
    const root = join(work, 'sample-for-server');
    await generateSampleHome(root);
    const facts = await discoverAppServer(join(root, 'tomcat'));
    expect(facts).toEqual({
      warnings: [],
      server: SAMPLE_FACTS.tomcatServerInfo,
      dxp: expect.objectContaining({ version: SAMPLE_FACTS.portalVersion, build: SAMPLE_FACTS.buildNumber }),
    });
  });

  it('prefers lib/org/apache/catalina/util/ServerInfo.properties (Tomcat reads it first), then RELEASE-NOTES', async () => {
    const overridden = await discoverAppServer(
      await home({
        'conf/server.xml': '<Server/>',
        'lib/org/apache/catalina/util/ServerInfo.properties': 'server.info=Hidden Server\n',
        'lib/catalina.jar': zipBytes([
          {
            name: 'org/apache/catalina/util/ServerInfo.properties',
            data: 'server.info=Apache Tomcat/9.0.1\n',
          },
        ]),
      }),
    );
    expect(overridden.server).toBe('Hidden Server');
    const fromNotes = await discoverAppServer(
      await home({ 'conf/server.xml': '<Server/>', 'RELEASE-NOTES': 'Apache Tomcat Version 10.1.19\n' }),
    );
    expect(fromNotes).toEqual({ warnings: [], server: 'Apache Tomcat/10.1.19' });
  });

  it('warns about a folder that is not a Tomcat, and about a broken catalina.jar, without failing', async () => {
    const notTomcat = await discoverAppServer(
      await home({ 'standalone/configuration/standalone.xml': '<server/>' }),
    );
    expect(joined(notTomcat.warnings)).toMatch(/does not look like a Tomcat/);
    const broken = await discoverAppServer(
      await home({ 'conf/server.xml': '<Server/>', 'lib/catalina.jar': 'not a zip' }),
    );
    expect(joined(broken.warnings)).toMatch(/lib\/catalina.jar could not be read/);
    expect(broken.server).toBeUndefined();
  });
});
