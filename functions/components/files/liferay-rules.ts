import picomatch from 'picomatch';
import { ConfigError, CorruptBackupError } from '#runtime/errors.ts';

/**
 * Which files of a Liferay Home or an application server a backup selects.
 *
 * The rules language (documented in docs/readme/liferay-rules.md):
 * - a rule is a picomatch glob, `/`-separated, anchored at the root of the tree
 *   (`portal-*.properties` matches only at the top, never `x/portal-ext.properties`);
 * - dotfiles are ordinary names (`*` matches `.githash`): a backup must not drop hidden files;
 * - a rule matches a path when it matches the path itself or one of its parent directories, so
 *   `osgi/state` selects the whole `osgi/state` tree but never `osgi/state-old` or `osgi/statement`;
 * - a rule ending in `/` matches directories only (`work/` never matches a file named `work`);
 * - `dir/*` matches everything inside `dir` but not `dir` itself (the directory is kept, empty);
 * - a path is selected when an include rule matches it and no exclude rule does: exclude wins.
 * Overrides (cdk.json, CLI flags): `include` entries add include rules, `exclude` entries add
 * exclude rules, and an entry `!<rule>` in either list removes that default rule (exact text).
 */

export type FilesKind = 'liferayHome' | 'appServer';

export interface Rules {
  include: string[];
  exclude: string[];
}

export interface RuleOverrides {
  include?: readonly string[];
  exclude?: readonly string[];
}

export interface Selection {
  /** Whether the entry is part of the backup (for a directory: whether it is recorded itself). */
  includes(relPath: string, isDirectory: boolean): boolean;
  /**
   * true = neither this directory nor anything beneath it is selected: skip it entirely (do not
   * record it, do not descend). A directory that includes() records is never pruned.
   */
  prunes(relDir: string): boolean;
}

/**
 * What the rules make of an entry: `selected`; `excluded` by a rule (what Liferay or Tomcat
 * regenerates); `outside` every include rule, and for a folder everything beneath it too (what
 * the bundle brings, the app server folder inside a Liferay Home); or a folder `holding` selected
 * entries without being selected itself (`osgi`, `patching-tool`).
 */
export type RuleVerdict = 'selected' | 'excluded' | 'outside' | 'holding';

/** A compiled selection, with the effective rules (worth recording in the backup's result). */
export interface CompiledSelection extends Selection {
  readonly kind: FilesKind;
  readonly rules: Readonly<Rules>;
  verdict(relPath: string, isDirectory: boolean): RuleVerdict;
}

/** A default rule and the reason it is there (the README table is written from these). */
export interface DefaultRule {
  readonly pattern: string;
  readonly why: string;
}

/**
 * Liferay Home. Sources: learn `installation-and-upgrades/maintaining-a-liferay-installation/
 * backing-up.md` and `updating-liferay.md` (what to keep), `installation-and-upgrades/reference/
 * liferay-home.md` (what each folder holds and what Liferay regenerates).
 */
const LIFERAY_HOME_INCLUDE: readonly DefaultRule[] = [
  {
    pattern: 'portal-*.properties',
    why: 'portal properties: portal-ext, portal-bundle and any include-and-override file named portal-*',
  },
  {
    pattern: 'portal-setup-wizard.properties',
    why: 'written by the setup wizard; read after portal-ext.properties',
  },
  { pattern: 'system-ext.properties', why: 'system properties' },
  { pattern: '.liferay-home', why: 'marker of a Liferay Home (empty file written by the bundle)' },
  { pattern: '.liferay-version', why: 'the DXP version of the bundle (e.g. 2024.q1.1)' },
  { pattern: '.githash', why: 'the liferay-portal commit the bundle was built from' },
  {
    pattern: 'data',
    why: 'document library (data/document_library), embedded HSQL database, SAML keystore (data/keystore.jks)',
  },
  { pattern: 'license', why: 'activation keys (subscription)' },
  {
    pattern: 'osgi/configs',
    why: 'OSGi configuration files (.config/.cfg): store, search, every System Settings export',
  },
  { pattern: 'osgi/modules', why: 'modules you deployed' },
  { pattern: 'osgi/marketplace', why: 'Marketplace apps, including override/' },
  { pattern: 'osgi/war', why: 'WAR plugins you deployed' },
  { pattern: 'osgi/static', why: 'customisations deployed as static JARs' },
  { pattern: 'patching-tool/default.properties', why: 'Patching Tool configuration (DXP 7.3 and earlier)' },
  { pattern: 'logs', why: "Liferay's logs: what went wrong before a restore" },
];

