import { constants } from 'node:fs';
import { type FileHandle, lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import yauzl from 'yauzl';
import { clip } from '#runtime/text.ts';
import { compileSelection } from './liferay-rules.ts';

/**
 * What a Liferay Home says about itself, read without running Liferay: where the document
 * library really lives and in which kind of store, whether search runs on the sidecar, and
 * which DXP build this is. Every read is bounded and tolerant: a missing, huge or broken file
 * becomes a warning, never an exception. Nothing outside the Liferay Home is opened, except the
 * configured document library root (looked at, never read), and symlinks that lead out of the
 * home are not followed.
 *
 * Liferay facts used here, each checked in Liferay's sources or docs (see the fixtures in
 * test/components/files/liferay-discovery.test.ts):
 * - portal properties are read in the order portal-bundle, portal-ext, portal-setup-wizard
 *   (each `${liferay.home}/…`), then the files their `include-and-override` entries add; a later
 *   source wins (learn installation-and-upgrades/reference/portal-properties.md).
 * - the file system stores take `rootDir` from OSGi configuration
 *   `com.liferay.portal.store.file.system.configuration.(Advanced)FileSystemStoreConfiguration`,
 *   default `data/document_library`, a relative root resolved against liferay.home
 *   (liferay-portal FileSystemStore.java; FileSystemStoreConfiguration.java); the advanced store
 *   registers only when configured (AdvancedFileSystemStoreRegister: ConfigurationPolicy.REQUIRE).
 * - `dl.store.file.system.root.dir` is a 6.x portal property that 7.0+ ignores (VerifyProperties
 *   lists it as modularized); `configuration.override.<pid>_<key>` portal properties beat
 *   configuration files (learn using-configuration-files.md, 7.4+/7.3 FP1/7.2 FP14).
 * - `.config` files use the Felix ConfigurationHandler syntax (Liferay's copy in
 *   modules/third-party/org-apache-felix-fileinstall); `.cfg` files are Java properties.
 * - search is production (remote) when ElasticsearchConfiguration `productionModeEnabled` is
 *   true or the older `operationMode` is REMOTE, otherwise the sidecar (OperationModeResolver);
 *   the default of productionModeEnabled is false (ElasticsearchConfiguration.java).
 * - release bundles carry `.liferay-version` and `.githash` at the root (liferay-docker
 *   release/_package.sh); portal-impl.jar's manifest carries Liferay-Portal-Version,
 *   -Build-Number, -Release-Info (source-formatter's common.bnd keys) and, when patched,
 *   -Installed-Patches; 7.4 keeps the jar in WEB-INF/shielded-container-lib (liferay-docker reads
 *   it there), older versions in WEB-INF/lib.
 */

export interface DxpBuild {
  /** The product version: `.liferay-version` (e.g. 2024.q1.1), else Liferay-Portal-Version. */
  version: string;
  /** Liferay-Portal-Build-Number, e.g. 7413. */
  build?: string;
  /** Where the facts were read. */
  source: string;
  portalVersion?: string;
  releaseInfo?: string;
  installedPatches?: string[];
  gitHash?: string;
}

export type StoreKind =
  | 'FileSystemStore'
  | 'AdvancedFileSystemStore'
  | 'S3Store'
  | 'DBStore'
  | 'GCSStore'
  | 'AzureStore'
  | 'JCRStore'
  | 'CMISStore'
  | 'unknown';

export interface LiferayHomeFacts {
  dxp?: DxpBuild;
  documentLibrary: {
    /** The configured `dl.store.impl` class (the default FileSystemStore when none is set). */
    store: string;
    kind: StoreKind;
    /** Absolute path of the store root on this machine; '' when the store keeps nothing on disk. */
    rootDir: string;
    /** true when the root (after resolving symlinks) lies inside the Liferay Home. */
    insideHome: boolean;
    /** The root relative to the Liferay Home (`/`-separated), when insideHome. */
    relPath?: string;
    /** Where rootDir came from. */
    source: string;
  };
  searchEngine: { mode: 'sidecar' | 'remote' | 'unknown'; source?: string };
  warnings: string[];
}

export interface AppServerFacts {
  warnings: string[];
  /** e.g. "Apache Tomcat/9.0.83". */
  server?: string;
  /** The DXP build found in the server's webapps/ROOT (when the portal is deployed there). */
  dxp?: DxpBuild;
}

// ------------------------------------------------------------------ limits

const MAX_PROPERTIES_BYTES = 1024 * 1024;
const MAX_CONFIG_BYTES = 256 * 1024;
const MAX_MARKER_BYTES = 4096;
const MAX_MANIFEST_BYTES = 256 * 1024;
const MAX_JAR_ENTRIES = 200_000;
const MAX_PROPERTY_FILES = 32;
const MAX_WARNINGS = 50;
const MAX_WARNING_LENGTH = 1000;
const MAX_DIR_ENTRIES = 10_000;

// biome-ignore lint/suspicious/noTemplateCurlyInString: Liferay's own variable syntax, not a JS template
const LIFERAY_HOME_VAR = '${liferay.home}';
const DEFAULT_STORE = 'com.liferay.portal.store.file.system.FileSystemStore';
const DEFAULT_DL_ROOT = 'data/document_library';
const FS_STORE_PID = 'com.liferay.portal.store.file.system.configuration.FileSystemStoreConfiguration';
const ADVANCED_FS_STORE_PID =
  'com.liferay.portal.store.file.system.configuration.AdvancedFileSystemStoreConfiguration';
const S3_STORE_PID = 'com.liferay.portal.store.s3.configuration.S3StoreConfiguration';
const ELASTICSEARCH_PIDS = [
  'com.liferay.portal.search.elasticsearch7.configuration.ElasticsearchConfiguration',
  'com.liferay.portal.search.elasticsearch8.configuration.ElasticsearchConfiguration',
  'com.liferay.portal.search.elasticsearch6.configuration.ElasticsearchConfiguration',
];
const OPENSEARCH_PID = 'com.liferay.portal.search.opensearch2.configuration.OpenSearchConfiguration';

// ------------------------------------------------------------------ small helpers

/** A value from a file, made safe and short for a warning. */
function show(value: string): string {
  return JSON.stringify(clip(value, 200));
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

class Warnings {
  readonly list: string[] = [];
  add(text: string): void {
    if (this.list.length >= MAX_WARNINGS) return;
    const clipped = clip(text, MAX_WARNING_LENGTH);
    if (!this.list.includes(clipped)) this.list.push(clipped);
  }
}

function toPosix(path: string): string {
  return sep === '/' ? path : path.split(sep).join('/');
}

/** Whether `child` is `parent` or lies beneath it (both absolute and normalised). */
function isWithin(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Decodes text as UTF-8, or as ISO-8859-1 (Java's properties encoding) when it is not valid UTF-8. */
function decodeText(data: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data).replace(/^\uFEFF/, '');
  } catch {
    return data.toString('latin1');
  }
}

type ReadResult = { ok: true; data: Buffer } | { ok: false; missing: boolean; reason: string };

/**
 * Reads a file inside the home: at most `limit` bytes, a regular file only, and never through a
 * symlink that leads out of the home.
 */
async function readInside(home: Home, relPath: string, limit: number): Promise<ReadResult> {
  const absolute = join(home.root, relPath);
  let real: string;
  try {
    real = await realpath(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, missing: code === 'ENOENT' || code === 'ENOTDIR', reason: message(error) };
  }
  if (!isWithin(home.realRoot, real)) {
    return {
      ok: false,
      missing: false,
      reason: `it leads out of the Liferay Home (to ${real}); not followed`,
    };
  }
  let handle: FileHandle | undefined;
  try {
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const info = await handle.stat();
    if (!info.isFile()) return { ok: false, missing: false, reason: 'it is not a regular file' };
    if (info.size > limit)
      return {
        ok: false,
        missing: false,
        reason: `it is ${info.size} bytes, more than the ${limit} read for it`,
      };
    const buffer = Buffer.alloc(Math.min(info.size, limit) + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > limit)
      return { ok: false, missing: false, reason: `it grew beyond ${limit} bytes while being read` };
    return { ok: true, data: buffer.subarray(0, length) };
  } catch (error) {
    return { ok: false, missing: false, reason: message(error) };
  } finally {
    await handle?.close();
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    const names = await readdir(path);
    return names.slice(0, MAX_DIR_ENTRIES);
  } catch {
    return [];
  }
}

// ------------------------------------------------------------------ Java properties

export interface PropertyEntry {
  key: string;
  value: string;
  /** 1-based number of the line the entry starts on. */
  line: number;
}

export interface ParsedProperties {
  entries: PropertyEntry[];
  problems: string[];
}

function isPropertiesSpace(char: string | undefined): boolean {
  return char === ' ' || char === '\t' || char === '\f';
}

/** Undoes java.util.Properties escapes (\t \n \r \f \uXXXX, \x → x); undefined when a \u is malformed. */
function unescapeProperties(text: string): string | undefined {
  let out = '';
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index] as string;
    if (char !== '\\') {
      out += char;
      continue;
    }
    index += 1;
    const next = text[index];
    if (next === undefined) break;
    if (next === 'u') {
      const code = text.slice(index + 1, index + 5);
      if (!/^[0-9a-fA-F]{4}$/.test(code)) return undefined; // Java: "Malformed \uxxxx encoding"
      out += String.fromCharCode(Number.parseInt(code, 16));
      index += 4;
    } else if (next === 't') out += '\t';
    else if (next === 'n') out += '\n';
    else if (next === 'r') out += '\r';
    else if (next === 'f') out += '\f';
    else out += next;
  }
  return out;
}

