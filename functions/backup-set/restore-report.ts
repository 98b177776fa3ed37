import * as z from 'zod';
import {
  type ComponentName,
  type ComponentRestoreResult,
  componentNameSchema,
  componentRestoreResultSchema,
} from '#components/component.ts';
import { CorruptBackupError, describeIssues } from '#runtime/errors.ts';
import { hostProcessSchema } from '#runtime/host-process.ts';
import { isRecord, nonEmptyString } from '#runtime/validate.ts';
import { type ContentStore, jsonBody, readJson } from '#store/content-store.ts';
import { storeKeys } from './keys.ts';
import { backupIdSchema } from './manifest.ts';

/** backups/<id>/restores/<restoreId>.json: what a restore did, for the person who started it. */
export const restoreReportSchema = z.object({
  restoreId: z.string(),
  backupId: backupIdSchema,
  status: z.enum(['running', 'complete', 'partial', 'failed']),
  startedAt: z.iso.datetime({ offset: true }),
  finishedAt: z.iso.datetime({ offset: true }).optional(),
  components: z.array(componentNameSchema),
  requests: z.partialRecord(componentNameSchema, z.unknown()),
  results: z.partialRecord(componentNameSchema, componentRestoreResultSchema),
  warnings: z.array(z.string()).optional(),
  /** What the person must do next (restoreNextSteps), written with the final status. */
  nextSteps: z.array(z.string()).optional(),
  /** The Restore execution that runs it: a retried Validate of that execution finds its own report. */
  executionId: z.string().max(2048).optional(),
  /** The CLI's process while it runs (report-run.ts). */
  process: hostProcessSchema.optional().catch(undefined),
});
export type RestoreReport = z.infer<typeof restoreReportSchema>;

/** Files a component's restore went on without because their stored content is lost (files skipLost). */
export function lostFilesOf(result: ComponentRestoreResult): number {
  const files = result.summary.lostFiles;
  return typeof files === 'number' ? files : 0;
}

/**
 * The restore a failure's message names: Report's message starts `restore <restoreId> of
 * <backupId> is …` (report-restore.ts), and it reaches the CLI or the drill as the cause.
 */
export function restoreNamedIn(text: string): { restoreId: string; backupId: string } | undefined {
  const [, restoreId, backupId] =
    // "… is": Report's own form only. A refusal naming another restore ("another restore is
    // writing …: restore <id> of <set> (started …)") must not be taken for this run's report.
    /restore (r\d{8}t\d{6}z-[0-9a-f]{4}) of (b\d{8}t\d{6}z-[0-9a-f]{4}) is /.exec(text) ?? [];
  return restoreId && backupId ? { restoreId, backupId } : undefined;
}

export async function writeRestoreReport(store: ContentStore, report: RestoreReport): Promise<string> {
  const key = storeKeys.restoreReport(report.backupId, report.restoreId);
  await store.put(key, jsonBody(report), { contentType: 'application/json' });
  return key;
}