/**
 * Folders whose files are only ever appended to while Liferay runs: its logs (log4j appends to the
 * day's file; a new day, or a rotation, is a new file). A file there that grew while it was read
 * is stored as it was when the read began, instead of being read again and, on a busy site, kept
 * at last night's version with a warning every night (content.ts `onlyAppended`).
 */
const APPEND_ONLY: Record<FilesKind, readonly string[]> = { liferayHome: ['logs/'], appServer: [] };

/** Whether the file at `relPath` (relative to the tree's root) is only ever appended to. */
export function isAppendOnly(kind: FilesKind, relPath: string): boolean {
  return APPEND_ONLY[kind].some((folder) => relPath.startsWith(folder));
}

const LIFERAY_HOME_EXCLUDE: readonly DefaultRule[] = [
  { pattern: 'osgi/state', why: 'OSGi framework state: rebuilt at startup' },
  { pattern: 'osgi/wabs', why: 'generated copies of WABs: regenerated from osgi/war and deploy' },
  { pattern: 'work', why: 'module Jasper work files (7.2 and earlier): regenerated' },
  {
    pattern: 'data/elasticsearch*',
    why: 'sidecar/embedded Elasticsearch data: not for production, rebuilt by a reindex',
  },
  { pattern: 'elasticsearch-sidecar', why: 'the sidecar Elasticsearch runtime (7.4): recreated by Liferay' },
  { pattern: 'elasticsearch7', why: 'the sidecar Elasticsearch runtime (7.3): recreated by Liferay' },
  {
    pattern: 'tomcat*/work/*',
    why: "Tomcat's scratch space when the app server sits inside the home (the folder itself is kept)",
  },
  {
    pattern: 'tomcat*/temp/*',
    why: "Tomcat's temporary files when the app server sits inside the home (the folder itself is kept)",
  },
];

/**
 * Application server (Tomcat). Liferay's backing-up page: "Backing up your entire application
 * server is suggested" (a patch overwrites web.xml; conf/, bin/setenv.sh, lib/ JDBC drivers,
 * webapps/ROOT/WEB-INF/classes customisations and deployed webapps all live there), so the
 * default takes the whole tree and leaves out Tomcat's scratch folders' contents.
 */
const APP_SERVER_INCLUDE: readonly DefaultRule[] = [
  {
    pattern: '**',
    why: 'the whole server: conf/, bin/ (setenv.sh), lib/ (JDBC drivers), webapps/ (ROOT customisations, deployed apps)',
  },
];

const APP_SERVER_EXCLUDE: readonly DefaultRule[] = [
  {
    pattern: 'work/*',
    why: 'compiled JSPs and session files: Tomcat regenerates them (the folder itself is kept)',
  },
  {
    pattern: 'temp/*',
    why: 'temporary files; the folder is kept because Tomcat needs it to exist (java.io.tmpdir)',
  },
  {
    pattern: 'logs/*',
    why: "catalina.out and access logs: unrotated and often large, and Liferay's own logs are kept in the Liferay Home (the folder is kept; add an include for logs to keep them)",
  },
];

const DEFAULTS: Record<FilesKind, { include: readonly DefaultRule[]; exclude: readonly DefaultRule[] }> = {
  liferayHome: { include: LIFERAY_HOME_INCLUDE, exclude: LIFERAY_HOME_EXCLUDE },
  appServer: { include: APP_SERVER_INCLUDE, exclude: APP_SERVER_EXCLUDE },
};

/** The default rules with their reasons (for documentation and reports). */
export function describeDefaultRules(kind: FilesKind): {
  include: readonly DefaultRule[];
  exclude: readonly DefaultRule[];
} {
  return DEFAULTS[kind];
}

export function defaultRules(kind: FilesKind): Rules {
  const defaults = DEFAULTS[kind];
  return {
    include: defaults.include.map((rule) => rule.pattern),
    exclude: defaults.exclude.map((rule) => rule.pattern),
  };
}

const MAX_PATTERN_LENGTH = 1024;
const MAX_OVERRIDES = 1000;