/**
 * Parses the java.util.Properties format (Properties.load): `#`/`!` comments, key and value
 * separated by `=`, `:` or white space, a line ending in an odd number of backslashes continued on
 * the next (whose leading white space is dropped), and Java escapes. Repeated keys are all
 * returned, in order. A malformed `\u` escape drops that entry and is reported (Java refuses the
 * whole file; Liferay would then not start, which is for Liferay to report).
 */
export function parseProperties(text: string): ParsedProperties {
  const lines = text.split(/\r\n|\r|\n/);
  const entries: PropertyEntry[] = [];
  const problems: string[] = [];
  for (let index = 0; index < lines.length; index += 1) {
    const startLine = index + 1;
    let line = (lines[index] as string).replace(/^[ \t\f]+/, '');
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    // Join continuation lines: an odd number of trailing backslashes escapes the line end.
    while (/(^|[^\\])(\\\\)*\\$/.test(line) && index + 1 < lines.length) {
      index += 1;
      line = line.slice(0, -1) + (lines[index] as string).replace(/^[ \t\f]+/, '');
    }
    if (/(^|[^\\])(\\\\)*\\$/.test(line)) line = line.slice(0, -1); // a continuation at the end of the file
    let keyEnd = 0;
    while (keyEnd < line.length) {
      const char = line[keyEnd];
      if (char === '\\') {
        keyEnd += 2;
        continue;
      }
      if (char === '=' || char === ':' || isPropertiesSpace(char)) break;
      keyEnd += 1;
    }
    let valueStart = keyEnd;
    while (isPropertiesSpace(line[valueStart])) valueStart += 1;
    if (line[valueStart] === '=' || line[valueStart] === ':') {
      valueStart += 1;
      while (isPropertiesSpace(line[valueStart])) valueStart += 1;
    }
    const key = unescapeProperties(line.slice(0, Math.min(keyEnd, line.length)));
    const value = unescapeProperties(line.slice(valueStart));
    if (key === undefined || value === undefined) {
      problems.push(`line ${startLine}: malformed \\uxxxx escape`);
      continue;
    }
    entries.push({ key, value, line: startLine });
  }
  return { entries, problems };
}

// ------------------------------------------------------------------ OSGi .config (Felix)

export type ConfigValue = string | number | boolean | ConfigValue[];

export interface ParsedConfig {
  values: Map<string, ConfigValue>;
  /** Set when the file cannot be read as a whole (Felix then rejects it and applies nothing). */
  error?: string;
}

const CONFIG_TYPE_CODES = new Set([
  'T',
  'I',
  'L',
  'F',
  'D',
  'X',
  'S',
  'C',
  'B',
  'i',
  'l',
  'f',
  'd',
  'x',
  's',
  'c',
  'b',
]);

class ConfigSyntaxError extends Error {}