export async function readRestoreReport(
  store: ContentStore,
  backupId: string,
  restoreId: string,
): Promise<RestoreReport> {
  const key = storeKeys.restoreReport(backupId, restoreId);
  const parsed = restoreReportSchema.safeParse(await readJson(store, key));
  if (!parsed.success)
    throw new CorruptBackupError(`${key} is not valid: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}

type RestoreOutcome = Pick<RestoreReport, 'backupId' | 'components' | 'requests' | 'results'>;

const text = nonEmptyString;
const fields = (value: unknown): Record<string, unknown> => (isRecord(value) ? value : {});
const REINDEX = 'Control Panel → Configuration → Search → Index Actions → Reindex all search indexes';

/**
 * Where a component's restore put what it restored, in a few words, from its summary and details:
 * the new database's endpoint, a tree's folder (and where the live tree it replaced went), the
 * cluster and index count, the Git targets. The report holds the rest.
 */
export function restoredWhere(result: ComponentRestoreResult): string {
  const { summary } = result;
  const details = fields(result.details);
  const endpoint = text(summary.endpoint);
  if (endpoint) {
    const name = text(summary.instance) ?? text(summary.cluster);
    const address = `${endpoint}${typeof summary.port === 'number' && summary.port > 0 ? `:${summary.port}` : ''}`;
    return name ? `new ${summary.cluster ? 'cluster' : 'instance'} ${name} at ${address}` : address;
  }
  const database = text(summary.database);
  if (database) return `database ${database} (${text(summary.target) ?? 'the target server'})`;
  const location = text(summary.location) ?? text(summary.target);
  if (location) {
    const previous = text(details.previousTree);
    return `${location}${previous ? ` (the previous tree was kept as ${previous})` : ''}`;
  }
  if (typeof summary.indexes === 'number') {
    const cluster = text(fields(details.engine).endpoint);
    return `${summary.indexes} index(es)${cluster ? ` on ${cluster}` : ''}`;
  }
  const targets = Array.isArray(details.targets)
    ? details.targets.map((target) => text(fields(target).url)).filter((url) => url !== undefined)
    : [];
  if (targets.length > 0) return targets.join(', ');
  if (typeof summary.targets === 'number') return `${summary.targets} Git target(s)`;
  return 'see the report';
}

/**
 * What a failed component's restore may have changed of the live state, as each component's
 * restore is built: the person decides from it whether to retry or to repair first.
 */
function leftAsItWas(
  name: ComponentName,
  request: Record<string, unknown>,
  result: ComponentRestoreResult,
): string {
  const details = fields(result.details);
  switch (name) {
    case 'liferayHome':
    case 'appServer': {
      const target = text(request.target) ?? 'the target folder';
      // The tree is built in a staging folder beside the target and renamed into place last.
      return `${target} was not changed unless the error names the last step (putting the restored tree in place)`;
    }
    case 'database': {
      // database/restore.ts names what a failed RDS restore created, and what a retry does with it.
      const left = text(details.leftBehind);
      if (left) return `the live database was not changed; ${left}`;
      return "a restore writes only a new instance or cluster, or the dump's target database: the live database was not changed (unless it was named as the target with overwrite)";
    }
    case 'search': {
      const policy = text(request.onConflict) ?? 'fail';
      return policy === 'fail' || policy === 'rename'
        ? `no existing index was changed (on conflict: ${policy})`
        : `existing indexes of the same name may have been ${policy === 'close' ? 'closed' : 'deleted'} (on conflict: ${policy}): check the cluster's indexes`;
    }
    case 'source':
      return gitTargetsOutcome(details.targets);
  }
}

/**
 * Each Git target's outcome as source/finish-restore.ts records it in a failed result. A retry
 * of the component finds each pushed target holding exactly the recorded refs and pushes nothing
 * more to it (source/restore.ts).
 */
function gitTargetsOutcome(targets: unknown): string {
  const outcomes = Array.isArray(targets) ? targets.map(fields) : [];
  if (outcomes.length === 0) return 'the targets the error does not name may have received their refs';
  const named = (target: Record<string, unknown>) =>
    `${text(target.url) ?? '(no url)'}${text(target.repository) ? ` (${text(target.repository)})` : ''}`;
  const of = (status: string) => outcomes.filter((target) => target.status === status);
  const parts: string[] = [];
  const pushed = of('pushed');
  if (pushed.length > 0)
    parts.push(
      `got their refs: ${pushed.map((target) => `${named(target)}, ${typeof target.refs === 'number' ? target.refs : '?'} ref(s)`).join('; ')} (a retry leaves them as they are)`,
    );
  const failed = of('failed');
  if (failed.length > 0)
    parts.push(
      `failed (check their refs: a push that failed part way may have updated some): ${failed.map((target) => `${named(target)}: ${text(target.error) ?? 'no reason recorded'}`).join('; ')}`,
    );
  const notTried = of('not tried');
  if (notTried.length > 0) parts.push(`not tried (unchanged): ${notTried.map(named).join('; ')}`);
  return `Git targets ${parts.join('; ')}`;
}

/**
 * What the person must do next, in order, from a restore's results and requests: the first lines
 * they read, in the CLI and in the execution's message and output, before any detail.
 */
