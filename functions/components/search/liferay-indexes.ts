/**
 * Which search indexes belong to Liferay, what each one is, and which ones are *primary storage*
 * (data that a reindex from the database cannot rebuild) for a given DXP version.
 *
 * Facts (learn.liferay.com "Elasticsearch Indexes Reference", the Help Center article on
 * multi-tenant index names in DXP 7.2 SP3/FP8 and 7.3, "Backing Up Elasticsearch"):
 * - system index `<prefix>0`, company indexes `<prefix><companyId>`, app indexes
 *   `<prefix><companyId>-<app>` (search tuning, workflow metrics, commerce ML); the prefix is the
 *   connector's `indexNamePrefix`, default `liferay-`;
 * - DXP 7.2 before SP3/FP8 named its app indexes without the company: `liferay-search-tuning-*`
 *   and `workflow-metrics-*`;
 * - search tuning (result rankings, synonym sets) lives only in its indexes on 7.2 and 7.3; from
 *   7.4 it is stored in database tables and a reindex rebuilds it;
 * - the workflow-metrics SLA results indexes are primary storage.
 * No I/O here: the handlers pass in what the engine reported.
 */

export type IndexKind =
  | 'system'
  | 'company'
  | 'search-tuning'
  | 'workflow-metrics'
  | 'workflow-metrics-sla-results'
  | 'commerce-ml'
  | 'app'
  | 'other';

/** DXP release lines that differ in what is primary storage. `7.4+` includes the quarterly releases. */
export type DxpLine = '7.0' | '7.1' | '7.2' | '7.3' | '7.4+';

export interface DxpVersion {
  /** The release line, or `unknown` when neither the configuration nor the index names tell. */
  readonly line: DxpLine | 'unknown';
  /** Where the line came from. */
  readonly source: 'config' | 'index-names' | 'unknown';
  /** The configured version string or the index name that gave the line away. */
  readonly evidence?: string;
}

export const DEFAULT_INDEX_NAME_PREFIX = 'liferay-';

const SEARCH_TUNING_APPS = new Set(['search-tuning-rankings', 'search-tuning-synonyms']);
const SLA_RESULTS_APPS = new Set([
  'workflow-metrics-sla-instance-results',
  'workflow-metrics-sla-task-results',
]);
/**
 * 7.2 before SP3/FP8: app indexes with fixed names, not the configured prefix. Result rankings had
 * one index (`liferay-search-tuning-rankings`); synonym sets one per company, named after the
 * company index (`liferay-search-tuning-synonyms-liferay-20101`); workflow metrics
 * `workflow-metrics-<app>`, listed on some 7.2 pages with the company id appended
 * (`workflow-metrics-sla-instance-results-20101`).
 */
const LEGACY_SEARCH_TUNING = new Set(['liferay-search-tuning-rankings', 'liferay-search-tuning-synonyms']);
const LEGACY_SYNONYMS_PREFIX = 'liferay-search-tuning-synonyms-';
const LEGACY_WORKFLOW_METRICS = /^(workflow-metrics-[a-z]+(?:-[a-z]+)*)(?:-\d+)?$/;
/** `*` patterns that cover the 7.2 pre-SP3 app indexes, whatever the prefix. */
export const LEGACY_INDEX_PATTERNS = ['liferay-search-tuning-*', 'workflow-metrics-*'] as const;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function appKind(app: string): IndexKind {
  if (SEARCH_TUNING_APPS.has(app)) return 'search-tuning';
  if (SLA_RESULTS_APPS.has(app)) return 'workflow-metrics-sla-results';
  if (app.startsWith('workflow-metrics-')) return 'workflow-metrics';
  if (app.endsWith('commerce-ml-forecast') || app.endsWith('commerce-ml-recommendation'))
    return 'commerce-ml';
  return 'app';
}

/**
 * What a Liferay index is, or undefined when the name is not one of Liferay's (for this prefix).
 * `legacy` marks the 7.2 pre-SP3 names.
 */