/**
 * Parses an OSGi `.config` file the way Apache Felix's ConfigurationHandler does (Liferay's copy:
 * modules/third-party/org-apache-felix-fileinstall/…/ConfigurationHandler.java):
 * `key=value` entries where a value is an optional one-letter type (T I L F D X S C B, or the
 * primitive i l f d x s c b) followed by `"simple"`, `[array]` or `(collection)`; `#` starts a
 * comment where a key is expected; `\` escapes (\b \t \n \f \r \uXXXX, any other character
 * stands for itself); inside arrays a `\` before a line end continues the line. The last of
 * repeated keys wins (a Hashtable). Any syntax error rejects the whole file, as in Felix.
 */
export function parseOsgiConfig(text: string): ParsedConfig {
  const values = new Map<string, ConfigValue>();
  let position = 0;
  let line = 1;
  const peek = () => text[position];
  const read = () => {
    const char = text[position];
    position += 1;
    if (char === '\n') line += 1;
    return char;
  };
  const fail = (what: string): never => {
    throw new ConfigSyntaxError(`line ${line}: ${what}`);
  };
  const skipSpace = () => {
    while (position < text.length && /\s/.test(text[position] as string)) read();
  };
  /** White space, and `\` + line end (only between array/collection elements). */
  const skipSpaceAndBreaks = () => {
    for (;;) {
      skipSpace();
      if (peek() === '\\' && (text[position + 1] === '\n' || text[position + 1] === '\r')) {
        read();
        continue;
      }
      return;
    }
  };
  const readEscaped = (stop: (char: string) => boolean): string => {
    let out = '';
    while (position < text.length) {
      const char = peek() as string;
      if (stop(char)) return out;
      read();
      if (char !== '\\') {
        out += char;
        continue;
      }
      const next = read();
      if (next === undefined) return out;
      if (next === 'b') out += '\b';
      else if (next === 't') out += '\t';
      else if (next === 'n') out += '\n';
      else if (next === 'f') out += '\f';
      else if (next === 'r') out += '\r';
      else if (next === 'u') {
        const code = text.slice(position, position + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(code)) fail('malformed \\u escape');
        out += String.fromCharCode(Number.parseInt(code, 16));
        position += 4;
      } else out += next;
    }
    return out;
  };
  const typed = (type: string, raw: string): ConfigValue => {
    const upper = type.toUpperCase();
    if (upper === 'T') return raw;
    if (upper === 'B') return raw.toLowerCase() === 'true'; // Boolean.valueOf
    if (upper === 'C') {
      if (raw.length === 0) fail('an empty character value');
      return raw.slice(0, 1);
    }
    if (upper === 'F' || upper === 'D') {
      const number = Number(raw);
      // Without a '.', Felix reads the raw bits of the number: keep the text's value, it is only informational here.
      if (raw.trim() === '' || Number.isNaN(number)) fail(`${show(raw)} is not a number`);
      return number;
    }
    if (!/^[-+]?\d+$/.test(raw.trim())) fail(`${show(raw)} is not an integer`);
    return Number(raw.trim());
  };
  const readSimple = (type: string): ConfigValue => {
    const raw = readEscaped((char) => char === '"');
    if (read() !== '"') fail('a quoted value is not closed');
    return typed(type, raw);
  };
  const readList = (type: string, close: string): ConfigValue[] => {
    const list: ConfigValue[] = [];
    for (;;) {
      skipSpaceAndBreaks();
      let char = read();
      if (char === '"') {
        list.push(readSimple(type));
        skipSpaceAndBreaks();
        char = read();
      }
      if (char === close) return list;
      if (char !== ',') fail(`expected , or ${close} in a list`);
    }
  };
  try {
    for (;;) {
      skipSpace();
      if (position >= text.length) break;
      if (peek() === '#') {
        while (position < text.length && peek() !== '\n') read();
        continue;
      }
      const keyLine = line;
      const key = readEscaped((char) => char === '"' || char === ' ' || char === '=');
      skipSpace();
      if (key === '' || read() !== '=') fail(`expected key="value" (line ${keyLine})`);
      skipSpace();
      let type = 'T';
      let code = read();
      if (code !== undefined && CONFIG_TYPE_CODES.has(code)) {
        type = code;
        code = read();
      }
      if (code === '"') values.set(key, readSimple(type));
      else if (code === '[') values.set(key, readList(type, ']'));
      else if (code === '(') values.set(key, readList(type, ')'));
      else fail(`the value of ${show(key)} must be quoted ("…"), or a [list]`);
    }
  } catch (error) {
    if (error instanceof ConfigSyntaxError) return { values, error: error.message };
    throw error;
  }
  return { values };
}

// ------------------------------------------------------------------ JAR manifest

/**
 * The main section of a JAR manifest: `Name: value` lines, a line starting with one space
 * continuing the previous value (JAR File Specification), ending at the first blank line.
 * Names are matched without regard to case, as the specification says.
 */
export function parseManifest(text: string): Map<string, string> {
  const attributes = new Map<string, string>();
  let current: string | undefined;
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') break;
    if (line.startsWith(' ')) {
      if (current !== undefined) attributes.set(current, `${attributes.get(current) ?? ''}${line.slice(1)}`);
      continue;
    }
    const colon = line.indexOf(': ');
    if (colon <= 0) {
      current = undefined;
      continue;
    }
    current = line.slice(0, colon).toLowerCase();
    attributes.set(current, line.slice(colon + 2));
  }
  return attributes;
}