export function restoreNextSteps(report: RestoreOutcome): string[] {
  const steps: string[] = [];
  const done = (name: ComponentName) => report.results[name]?.status === 'complete';
  for (const name of report.components) {
    const result = report.results[name];
    if (result?.status !== 'failed') continue;
    steps.push(
      `${name} failed: ${leftAsItWas(name, fields(report.requests[name]), result)}; fix the cause, then restore it alone: {"backupId": "${report.backupId}", "components": ["${name}"]} (CLI: --components ${name})`,
    );
  }
  // files/restore-swap.ts leaves the tree in its staging folder when the target held a tree and
  // the request did not ask for swap: the restore is complete, but Liferay does not run from it yet.
  const staged = (name: 'liferayHome' | 'appServer') => {
    const result = report.results[name];
    if (!result || !done(name)) return undefined;
    const details = fields(result.details);
    const staging = text(details.staging);
    const target = text(details.target);
    const location = text(result.summary.location) ?? text(details.location);
    return staging && target && location === staging && target !== staging
      ? { staging, target, path: text(details.path) }
      : undefined;
  };
  for (const name of ['liferayHome', 'appServer'] as const) {
    const tree = staged(name);
    // A path restore cannot swap (files/module.ts): what it restored is copied over by hand.
    if (tree?.path)
      steps.push(
        `${name}: ${tree.path} was restored into the staging folder ${tree.staging}, NOT into ${tree.target} (left as it was): with Liferay stopped, copy what you need from it into ${tree.target}`,
      );
    else if (tree)
      steps.push(
        `${name} was restored into the staging folder ${tree.staging}, NOT into ${tree.target}: ${tree.target} already held a tree and the request did not ask for a swap, so it was left as it was; with Liferay stopped, move the restored tree into place, or restore ${name} alone again with a swap: {"backupId": "${report.backupId}", "components": ["${name}"], "${name}": {"swap": true}} (CLI: --components ${name} --swap; the tree it replaces is kept as ${tree.target}.before-<restoreId>)`,
      );
  }
  const database = report.results.database;
  if (database && done('database')) {
    steps.push(
      `point Liferay's JDBC URL (jdbc.default.url in portal-ext.properties) at the ${restoredWhere(database)}`,
    );
  }
  for (const name of report.components) {
    const result = report.results[name];
    if (result?.status !== 'complete') continue;
    const lost = lostFilesOf(result);
    if (lost > 0) {
      const list = fields(fields(result.details).lost);
      steps.push(
        `${lost} file(s) of ${name} were NOT restored (their stored content is lost): the list is in ${text(list.localList) ?? text(list.list) ?? 'the report'}`,
      );
    }
  }
  const search = report.results.search;
  const searchRequest = fields(report.requests.search);
  if (search && done('search')) {
    const indexes = searchRequest.indexes ?? 'primary';
    if (indexes !== 'all')
      steps.push(
        `only ${indexes === 'primary' ? 'the primary-storage indexes were' : 'the named indexes were'} restored: once Liferay runs, reindex the rest (${REINDEX})`,
      );
    const renamed = search.summary.renamed;
    if (typeof renamed === 'number' && renamed > 0)
      steps.push(
        `${renamed} index(es) came back under new names beside the existing ones (${text(searchRequest.renamePrefix) ?? 'restored-'}…): Liferay reads them only once they replace the originals`,
      );
  } else if (!report.components.includes('search') && (done('database') || done('liferayHome'))) {
    steps.push(`the search indexes were not restored: once Liferay runs, reindex (${REINDEX})`);
  }
  if (done('database') || done('liferayHome') || done('appServer')) {
    const home = report.results.liferayHome;
    const homeStaged = staged('liferayHome');
    steps.push(
      `start Liferay${home && done('liferayHome') ? ` from the Liferay Home in ${homeStaged ? `${homeStaged.target}, once the restored tree from ${homeStaged.staging} is in place` : (text(home.summary.location) ?? 'its target folder')}` : ''}`,
    );
  }
  for (const name of ['liferayHome', 'appServer'] as const) {
    const previous = text(fields(report.results[name]?.details).previousTree);
    if (previous && done(name))
      steps.push(`once Liferay runs from the restored ${name}, remove the previous tree kept as ${previous}`);
  }
  return steps;
}
