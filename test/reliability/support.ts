import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { readManifest } from '#backup-set/manifest.ts';
import { readRestoreReport } from '#backup-set/restore-report.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow, type WorkflowOutcome, type WorkflowRunOptions } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { HostProcess } from '#runtime/host-process.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import type { ContentStore } from '#store/content-store.ts';
import { bytesFor } from '../components/files/support/trees.ts';

/**
 * What the reliability and bad-input suites share: a small Liferay Home, runtimes over a store,
 * the workflows as the CLI runs them, and the "nothing changed / nothing lost" checks on a store.
 */

export const BLOB_THRESHOLD = 64 * 1024;

/** Settings of the files component as the suites use them: small shards, so a tree makes several. */
export function homeSettings(root: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    root,
    blobThresholdBytes: BLOB_THRESHOLD,
    shard: { maxFiles: 10, maxBytes: 1024 * 1024, timeBudgetSeconds: 600 },
    storeConcurrency: 2,
    ...extra,
  };
}

/** A runtime with these components' settings over `store` (settings parsed as the CLI parses them). */
export function runtimeWith(
  store: ContentStore,
  components: Record<string, unknown>,
  options: {
    now?: () => Date;
    scratchDir?: string;
    lockTimeoutMinutes?: number;
    /** The process a lock or a report records (default: this one). */
    process?: HostProcess;
  } = {},
): Runtime {
  return localRuntime({
    store,
    settings: parseSettings(
      {
        environment: 'reliability',
        lockTimeoutMinutes: options.lockTimeoutMinutes ?? 60,
        configuredComponents: Object.keys(components),
        components,
      },
      'test',
    ),
    ...(options.now ? { now: options.now } : {}),
    ...(options.scratchDir ? { scratchDir: options.scratchDir } : {}),
    ...(options.process ? { process: options.process } : {}),
  });
}

export function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, ...rel.split('/'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
}

/**
 * A Liferay Home with `documents` document-library files (small ones go into packs, every
 * seventh is a blob of 80-200 KiB), configuration and a license: with shards of 10 entries it
 * makes several shards, some with packs and some with blobs.
 */
export function makeHome(root: string, documents = 40, label = 'v1'): void {
  const files: Record<string, string | Buffer> = {
    'portal-ext.properties': 'jdbc.default.driverClassName=org.mariadb.jdbc.Driver\n',
    'osgi/configs/com.liferay.portal.search.elasticsearch7.configuration.ElasticsearchConfiguration.config':
      'operationMode="REMOTE"\n',
    'license/activation-key.xml': '<license/>',
  };
  for (let i = 0; i < documents; i += 1) {
    const size = i % 7 === 6 ? 80 * 1024 + i * 3000 : 200 + i * 37;
    files[`data/document_library/20101/${String(i).padStart(3, '0')}/1.0`] = bytesFor(`${label}-${i}`, size);
  }
  writeTree(root, files);
}

export function outputOf<T>(outcome: WorkflowOutcome): T {
  if (outcome.status !== 'SUCCEEDED')
    throw new Error(`the workflow failed: ${outcome.error}: ${outcome.cause}`);
  return outcome.output as T;
}

export function causeOf(outcome: WorkflowOutcome): string {
  if (outcome.status !== 'FAILED')
    throw new Error(`expected the workflow to fail; it succeeded: ${JSON.stringify(outcome.output)}`);
  return outcome.cause;
}

/** The backup id of a Backup run, succeeded or failed after Begin (Commit names it in the cause). */
export function backupIdOf(outcome: WorkflowOutcome): string {
  if (outcome.status === 'SUCCEEDED')
    return (outcome.output as { backup: { backupId: string } }).backup.backupId;
  const id = /backup set (b\d{8}t\d{6}z-[0-9a-f]{4})/.exec(outcome.cause)?.[1];
  if (!id) throw new Error(`the run names no backup set: ${outcome.error}: ${outcome.cause}`);
  return id;
}

