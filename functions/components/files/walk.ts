import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as fsx from './fsx.ts';
import type { Selection } from './liferay-rules.ts';
import { Semaphore } from './limit.ts';
import { comparePaths, inRange, isUnder, joinPath, type PathRange, subtreeMayIntersect } from './paths.ts';

/**
 * A sorted, bounded-memory walk of one or more directory trees presented as one tree.
 *
 * Entries come out in index order (paths.ts) because each directory's children are visited in
 * name order, depth first: a backup merge-joins this stream with the previous index and writes
 * its part without sorting anything. Filesystem calls run with bounded concurrency, and the
 * listings of the next few sibling directories are fetched ahead, which is what makes a walk
 * over NFS (EFS) fast; memory stays bounded by the depth of the tree times that look-ahead.
 */

export interface WalkSource {
  /** Where the source appears in the index: '' for the main tree, or a path like `.external/document_library`. */
  readonly mount: string;
  /** The directory on this machine. */
  readonly root: string;
  /** Which entries the source's rules select (paths relative to the source's root). */
  readonly selection?: Selection;
}

export type EntryType = 'file' | 'dir' | 'symlink';

export interface WalkedEntry {
  readonly path: string;
  readonly absPath: string;
  readonly type: EntryType;
  readonly stats: Stats;
}

export interface WalkOptions {
  readonly sources: readonly WalkSource[];
  readonly range?: PathRange;
  /** Filesystem calls in flight. */
  readonly concurrency: number;
  /** Sibling directories listed ahead of the one being walked. @default 8 */
  readonly lookahead?: number;
  readonly onWarning: (message: string) => void;
}

interface Child {
  readonly name: string;
  readonly path: string;
  readonly absPath: string | undefined;
  readonly type: EntryType;
  readonly stats: Stats | undefined;
  /** Recorded in the index (false for the folders that only lead to another source's mount). */
  readonly emit: boolean;
  readonly descend: boolean;
}

export async function* walkTree(options: WalkOptions): AsyncGenerator<WalkedEntry> {
  const walker = new Walker(options);
  yield* walker.walk();
}

class Walker {
  private readonly semaphore: Semaphore;
  private readonly lookahead: number;
  private readonly range: PathRange;
  private readonly mounts: readonly WalkSource[];
  private stopped = false;

  constructor(private readonly options: WalkOptions) {
    this.semaphore = new Semaphore(options.concurrency);
    this.lookahead = options.lookahead ?? 8;
    this.range = options.range ?? {};
    // Longest mount first, so the owner of a path is the most specific source.
    this.mounts = [...options.sources].sort((a, b) => b.mount.length - a.mount.length);
    if (!this.mounts.some((source) => source.mount === '')) {
      throw new Error('a walk needs a source mounted at the root');
    }
  }

  async *walk(): AsyncGenerator<WalkedEntry> {
    yield* this.walkDir(this.list(''));
  }

  private async *walkDir(listing: Promise<Child[]>): AsyncGenerator<WalkedEntry> {
    const children = await listing;
    const pending = new Map<number, Promise<Child[]>>();
    const startListing = (index: number) => {
      const child = children[index];
      if (!child || pending.has(index) || !this.shouldDescend(child)) return;
      const promise = this.list(child.path);
      // Listings fetched ahead may be abandoned when the range ends: never an unhandled rejection.
      promise.catch(() => undefined);
      pending.set(index, promise);
    };
    for (let index = 0; index < children.length; index += 1) {
      const child = children[index] as Child;
      if (this.range.through !== undefined && comparePaths(child.path, this.range.through) > 0) {
        this.stopped = true;
        return;
      }
      if (child.emit && child.stats && child.absPath && inRange(child.path, this.range)) {
        yield { path: child.path, absPath: child.absPath, type: child.type, stats: child.stats };
      }
      if (this.shouldDescend(child)) {
        for (let ahead = index; ahead < children.length && ahead < index + this.lookahead; ahead += 1)
          startListing(ahead);
        const listing = pending.get(index) ?? this.list(child.path);
        pending.delete(index);
        yield* this.walkDir(listing);
        if (this.stopped) return;
      }
    }
  }

  private shouldDescend(child: Child): boolean {
    return child.descend && subtreeMayIntersect(child.path, this.range);
  }

  /** The source a directory belongs to; undefined for a folder that only leads to another source's mount. */
  private ownerOf(dir: string): WalkSource | undefined {
    const inner = this.mounts.find(
      (source) => source.mount !== '' && (source.mount === dir || isUnder(dir, source.mount)),
    );
    if (inner) return inner;
    if (dir !== '' && this.mounts.some((source) => source.mount !== '' && isUnder(source.mount, dir)))
      return undefined;
    return this.mounts.find((source) => source.mount === '');
  }