/** Why a rule is not acceptable, or undefined when it is. */
export function checkPattern(pattern: string): string | undefined {
  if (pattern.length === 0) return 'is empty';
  if (pattern.length > MAX_PATTERN_LENGTH) return `is longer than ${MAX_PATTERN_LENGTH} characters`;
  if (pattern.includes('\0')) return 'contains a NUL character';
  if (pattern.includes('\\'))
    return 'contains a backslash (use / between folders; ? matches one character of any kind)';
  if (pattern.startsWith('/'))
    return 'is absolute (rules are relative to the root of the Liferay Home or app server)';
  if (pattern.startsWith('!'))
    return 'starts with ! (only an override may start with !, to remove a default rule)';
  const body = pattern.endsWith('/') ? pattern.slice(0, -1) : pattern;
  const segments = body.split('/');
  if (segments.some((segment) => segment === '')) return 'has an empty folder name (// or a lone /)';
  if (segments.some((segment) => segment === '.' || segment === '..'))
    return 'contains . or .. (rules name paths inside the root)';
  return undefined;
}

const MATCH_OPTIONS: picomatch.PicomatchOptions = { dot: true, nonegate: true, windows: false };

interface CompiledRule {
  readonly pattern: string;
  readonly dirOnly: boolean;
  readonly matches: (path: string) => boolean;
  /** Per-segment matchers for "could this rule match below that directory", or undefined when unsure. */
  readonly segments: ReadonlyArray<((name: string) => boolean) | 'globstar'> | undefined;
  /** When the rule matches every child of a directory (`dir/*`), the matcher for that directory. */
  readonly everyChildOf: ((dir: string) => boolean) | undefined;
}

function compileRule(pattern: string): CompiledRule {
  const dirOnly = pattern.endsWith('/');
  const body = dirOnly ? pattern.slice(0, -1) : pattern;
  const matches = picomatch(body, MATCH_OPTIONS);
  // Braces may hide a `/` ({a/b,c}): segment-wise reasoning would be wrong, so stay unsure.
  const parts = body.split('/');
  const segments = body.includes('{')
    ? undefined
    : parts.map((part) => (part.includes('**') ? ('globstar' as const) : picomatch(part, MATCH_OPTIONS)));
  const last = parts[parts.length - 1];
  const everyChildOf =
    !dirOnly && parts.length > 1 && (last === '*' || last === '**')
      ? picomatch(parts.slice(0, -1).join('/'), MATCH_OPTIONS)
      : undefined;
  return { pattern, dirOnly, matches, segments, everyChildOf };
}

/** Whether a rule could match something strictly below `dir` (conservative: true when unsure). */
function mayMatchBelow(rule: CompiledRule, dirSegments: readonly string[]): boolean {
  if (!rule.segments) return true;
  for (let index = 0; index < dirSegments.length; index += 1) {
    const segment = rule.segments[index];
    if (segment === undefined) return false; // the rule is shorter: it can only match ancestors
    if (segment === 'globstar') return true;
    if (!segment(dirSegments[index] as string)) return false;
  }
  return rule.segments.length > dirSegments.length;
}

interface PathState {
  readonly included: boolean;
  readonly excluded: boolean;
  /**
   * (directories) Selected, and no exclude rule can match anything beneath: everything beneath
   * is selected without testing a rule (most of a document library).
   */
  readonly settled?: boolean;
}

const CACHE_LIMIT = 4096;

class RuleSelection implements CompiledSelection {
  private readonly includeRules: CompiledRule[];
  private readonly excludeRules: CompiledRule[];
  private readonly dirStates = new Map<string, PathState>();

  constructor(
    readonly kind: FilesKind,
    readonly rules: Readonly<Rules>,
  ) {
    this.includeRules = rules.include.map(compileRule);
    this.excludeRules = rules.exclude.map(compileRule);
  }

  includes(relPath: string, isDirectory: boolean): boolean {
    const path = normalise(relPath);
    if (path === '') return false;
    const state = isDirectory ? this.dirState(path) : this.ownState(path, false);
    return state.included && !state.excluded;
  }

  verdict(relPath: string, isDirectory: boolean): RuleVerdict {
    const path = normalise(relPath);
    const state = isDirectory ? this.dirState(path) : this.ownState(path, false);
    if (state.excluded) return 'excluded';
    if (state.included) return 'selected';
    const segments = path.split('/');
    return isDirectory && this.includeRules.some((rule) => mayMatchBelow(rule, segments))
      ? 'holding'
      : 'outside';
  }