/** Reads one entry of a zip/jar by streaming it (yauzl reads the central directory, not the whole file). */
export function readZipEntry(
  zipPath: string,
  entryName: string,
  maxBytes: number,
): Promise<Buffer | undefined> {
  return new Promise((resolvePromise, rejectPromise) => {
    yauzl.open(
      zipPath,
      { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false },
      (openError, zipfile) => {
        if (openError || !zipfile) {
          rejectPromise(openError ?? new Error('cannot open the archive'));
          return;
        }
        let settled = false;
        const done = (error: Error | undefined, value?: Buffer) => {
          if (settled) return;
          settled = true;
          try {
            zipfile.close();
          } catch {
            // already closed: nothing left to release
          }
          if (error) rejectPromise(error);
          else resolvePromise(value);
        };
        let seen = 0;
        zipfile.on('error', (error: Error) => done(error));
        zipfile.on('end', () => done(undefined, undefined));
        zipfile.on('entry', (entry: yauzl.Entry) => {
          if (settled) return;
          seen += 1;
          if (seen > MAX_JAR_ENTRIES) {
            done(new Error(`more than ${MAX_JAR_ENTRIES} entries before ${entryName}`));
            return;
          }
          if (entry.fileName !== entryName) {
            zipfile.readEntry();
            return;
          }
          if (entry.uncompressedSize > maxBytes) {
            done(
              new Error(`${entryName} is ${entry.uncompressedSize} bytes, more than the ${maxBytes} read`),
            );
            return;
          }
          zipfile.openReadStream(entry, (streamError, stream) => {
            if (streamError || !stream) {
              done(streamError ?? new Error(`cannot read ${entryName}`));
              return;
            }
            const chunks: Buffer[] = [];
            let total = 0;
            stream.on('data', (chunk: Buffer) => {
              total += chunk.length;
              if (total > maxBytes) {
                stream.destroy();
                done(new Error(`${entryName} is larger than ${maxBytes} bytes`));
                return;
              }
              chunks.push(chunk);
            });
            stream.on('error', (error) => done(error));
            stream.on('end', () => done(undefined, Buffer.concat(chunks)));
          });
        });
        zipfile.readEntry();
      },
    );
  });
}

// ------------------------------------------------------------------ the home

interface Home {
  readonly root: string;
  readonly realRoot: string;
}

interface PropertySource {
  readonly relPath: string;
  readonly value: string;
}

/** The portal properties as Liferay would see them from the files of this home. */
class PortalProperties {
  private readonly effective = new Map<string, PropertySource>();
  readonly files: string[] = [];

  set(key: string, value: string, relPath: string): void {
    this.effective.set(key, { relPath, value });
  }

  get(key: string): PropertySource | undefined {
    return this.effective.get(key);
  }
}

const PROPERTY_FILE_ORDER = [
  'portal-bundle.properties',
  'portal-ext.properties',
  'portal-setup-wizard.properties',
];
const WATCHED_KEYS = new Set(['dl.store.impl', 'dl.store.file.system.root.dir', 'liferay.home']);

/** `${liferay.home}/x` and relative names resolve in the home; absolute paths map through the declared liferay.home. */
function includeTarget(
  raw: string,
  declaredHome: string | undefined,
): { rel?: string; outside?: string; unresolved?: boolean } {
  let value = raw.trim();
  if (value === '') return {};
  if (value.startsWith(LIFERAY_HOME_VAR)) value = value.slice(LIFERAY_HOME_VAR.length).replace(/^\/+/, '');
  else if (isAbsolute(value)) {
    if (declaredHome && isWithin(declaredHome, value)) value = relative(declaredHome, value);
    else return { outside: value };
  }
  if (value.includes('${') || value.includes('$[')) return { unresolved: true };
  const rel = toPosix(normalize(value));
  if (rel.startsWith('..')) return { outside: value };
  return { rel };
}

async function loadPortalProperties(home: Home, warnings: Warnings): Promise<PortalProperties> {
  const properties = new PortalProperties();
  const queue = [...PROPERTY_FILE_ORDER];
  const visited = new Set<string>();
  const declaredHome = () => {
    const value = properties.get('liferay.home')?.value;
    return value && isAbsolute(value) ? normalize(value) : undefined;
  };
  while (queue.length > 0) {
    const relPath = queue.shift() as string;
    if (visited.has(relPath)) continue;
    visited.add(relPath);
    if (visited.size > MAX_PROPERTY_FILES) {
      warnings.add(
        `more than ${MAX_PROPERTY_FILES} portal properties files are included; the rest were not read`,
      );
      break;
    }
    const read = await readInside(home, relPath, MAX_PROPERTIES_BYTES);
    if (!read.ok) {
      // Liferay skips a file that is not there, included ones too: its own portal.properties
      // includes several that rarely exist, and production homes keep the documented
      // `include-and-override=portal-developer.properties` with the file removed. It has no
      // properties to miss, and a warning every night for it would teach people to skip them all.
      if (!read.missing) {
        warnings.add(
          `${relPath} could not be read (${read.reason}); the properties in it are unknown to discovery`,
        );
      }
      continue;
    }
    properties.files.push(relPath);
    const parsed = parseProperties(decodeText(read.data));
    for (const problem of parsed.problems)
      warnings.add(`${relPath} ${problem}: that entry was skipped (Liferay would refuse the file)`);
    const counts = new Map<string, number>();
    for (const entry of parsed.entries) {
      if (entry.key === 'include-and-override') {
        // commons-configuration lists: one key may repeat, and a value may hold several names.
        for (const name of entry.value.split(',')) {
          const target = includeTarget(name, declaredHome());
          if (target.rel) queue.push(target.rel);
          else if (target.outside) {
            warnings.add(
              `${relPath} includes ${show(target.outside)}, which is outside the Liferay Home: not read, its properties are unknown to discovery`,
            );
          }
        }
        continue;
      }
      counts.set(entry.key, (counts.get(entry.key) ?? 0) + 1);
      properties.set(entry.key, entry.value, relPath);
    }
    for (const [key, count] of counts) {
      if (count > 1 && WATCHED_KEYS.has(key)) {
        warnings.add(
          `${relPath} sets ${key} ${count} times; discovery used the last one, check which one you mean`,
        );
      }
    }
  }
  return properties;
}

/** Replaces `${key}` with other properties (a few rounds); `${liferay.home}` stays for the caller. */
function interpolate(value: string, properties: PortalProperties): string {
  let out = value;
  for (let round = 0; round < 8 && out.includes('${'); round += 1) {
    const next = out.replace(/\$\{([^}]+)\}/g, (whole, key: string) => {
      if (key === 'liferay.home') return whole;
      const found = properties.get(key);
      return found ? found.value : whole;
    });
    if (next === out) break;
    out = next;
  }
  return out;
}

/** Where a configured path lies on this machine: `${liferay.home}`, relative paths and the declared home map into the root. */
function toHostPath(home: Home, raw: string, declaredHome: string | undefined): string {
  let value = raw;
  if (value.startsWith(LIFERAY_HOME_VAR))
    return resolve(home.root, `.${value.slice(LIFERAY_HOME_VAR.length)}`);
  if (isAbsolute(value)) {
    value = normalize(value);
    if (declaredHome && isWithin(declaredHome, value))
      return resolve(home.root, relative(declaredHome, value));
    return value;
  }
  return resolve(home.root, value);
}

