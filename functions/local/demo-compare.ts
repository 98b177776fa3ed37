import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Selection } from '#components/files/liferay-rules.ts';

/**
 * How the demo (and the tests) judge a restore: the restored tree against the selected part of
 * its source, entry by entry. Kept apart from demo.ts so that it needs nothing of the CLI.
 */

export interface TreeEntry {
  readonly type: 'file' | 'dir' | 'symlink' | 'other';
  /** Permission bits (and setuid/setgid/sticky). */
  readonly mode: number;
  readonly mtimeMs: number;
  readonly size: number;
  readonly sha256?: string;
  readonly target?: string;
}

export interface TreeComparison {
  readonly files: number;
  readonly directories: number;
  readonly symlinks: number;
  readonly bytes: number;
  /** One line per difference, e.g. `data/x: content differs`; empty when the trees match. */
  readonly differences: string[];
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function describe(path: string): Promise<TreeEntry> {
  const info = await lstat(path);
  const base = { mode: info.mode & 0o7777, mtimeMs: info.mtimeMs, size: info.size };
  if (info.isSymbolicLink()) return { ...base, type: 'symlink', target: await readlink(path) };
  if (info.isDirectory()) return { ...base, size: 0, type: 'dir' };
  if (info.isFile()) return { ...base, type: 'file', sha256: await sha256Of(path) };
  return { ...base, type: 'other' };
}

/**
 * Every entry under `root` (relative, `/`-separated paths); with a selection, only what it selects
 * (walked the way the files engine walks: a pruned folder is not entered).
 */
export async function listTree(root: string, selection?: Selection): Promise<Map<string, TreeEntry>> {
  const entries = new Map<string, TreeEntry>();
  const visit = async (dir: string): Promise<void> => {
    const names = (await readdir(join(root, dir))).sort();
    for (const name of names) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      const entry = await describe(join(root, rel));
      const isDirectory = entry.type === 'dir';
      if (!selection || selection.includes(rel, isDirectory)) entries.set(rel, entry);
      if (isDirectory && !(selection?.prunes(rel) ?? false)) await visit(rel);
    }
  };
  await visit('');
  return entries;
}

/** Same whole millisecond: a restore sets mtimes through utimes, whose float seconds may round. */
function sameTime(a: number, b: number): boolean {
  return Math.abs(a - b) < 1;
}

/**
 * Compares a restored tree with the selected part of its source: the same entries, and for each
 * the same type, permission bits and mtime; for files the same sha256, for symlinks the same
 * target (a symlink's own mtime is not compared: not every filesystem keeps it). Folders that a
 * restore creates only to hold selected files (not selected themselves) are allowed.
 */
export async function compareTrees(
  source: string,
  restored: string,
  selection: Selection,
): Promise<TreeComparison> {
  const expected = await listTree(source, selection);
  const actual = await listTree(restored);
  const differences: string[] = [];
  let files = 0;
  let directories = 0;
  let symlinks = 0;
  let bytes = 0;
  for (const [path, want] of expected) {
    const got = actual.get(path);
    if (!got) {
      differences.push(`${path}: missing from the restored tree`);
      continue;
    }
    if (got.type !== want.type) {
      differences.push(`${path}: is a ${got.type}, was a ${want.type}`);
      continue;
    }
    if (got.mode !== want.mode)
      differences.push(`${path}: mode ${got.mode.toString(8)}, was ${want.mode.toString(8)}`);
    if (want.type === 'file') {
      files += 1;
      bytes += want.size;
      if (got.sha256 !== want.sha256)
        differences.push(
          `${path}: content differs (sha256 ${got.sha256?.slice(0, 12)}…, was ${want.sha256?.slice(0, 12)}…)`,
        );
    }
    if (want.type === 'symlink') {
      symlinks += 1;
      if (got.target !== want.target)
        differences.push(`${path}: symlink to ${got.target}, was to ${want.target}`);
    } else if (!sameTime(got.mtimeMs, want.mtimeMs)) {
      differences.push(
        `${path}: mtime ${new Date(got.mtimeMs).toISOString()}, was ${new Date(want.mtimeMs).toISOString()}`,
      );
    }
    if (want.type === 'dir') directories += 1;
  }
  // A folder that only holds selected entries (osgi/ for osgi/configs) is created by the restore.
  const holders = new Set<string>();
  for (const path of expected.keys()) {
    for (let slash = path.lastIndexOf('/'); slash > 0; slash = path.lastIndexOf('/', slash - 1))
      holders.add(path.slice(0, slash));
  }
  for (const [path, got] of actual) {
    if (expected.has(path) || (got.type === 'dir' && holders.has(path))) continue;
    differences.push(`${path}: in the restored tree but not selected in the source`);
  }
  return { files, directories, symlinks, bytes, differences };
}

/** Where a restored tree is: the `location` the restore report names (the target, or its staging folder when the target was in use), else the target asked for. */
export function restoredTreeOf(details: Record<string, unknown> | undefined, target: string): string {
  for (const key of ['location', 'target']) {
    const value = details?.[key];
    if (typeof value === 'string' && value.startsWith('/')) return value;
  }
  return target;
}
