import type { Stats } from 'node:fs';
import * as fs from 'node:fs';
import { asError, ConfigError } from '#runtime/errors.ts';
import * as fsx from './fsx.ts';
import type { Selection } from './liferay-rules.ts';
import { Semaphore } from './limit.ts';
import {
  comparePaths,
  inRange,
  isUnder,
  joinPath,
  type PathRange,
  subtreeMayIntersect,
  unrestorableWalkedPath,
} from './paths.ts';

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
  /**
   * Sibling directories listed ahead of the one being walked (asynchronous mode). In a document
   * library most folders hold one or two files, so this, not `concurrency`, is what keeps calls
   * in flight over EFS: each listing is a readdir and then the lstats. @default concurrency (at least 8)
   */
  readonly lookahead?: number;
  /**
   * Start with synchronous listings (they stop for good once calls prove slow); false walks
   * asynchronously from the start. @default true
   */
  readonly synchronous?: boolean;
  /** A synchronous call slower than this counts as slow (see SLOW_SYNC_CALL_MS). @default SLOW_SYNC_CALL_MS */
  readonly slowSyncCallMs?: number;
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

/** The walk, one entry at a time (a convenience over walkTreeBatches). */
export async function* walkTree(options: WalkOptions): AsyncGenerator<WalkedEntry> {
  for await (const batch of walkTreeBatches(options)) yield* batch;
}

/**
 * The walk in batches of consecutive entries: a consumer handles a batch without a promise per
 * entry (32,000 entries cost about 30 ms less per promise round trip each).
 */
export async function* walkTreeBatches(options: WalkOptions): AsyncGenerator<WalkedEntry[]> {
  const walker = new Walker(options);
  yield* walker.walk();
}

/**
 * The error for a source root the walk cannot list (or whose children it cannot stat). A folder
 * beneath the root that cannot be read is a warning, but a root that cannot be is a wrong path or
 * an EFS access point whose POSIX user may not read the tree: as a warning it gave a complete,
 * empty set, which became `latest` every night. Other errors (EIO, ...) are the file system's own.
 */
export function unreadableRootError(root: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const because =
    code === 'ENOENT'
      ? 'it does not exist (check the path, and that the file system is mounted)'
      : code === 'ENOTDIR'
        ? 'it is not a directory'
        : code === 'EACCES' || code === 'EPERM'
          ? `permission denied (${code}): give the user this function runs as (on EFS, the access point's POSIX uid/gid) read and search (r-x) permission on the folder, or change its owner or mode`
          : undefined;
  if (!because) return asError(error);
  return new ConfigError(`${root} is not a directory this function can read: ${because}`, { cause: error });
}

/**
 * Throws unreadableRootError unless this process can list `root` and stat what it holds: what
 * Plan checks of every source before anything is walked. These are the calls the walk makes
 * (opening the folder needs read permission, resolving `root/.` search permission), so the check
 * cannot pass where the walk then fails; fs.access would answer for the real uid, not the effective one.
 */
export async function checkSourceRoot(root: string): Promise<void> {
  try {
    const dir = await fs.promises.opendir(root);
    await dir.close();
    await fs.promises.stat(`${root}/.`);
  } catch (error) {
    throw unreadableRootError(root, error);
  }
}

/** A path for a warning: whole when short, else its start and its end (a result keeps 4,000 characters of a warning). */
function shownPath(path: string): string {
  if (path.length <= 600) return path;
  const units = [...path];
  return `${units.slice(0, 200).join('')}…${units.slice(-300).join('')}`;
}

function hasReplacementChar(names: readonly string[]): boolean {
  for (const name of names) if (name.includes('\uFFFD')) return true;
  return false;
}

/**
 * A name (or a relative path of names) beneath a directory on this machine: names from listings
 * hold no `/`, `.` or `..`, so joining them needs no normalising.
 */
