/**
 * The pure part of mirroring: which refs take part, what to send to the mirror, and whether the
 * mirror ended up equal to the source. No I/O here; tested without servers.
 */

/** ref name → object id (40 hex digits) */
export type RefMap = Readonly<Record<string, string>>;

export const ZERO_OID = '0000000000000000000000000000000000000000';

/** A ref as a server advertises it (isomorphic-git's ServerRef). */
export interface AdvertisedRef {
  readonly ref: string;
  readonly oid: string;
  /** Set for a symbolic ref (HEAD → refs/heads/main). */
  readonly target?: string;
  /** The commit an annotated tag points to. */
  readonly peeled?: string;
}

/**
 * A ref pattern as in git refspecs and `transfer.hideRefs`-style lists: `*` matches any run of
 * characters including `/` (so `refs/pull/*` covers `refs/pull/12/head`), `?` one character other
 * than `/`; anything else matches itself.
 */
export function refMatcher(patterns: readonly string[]): (ref: string) => boolean {
  if (patterns.length === 0) return () => false;
  const expressions = patterns.map((pattern) => {
    const source = [...pattern]
      .map((char) => {
        if (char === '*') return '.*';
        if (char === '?') return '[^/]';
        return char.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
      })
      .join('');
    return new RegExp(`^${source}$`);
  });
  return (ref) => expressions.some((expression) => expression.test(ref));
}

/** Valid ref names for the patterns and names in configuration and requests. */
export const REF_PATTERN = /^refs\/[^\s\0\\~^:]+$/;

/**
 * The refs that take part in a mirror: everything under `refs/` that is not symbolic and not
 * excluded. HEAD is not a ref a push can set; it is recorded apart (`headTarget`).
 */
export function mirroredRefs(
  advertised: readonly AdvertisedRef[],
  excluded: (ref: string) => boolean,
): Record<string, string> {
  const refs: Record<string, string> = {};
  for (const { ref, oid, target } of advertised) {
    if (!ref.startsWith('refs/') || target !== undefined || excluded(ref)) continue;
    refs[ref] = oid;
  }
  return sortRefs(refs);
}

/** Where HEAD points on a server (from its symref advertisement), if it says. */
export function headTarget(advertised: readonly AdvertisedRef[]): string | undefined {
  return advertised.find((entry) => entry.ref === 'HEAD')?.target;
}

export function sortRefs(refs: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(refs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** One command of a receive-pack request: create (old = zero), update, or delete (new = zero). */
export interface RefCommand {
  readonly ref: string;
  readonly oldOid: string;
  readonly newOid: string;
}

export interface MirrorPlan {
  /** Every command, creates and updates first, deletions last; empty when the mirror is equal. */
  readonly commands: RefCommand[];
  readonly created: number;
  readonly updated: number;
  readonly deleted: string[];
  /** On the mirror, gone at the source, kept because prune is off. */
  readonly kept: string[];
  /** Object ids the mirror lacks at a ref (what to ask the source for). */
  readonly wants: string[];
}

/**
 * What makes the mirror equal to the source: force-update every ref that differs, create the
 * missing ones, and delete the ones the source no longer has only when pruning.
 * Both maps hold only the refs that take part (exclusions already applied).
 */
export function planMirror(source: RefMap, mirror: RefMap, prune: boolean): MirrorPlan {
  const commands: RefCommand[] = [];
  let created = 0;
  let updated = 0;
  for (const [ref, oid] of Object.entries(source)) {
    const current = mirror[ref];
    if (current === oid) continue;
    if (current === undefined) created += 1;
    else updated += 1;
    commands.push({ ref, oldOid: current ?? ZERO_OID, newOid: oid });
  }
  const deleted: string[] = [];
  const kept: string[] = [];
  for (const [ref, oid] of Object.entries(mirror)) {
    if (source[ref] !== undefined) continue;
    if (prune) {
      deleted.push(ref);
      commands.push({ ref, oldOid: oid, newOid: ZERO_OID });
    } else {
      kept.push(ref);
    }
  }
  const wants = [
    ...new Set(commands.filter((command) => command.newOid !== ZERO_OID).map((command) => command.newOid)),
  ];
  return { commands, created, updated, deleted, kept, wants };
}

export interface Verification {
  /** One line per ref that is not as it should be, e.g. `refs/heads/x: mirror abc…, source def…`. */
  readonly differences: string[];
  /** Refs the mirror keeps although the source dropped them (prune off). */
  readonly kept: string[];
}

/**
 * Compares the mirror (participating refs only) with the source state that was mirrored: every
 * source ref must be there with the same object id; a mirror-only ref is a difference when
 * pruning, and a kept ref otherwise.
 */
export function verifyMirror(expected: RefMap, mirror: RefMap, prune: boolean): Verification {
  const differences: string[] = [];
  const kept: string[] = [];
  for (const [ref, oid] of Object.entries(expected)) {
    const actual = mirror[ref];
    if (actual === undefined) differences.push(`${ref}: missing on the mirror (source ${oid})`);
    else if (actual !== oid) differences.push(`${ref}: mirror ${actual}, source ${oid}`);
  }
  for (const [ref, oid] of Object.entries(mirror)) {
    if (expected[ref] !== undefined) continue;
    if (prune) differences.push(`${ref}: still on the mirror (${oid}) although the source deleted it`);
    else kept.push(ref);
  }
  return { differences, kept };
}

/** Refs whose object id changed (or that appeared/vanished) between two listings. */
export function changedRefs(before: RefMap, after: RefMap): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((ref) => before[ref] !== after[ref]).sort();
}

/** The recorded refs a restore pushes: all, or those matching any of the patterns. */
export function selectRefs(
  recorded: RefMap,
  patterns: readonly string[] | undefined,
): Record<string, string> {
  if (!patterns || patterns.length === 0) return { ...recorded };
  const matches = refMatcher(patterns);
  return Object.fromEntries(Object.entries(recorded).filter(([ref]) => matches(ref)));
}

/** Commands that set a target's refs to the recorded ones (the target's current refs given). */
export function restoreCommands(refs: RefMap, target: RefMap): RefCommand[] {
  return Object.entries(refs)
    .filter(([ref, oid]) => target[ref] !== oid)
    .map(([ref, oid]) => ({ ref, oldOid: target[ref] ?? ZERO_OID, newOid: oid }));
}