  prunes(relDir: string): boolean {
    const path = normalise(relDir);
    if (path === '') return false;
    const state = this.dirState(path);
    if (state.excluded) return true;
    // A directory that is recorded itself is never pruned (a walker skips a pruned directory
    // entirely): `temp/` is kept, and its excluded contents are turned away one by one.
    if (state.included) return false;
    if (this.excludeRules.some((rule) => rule.everyChildOf?.(path))) return true;
    const segments = path.split('/');
    return !this.includeRules.some((rule) => mayMatchBelow(rule, segments));
  }

  /** State of a path from its parent directory's state and the rules that match it directly. */
  private ownState(path: string, isDirectory: boolean): PathState {
    const slash = path.lastIndexOf('/');
    const parent = slash < 0 ? undefined : this.dirState(path.slice(0, slash));
    // Inherited either way: beneath an excluded folder, or beneath a settled one.
    if (parent?.excluded || parent?.settled) return parent;
    const direct = (rule: CompiledRule) => (isDirectory || !rule.dirOnly) && rule.matches(path);
    return {
      included: (parent?.included ?? false) || this.includeRules.some(direct),
      excluded: (parent?.excluded ?? false) || this.excludeRules.some(direct),
    };
  }

  private dirState(path: string): PathState {
    const cached = this.dirStates.get(path);
    if (cached) return cached;
    let state = this.ownState(path, true);
    if (state.included && !state.excluded && !state.settled) {
      const segments = path.split('/');
      if (!this.excludeRules.some((rule) => mayMatchBelow(rule, segments)))
        state = { included: true, excluded: false, settled: true };
    }
    // Walks visit a directory's files together, so a small cache catches nearly every repeat.
    if (this.dirStates.size >= CACHE_LIMIT) this.dirStates.clear();
    this.dirStates.set(path, state);
    return state;
  }
}

function normalise(relPath: string): string {
  let path = relPath;
  while (path.startsWith('./')) path = path.slice(2);
  while (path.endsWith('/')) path = path.slice(0, -1);
  return path;
}

function applyOverrides(
  kind: FilesKind,
  list: 'include' | 'exclude',
  defaults: string[],
  overrides: readonly string[] | undefined,
): string[] {
  if (overrides === undefined) return defaults;
  if (!Array.isArray(overrides)) throw new ConfigError(`${kind}.${list} must be a list of rules`);
  if (overrides.length > MAX_OVERRIDES)
    throw new ConfigError(`${kind}.${list} has more than ${MAX_OVERRIDES} rules`);
  let rules = [...defaults];
  overrides.forEach((entry, index) => {
    const where = `${kind}.${list}[${index}]`;
    if (typeof entry !== 'string') throw new ConfigError(`${where} must be a string`);
    if (entry.startsWith('!')) {
      const removed = entry.slice(1);
      if (!rules.includes(removed)) {
        throw new ConfigError(
          `${where}: "${entry}" removes a default rule, but "${removed}" is not one; the default ${list} rules of ${kind} are: ${defaults.join(', ')}`,
        );
      }
      rules = rules.filter((rule) => rule !== removed);
      return;
    }
    const problem = checkPattern(entry);
    if (problem) throw new ConfigError(`${where}: the rule "${entry}" ${problem}`);
    if (!rules.includes(entry)) rules.push(entry);
  });
  return rules;
}

/**
 * The selection a backup recorded (its effective rules, from the manifest): each rule is checked
 * again, as anything read back from the store is.
 */
export function recordedSelection(kind: FilesKind, rules: Readonly<Rules>): CompiledSelection {
  for (const [list, patterns] of [['include', rules.include] as const, ['exclude', rules.exclude] as const]) {
    for (const pattern of patterns) {
      const problem = checkPattern(pattern);
      if (problem) throw new CorruptBackupError(`the backup's ${kind}.${list} rule "${pattern}" ${problem}`);
    }
  }
  return new RuleSelection(kind, { include: [...rules.include], exclude: [...rules.exclude] });
}

/**
 * The selection for a component: the defaults, plus the overrides' rules, minus the defaults the
 * overrides remove with `!rule`. A bad override throws ConfigError naming it.
 */
export function compileSelection(kind: FilesKind, overrides?: RuleOverrides): CompiledSelection {
  if (!(kind in DEFAULTS)) throw new ConfigError(`unknown files component ${JSON.stringify(kind)}`);
  const defaults = defaultRules(kind);
  const rules: Rules = {
    include: applyOverrides(kind, 'include', defaults.include, overrides?.include),
    exclude: applyOverrides(kind, 'exclude', defaults.exclude, overrides?.exclude),
  };
  return new RuleSelection(kind, rules);
}