function beneath(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

/** Entries the listings fetched ahead may hold before no more are started (memory). */
const MAX_AHEAD_ENTRIES = 50_000;

/** Entries handed to the consumer at most at once (and earlier whenever the walk has to wait). */
const BATCH = 256;

/**
 * Listing a directory synchronously (readdirSync, lstatSync) costs a few microseconds per entry
 * when the metadata is in memory (a local disk, page-cached), against 15-30 us of main-thread
 * time per call for the asynchronous calls, whose only advantage is to overlap many slow calls
 * (EFS, NFS, a cold disk). The walk starts synchronous and turns asynchronous for good once more
 * than a fifth of its synchronous calls took longer than this (judged from the 32nd call on; a
 * share, not an average, so that a busy machine preempting a few calls does not count as slow).
 */
export const SLOW_SYNC_CALL_MS = 0.25;
const SLOW_SYNC_SHARE = 0.2;
const SYNC_PROBE_CALLS = 32;

/**
 * A directory's names, sorted (index order), and what it takes to stat them later: a wide folder
 * (a document library's repository folder holds one folder per document: 48,000 in a test tree)
 * is statted a chunk at a time, so the walk never holds the stats of all its children at once.
 */
interface DirListing {
  readonly dir: string;
  readonly owner: WalkSource | undefined;
  readonly rel: string;
  readonly absDir: string;
  /** Every child's name in order, those that other sources add (`virtual`) included. */
  readonly names: string[];
  readonly virtual: Map<string, Child>;
}

/** A listing with its first chunk of children. */
interface Opened {
  readonly listing: DirListing;
  readonly children: Array<Child | undefined>;
  /** The next name of `listing.names` to stat. */
  readonly next: number;
}

/** Children statted at once (one chunk of a wide folder). */
const CHUNK = 1024;

interface Frame {
  readonly listing: DirListing;
  /** The current chunk; a slot is cleared once walked (the entry's stats are then the consumer's). */
  children: Array<Child | undefined>;
  next: number;
  index: number;
  /** Listings of the next sibling directories, started ahead (asynchronous mode only). */
  pending: Map<number, Promise<Opened>> | undefined;
}

class Walker {
  private readonly semaphore: Semaphore;
  private readonly lookahead: number;
  private readonly range: PathRange;
  private readonly mounts: readonly WalkSource[];
  /** Synchronous listings while they are fast (see SLOW_SYNC_CALL_MS). */
  private sync: boolean;
  private readonly syncLimit: number;
  private syncCalls = 0;
  private slowSyncCalls = 0;
  /** Entries held by listings fetched ahead and not yet walked. */
  private aheadEntries = 0;

  constructor(private readonly options: WalkOptions) {
    this.semaphore = new Semaphore(options.concurrency);
    this.lookahead = options.lookahead ?? Math.max(8, options.concurrency);
    this.range = options.range ?? {};
    this.sync = options.synchronous ?? true;
    this.syncLimit = options.slowSyncCallMs ?? SLOW_SYNC_CALL_MS;
    // Longest mount first, so the owner of a path is the most specific source.
    this.mounts = [...options.sources].sort((a, b) => b.mount.length - a.mount.length);
    if (!this.mounts.some((source) => source.mount === '')) {
      throw new Error('a walk needs a source mounted at the root');
    }
  }

  async *walk(): AsyncGenerator<WalkedEntry[]> {
    const root = this.list('');
    const stack: Frame[] = [this.frame(root instanceof Promise ? await root : root)];
    let out: WalkedEntry[] = [];
    while (stack.length > 0) {
      const frame = stack[stack.length - 1] as Frame;
      const index = frame.index;
      if (index >= frame.children.length) {
        if (frame.next >= frame.listing.names.length) {
          stack.pop();
          continue;
        }
        // The next chunk of a wide folder.
        const from = frame.next;
        frame.next = Math.min(frame.listing.names.length, from + CHUNK);
        let chunk = this.materialize(frame.listing, from, frame.next);
        if (chunk instanceof Promise) {
          if (out.length > 0) {
            yield out;
            out = [];
          }
          chunk = await chunk;
        }
        frame.children = chunk;
        frame.index = 0;
        frame.pending = undefined;
        continue;
      }
      const child = frame.children[index];
      frame.children[index] = undefined;
      frame.index += 1;
      if (!child) continue;
      if (this.range.through !== undefined && comparePaths(child.path, this.range.through) > 0) break;
      if (child.emit && child.stats && child.absPath && inRange(child.path, this.range)) {
        // The child itself (it has every field of a walked entry): one object less per entry.
        out.push(child as WalkedEntry);
        if (out.length >= BATCH) {
          yield out;
          out = [];
        }
      }
      if (!this.shouldDescend(child)) continue;
      if (!this.sync) this.listAhead(frame, index);
      const ahead = frame.pending?.get(index);
      frame.pending?.delete(index);
      let listing: Opened | Promise<Opened> = ahead ?? this.list(child.path);
      if (listing instanceof Promise) {
        // About to wait: hand over what is ready, so the consumer works meanwhile.
        if (out.length > 0) {
          yield out;
          out = [];
        }
        listing = await listing;
        // A listing fetched ahead counted its entries when it arrived: they are being walked now.
        if (ahead) this.aheadEntries -= listing.children.length;
      }
      stack.push(this.frame(listing));
    }
    // Listings fetched ahead may be abandoned when the range ends: never an unhandled rejection.
    for (const frame of stack)
      for (const listing of frame.pending?.values() ?? []) listing.catch(() => undefined);
    if (out.length > 0) yield out;
  }

  private frame(opened: Opened): Frame {
    return {
      listing: opened.listing,
      children: opened.children,
      next: opened.next,
      index: 0,
      pending: undefined,
    };
  }

  /**
   * Starts the listings of this directory and of the next few sibling directories (asynchronous
   * mode), unless the listings already fetched ahead hold MAX_AHEAD_ENTRIES entries (wide folders).
   */
  private listAhead(frame: Frame, index: number): void {
    frame.pending ??= new Map();
    for (let ahead = index; ahead < frame.children.length && ahead < index + this.lookahead; ahead += 1) {
      const sibling = frame.children[ahead];
      if (frame.pending.has(ahead) || !sibling || !this.shouldDescend(sibling)) continue;
      if (ahead > index && this.aheadEntries > MAX_AHEAD_ENTRIES) break;
      const listing = this.list(sibling.path);
      const promise = (listing instanceof Promise ? listing : Promise.resolve(listing)).then((opened) => {
        this.aheadEntries += opened.children.length;
        return opened;
      });
      promise.catch(() => undefined);
      frame.pending.set(ahead, promise);
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

  /**
   * Lists a directory of the combined tree: its names in order and the stats of its first chunk
   * of children, synchronously while calls are fast, else a promise.
   */
  private list(dir: string): Opened | Promise<Opened> {
    const listing = this.open(dir);
    return listing instanceof Promise ? listing.then((opened) => this.first(opened)) : this.first(listing);
  }

  /** A listing with the stats of its first chunk of children (from the first the range can reach). */
  private first(opened: DirListing): Opened | Promise<Opened> {
    const start = this.firstInRange(opened);
    const next = Math.min(opened.names.length, start + CHUNK);
    const children = this.materialize(opened, start, next);
    return children instanceof Promise
      ? children.then((chunk) => ({ listing: opened, children: chunk, next }))
      : { listing: opened, children, next };
  }

  /**
   * The first child of a listing that the range can reach: in a folder that holds the range's
   * start, the children before it (and their subtrees) are out of range, except the one `after`
   * lies beneath, which sorts just before it. A shard that starts deep in a wide folder (300,000
   * documents in one) statted every child before its start, each time, and its heap grew by
   * 100 MB of stats it threw away.
   */
  private firstInRange(listing: DirListing): number {
    const after = this.range.after;
    if (after === undefined || (listing.dir !== '' && !isUnder(after, listing.dir))) return 0;
    const { names, dir } = listing;
    let low = 0;
    let high = names.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (comparePaths(joinPath(dir, names[middle] as string), after) < 0) low = middle + 1;
      else high = middle;
    }
    if (low > 0 && isUnder(after, joinPath(dir, names[low - 1] as string))) low -= 1;
    return low;
  }

  private static relativeDir(dir: string, owner: WalkSource): string {
    return owner.mount === '' ? dir : dir === owner.mount ? '' : dir.slice(owner.mount.length + 1);
  }

  /** The directory on this machine: the source's root, or the path beneath it. */
  private static absoluteDir(owner: WalkSource, rel: string): string {
    return rel === '' ? owner.root : beneath(owner.root, rel);
  }

  /** A directory's names in order (synchronously while calls are fast). */
  private open(dir: string): DirListing | Promise<DirListing> {
    const owner = this.ownerOf(dir);
    const virtual = this.virtualChildren(dir, owner);
    const rel = owner ? Walker.relativeDir(dir, owner) : '';
    const absDir = owner ? Walker.absoluteDir(owner, rel) : '';
    if (!owner) return this.listing(dir, owner, rel, absDir, [], virtual);
    if (this.sync) {
      const started = performance.now();
      let names: string[];
      try {
        names = fs.readdirSync(absDir);
      } catch (error) {
        if (rel === '') throw unreadableRootError(absDir, error);
        this.warnFs(error, dir, 'list');
        return this.listing(dir, owner, rel, absDir, [], virtual);
      } finally {
        this.timed(started);
      }
      // Names that are not valid UTF-8: the asynchronous listing checks and reports them.
      if (!hasReplacementChar(names)) return this.listing(dir, owner, rel, absDir, names, virtual);
    }
    return this.readNames(absDir, dir, rel === '').then((names) =>
      this.listing(dir, owner, rel, absDir, names, virtual),
    );
  }

  /** A listing from the names read: those that other sources hide are left out (with a warning), theirs added. */
  private listing(
    dir: string,
    owner: WalkSource | undefined,
    rel: string,
    absDir: string,
    names: string[],
    virtual: Map<string, Child>,
  ): DirListing {
    if (virtual.size === 0) return { dir, owner, rel, absDir, names: names.sort(comparePaths), virtual };
    const own = names.filter((name) => {
      if (!virtual.has(name)) return true;
      if (owner) this.hiddenByMount(joinPath(dir, name), owner);
      return false;
    });
    return { dir, owner, rel, absDir, names: [...own, ...virtual.keys()].sort(comparePaths), virtual };
  }

  /**
   * The children for names [from, to) of a listing, selected and with their stats: synchronously
   * while calls are fast; a promise once they are not (the rest of the chunk asynchronously).
   */
  private materialize(
    listing: DirListing,
    from: number,
    to: number,
  ): Array<Child | undefined> | Promise<Array<Child | undefined>> {
    const hasMountRoots =
      listing.virtual.size > 0 && [...listing.virtual.values()].some((child) => child.absPath !== undefined);
    const children: Array<Child | undefined> = [];
    let at = from;
    if (this.sync && !hasMountRoots && listing.owner) {
      for (; at < to && this.sync; at += 1)
        children.push(this.childSync(listing, listing.names[at] as string));
      if (at === to) return children;
    }
    return this.materializeAsync(listing, at, to).then((rest) => [...children, ...rest]);
  }

  private childSync(listing: DirListing, name: string): Child | undefined {
    const virtual = listing.virtual.get(name);
    if (virtual) return virtual;
    const owner = listing.owner as WalkSource;
    const logical = joinPath(listing.dir, name);
    const absPath = beneath(listing.absDir, name);
    let stats: Stats | undefined;
    const started = performance.now();
    try {
      stats = fs.lstatSync(absPath, { throwIfNoEntry: false });
    } catch (error) {
      this.childError(error, listing.rel, listing.absDir, logical);
      return undefined;
    } finally {
      this.timed(started);
    }
    // Removed since the listing: not an error, the backup reflects the tree as it was read.
    if (!stats) return undefined;
    return this.select(owner, listing.rel, name, logical, absPath, stats);
  }

  /** Accounts for one synchronous call; turns the walk asynchronous once too many prove slow. */
  private timed(started: number): void {
    this.syncCalls += 1;
    if (performance.now() - started > this.syncLimit) this.slowSyncCalls += 1;
    if (this.syncCalls >= SYNC_PROBE_CALLS && this.slowSyncCalls > this.syncCalls * SLOW_SYNC_SHARE)
      this.sync = false;
  }

  private async materializeAsync(
    listing: DirListing,
    from: number,
    to: number,
  ): Promise<Array<Child | undefined>> {
    const children: Array<Child | undefined> = [];
    const batch = 256;
    for (let start = from; start < to; start += batch) {
      const names = listing.names.slice(start, Math.min(to, start + batch));
      children.push(...(await Promise.all(names.map((name) => this.childAsync(listing, name)))));
    }
    return children;
  }

  private async childAsync(listing: DirListing, name: string): Promise<Child | undefined> {
    const virtual = listing.virtual.get(name);
    if (virtual) {
      if (!virtual.absPath) return virtual;
      // Another source's root: its own stats (following a link to it), recorded like any folder.
      const root = virtual.absPath;
      try {
        const stats = await this.semaphore.run(() => fsx.stat(root));
        return { ...virtual, stats };
      } catch (error) {
        throw unreadableRootError(root, error);
      }
    }
    const owner = listing.owner as WalkSource;
    return this.childOf(owner, listing.rel, name, joinPath(listing.dir, name), beneath(listing.absDir, name));
  }

  private hiddenByMount(logical: string, owner: WalkSource): void {
    this.options.onWarning(
      `${logical} in ${owner.root} is hidden by the ${logical} that the backup adds; it is not backed up`,
    );
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

  private async readNames(absDir: string, logical: string, sourceRoot: boolean): Promise<string[]> {
    let names: string[];
    try {
      names = await this.semaphore.run(() => fsx.readdir(absDir));
    } catch (error) {
      if (sourceRoot) throw unreadableRootError(absDir, error);
      this.warnFs(error, logical, 'list');
      return [];
    }
    if (hasReplacementChar(names)) names = await this.validNames(absDir, logical, names);
    return names;
  }

  /** Names that are not valid UTF-8 cannot be written back under the same name: they are skipped, loudly. */
  private async validNames(absDir: string, logical: string, names: string[]): Promise<string[]> {
    const raw = await this.semaphore.run(() => fs.promises.readdir(absDir, { encoding: 'buffer' }));
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
      this.childError(error, relDir, Walker.absoluteDir(owner, relDir), logical);
      return undefined;
    }
    return this.select(owner, relDir, name, logical, absPath, stats);
  }

  /** The child as the walk records it, or undefined when the rules leave it out (or it is no file, folder or link). */
  private select(
    owner: WalkSource,
    relDir: string,
    name: string,
    logical: string,
    absPath: string,
    stats: Stats,
  ): Child | undefined {
    const rel = joinPath(relDir, name);
    const selection = owner.selection;
    if (stats.isDirectory()) {
      if (selection?.prunes(rel)) return undefined;
      if (this.refused(logical, name, 'dir')) return undefined;
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
    if (this.refused(logical, name, type)) return undefined;
    return { name, path: logical, absPath, type, stats, emit: true, descend: false };
  }

  /**
   * Whether a restore would refuse this path (paths.ts, unsafePathReason): such a path is left
   * out with a warning, as a name that is not valid UTF-8 is, since in the index it would make
   * the whole restore of the set fail. A folder is left out with everything beneath it (longer
   * paths still), in one warning. Only the walk whose range holds the path warns: the listing
   * that finds it may belong to several shards.
   */
  private refused(logical: string, name: string, type: EntryType): boolean {
    const reason = unrestorableWalkedPath(logical, name);
    if (reason === undefined) return false;
    if (inRange(logical, this.range)) {
      const where = `${shownPath(logical)} (${Buffer.byteLength(logical)} bytes)`;
      const what = type === 'dir' ? `the folder ${where} and everything beneath it` : where;
      this.options.onWarning(`skipped ${what}: ${reason}, so a restore could not write it back`);
    }
    return true;
  }

  /**
   * A child that could not be statted. Statting a child needs search permission on its folder and
   * nothing of the child, so a child of a source root refused this way means the root itself
   * cannot be walked: an error, as for a root that cannot be listed.
   */
  private childError(error: unknown, relDir: string, absDir: string, logical: string): void {
    const code = (error as NodeJS.ErrnoException).code;
    if (relDir === '' && (code === 'EACCES' || code === 'EPERM')) throw unreadableRootError(absDir, error);
    this.warnFs(error, logical, 'read');
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
