import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CorruptBackupError } from '#runtime/errors.ts';
import { type ContentStore, isReusable } from '#store/content-store.ts';
import type { PackInfo, PackPart } from './pack-stream.ts';
import type { RepositoryRecord, StoredPack } from './settings.ts';
import { isomorphicGit } from './smart-http.ts';

/**
 * The store copy of a repository: a chain of packs under `objects/git/`, content-addressed by
 * SHA-256 and shared by every backup set that lists them. Each backup adds one pack holding the
 * objects reachable from its refs and not from the previous backup's refs (the source computes
 * it: the previous refs are the "haves" of an upload-pack request), so a nightly backup of a
 * quiet repository stores almost nothing. A restore concatenates the chain into one pack.
 *
 * The packs of a chain must be disjoint: git's index-pack --strict (receive.fsckObjects, which
 * hosting services turn on) refuses a pack holding an object twice. Every pack is therefore
 * indexed with isomorphic-git (which also proves every object and delta in it is whole) and its
 * .idx stored beside it; a new pack that shares an object with the chain (a ref that came back,
 * a rewritten commit whose objects the source had dropped) starts a new chain with a full pack.
 * A chain longer than MAX_CHAIN starts over too, which bounds what a restore reads.
 */
export const MAX_CHAIN = 24;

export function packKey(sha256: string): string {
  return `objects/git/pack-${sha256}.pack`;
}

export function indexKeyOf(pack: StoredPack): string {
  return pack.key.replace(/\.pack$/, '.idx');
}

/** What the next pack builds on: the previous chain and its refs, or nothing (a full pack). */
export function chainBase(previous: RepositoryRecord | undefined): { packs: StoredPack[]; haves: string[] } {
  const packs = previous?.storeCopy?.packs ?? [];
  if (!previous || packs.length === 0 || packs.length >= MAX_CHAIN) return { packs: [], haves: [] };
  return { packs: [...packs], haves: [...new Set(Object.values(previous.refs))] };
}

/** Same set of object ids, in any order. */
export function sameOids(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((oid) => right.has(oid));
}

/** The object ids listed in a version-2 pack index (gitformat-pack: magic, fan-out table, names). */
export function idxObjectIds(idx: Buffer): string[] {
  if (idx.length < 8 + 256 * 4 || idx.readUInt32BE(0) !== 0xff744f63 || idx.readUInt32BE(4) !== 2) {
    throw new CorruptBackupError('not a version 2 pack index');
  }
  const count = idx.readUInt32BE(8 + 255 * 4);
  const start = 8 + 256 * 4;
  if (idx.length < start + count * 20) throw new CorruptBackupError('truncated pack index');
  const oids: string[] = [];
  for (let i = 0; i < count; i++) oids.push(idx.toString('hex', start + i * 20, start + (i + 1) * 20));
  return oids;
}

export interface IndexedPack {
  readonly file: string;
  readonly info: PackInfo;
  readonly indexFile: string;
  readonly oids: readonly string[];
}

/**
 * Indexes a pack file with isomorphic-git: every object is inflated, every delta resolved and
 * every id computed, so a pack that goes into the store is known to be whole; writes the .idx.
 */
export async function indexPackFile(file: string, info: PackInfo): Promise<IndexedPack> {
  const dir = path.dirname(file);
  // Loaded on first use: a CLI run without Git never parses isomorphic-git.
  const { indexPack } = await isomorphicGit();
  const { oids } = await indexPack({ fs, dir, gitdir: dir, filepath: path.basename(file) });
  if (oids.length !== info.objects) {
    throw new CorruptBackupError(`the pack holds ${oids.length} objects, its header says ${info.objects}`);
  }
  return { file, info, indexFile: file.replace(/\.pack$/, '.idx'), oids };
}

/** Every object id the chain holds (from the stored indexes). */
export async function chainObjectIds(
  store: ContentStore,
  packs: readonly StoredPack[],
): Promise<Set<string>> {
  const oids = new Set<string>();
  for (const pack of packs) for (const oid of idxObjectIds(await store.read(indexKeyOf(pack)))) oids.add(oid);
  return oids;
}

/**
 * Uploads a pack and its index unless the store already holds those bytes, written recently enough
 * to be safe from garbage collection (`isReusable`: an older pack may belong to no kept set and be
 * collected while this backup runs; it is written again, which makes it young); returns its chain
 * entry.
 */
export async function storePack(
  store: ContentStore,
  pack: IndexedPack,
  options: { readonly now?: Date } = {},
): Promise<{ stored: StoredPack; written: boolean }> {
  const stored: StoredPack = {
    key: packKey(pack.info.sha256),
    sha256: pack.info.sha256,
    bytes: pack.info.bytes,
    objects: pack.info.objects,
  };
  const existing = await store.stat(stored.key);
  const existingIndex = await store.stat(indexKeyOf(stored));
  if (
    existing &&
    existingIndex &&
    existing.size === stored.bytes &&
    isReusable(existing, options.now) &&
    isReusable(existingIndex, options.now)
  ) {
    return { stored, written: false };
  }
  // The index first: a pack is listed in a chain only once both are there.
  await store.put(indexKeyOf(stored), await readFile(pack.indexFile), {
    contentType: 'application/octet-stream',
  });
  await store.put(stored.key, createReadStream(pack.file), {
    contentLength: stored.bytes,
    contentType: 'application/x-git-packed-objects',
  });
  return { stored, written: true };
}

/**
 * Downloads a chain into `dir`, checking each pack's SHA-256 against the record before anything
 * is sent anywhere; returns the parts for concatPacks.
 */
export async function downloadChain(
  store: ContentStore,
  packs: readonly StoredPack[],
  dir: string,
): Promise<PackPart[]> {
  const parts: PackPart[] = [];
  for (const [index, pack] of packs.entries()) {
    const file = path.join(dir, `chain-${index}.pack`);
    const hash = createHash('sha256');
    let bytes = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        bytes += chunk.length;
        callback(null, chunk);
      },
    });
    await pipeline(await store.get(pack.key), hashing, createWriteStream(file, { mode: 0o600 }));
    const sha256 = hash.digest('hex');
    if (sha256 !== pack.sha256 || bytes !== pack.bytes) {
      throw new CorruptBackupError(
        `${pack.key}: the stored pack does not match its record (sha256 ${sha256}, ${bytes} bytes; recorded ${pack.sha256}, ${pack.bytes} bytes)`,
      );
    }
    parts.push({ objects: pack.objects, bytes: pack.bytes, open: async () => createReadStream(file) });
  }
  return parts;
}