// ------------------------------------------------------------------ OSGi configuration lookup

interface ConfigLookup {
  /** The effective value of `key` for `pid`, and where it came from. */
  get(pid: string, key: string): { value: ConfigValue; source: string } | undefined;
  /** Whether a configuration file exists for the pid (even a broken one). */
  hasFile(pid: string): boolean;
}

async function loadConfigs(
  home: Home,
  properties: PortalProperties,
  pids: readonly string[],
  warnings: Warnings,
): Promise<ConfigLookup> {
  const declaredHome = properties.get('liferay.home')?.value;
  const declared = declaredHome && isAbsolute(declaredHome) ? normalize(declaredHome) : undefined;
  // module.framework.configs.dir moves osgi/configs (default ${module.framework.base.dir}/configs).
  let configsRel = 'osgi/configs';
  const configured =
    properties.get('module.framework.configs.dir') ?? properties.get('module.framework.base.dir');
  if (configured) {
    const isBase = !properties.get('module.framework.configs.dir');
    const host = toHostPath(home, interpolate(configured.value, properties), declared);
    const target = isBase ? join(host, 'configs') : host;
    if (isWithin(home.root, target)) configsRel = toPosix(relative(home.root, target));
    else
      warnings.add(
        `${configured.relPath} moves the OSGi configuration folder to ${show(target)}, outside the Liferay Home: its files were not read`,
      );
  }
  const files = new Map<string, { values: Map<string, ConfigValue>; source: string }>();
  const present = new Set<string>();
  for (const pid of pids) {
    for (const extension of ['.config', '.cfg']) {
      // Looked up by name, not by listing the folder: osgi/configs can hold thousands of files.
      const relPath = `${configsRel}/${pid}${extension}`;
      if (!(await exists(join(home.root, relPath)))) continue;
      present.add(pid);
      if (files.has(pid)) {
        warnings.add(
          `both ${pid}.config and ${pid}.cfg exist in ${configsRel}; discovery used the .config file, remove the other so Liferay does not apply both`,
        );
        continue;
      }
      const read = await readInside(home, relPath, MAX_CONFIG_BYTES);
      if (!read.ok) {
        warnings.add(
          `${relPath} could not be read (${read.reason}); discovery assumed Liferay's defaults for it`,
        );
        continue;
      }
      const text = decodeText(read.data);
      if (extension === '.config') {
        const parsed = parseOsgiConfig(text);
        if (parsed.error) {
          warnings.add(
            `${relPath} is not a valid .config file (${parsed.error}): Liferay rejects it as a whole, so discovery assumed the defaults`,
          );
          continue;
        }
        files.set(pid, { values: parsed.values, source: relPath });
      } else {
        const parsed = parseProperties(text);
        files.set(pid, {
          values: new Map(parsed.entries.map((entry) => [entry.key, entry.value])),
          source: relPath,
        });
      }
    }
  }
  return {
    hasFile: (pid) => present.has(pid),
    get(pid, key) {
      // configuration.override.<pid>_<key> (portal property, typed value) beats the files.
      const override = properties.get(`configuration.override.${pid}_${key}`);
      if (override) {
        const parsed = parseOsgiConfig(`v=${override.value}`);
        const value = parsed.values.get('v');
        if (value !== undefined && !parsed.error)
          return { value, source: `${override.relPath} (configuration.override)` };
        warnings.add(
          `${override.relPath}: configuration.override.${pid}_${key} has a value without a type marker or quotes (${show(override.value)}); Liferay requires e.g. B"true" or "text"`,
        );
      }
      const file = files.get(pid);
      const value = file?.values.get(key);
      return file && value !== undefined ? { value, source: file.source } : undefined;
    },
  };
}

// ------------------------------------------------------------------ document library

function storeKind(className: string): StoreKind {
  const simple = className.slice(className.lastIndexOf('.') + 1);
  const known: StoreKind[] = [
    'FileSystemStore',
    'AdvancedFileSystemStore',
    'S3Store',
    'DBStore',
    'GCSStore',
    'AzureStore',
    'JCRStore',
    'CMISStore',
  ];
  return (known as string[]).includes(simple) ? (simple as StoreKind) : 'unknown';
}

function majorVersion(dxp: DxpBuild | undefined): number | undefined {
  const candidates = [dxp?.portalVersion, dxp?.version];
  for (const candidate of candidates) {
    const match = candidate ? /^(\d+)\./.exec(candidate) : null;
    if (match) {
      const major = Number(match[1]);
      // Quarterly releases (2023.q3.1 and later) are 7.4 inside.
      return major >= 2000 ? 7 : major;
    }
  }
  return undefined;
}