export function classifyLiferayIndex(
  name: string,
  prefix: string = DEFAULT_INDEX_NAME_PREFIX,
): { kind: IndexKind; companyId?: string; legacy?: true } | undefined {
  const match = new RegExp(`^${escapeRegExp(prefix)}(\\d+)(?:-([a-z0-9-]+))?$`).exec(name);
  if (match?.[1] !== undefined) {
    const companyId = match[1];
    const app = match[2];
    if (app === undefined) return { kind: companyId === '0' ? 'system' : 'company', companyId };
    return { kind: appKind(app), companyId };
  }
  if (LEGACY_SEARCH_TUNING.has(name)) return { kind: 'search-tuning', legacy: true };
  if (name.startsWith(LEGACY_SYNONYMS_PREFIX)) {
    const company = new RegExp(`^${escapeRegExp(prefix)}(\\d+)$`).exec(
      name.slice(LEGACY_SYNONYMS_PREFIX.length),
    );
    if (company?.[1] !== undefined) return { kind: 'search-tuning', companyId: company[1], legacy: true };
  }
  const workflowMetrics = LEGACY_WORKFLOW_METRICS.exec(name);
  if (workflowMetrics?.[1] !== undefined) {
    return { kind: appKind(workflowMetrics[1]), legacy: true };
  }
  return undefined;
}

/** Kind of an index selected by configured patterns: Liferay's own classification when it has one. */
export function indexKind(name: string, prefix: string = DEFAULT_INDEX_NAME_PREFIX): IndexKind {
  return classifyLiferayIndex(name, prefix)?.kind ?? 'other';
}

/**
 * Parses a configured DXP/Portal version: `7.2`, `7.3.10-u36`, `7.4.13-u92`, `7.4 GA129`, or a
 * quarterly release like `2024.q1.1` (which is 7.4 code). Returns undefined for anything else.
 */
export function parseDxpLine(version: string): DxpLine | undefined {
  const trimmed = version.trim().toLowerCase();
  if (/^\d{4}\.q[1-4](\.\d+)?(-lts)?$/.test(trimmed)) return '7.4+';
  const match = /^7\.([0-4])(?:$|[.\s-])/.exec(trimmed);
  if (!match) return undefined;
  const minor = match[1];
  return minor === '4' ? '7.4+' : (`7.${minor}` as DxpLine);
}

/**
 * The DXP line from the configuration, or else from index names:
 * 7.2 pre-SP3 app index names → 7.2; `<prefix><companyId>-workflow-metrics-tokens`, an index
 * that existed only on 7.3 → 7.3. Anything else is unknown (7.2 SP3+, 7.3 without workflow
 * metrics and 7.4 look alike).
 */
export function detectDxpVersion(
  configured: string | undefined,
  indexNames: readonly string[],
  prefix: string = DEFAULT_INDEX_NAME_PREFIX,
): DxpVersion {
  if (configured !== undefined) {
    const line = parseDxpLine(configured);
    if (line) return { line, source: 'config', evidence: configured };
  }
  const legacy = indexNames.find((name) => classifyLiferayIndex(name, prefix)?.legacy === true);
  if (legacy) return { line: '7.2', source: 'index-names', evidence: legacy };
  const tokens = indexNames.find((name) =>
    new RegExp(`^${escapeRegExp(prefix)}\\d+-workflow-metrics-tokens$`).test(name),
  );
  if (tokens) return { line: '7.3', source: 'index-names', evidence: tokens };
  return { line: 'unknown', source: 'unknown' };
}

/**
 * Whether an index of this kind holds data that only a restore can bring back, on this DXP line.
 * When the line is unknown, search tuning counts as primary storage: restoring it where a reindex
 * would have rebuilt it costs little, losing it where it could not be rebuilt loses the tuning.
 */
export function isPrimaryStorage(kind: IndexKind, line: DxpLine | 'unknown'): boolean {
  if (kind === 'workflow-metrics-sla-results') return true;
  if (kind === 'search-tuning') return line !== '7.4+';
  return false;
}

/** A `*`-glob (the only wildcard the engines' index patterns and ours share) as a matcher. */
export function globMatcher(pattern: string): (name: string) => boolean {
  const regex = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
  return (name) => regex.test(name);
}

/**
 * The indexes to snapshot: those matching the configured patterns, or by default every Liferay
 * index for this prefix (system, companies, their app indexes, and the 7.2 pre-SP3 app indexes).
 * Indexes whose names start with `.` (the engine's own) are never selected by the default.
 */
export function selectIndexes(
  available: readonly string[],
  options: { prefix?: string; patterns?: readonly string[] } = {},
): string[] {
  const prefix = options.prefix ?? DEFAULT_INDEX_NAME_PREFIX;
  if (options.patterns && options.patterns.length > 0) {
    const matchers = options.patterns.map(globMatcher);
    return available.filter((name) => matchers.some((matches) => matches(name))).sort();
  }
  return available.filter((name) => classifyLiferayIndex(name, prefix) !== undefined).sort();
}
