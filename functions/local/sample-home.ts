import { createCipheriv, createHash } from 'node:crypto';
import { chmod, lutimes, mkdir, readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { InvalidInputError } from '#runtime/errors.ts';

/**
 * A deterministic, small (about 4 MB) but realistic Liferay Home for the demo and the tests.
 * Same seed, same tree: names, bytes, modes and mtimes. The layout follows LIFERAY.md (learn
 * `installation-and-upgrades/reference/liferay-home.md`, the FileSystemStore's
 * `<companyId>/<repositoryId>/<fileName>/<versionLabel>` layout, liferay-docker's release
 * markers) and contains the cases a backup must get right: a symlink, empty files, empty
 * folders, non-ASCII names, a deep path, executable scripts, private files, and the caches
 * Liferay rebuilds (osgi/state, work/, the sidecar's data, Tomcat's work/ and temp/), which the
 * default rules leave out. Values that are not Liferay facts (ids, dates, contents) are invented.
 */

/** What the sample is known to contain, for the tests and the demo's messages. */
export const SAMPLE_FACTS = {
  dxpVersion: '2024.q1.1',
  buildNumber: '7413',
  portalVersion: '7.4.13',
  tomcatFolder: 'tomcat',
  tomcatServerInfo: 'Apache Tomcat/9.0.83',
  companyId: 20097,
  repositoryId: 20121,
  documentLibrary: 'data/document_library',
  declaredLiferayHome: '/opt/liferay',
} as const;

const BASE_MTIME = Date.UTC(2024, 4, 1, 8, 0, 0) / 1000; // 2024-05-01T08:00:00Z, whole seconds
const DAY = 86_400;

type Content = Buffer | string;

interface SampleEntry {
  readonly path: string;
  readonly kind: 'file' | 'dir' | 'symlink';
  readonly content?: Content;
  readonly target?: string;
  readonly mode?: number;
  readonly mtime: number;
}

export interface SampleHomeSummary {
  readonly root: string;
  readonly files: number;
  readonly directories: number;
  readonly symlinks: number;
  readonly bytes: number;
}

// ---------------------------------------------------------------- deterministic bytes

/** Incompressible bytes unique to (seed, label): AES-128-CTR over zeros, keyed by sha256. */
function randomBytes(seed: string, label: string, size: number): Buffer {
  const key = createHash('sha256').update(`${seed}\0${label}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

function hex(seed: string, label: string, length: number): string {
  return createHash('sha256').update(`${seed}\0${label}`).digest('hex').slice(0, length);
}

const LOG_WORDS = [
  'Starting',
  'Liferay',
  'DXP',
  'module',
  'bundle',
  'com.liferay.portal.search',
  'indexing',
  'completed',
  'document',
  'library',
  'company',
  '20097',
  'group',
  'layout',
  'cache',
  'cluster',
  'session',
  'user',
  'journal',
  'article',
  'workflow',
  'deployed',
  'STARTED',
  'resolved',
  'configuration',
  'updated',
];

/** Compressible log-like text of about `size` bytes, deterministic for (seed, label). */
function logText(seed: string, label: string, size: number): string {
  const noise = randomBytes(seed, `log:${label}`, Math.ceil(size / 8) + 64);
  const lines: string[] = [];
  let length = 0;
  let index = 0;
  while (length < size) {
    const at = (offset: number) => noise[(index + offset) % noise.length] as number;
    const words = Array.from({ length: 4 + (at(0) % 9) }, (_, w) => LOG_WORDS[at(w + 1) % LOG_WORDS.length]);
    const second = String(at(2) % 60).padStart(2, '0');
    const level = ['INFO', 'INFO', 'INFO', 'WARN', 'DEBUG'][at(3) % 5];
    const line = `2024-05-0${1 + (at(4) % 3)} 08:${String(at(5) % 60).padStart(2, '0')}:${second}.${100 + at(6)} ${level} [main][${words[0]}:${at(7)}] ${words.join(' ')}`;
    lines.push(line);
    length += line.length + 1;
    index += 13;
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------- a small zip/jar writer

export interface ZipEntryInput {
  readonly name: string;
  readonly data: Buffer | string;
  /** 'deflate' (default) or 'store'. */
  readonly method?: 'deflate' | 'store';
  /** Unix mode recorded in the central directory (default 0o644). */
  readonly mode?: number;
}

/** DOS date/time of 2024-05-01 08:00:00, the same for every entry so the bytes never vary. */
const DOS_TIME = (8 << 11) | (0 << 5) | 0;
const DOS_DATE = ((2024 - 1980) << 9) | (5 << 5) | 1;

/**
 * The fields a local header (from byte 4) and a central directory header (from byte 6) share:
 * version needed, flags, method, time, date, crc-32, sizes and the name's length.
 */
function writeCommonHeader(
  header: Buffer,
  at: number,
  fields: { method: number; crc: number; compressed: number; size: number; nameLength: number },
): void {
  header.writeUInt16LE(20, at); // version needed: 2.0 (deflate)
  header.writeUInt16LE(0x0800, at + 2); // UTF-8 names
  header.writeUInt16LE(fields.method, at + 4);
  header.writeUInt16LE(DOS_TIME, at + 6);
  header.writeUInt16LE(DOS_DATE, at + 8);
  header.writeUInt32LE(fields.crc, at + 10);
  header.writeUInt32LE(fields.compressed, at + 14);
  header.writeUInt32LE(fields.size, at + 18);
  header.writeUInt16LE(fields.nameLength, at + 22);
}

/**
 * Writes a zip (a jar is a zip) in memory: local headers, data, central directory, end record
 * (PKWARE APPNOTE 4.3). Written by hand rather than with a dependency because the sample needs
 * only stored and deflated entries of a few small files, the bytes must be deterministic (fixed
 * timestamps, no extra fields), and node:zlib already gives deflate and crc32. Names are UTF-8
 * (general-purpose flag bit 11). No zip64: the sample's jars are far below 4 GiB.
 */
export function zipBytes(entries: readonly ZipEntryInput[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const data = typeof entry.data === 'string' ? Buffer.from(entry.data, 'utf8') : entry.data;
    const method = entry.method === 'store' ? 0 : 8;
    const body = method === 8 ? deflateRawSync(data, { level: 9 }) : data;
    const fields = {
      method,
      crc: crc32(data),
      compressed: body.length,
      size: data.length,
      nameLength: name.length,
    };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    writeCommonHeader(local, 4, fields);
    local.writeUInt16LE(0, 28); // extra
    locals.push(local, name, body);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix, spec 2.0
    writeCommonHeader(central, 6, fields);
    central.writeUInt16LE(0, 30); // extra
    central.writeUInt16LE(0, 32); // comment
    central.writeUInt16LE(0, 34); // disk
    central.writeUInt16LE(0, 36); // internal attributes
    central.writeUInt32LE(((entry.mode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/**
 * A JAR manifest: `Name: value` lines of at most 72 bytes, longer values continued on lines that
 * start with one space (JAR File Specification, "Line length"), CRLF line ends, a blank line last.
 */
export function manifestText(attributes: ReadonlyArray<readonly [string, string]>): string {
  const lines: string[] = [];
  for (const [name, value] of attributes) {
    let rest = Buffer.from(`${name}: ${value}`, 'utf8');
    let first = true;
    while (rest.length > 0) {
      const room = first ? 72 : 71;
      let cut = Math.min(room, rest.length);
      // Never split a UTF-8 sequence: back off continuation bytes (10xxxxxx).
      while (cut < rest.length && cut > 0 && ((rest[cut] as number) & 0xc0) === 0x80) cut -= 1;
      lines.push(`${first ? '' : ' '}${rest.subarray(0, cut).toString('utf8')}`);
      rest = rest.subarray(cut);
      first = false;
    }
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

// ---------------------------------------------------------------- the tree

function jar(
  seed: string,
  label: string,
  manifest: ReadonlyArray<readonly [string, string]>,
  classes: number,
  classSize: number,
): Buffer {
  const entries: ZipEntryInput[] = [
    { name: 'META-INF/MANIFEST.MF', data: manifestText([['Manifest-Version', '1.0'], ...manifest]) },
  ];
  for (let index = 0; index < classes; index += 1) {
    // Class files are incompressible noise here, so they are stored, as a jar tool would keep them small anyway.
    entries.push({
      name: `com/example/${label}/C${index}.class`,
      data: randomBytes(seed, `${label}:${index}`, classSize),
      method: 'store',
    });
  }
  return zipBytes(entries);
}

function entries(seed: string): SampleEntry[] {
  const list: SampleEntry[] = [];
  let tick = 0;
  /** mtimes step forward a few minutes per file so every file has its own, whole-second mtime. */
  const nextTime = (days = 0) => {
    tick += 1;
    return BASE_MTIME + days * DAY + tick * 137;
  };
  const file = (path: string, content: Content, mode = 0o644, days = 0) =>
    list.push({ path, kind: 'file', content, mode, mtime: nextTime(days) });
  const dir = (path: string) => list.push({ path, kind: 'dir', mtime: nextTime() });
  const link = (path: string, target: string) =>
    list.push({ path, kind: 'symlink', target, mtime: nextTime() });
  const { companyId, repositoryId } = SAMPLE_FACTS;
  const dl = `${SAMPLE_FACTS.documentLibrary}/${companyId}`;
  const tomcat = SAMPLE_FACTS.tomcatFolder;

  // Markers written by Liferay's release tooling (liferay-docker release/_package.sh: package_release).
  file('.liferay-home', ''); // an empty file
  file('.liferay-version', `${SAMPLE_FACTS.dxpVersion}\n`);
  file('.githash', `${hex(seed, 'githash', 40)}\n`);

  // Portal properties: read in Liferay's order (portal-bundle, portal-ext, portal-setup-wizard).
  file(
    'portal-ext.properties',
    [
      '##',
      '## portal-ext.properties of the liferay-backup sample Liferay Home',
      '##',
      '',
      `liferay.home=${SAMPLE_FACTS.declaredLiferayHome}`,
      '',
      '# The embedded HSQL database (demo only, as Liferay says).',
      'jdbc.default.driverClassName=org.hsqldb.jdbc.JDBCDriver',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a Liferay property reference, not a JS template
      'jdbc.default.url=jdbc:hsqldb:${liferay.home}/data/hypersonic/lportal',
      'jdbc.default.username=sa',
      'jdbc.default.password=',
      '',
      'dl.store.impl=com.liferay.portal.store.file.system.FileSystemStore',
      'company.default.web.id=liferay.com',
      'setup.wizard.enabled=false',
      'web.server.protocol=https',
      '# A value continued over two lines:',
      'users.reminder.queries.questions=what-is-your-favorite-color,\\',
      '    what-is-your-library-card-number',
      '',
    ].join('\n'),
    0o600, // holds database credentials
  );
  file(
    'portal-setup-wizard.properties',
    [
      'admin.email.from.address=admin@example.com',
      'admin.email.from.name=Sample Admin',
      'company.default.locale=en_US',
      'company.default.name=Sample',
      'default.admin.email.address.prefix=admin',
      'liferay.home=/opt/liferay',
      'setup.wizard.add.sample.data=off',
      'setup.wizard.enabled=false',
      '',
    ].join('\n'),
  );
  file('system-ext.properties', 'file.encoding=UTF8\nuser.timezone=GMT\njava.net.preferIPv4Stack=true\n');

  // License.
  file(
    'license/activation-key-dxpdevelopment-7.4-developeractivationkeys.xml',
    `<?xml version="1.0"?>\n<license>\n\t<account-name>Sample</account-name>\n\t<product-name>DXP Development</product-name>\n\t<key>${randomBytes(seed, 'license', 384).toString('base64')}</key>\n</license>\n`,
    0o600,
  );

  // OSGi configuration files (Felix .config syntax: key="value", B"true" for typed values).
  const configs = 'osgi/configs';
  file(
    `${configs}/com.liferay.portal.store.file.system.configuration.FileSystemStoreConfiguration.config`,
    'rootDir="data/document_library"\n',
  );
  file(
    `${configs}/com.liferay.portal.search.elasticsearch7.configuration.ElasticsearchConfiguration.config`,
    '# A development bundle: the sidecar Elasticsearch (not production mode).\nproductionModeEnabled=B"false"\nindexNamePrefix="liferay-"\n',
  );
  file(
    `${configs}/com.liferay.journal.configuration.JournalServiceConfiguration.config`,
    'addDefaultStructures=B"true"\njournalArticleMaxVersionCount=I"10"\n',
  );
  file(
    `${configs}/com.liferay.portal.security.sso.openid.connect.configuration.OpenIdConnectConfiguration.config`,
    'enabled=B"false"\nproviders=[ \\\n  "Sample\\ Provider", \\\n  ]\n',
  );

  // Deployed modules, Marketplace apps, WARs and static JARs (real jars with a manifest).
  const bundleManifest = (name: string, version: string) =>
    [
      ['Bundle-ManifestVersion', '2'],
      ['Bundle-SymbolicName', name],
      ['Bundle-Version', version],
    ] as const;
  file(
    'osgi/modules/com.example.blog.web-1.0.0.jar',
    jar(seed, 'blogweb', bundleManifest('com.example.blog.web', '1.0.0'), 6, 9000),
  );
  file(
    'osgi/modules/com.example.blog.service-1.2.3.jar',
    jar(seed, 'blogservice', bundleManifest('com.example.blog.service', '1.2.3'), 10, 12000),
  );
  file(
    'osgi/modules/com.example.search.tuning-2.0.0.jar',
    jar(seed, 'tuning', bundleManifest('com.example.search.tuning', '2.0.0'), 4, 7000),
  );
  file(
    'osgi/marketplace/Example Connector - Impl.lpkg',
    zipBytes([
      {
        name: 'com.example.connector.impl-1.0.0.jar',
        data: jar(seed, 'connector', bundleManifest('com.example.connector.impl', '1.0.0'), 5, 8000),
        method: 'store',
      },
    ]),
  );
  dir('osgi/marketplace/override'); // an empty folder Liferay expects (updating-liferay.md)
  file(
    'osgi/war/example-theme.war',
    zipBytes([
      { name: 'WEB-INF/web.xml', data: '<web-app/>\n' },
      { name: 'css/main.css', data: 'body{margin:0}\n' },
    ]),
  );
  file(
    'osgi/static/com.example.static.fragment-1.0.0.jar',
    jar(seed, 'static', bundleManifest('com.example.static.fragment', '1.0.0'), 2, 4000),
  );

  // What Liferay rebuilds: OSGi state, generated WABs, the 7.2-style work folder.
  for (let index = 0; index < 6; index += 1) {
    file(
      `osgi/state/org.eclipse.osgi/${40 + index}/0/bundleFile`,
      randomBytes(seed, `state:${index}`, 20_000),
    );
  }
  file('osgi/state/org.eclipse.osgi/.manager/.fileTable.4', randomBytes(seed, 'filetable', 600));
  file('osgi/wabs/example-theme.war', randomBytes(seed, 'wab', 15_000));
  file('work/com.example.blog.web-1.0.0/org/apache/jsp/view_jsp.java', logText(seed, 'jsp', 6_000));
  dir('deploy'); // the hot-deploy drop folder, empty once Liferay has picked everything up

  // The sidecar Elasticsearch (7.4): its runtime and its data, both rebuilt by Liferay.
  file('elasticsearch-sidecar/elasticsearch-7.17.18/bin/elasticsearch', '#!/bin/sh\nexec java "$@"\n', 0o755);
  file(
    'data/elasticsearch7/nodes/0/indices/Xf3kP2/0/index/segments_1',
    randomBytes(seed, 'es-index', 40_000),
  );
  file('data/elasticsearch7/nodes/0/_state/global-1.st', randomBytes(seed, 'es-state', 800));

  // Document library, FileSystemStore layout: <companyId>/<repositoryId>/<fileName>/<versionLabel>.
  file(
    `${SAMPLE_FACTS.documentLibrary}/README.txt`,
    'Liferay document library (file system store). Do not edit by hand.\n',
  );
  const sizes = [
    180_000, 24_000, 310_000, 4_096, 96_000, 1_024, 250_000, 64_000, 12_000, 150_000, 8_000, 220_000,
  ];
  sizes.forEach((size, index) => {
    const fileName = String(34_501 + index * 7);
    const versions = index % 4 === 0 ? ['1.0', '1.1', '2.0'] : index % 3 === 0 ? ['1.0', '1.1'] : ['1.0'];
    versions.forEach((version, v) => {
      file(
        `${dl}/${repositoryId}/${fileName}/${version}`,
        randomBytes(seed, `dl:${fileName}:${version}`, size + v * 313),
        0o644,
        v * 3,
      );
    });
  });
  file(`${dl}/${repositoryId}/34599/1.0`, ''); // an empty document: a zero-byte upload
  // Names from before 7.0, when the store kept titles: non-ASCII (NFC) and spaces.
  file(`${dl}/${repositoryId}/Präsentation Übersicht.odp/1.0`, randomBytes(seed, 'dl:praesentation', 45_000));
  file(`${dl}/${repositoryId}/報告書.pdf/1.0`, randomBytes(seed, 'dl:houkokusho', 38_000));
  // Generated thumbnails live in repository 0 (LIFERAY.md).
  file(`${dl}/0/document_thumbnail/${repositoryId}/34501/1.0.jpg/1.0`, randomBytes(seed, 'thumb', 6_000));
  // A deep path (synthetic), longer than tar's 100/155-character fields, to exercise path limits.
  const deep = Array.from(
    { length: 18 },
    (_, level) => `level-${String(level).padStart(2, '0')}-${hex(seed, `deep${level}`, 6)}`,
  ).join('/');
  file(`${dl}/${repositoryId}/${deep}/1.0`, randomBytes(seed, 'dl:deep', 3_000));
  // A second company (virtual instance).
  file(`${SAMPLE_FACTS.documentLibrary}/20133/20159/40001/1.0`, randomBytes(seed, 'dl:company2', 70_000));

  // Embedded HSQL database and the SAML keystore.
  file('data/hypersonic/lportal.properties', '#HSQL Database Engine 2.7.2\nversion=2.7.2\nmodified=no\n');
  file('data/hypersonic/lportal.script', logText(seed, 'hsql-script', 120_000));
  file('data/hypersonic/lportal.log', logText(seed, 'hsql-log', 8_000));
  dir('data/hypersonic/lportal.tmp'); // HSQL's temp folder, empty
  file('data/keystore.jks', randomBytes(seed, 'keystore', 2_240), 0o600);

  // Patching Tool and logs.
  file(
    'patching-tool/default.properties',
    'patching.mode=binary\nwar.path=../tomcat/webapps/ROOT/\nglobal.lib.path=../tomcat/lib/ext/\nliferay.home=../\n',
  );
  for (let day = 1; day <= 3; day += 1) {
    file(
      `logs/liferay.2024-05-0${day}.log`,
      logText(seed, `liferay-log-${day}`, 40_000 + day * 5_000),
      0o644,
      day,
    );
  }
  file('logs/liferay.2024-05-03.xml', logText(seed, 'liferay-xml', 10_000), 0o644, 3);
  link('logs/liferay.log', 'liferay.2024-05-03.log'); // a relative symlink to the current log

  // Tomcat inside the Liferay Home (the bundle layout since 7.4: tomcat/).
  file(`${tomcat}/RELEASE-NOTES`, 'Apache Tomcat Version 9.0.83\nRelease Notes\n');
  file(
    `${tomcat}/bin/setenv.sh`,
    'CATALINA_OPTS="$CATALINA_OPTS -Dfile.encoding=UTF-8 -Djava.locale.providers=JRE,COMPAT,CLDR -Duser.timezone=GMT -Xms2560m -Xmx2560m -XX:MaxNewSize=1536m -XX:MaxMetaspaceSize=768m -XX:MetaspaceSize=768m -XX:NewSize=1536m -XX:SurvivorRatio=7"\n',
    0o755,
  );
  file(
    `${tomcat}/bin/catalina.sh`,
    '#!/bin/sh\n# Apache Tomcat start script (abridged for the sample)\nexec "$JAVA_HOME/bin/java" $CATALINA_OPTS org.apache.catalina.startup.Bootstrap "$@"\n',
    0o755,
  );
  file(`${tomcat}/bin/startup.sh`, '#!/bin/sh\nexec "$(dirname "$0")/catalina.sh" start "$@"\n', 0o755);
  file(
    `${tomcat}/conf/server.xml`,
    '<?xml version="1.0" encoding="UTF-8"?>\n<Server port="8005" shutdown="SHUTDOWN">\n  <Service name="Catalina">\n    <Connector port="8080" protocol="HTTP/1.1" connectionTimeout="20000" redirectPort="8443" URIEncoding="UTF-8" />\n    <Engine name="Catalina" defaultHost="localhost">\n      <Host name="localhost" appBase="webapps" unpackWARs="true" autoDeploy="true" />\n    </Engine>\n  </Service>\n</Server>\n',
  );
  file(
    `${tomcat}/conf/web.xml`,
    '<?xml version="1.0" encoding="UTF-8"?>\n<web-app version="4.0">\n  <session-config><session-timeout>30</session-timeout></session-config>\n</web-app>\n',
  );
  file(
    `${tomcat}/conf/context.xml`,
    '<Context>\n  <WatchedResource>WEB-INF/web.xml</WatchedResource>\n</Context>\n',
  );
  file(
    `${tomcat}/conf/catalina.properties`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Tomcat property reference, not a JS template
    'common.loader="${catalina.base}/lib","${catalina.base}/lib/*.jar"\n',
  );
  file(`${tomcat}/conf/logging.properties`, 'handlers = java.util.logging.ConsoleHandler\n.level = INFO\n');
  file(
    `${tomcat}/conf/Catalina/localhost/ROOT.xml`,
    '<Context path="" crossContext="true">\n  <Resource name="jdbc/LiferayPool" auth="Container" type="javax.sql.DataSource" driverClassName="org.mariadb.jdbc.Driver" url="jdbc:mariadb://db:3306/lportal" username="liferay" password="change-me" />\n</Context>\n',
    0o600,
  );
  file(
    `${tomcat}/lib/catalina.jar`,
    zipBytes([
      {
        name: 'META-INF/MANIFEST.MF',
        data: manifestText([
          ['Manifest-Version', '1.0'],
          ['Implementation-Title', 'Apache Tomcat'],
          ['Implementation-Version', '9.0.83'],
        ]),
      },
      // Where Tomcat keeps its version (read by discovery, and by Tomcat's version.sh).
      {
        name: 'org/apache/catalina/util/ServerInfo.properties',
        data: 'server.info=Apache Tomcat/9.0.83\nserver.number=9.0.83.0\nserver.built=Nov 9 2023 10:54:34 UTC\n',
      },
      {
        name: 'org/apache/catalina/startup/Bootstrap.class',
        data: randomBytes(seed, 'bootstrap', 30_000),
        method: 'store',
      },
    ]),
  );
  file(
    `${tomcat}/lib/mariadb-java-client-3.3.3.jar`,
    jar(
      seed,
      'mariadb',
      [
        ['Implementation-Title', 'mariadb-java-client'],
        ['Implementation-Version', '3.3.3'],
      ],
      8,
      14_000,
    ),
  );
  link(`${tomcat}/lib/mariadb.jar`, 'mariadb-java-client-3.3.3.jar');
  const root = `${tomcat}/webapps/ROOT/WEB-INF`;
  file(
    `${root}/web.xml`,
    '<?xml version="1.0"?>\n<web-app version="4.0">\n  <display-name>Liferay Portal</display-name>\n</web-app>\n',
  );
  file(
    `${root}/liferay-web.xml`,
    '<?xml version="1.0"?>\n<web-app version="4.0">\n  <filter><filter-name>Auto Login Filter</filter-name></filter>\n</web-app>\n',
  );
  file(
    `${root}/classes/META-INF/portal-log4j-ext.xml`,
    '<?xml version="1.0"?>\n<Configuration strict="true">\n  <Loggers>\n    <Logger level="INFO" name="com.liferay.portal.search" />\n  </Loggers>\n</Configuration>\n',
  );
  file(
    `${root}/shielded-container-lib/portal-impl.jar`,
    jar(
      seed,
      'portalimpl',
      // The attributes Liferay's build writes into portal-impl.jar (common.bnd keys, checked by
      // source-formatter's BNDDefinitionKeysCheck); the values are invented for the sample, in the
      // format of a real DXP manifest ("… (Code name / Build NNNN / Month D, YYYY)").
      [
        ['Liferay-Portal-Build-Date', 'March 1, 2024'],
        ['Liferay-Portal-Build-Number', SAMPLE_FACTS.buildNumber],
        ['Liferay-Portal-Build-Time', '1709294400000'],
        ['Liferay-Portal-Code-Name', 'Cavanaugh'],
        ['Liferay-Portal-Parent-Build-Number', SAMPLE_FACTS.buildNumber],
        [
          'Liferay-Portal-Release-Info',
          `Liferay Digital Experience Platform 2024.Q1.1 (Cavanaugh / Build ${SAMPLE_FACTS.buildNumber} / March 1, 2024)`,
        ],
        ['Liferay-Portal-Server-Info', `Liferay Digital Experience Platform / ${SAMPLE_FACTS.dxpVersion}`],
        ['Liferay-Portal-Version', SAMPLE_FACTS.portalVersion],
      ],
      40,
      20_000,
    ),
  );
  // Tomcat's scratch space: the folders are kept, their contents are not.
  file(
    `${tomcat}/work/Catalina/localhost/ROOT/org/apache/jsp/index_jsp.class`,
    randomBytes(seed, 'jsp-class', 5_000),
  );
  file(`${tomcat}/temp/safeToDelete.tmp`, '');
  file(`${tomcat}/logs/catalina.out`, logText(seed, 'catalina', 30_000));
  file(`${tomcat}/logs/localhost_access_log.2024-05-01.txt`, logText(seed, 'access', 12_000));
  return list;
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
}

/**
 * Writes the sample Liferay Home into `dir` (created; it must be missing or empty).
 * Modes are set explicitly (the umask does not decide them) and directory mtimes last, after
 * everything inside them was written.
 */
export async function generateSampleHome(
  dir: string,
  options: { seed?: string } = {},
): Promise<SampleHomeSummary> {
  const seed = options.seed ?? 'liferay-backup-sample-1';
  if (!(await isEmptyOrMissing(dir)))
    throw new InvalidInputError(`refusing to write the sample Liferay Home into ${dir}: it is not empty`);
  await mkdir(dir, { recursive: true });
  const list = entries(seed);
  const directories = new Map<string, number>(); // path -> mtime
  const noteParents = (path: string, mtime: number) => {
    for (let parent = dirname(path); parent !== '.'; parent = dirname(parent)) {
      directories.set(parent, Math.max(directories.get(parent) ?? 0, mtime));
    }
  };
  let bytes = 0;
  let files = 0;
  let symlinks = 0;
  for (const entry of list) {
    const absolute = join(dir, entry.path);
    noteParents(entry.path, entry.mtime);
    if (entry.kind === 'dir') {
      await mkdir(absolute, { recursive: true });
      directories.set(entry.path, Math.max(directories.get(entry.path) ?? 0, entry.mtime));
      continue;
    }
    await mkdir(dirname(absolute), { recursive: true });
    if (entry.kind === 'symlink') {
      await symlink(entry.target as string, absolute);
      await lutimes(absolute, entry.mtime, entry.mtime);
      symlinks += 1;
      continue;
    }
    const content =
      typeof entry.content === 'string'
        ? Buffer.from(entry.content, 'utf8')
        : (entry.content ?? Buffer.alloc(0));
    await writeFile(absolute, content);
    await chmod(absolute, entry.mode ?? 0o644);
    await utimes(absolute, entry.mtime, entry.mtime);
    bytes += content.length;
    files += 1;
  }
  // Deepest first, so setting a folder's mtime is never undone by touching a child.
  const ordered = [...directories.entries()].sort((a, b) => b[0].split('/').length - a[0].split('/').length);
  for (const [path, mtime] of ordered) {
    const absolute = join(dir, path);
    await chmod(absolute, 0o755);
    await utimes(absolute, mtime + 60, mtime + 60);
  }
  await chmod(dir, 0o755);
  return { root: dir, files, directories: directories.size, symlinks, bytes };
}
