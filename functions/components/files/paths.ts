/**
 * Index paths: relative, `/`-separated, and ordered so that a depth-first walk that visits the
 * children of each directory in name order produces them already sorted. That order lets a
 * backup merge-join its walk with the previous index, lets shards be plain path ranges, and
 * lets a restore find the parts that hold a subtree from their first and last paths alone.
 */

/**
 * Compares two paths segment by segment: `/` sorts before every other character (so `a`, `a/b`,
 * `a-c` is the order), and within a segment characters compare by code point (the order of
 * their UTF-8 bytes, which is not the order of JavaScript's UTF-16 code units for characters
 * beyond the Basic Multilingual Plane).
 */
export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return weight(x) - weight(y);
  }
  return a.length - b.length;
}

function weight(unit: number): number {
  if (unit === 0x2f) return -1;
  // Surrogates (characters beyond U+FFFF) must sort after U+E000..U+FFFF, as in code point order.
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

/** True when `path` lies strictly inside the directory `dir` (`dir` '' is the root). */
export function isUnder(path: string, dir: string): boolean {
  if (dir === '') return path !== '';
  return path.length > dir.length + 1 && path.charCodeAt(dir.length) === 0x2f && path.startsWith(dir);
}

/** `a/b/c` → `a/b`; a top-level name → ''. */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/** The directories that contain `path`, shallowest first (`a/b/c` → `a`, `a/b`). */
export function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  let at = path.indexOf('/');
  while (at >= 0) {
    out.push(path.slice(0, at));
    at = path.indexOf('/', at + 1);
  }
  return out;
}

export function joinPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** The longest path a restore will create (Linux PATH_MAX is 4096 bytes for the whole path). */
export const MAX_PATH_BYTES = 4000;
const MAX_NAME_BYTES = 255;

/**
 * Why a path read from an index cannot be restored, or undefined when it is safe: a path from
 * the store is input like any other and must never escape the directory it is restored into.
 */
export function unsafePathReason(path: unknown): string | undefined {
  if (typeof path !== 'string') return 'the path is not a string';
  if (path === '') return 'the path is empty';
  if (path.includes('\0')) return 'the path contains a NUL character';
  if (path.startsWith('/')) return 'the path is absolute';
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `the path is longer than ${MAX_PATH_BYTES} bytes`;
  for (const segment of path.split('/')) {
    if (segment === '') return 'the path has an empty segment (// or a trailing /)';
    if (segment === '.' || segment === '..') return `the path has a '${segment}' segment`;
    if (Buffer.byteLength(segment) > MAX_NAME_BYTES) return `a name is longer than ${MAX_NAME_BYTES} bytes`;
  }
  return undefined;
}

/**
 * unsafePathReason for a path a backup's walk joined from the names of directory listings: those
 * are never empty, `.` or `..` and hold no `/` or NUL, so only the length limits can refuse it.
 * A UTF-16 unit is at most 3 bytes of UTF-8, so nearly every path passes without its bytes being
 * counted (the whole rule took 10 ms per 32,000 paths here, where a bare walk of the medium tree's
 * 33,900 entries takes 90 ms); any other path is judged by the restore's own rule, so a backup
 * never records a path that its restore refuses.
 */
export function unrestorableWalkedPath(path: string, name: string): string | undefined {
  if (path.length * 3 <= MAX_PATH_BYTES && name.length * 3 <= MAX_NAME_BYTES) return undefined;
  return unsafePathReason(path);
}

/**
 * A half-open path range (after, through]: entries with after < path <= through. Undefined
 * bounds are open. Shards of a backup and of a restore are such ranges.
 */
export interface PathRange {
  readonly after?: string | undefined;
  readonly through?: string | undefined;
}

export function inRange(path: string, range: PathRange): boolean {
  if (range.after !== undefined && comparePaths(path, range.after) <= 0) return false;
  if (range.through !== undefined && comparePaths(path, range.through) > 0) return false;
  return true;
}

/** Whether a directory's subtree (the directory and everything beneath it) can hold paths in the range. */
export function subtreeMayIntersect(dir: string, range: PathRange): boolean {
  if (range.through !== undefined && comparePaths(dir, range.through) > 0) return false;
  if (range.after !== undefined && comparePaths(dir, range.after) <= 0 && !isUnder(range.after, dir)) {
    // Everything beneath `dir` sorts between `dir` and `after` unless `after` itself is beneath it.
    return dir === range.after;
  }
  return true;
}

/** Whether [first, last] (an index part's paths) overlaps the range. */
export function spanIntersects(first: string, last: string, range: PathRange): boolean {
  if (range.after !== undefined && comparePaths(last, range.after) <= 0) return false;
  if (range.through !== undefined && comparePaths(first, range.through) > 0) return false;
  return true;
}