  /** The children of a directory of the combined tree, sorted, selected, with their stats. */
  private async list(dir: string): Promise<Child[]> {
    const owner = this.ownerOf(dir);
    const virtual = this.virtualChildren(dir, owner);
    const children: Child[] = [];
    for (const child of virtual.values()) {
      if (!child.absPath) {
        children.push(child);
        continue;
      }
      // Another source's root: its own stats (following a link to it), recorded like any folder.
      try {
        const root = child.absPath;
        const stats = await this.semaphore.run(() => fsx.stat(root));
        children.push({ ...child, stats });
      } catch (error) {
        this.warnFs(error, child.path, 'read');
      }
    }
    if (owner) {
      const rel = owner.mount === '' ? dir : dir === owner.mount ? '' : dir.slice(owner.mount.length + 1);
      const absDir = rel === '' ? owner.root : path.join(owner.root, rel);
      const names = await this.readNames(absDir, dir);
      const chunk = 256;
      for (let start = 0; start < names.length; start += chunk) {
        const batch = names.slice(start, start + chunk);
        const stated = await Promise.all(
          batch.map((name) => {
            const logical = joinPath(dir, name);
            if (virtual.has(name)) {
              this.options.onWarning(
                `${logical} in ${owner.root} is hidden by the ${logical} that the backup adds; it is not backed up`,
              );
              return undefined;
            }
            return this.childOf(owner, rel, name, logical, path.join(absDir, name));
          }),
        );
        for (const child of stated) if (child) children.push(child);
      }
    }
    return children.sort((a, b) => comparePaths(a.name, b.name));
  }

  /** Children that other sources add to this directory: their mount point, or a folder leading to it. */
  private virtualChildren(dir: string, owner: WalkSource | undefined): Map<string, Child> {
    const out = new Map<string, Child>();
    for (const source of this.mounts) {
      if (source === owner || !isUnder(source.mount, dir)) continue;
      const rest = dir === '' ? source.mount : source.mount.slice(dir.length + 1);
      const name = rest.split('/')[0] as string;
      const childPath = joinPath(dir, name);
      if (out.has(name)) continue;
      if (childPath === source.mount) {
        out.set(name, {
          name,
          path: childPath,
          absPath: source.root,
          type: 'dir',
          stats: undefined,
          emit: true,
          descend: true,
        });
      } else {
        out.set(name, {
          name,
          path: childPath,
          absPath: undefined,
          type: 'dir',
          stats: undefined,
          emit: false,
          descend: true,
        });
      }
    }
    return out;
  }

  private async readNames(absDir: string, logical: string): Promise<string[]> {
    let names: string[];
    try {
      names = await this.semaphore.run(() => fsx.readdir(absDir));
    } catch (error) {
      this.warnFs(error, logical === '' ? '(the root)' : logical, 'list');
      return [];
    }
    if (names.some((name) => name.includes('\uFFFD'))) names = await this.validNames(absDir, logical, names);
    return names;
  }

  /** Names that are not valid UTF-8 cannot be written back under the same name: they are skipped, loudly. */
  private async validNames(absDir: string, logical: string, names: string[]): Promise<string[]> {
    const raw = await this.semaphore.run(() => fs.readdir(absDir, { encoding: 'buffer' }));
    const valid: string[] = [];
    for (const bytes of raw) {
      const name = bytes.toString('utf8');
      if (Buffer.from(name, 'utf8').equals(bytes)) valid.push(name);
      else
        this.options.onWarning(
          `skipped a name that is not valid UTF-8 in ${logical || '(the root)'}: ${name}`,
        );
    }
    return valid.length === names.length ? names : valid;
  }

  private async childOf(
    owner: WalkSource,
    relDir: string,
    name: string,
    logical: string,
    absPath: string,
  ): Promise<Child | undefined> {
    let stats: Stats;
    try {
      stats = await this.semaphore.run(() => fsx.lstat(absPath));
    } catch (error) {
      this.warnFs(error, logical, 'read');
      return undefined;
    }
    const rel = joinPath(relDir, name);
    const selection = owner.selection;
    if (stats.isDirectory()) {
      if (selection?.prunes(rel)) return undefined;
      // Every folder the walk enters is recorded, selected or not (`osgi` leads to `osgi/configs`):
      // a restore then gives the folders above selected paths their own mode and mtime.
      return { name, path: logical, absPath, type: 'dir', stats, emit: true, descend: true };
    }
    const type: EntryType | undefined = stats.isFile()
      ? 'file'
      : stats.isSymbolicLink()
        ? 'symlink'
        : undefined;
    if (selection && !selection.includes(rel, false)) return undefined;
    if (!type) {
      this.options.onWarning(
        `skipped ${logical}: not a regular file, directory or symbolic link (a socket, pipe or device)`,
      );
      return undefined;
    }
    return { name, path: logical, absPath, type, stats, emit: true, descend: false };
  }

  private warnFs(error: unknown, what: string, verb: string): void {
    const code = (error as NodeJS.ErrnoException).code;
    // Removed while the walk ran: not an error, the backup reflects the tree as it was read.
    if (code === 'ENOENT') return;
    this.options.onWarning(
      `could not ${verb} ${what}: ${code ?? (error as Error).message}; it is not backed up`,
    );
  }
}
