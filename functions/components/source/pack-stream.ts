import { createHash, type Hash } from 'node:crypto';

/**
 * Packfiles as streams (gitformat-pack): a 12-byte header ("PACK", version, object count), the
 * objects, and a 20-byte SHA-1 of everything before it. Packs pass through here without being
 * parsed object by object: a mirror forwards the pack the source produced, and the store copy
 * is a chain of such packs.
 */

const HEADER_BYTES = 12;
const TRAILER_BYTES = 20;

export interface PackInfo {
  /** Objects the header announces. */
  readonly objects: number;
  readonly bytes: number;
  /** SHA-256 of the whole pack, for the content-addressed store key. */
  readonly sha256: string;
}

export class InvalidPackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidPackError';
  }
}

function parseHeader(header: Buffer): { version: number; objects: number } {
  if (header.length < HEADER_BYTES || header.subarray(0, 4).toString('latin1') !== 'PACK') {
    throw new InvalidPackError('not a packfile (no PACK signature)');
  }
  const version = header.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw new InvalidPackError(`unsupported pack version ${version}`);
  return { version, objects: header.readUInt32BE(8) };
}

/**
 * Checks a pack as it streams by: the signature, and that the trailing SHA-1 matches the bytes
 * (a truncated or corrupted transfer fails here, not on the remote).
 */
export class PackVerifier {
  private readonly sha1: Hash = createHash('sha1');
  private readonly sha256: Hash = createHash('sha256');
  private header = Buffer.alloc(0);
  private tail = Buffer.alloc(0);
  private bytes = 0;

  update(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.sha256.update(chunk);
    if (this.header.length < HEADER_BYTES) {
      this.header = Buffer.concat([this.header, chunk.subarray(0, HEADER_BYTES - this.header.length)]);
    }
    // Hash everything except the last 20 bytes seen so far: they may be the trailer.
    const combined = this.tail.length === 0 ? chunk : Buffer.concat([this.tail, chunk]);
    const hashable = combined.length - TRAILER_BYTES;
    if (hashable > 0) {
      this.sha1.update(combined.subarray(0, hashable));
      this.tail = Buffer.from(combined.subarray(hashable));
    } else {
      this.tail = Buffer.from(combined);
    }
  }

  finish(): PackInfo {
    if (this.bytes < HEADER_BYTES + TRAILER_BYTES)
      throw new InvalidPackError(`pack of ${this.bytes} bytes is truncated`);
    const { objects } = parseHeader(this.header);
    const expected = this.sha1.digest();
    if (!expected.equals(this.tail))
      throw new InvalidPackError('pack checksum mismatch (truncated or corrupted)');
    return { objects, bytes: this.bytes, sha256: this.sha256.digest('hex') };
  }
}

/** A pack with no objects: receive-pack wants one whenever a ref is created or updated. */
export function emptyPack(): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.write('PACK', 0, 'latin1');
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(0, 8);
  return Buffer.concat([header, createHash('sha1').update(header).digest()]);
}

export interface PackPart {
  /** Objects its header announces (recorded when it was stored; checked again here). */
  readonly objects: number;
  readonly bytes: number;
  readonly open: () => Promise<AsyncIterable<Uint8Array>>;
}

/** Size of the pack `concatPacks` produces from these parts. */
export function concatenatedSize(parts: readonly PackPart[]): number {
  return (
    HEADER_BYTES +
    parts.reduce((sum, part) => sum + part.bytes - HEADER_BYTES - TRAILER_BYTES, 0) +
    TRAILER_BYTES
  );
}

/**
 * One pack made of several, without parsing their objects: a new header with the total count,
 * each pack's objects as they are, and a new SHA-1. Valid because OFS_DELTA bases are addressed
 * relative to the delta itself (unchanged when a pack's objects move as a block) and REF_DELTA
 * bases by object id. Git's index-pack accepts an object that appears in two parts.
 */
export async function* concatPacks(parts: readonly PackPart[]): AsyncGenerator<Buffer> {
  const total = parts.reduce((sum, part) => sum + part.objects, 0);
  const header = Buffer.alloc(HEADER_BYTES);
  header.write('PACK', 0, 'latin1');
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(total, 8);
  const sha1 = createHash('sha1');
  sha1.update(header);
  yield header;
  for (const [index, part] of parts.entries()) {
    let head = Buffer.alloc(0);
    let tail = Buffer.alloc(0);
    let seen = 0;
    for await (const raw of await part.open()) {
      let chunk = Buffer.from(raw);
      seen += chunk.length;
      if (head.length < HEADER_BYTES) {
        const need = HEADER_BYTES - head.length;
        head = Buffer.concat([head, chunk.subarray(0, need)]);
        chunk = chunk.subarray(need);
        if (head.length === HEADER_BYTES) {
          const { version, objects } = parseHeader(head);
          if (version !== 2)
            throw new InvalidPackError(`part ${index + 1}: pack version ${version}, expected 2`);
          if (objects !== part.objects) {
            throw new InvalidPackError(`part ${index + 1}: ${objects} objects, expected ${part.objects}`);
          }
        }
      }
      // Hold back 20 bytes: the part's own trailer is dropped.
      const combined = tail.length === 0 ? chunk : Buffer.concat([tail, chunk]);
      const out = combined.length - TRAILER_BYTES;
      if (out > 0) {
        const data = combined.subarray(0, out);
        sha1.update(data);
        yield Buffer.from(data);
        tail = Buffer.from(combined.subarray(out));
      } else {
        tail = Buffer.from(combined);
      }
    }
    if (seen !== part.bytes)
      throw new InvalidPackError(`part ${index + 1}: ${seen} bytes, expected ${part.bytes}`);
  }
  yield sha1.digest();
}