/** The restore and backup ids of a Restore run (a failed one names them in its cause). */
export function restoreIdsOf(outcome: WorkflowOutcome): { restoreId: string; backupId: string } {
  if (outcome.status === 'SUCCEEDED') {
    const report = (outcome.output as { report: { restoreId: string; backupId: string } }).report;
    return { restoreId: report.restoreId, backupId: report.backupId };
  }
  const match = /restore (r\d{8}t\d{6}z-[0-9a-f]{4}) of (b\d{8}t\d{6}z-[0-9a-f]{4})/.exec(outcome.cause);
  if (!match?.[1] || !match[2])
    throw new Error(`the run names no restore: ${outcome.error}: ${outcome.cause}`);
  return { restoreId: match[1], backupId: match[2] };
}

/**
 * The committed definitions run as the CLI runs them: not validated again on every start (0.6 s
 * each; test/local/workflow-definitions.test.ts validates them).
 */
const AS_THE_CLI = { validate: false } as const;

export function backup(
  rt: Runtime,
  options: WorkflowRunOptions = {},
  input: unknown = { requestedBy: 'cli' },
) {
  return runWorkflow(WORKFLOWS.backup, input, rt, { ...AS_THE_CLI, ...options });
}

export function restore(rt: Runtime, request: Record<string, unknown>, options: WorkflowRunOptions = {}) {
  return runWorkflow(WORKFLOWS.restore, { requestedBy: 'cli', ...request }, rt, {
    ...AS_THE_CLI,
    ...options,
  });
}

/** Runs the restore drill on a set; returns its status and the problems it found. */
export async function verifySet(
  rt: Runtime,
  backupId: string,
): Promise<{ status: string; problems: string[]; message: string }> {
  const outcome = await runWorkflow(WORKFLOWS.verify, { backupId, requestedBy: 'cli' }, rt, AS_THE_CLI);
  if (outcome.status === 'SUCCEEDED') {
    const report = (outcome.output as { report: { status: string; message: string } }).report;
    return { status: report.status, problems: [], message: report.message };
  }
  return { status: 'failed', problems: [outcome.cause], message: outcome.cause };
}

export async function manifestStatus(store: ContentStore, backupId: string) {
  return readManifest(store, backupId);
}

export async function restoreReport(store: ContentStore, ids: { restoreId: string; backupId: string }) {
  return readRestoreReport(store, ids.backupId, ids.restoreId);
}

/** Every object of a store with the sha256 of its bytes. */
export async function storeSnapshot(store: ContentStore): Promise<Map<string, string>> {
  const keys: string[] = [];
  for await (const object of store.list('')) keys.push(object.key);
  const snapshot = new Map<string, string>();
  for (const key of keys.sort()) {
    snapshot.set(
      key,
      createHash('sha256')
        .update(await store.read(key))
        .digest('hex'),
    );
  }
  return snapshot;
}

/**
 * Nothing that was stored before is gone or different afterwards, except the keys a run is meant
 * to rewrite (`mutable`: the latest pointer, a lock).
 */
export function expectNothingLost(
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>,
  mutable: readonly RegExp[] = [/^pointers\/latest\.json$/, /^locks\//],
): void {
  const lost: string[] = [];
  for (const [key, sha256] of before) {
    if (mutable.some((pattern) => pattern.test(key))) continue;
    const now = after.get(key);
    if (now === undefined) lost.push(`${key}: gone`);
    else if (now !== sha256) lost.push(`${key}: changed`);
  }
  expect(lost).toEqual([]);
}

/** Every path under a folder (files, folders, links), relative, sorted; [] when it does not exist. */
export function listTree(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  const out: string[] = [];
  const visit = (dir: string, rel: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const relPath = rel === '' ? entry.name : `${rel}/${entry.name}`;
      out.push(relPath);
      if (entry.isDirectory()) visit(path.join(dir, entry.name), relPath);
    }
  };
  visit(root, '');
  return out.sort();
}