async function discoverDocumentLibrary(
  home: Home,
  properties: PortalProperties,
  configs: ConfigLookup,
  dxp: DxpBuild | undefined,
  warnings: Warnings,
): Promise<LiferayHomeFacts['documentLibrary']> {
  const configured = properties.get('dl.store.impl');
  const store = configured ? configured.value.trim() : DEFAULT_STORE;
  const kind = storeKind(store);
  const nothingOnDisk = (advice: string): LiferayHomeFacts['documentLibrary'] => {
    warnings.add(
      `The document library uses ${store} (dl.store.impl in ${configured?.relPath ?? 'portal properties'}): there are no document files on disk to copy. ${advice}`,
    );
    return { store, kind, rootDir: '', insideHome: false, source: configured?.relPath ?? 'default' };
  };
  switch (kind) {
    case 'S3Store': {
      const bucket = configs.get(S3_STORE_PID, 'bucketName');
      const region = configs.get(S3_STORE_PID, 's3Region');
      const name = bucket && typeof bucket.value === 'string' ? ` ${show(bucket.value)}` : '';
      const where =
        name && region && typeof region.value === 'string' ? `${name} (${show(region.value)})` : name;
      return nothingOnDisk(
        `Back up the S3 bucket${where} instead: S3 versioning with a lifecycle rule, AWS Backup for S3, or replication to another account, taken together with the database so that documents and their metadata match.`,
      );
    }
    case 'DBStore':
      return nothingOnDisk(
        'The documents are inside the portal database: the database component (a snapshot or dump of it) is their backup.',
      );
    case 'GCSStore':
      return nothingOnDisk(
        'Back up the Google Cloud Storage bucket instead (object versioning, or a Storage Transfer Service copy), together with the database.',
      );
    case 'AzureStore':
      return nothingOnDisk(
        'Back up the Azure Blob Storage container instead (blob versioning and soft delete, or Azure Backup for blobs), together with the database.',
      );
    case 'JCRStore':
    case 'CMISStore':
      return nothingOnDisk(
        'This store is deprecated and keeps documents in an external repository: back that repository up with its own tools, together with the database.',
      );
    case 'unknown':
      warnings.add(
        `dl.store.impl is ${show(store)} (in ${configured?.relPath}), a store discovery does not know: it cannot tell where the documents are. If it writes to disk, add its folder to the include rules; otherwise back up its storage with its own tools.`,
      );
      return { store, kind, rootDir: '', insideHome: false, source: configured?.relPath ?? 'default' };
    default:
      break;
  }

  // A file system store: find its root.
  const pid = kind === 'AdvancedFileSystemStore' ? ADVANCED_FS_STORE_PID : FS_STORE_PID;
  const declared = properties.get('liferay.home')?.value;
  const declaredHome = declared && isAbsolute(declared) ? normalize(declared) : undefined;
  let rawRoot = DEFAULT_DL_ROOT;
  let source = `default (${DEFAULT_DL_ROOT})`;
  const fromConfig = configs.get(pid, 'rootDir');
  const legacyKey =
    kind === 'AdvancedFileSystemStore'
      ? 'dl.store.advanced.file.system.root.dir'
      : 'dl.store.file.system.root.dir';
  const legacy = properties.get(legacyKey);
  if (fromConfig) {
    if (typeof fromConfig.value === 'string' && fromConfig.value.trim() !== '') {
      rawRoot = fromConfig.value.trim();
      source = fromConfig.source;
    } else {
      warnings.add(
        `${fromConfig.source} sets rootDir to ${show(String(fromConfig.value))}, which Liferay refuses ("root directory is not set"): discovery assumed ${DEFAULT_DL_ROOT}`,
      );
    }
  } else {
    if (kind === 'AdvancedFileSystemStore') {
      warnings.add(
        `dl.store.impl is AdvancedFileSystemStore but there is no ${ADVANCED_FS_STORE_PID}.config in osgi/configs: Liferay registers that store only when it is configured (perhaps in System Settings, stored in the database). Discovery assumed ${DEFAULT_DL_ROOT}; export the configuration to osgi/configs so the backup knows the root.`,
      );
    }
    if (legacy) {
      const major = majorVersion(dxp);
      if (major !== undefined && major < 7) {
        rawRoot = interpolate(legacy.value.trim(), properties);
        source = `${legacy.relPath} (${legacyKey})`;
      } else {
        warnings.add(
          `${legacy.relPath} sets ${legacyKey}=${show(legacy.value)}, a Liferay 6.x property that 7.0 and later ignore (the root comes from ${pid}): discovery used ${DEFAULT_DL_ROOT}. Move the setting to osgi/configs/${pid}.config as rootDir="…".`,
        );
      }
    }
  }

  if (/\$\[|\$\{(?!liferay\.home\})/.test(rawRoot)) {
    warnings.add(
      `the document library root ${show(rawRoot)} (${source}) uses a variable that discovery cannot see (an environment variable or an unknown property): discovery assumed ${DEFAULT_DL_ROOT}. Add the real folder to the include rules if it differs.`,
    );
    rawRoot = DEFAULT_DL_ROOT;
  }
  const hostRoot = toHostPath(home, rawRoot, declaredHome);
  // The configured root is the one path outside the home that discovery may look at.
  let realRoot: string | undefined;
  try {
    realRoot = await realpath(hostRoot);
  } catch {
    realRoot = undefined;
  }
  if (realRoot === undefined) {
    warnings.add(
      `the document library root ${hostRoot} (${source}) does not exist: no document is on disk there. If the root was set in System Settings (kept in the database), export that configuration to osgi/configs, or add the real folder to the include rules.`,
    );
    const inside = isWithin(home.root, hostRoot);
    return {
      store,
      kind,
      rootDir: hostRoot,
      insideHome: inside,
      ...(inside ? { relPath: toPosix(relative(home.root, hostRoot)) } : {}),
      source,
    };
  }
  if (!(await isDirectory(realRoot))) {
    warnings.add(`the document library root ${hostRoot} (${source}) is not a folder: nothing to copy there`);
  }
  const insideHome = isWithin(home.realRoot, realRoot) && isWithin(home.root, hostRoot);
  // What to do about a root outside the home, or inside it but not selected by the rules, is the
  // files engine's decision (backup-plan.ts adds it as a source or an include rule, and says so);
  // discovery only explains what the engine cannot see: a symlink that leads the root out.
  if (!insideHome) {
    if (realRoot !== hostRoot && isWithin(home.root, hostRoot)) {
      warnings.add(
        `${toPosix(relative(home.root, hostRoot))} is a symlink to ${realRoot}: the document library lies outside the Liferay Home, and a backup of the home alone would record only the symlink, not the documents.`,
      );
    }
    return { store, kind, rootDir: realRoot, insideHome: false, source };
  }
  const relPath = toPosix(relative(home.realRoot, realRoot));
  return { store, kind, rootDir: join(home.root, relPath), insideHome: true, relPath, source };
}

// ------------------------------------------------------------------ search engine

async function discoverSearchEngine(
  home: Home,
  configs: ConfigLookup,
  warnings: Warnings,
): Promise<LiferayHomeFacts['searchEngine']> {
  const sidecarWarning = (why: string) =>
    warnings.add(
      `Search runs on the sidecar Elasticsearch (${why}). Liferay does not support the sidecar in production; its data (data/elasticsearch*, elasticsearch-sidecar/, elasticsearch7/) is left out of this backup because Liferay rebuilds it with a full reindex. In production use a remote Elasticsearch or OpenSearch cluster, and back it up with the search component.`,
    );
  if (configs.hasFile(OPENSEARCH_PID) || configs.get(OPENSEARCH_PID, 'remoteClusterConnectionId')) {
    return { mode: 'remote', source: `osgi/configs/${OPENSEARCH_PID}.config` };
  }
  for (const pid of ELASTICSEARCH_PIDS) {
    const production = configs.get(pid, 'productionModeEnabled');
    const operationMode = configs.get(pid, 'operationMode');
    if (!production && !operationMode && !configs.hasFile(pid)) continue;
    const isProduction =
      production?.value === true ||
      (typeof production?.value === 'string' && production.value.toLowerCase() === 'true');
    const isRemote =
      typeof operationMode?.value === 'string' && operationMode.value.toUpperCase() === 'REMOTE';
    const source = production?.source ?? operationMode?.source ?? `osgi/configs/${pid}`;
    if (isProduction || isRemote) return { mode: 'remote', source };
    sidecarWarning(
      production
        ? `productionModeEnabled is false in ${production.source}`
        : operationMode
          ? `operationMode is ${show(String(operationMode.value))} in ${operationMode.source}`
          : `${source} does not enable productionModeEnabled, which defaults to false`,
    );
    return { mode: 'sidecar', source };
  }
  const evidence: string[] = [];
  for (const name of ['elasticsearch-sidecar', 'elasticsearch7'])
    if (await exists(join(home.root, name))) evidence.push(`${name}/`);
  for (const name of await listDir(join(home.root, 'data')))
    if (name.startsWith('elasticsearch')) evidence.push(`data/${name}/`);
  if (evidence.length > 0) {
    sidecarWarning(
      `no connector configuration in osgi/configs, so productionModeEnabled has its default, false, and ${evidence.join(', ')} exist`,
    );
    return { mode: 'sidecar', source: evidence.join(', ') };
  }
  warnings.add(
    'No search connector configuration (ElasticsearchConfiguration or OpenSearchConfiguration) in osgi/configs: if it was set in System Settings it lives in the database; otherwise Liferay starts the sidecar, which is not for production. Discovery cannot tell which.',
  );
  return { mode: 'unknown' };
}

// ------------------------------------------------------------------ DXP build

const PORTAL_IMPL_PATHS = [
  'webapps/ROOT/WEB-INF/shielded-container-lib/portal-impl.jar',
  'webapps/ROOT/WEB-INF/lib/portal-impl.jar',
];

async function readMarker(
  home: Home,
  relPath: string,
  pattern: RegExp,
  warnings: Warnings,
): Promise<string | undefined> {
  const read = await readInside(home, relPath, MAX_MARKER_BYTES);
  if (!read.ok) {
    if (!read.missing) warnings.add(`${relPath} could not be read (${read.reason})`);
    return undefined;
  }
  const value = decodeText(read.data).trim();
  if (!pattern.test(value)) {
    warnings.add(`${relPath} does not hold what it should (${show(value)}): ignored`);
    return undefined;
  }
  return value;
}

/** Reads portal-impl.jar's manifest from a server folder (relative to the home). */
async function readPortalImpl(
  home: Home,
  serverRel: string,
  warnings: Warnings,
): Promise<{ attributes: Map<string, string>; relPath: string } | undefined> {
  for (const candidate of PORTAL_IMPL_PATHS) {
    const relPath = serverRel === '' ? candidate : `${serverRel}/${candidate}`;
    const absolute = join(home.root, relPath);
    let real: string;
    try {
      real = await realpath(absolute);
    } catch {
      continue;
    }
    if (!isWithin(home.realRoot, real)) {
      warnings.add(`${relPath} leads out of the folder being backed up (to ${real}); not read`);
      continue;
    }
    try {
      if (!(await stat(real)).isFile()) continue;
      const manifest = await readZipEntry(real, 'META-INF/MANIFEST.MF', MAX_MANIFEST_BYTES);
      if (!manifest) {
        warnings.add(`${relPath} has no META-INF/MANIFEST.MF: the DXP build could not be read from it`);
        continue;
      }
      return { attributes: parseManifest(decodeText(manifest)), relPath };
    } catch (error) {
      warnings.add(
        `${relPath} could not be read as a jar (${message(error)}): the DXP build could not be read from it`,
      );
    }
  }
  return undefined;
}

function buildFromManifest(
  attributes: Map<string, string>,
): Omit<DxpBuild, 'version' | 'source'> & { portalVersion?: string } {
  const get = (name: string) => {
    const value = attributes.get(name.toLowerCase())?.trim();
    return value && value.length <= 512 ? value : undefined;
  };
  const patches = get('Liferay-Portal-Installed-Patches');
  const build = get('Liferay-Portal-Build-Number');
  const portalVersion = get('Liferay-Portal-Version');
  const releaseInfo = get('Liferay-Portal-Release-Info');
  return {
    ...(build ? { build } : {}),
    ...(portalVersion ? { portalVersion } : {}),
    ...(releaseInfo ? { releaseInfo } : {}),
    ...(patches ? { installedPatches: patches.split(/[\s,]+/).filter(Boolean) } : {}),
  };
}

async function tomcatFolders(root: string): Promise<string[]> {
  const names = (await listDir(root)).filter((name) => /^tomcat(-[\d.]+)?$/.test(name));
  // `tomcat` first (7.4 bundles), then the newest versioned folder.
  return names.sort((a, b) =>
    a === 'tomcat' ? -1 : b === 'tomcat' ? 1 : b.localeCompare(a, 'en', { numeric: true }),
  );
}

async function discoverDxp(home: Home, warnings: Warnings): Promise<DxpBuild | undefined> {
  const version = await readMarker(home, '.liferay-version', /^[\w][\w.+-]{0,63}$/, warnings);
  const gitHash = await readMarker(home, '.githash', /^[0-9a-fA-F]{7,64}$/, warnings);
  const sources: string[] = [];
  if (version) sources.push('.liferay-version');
  let manifest: { attributes: Map<string, string>; relPath: string } | undefined;
  const folders = await tomcatFolders(home.root);
  if (folders.length > 1)
    warnings.add(
      `the Liferay Home holds several Tomcat folders (${folders.join(', ')}): discovery read the DXP build from ${folders[0]}`,
    );
  for (const folder of folders) {
    manifest = await readPortalImpl(home, folder, warnings);
    if (manifest) break;
  }
  const fromManifest = manifest ? buildFromManifest(manifest.attributes) : {};
  if (manifest) sources.push(manifest.relPath);
  const finalVersion = version ?? fromManifest.portalVersion;
  if (!finalVersion) {
    warnings.add(
      'The DXP build could not be found (no .liferay-version, no readable portal-impl.jar in a tomcat folder of the Liferay Home): the backup cannot check that a restore goes onto the same build.',
    );
    return undefined;
  }
  return {
    version: finalVersion,
    ...fromManifest,
    ...(gitHash ? { gitHash } : {}),
    source: sources.join(' + '),
  };
}

async function openHome(root: string, what: string, warnings: Warnings): Promise<Home | undefined> {
  const absolute = resolve(root);
  try {
    const info = await stat(absolute);
    if (!info.isDirectory()) {
      warnings.add(`${what} ${absolute} is not a folder`);
      return undefined;
    }
    return { root: absolute, realRoot: await realpath(absolute) };
  } catch (error) {
    warnings.add(`${what} ${absolute} cannot be read (${message(error)})`);
    return undefined;
  }
}

function fallbackFacts(warnings: Warnings): LiferayHomeFacts {
  return {
    documentLibrary: {
      store: DEFAULT_STORE,
      kind: 'FileSystemStore',
      rootDir: '',
      insideHome: false,
      source: 'not discovered',
    },
    searchEngine: { mode: 'unknown' },
    warnings: warnings.list,
  };
}

/** Reads what the Liferay Home at `root` says about its document library, search engine and build. */
export async function discoverLiferayHome(root: string): Promise<LiferayHomeFacts> {
  const warnings = new Warnings();
  try {
    const home = await openHome(root, 'the Liferay Home', warnings);
    if (!home) return fallbackFacts(warnings);
    const markers = ['.liferay-home', 'portal-ext.properties', 'osgi', 'data'];
    const found = await Promise.all(markers.map((name) => exists(join(home.root, name))));
    if (!found.some(Boolean)) {
      warnings.add(
        `${home.root} does not look like a Liferay Home (no .liferay-home, portal-ext.properties, osgi/ or data/): check the path`,
      );
    }
    const properties = await loadPortalProperties(home, warnings);
    const defaults = compileSelection('liferayHome');
    for (const file of properties.files) {
      if (!defaults.includes(file, false)) {
        warnings.add(
          `${file} is read by Liferay (include-and-override) but the default rules leave it out: add "${file}" to the liferayHome include rules.`,
        );
      }
    }
    const configs = await loadConfigs(
      home,
      properties,
      [FS_STORE_PID, ADVANCED_FS_STORE_PID, S3_STORE_PID, ...ELASTICSEARCH_PIDS, OPENSEARCH_PID],
      warnings,
    );
    const dxp = await discoverDxp(home, warnings);
    const documentLibrary = await discoverDocumentLibrary(home, properties, configs, dxp, warnings);
    const searchEngine = await discoverSearchEngine(home, configs, warnings);
    return { ...(dxp ? { dxp } : {}), documentLibrary, searchEngine, warnings: warnings.list };
  } catch (error) {
    warnings.add(`discovery stopped early (${message(error)}): the facts above are incomplete`);
    return fallbackFacts(warnings);
  }
}

/** The include rule that covers the document library when it lies inside the home (for the engine to add). */
export function documentLibraryRule(facts: LiferayHomeFacts): string | undefined {
  return facts.documentLibrary.insideHome && facts.documentLibrary.relPath
    ? facts.documentLibrary.relPath
    : undefined;
}

// ------------------------------------------------------------------ application server

/** Reads which server this is (Tomcat's ServerInfo) and the DXP build deployed in it. */
export async function discoverAppServer(root: string): Promise<AppServerFacts> {
  const warnings = new Warnings();
  try {
    const home = await openHome(root, 'the application server folder', warnings);
    if (!home) return { warnings: warnings.list };
    const looksLikeTomcat = await Promise.all(
      ['conf/server.xml', 'lib/catalina.jar', 'bin/catalina.sh'].map((name) => exists(join(home.root, name))),
    );
    if (!looksLikeTomcat.some(Boolean)) {
      warnings.add(
        `${home.root} does not look like a Tomcat (no conf/server.xml, lib/catalina.jar or bin/catalina.sh): the default appServer rules assume Tomcat's layout (work/, temp/, logs/)`,
      );
    }
    let server: string | undefined;
    // Tomcat reads CATALINA_BASE/lib/org/apache/catalina/util/ServerInfo.properties before the one in catalina.jar.
    const override = await readInside(
      home,
      'lib/org/apache/catalina/util/ServerInfo.properties',
      MAX_CONFIG_BYTES,
    );
    if (override.ok)
      server = parseProperties(decodeText(override.data)).entries.find(
        (entry) => entry.key === 'server.info',
      )?.value;
    if (!server) {
      const jar = join(home.root, 'lib/catalina.jar');
      try {
        const real = await realpath(jar);
        if (isWithin(home.realRoot, real)) {
          const info = await readZipEntry(
            real,
            'org/apache/catalina/util/ServerInfo.properties',
            MAX_CONFIG_BYTES,
          );
          if (info)
            server = parseProperties(decodeText(info)).entries.find(
              (entry) => entry.key === 'server.info',
            )?.value;
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
          warnings.add(`lib/catalina.jar could not be read (${message(error)})`);
      }
    }
    if (!server) {
      const notes = await readInside(home, 'RELEASE-NOTES', 64 * 1024);
      const match = notes.ok ? /Apache Tomcat Version (\d+(?:\.\d+)+)/.exec(decodeText(notes.data)) : null;
      if (match) server = `Apache Tomcat/${match[1]}`;
    }
    const manifest = await readPortalImpl(home, '', warnings);
    let dxp: DxpBuild | undefined;
    if (manifest) {
      const fromManifest = buildFromManifest(manifest.attributes);
      if (fromManifest.portalVersion)
        dxp = { version: fromManifest.portalVersion, ...fromManifest, source: manifest.relPath };
    }
    return {
      warnings: warnings.list,
      ...(server ? { server: server.slice(0, 200) } : {}),
      ...(dxp ? { dxp } : {}),
    };
  } catch (error) {
    warnings.add(`discovery stopped early (${message(error)}): the facts are incomplete`);
    return { warnings: warnings.list };
  }
}
