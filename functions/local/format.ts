import type { Manifest } from '#backup-set/manifest.ts';
import type { SetRun } from '#backup-set/set-runs.ts';
import { isRecord } from '#runtime/validate.ts';

/** Human-readable sizes and durations for the CLI. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(startIso?: string, endIso?: string): string {
  if (!startIso || !endIso) return '-';
  const ms = Date.parse(endIso) - Date.parse(startIso);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  // Whole seconds first: 2 min 59.6 s is 3 min 0 s, never "2 min 60 s".
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

function formatSummaryValue(key: string, value: unknown): string {
  if (typeof value === 'number' && /bytes/i.test(key)) return formatBytes(value);
  return String(value);
}

export function formatSummary(summary: Record<string, unknown>): string {
  return Object.entries(summary)
    .map(([key, value]) => `${key}=${formatSummaryValue(key, value)}`)
    .join(' ');
}

/** The lines `backup` and `show` print for a set. */
export function describeManifest(manifest: Manifest): string[] {
  const lines = [
    `backup set ${manifest.backupId}: ${manifest.status}`,
    `  environment ${manifest.environment}, started ${manifest.startedAt}, took ${formatDuration(manifest.startedAt, manifest.finishedAt)}`,
    // What a restore of it depends on: unchanged files are where the earlier sets stored them.
    manifest.previousBackupId
      ? `  builds on ${manifest.previousBackupId}`
      : `  builds on no earlier set${manifest.trigger.full ? ' (a full backup, as asked)' : ''}`,
  ];
  for (const name of manifest.components) {
    const result = manifest.results[name];
    if (!result) {
      lines.push(`  ${name}: no result`);
      continue;
    }
    lines.push(
      `  ${name}: ${result.status} in ${formatDuration(result.startedAt, result.finishedAt)}${
        Object.keys(result.summary).length > 0 ? `  ${formatSummary(result.summary)}` : ''
      }`,
    );
    if (result.error) lines.push(`    error: ${result.error.name}: ${result.error.message}`);
    for (const warning of result.warnings) lines.push(`    warning: ${warning}`);
  }
  for (const warning of manifest.warnings) lines.push(`  warning: ${warning}`);
  return lines;
}

/** Runs `show` lists in full; older ones are counted. */
const RUNS_SHOWN = 10;

/** The lines `show` prints for the restores and drills of a set, newest first. */
export function describeSetRuns(runs: readonly SetRun[]): string[] {
  if (runs.length === 0) return ['  no restore or drill of this set yet'];
  const lines = ['  restores and drills of this set, newest first:'];
  for (const run of runs.slice(0, RUNS_SHOWN)) {
    const when = run.startedAt
      ? `, started ${run.startedAt}, took ${formatDuration(run.startedAt, run.finishedAt)}`
      : '';
    lines.push(`    ${run.kind} ${run.id}: ${run.status}${when}`);
    for (const note of run.notes) lines.push(`      ${note}`);
  }
  if (runs.length > RUNS_SHOWN) lines.push(`    and ${runs.length - RUNS_SHOWN} older`);
  return lines;
}

/** Lines a restore prints per component at most; the report beside the set holds them all. */
const WHERE_SHOWN = 10;

function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

function bounded(lines: string[], indent: string): string[] {
  const shown = lines.slice(0, WHERE_SHOWN).map((line) => `${indent}${line}`);
  if (lines.length > WHERE_SHOWN)
    shown.push(`${indent}and ${lines.length - WHERE_SHOWN} more (the restore's report lists them)`);
  return shown;
}

/**
 * Where a restore put what it restored, from its result's details: a summary of counts does not
 * tell which Git target got which repository, nor under which names the indexes came back on
 * which cluster, and that is what the person who ran it checks next.
 */
export function describeRestoredWhere(component: string, details: Record<string, unknown>): string[] {
  if (component === 'source') {
    return bounded(
      records(details.targets).map(
        (target) =>
          `${String(target.repository ?? '?')} → ${String(target.url ?? '?')} (from ${String(target.from ?? '?')}): ${String(target.pushed ?? '?')} of ${String(target.refs ?? '?')} refs pushed`,
      ),
      '    ',
    );
  }
  if (component === 'search') {
    const endpoint = isRecord(details.engine) ? details.engine.endpoint : undefined;
    const indexes = records(details.indexes);
    if (typeof endpoint !== 'string' || indexes.length === 0) return [];
    return [
      `    into ${endpoint}:`,
      ...bounded(
        indexes.map(
          (index) =>
            `${String(index.name)}${index.restoredAs !== index.name ? ` → ${String(index.restoredAs)}` : ''}${index.conflict === 'closed' || index.conflict === 'replaced' ? ` (the existing index was ${index.conflict === 'closed' ? 'closed and restored over' : 'deleted first'})` : ''}`,
        ),
        '      ',
      ),
    ];
  }
  return [];
}
