/**
 * Git's pkt-line framing (gitprotocol-common: four hex digits of length, then the payload) and the
 * side-band multiplexing of upload-pack and receive-pack responses.
 *
 * Written here rather than taken from isomorphic-git: its GitPktLine and GitSideBand are internal
 * (not exported), and its side-band demuxer buffers the whole pack in memory, while a mirror
 * streams packs of any size through /tmp.
 */

export const FLUSH_PKT = Buffer.from('0000', 'ascii');
/** Payload limit of one pkt-line (65520 bytes in all, including the four length digits). */
export const MAX_PKT_PAYLOAD = 65516;

/** One pkt-line holding `payload` (text lines should end in "\n"). */
export function pktLine(payload: string | Uint8Array): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  if (data.length > MAX_PKT_PAYLOAD)
    throw new RangeError(`pkt-line payload of ${data.length} bytes is too long`);
  return Buffer.concat([Buffer.from((data.length + 4).toString(16).padStart(4, '0'), 'ascii'), data]);
}

export type Pkt =
  | { readonly kind: 'data'; readonly data: Buffer }
  | { readonly kind: 'flush' | 'delim' | 'end' };

/** Pulls exact byte counts out of a stream of chunks. */
export class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private buffer: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** Exactly `count` bytes, or fewer only when the stream ended first. */
  async read(count: number): Promise<Buffer> {
    while (this.buffer.length < count && !this.done) {
      const next = await this.iterator.next();
      if (next.done) this.done = true;
      else if (next.value.length > 0) {
        this.buffer =
          this.buffer.length === 0 ? Buffer.from(next.value) : Buffer.concat([this.buffer, next.value]);
      }
    }
    const out = this.buffer.subarray(0, count);
    this.buffer = this.buffer.subarray(out.length);
    return out;
  }

  /** Whatever is left, chunk by chunk (after pkt-lines, a raw pack may follow). */
  async *rest(): AsyncGenerator<Buffer> {
    if (this.buffer.length > 0) {
      const first = this.buffer;
      this.buffer = Buffer.alloc(0);
      yield first;
    }
    while (!this.done) {
      const next = await this.iterator.next();
      if (next.done) this.done = true;
      else if (next.value.length > 0) yield Buffer.from(next.value);
    }
  }
}

/** Reads one pkt-line; `end` when the stream is over. */
export async function readPkt(reader: ByteReader): Promise<Pkt> {
  const head = await reader.read(4);
  if (head.length === 0) return { kind: 'end' };
  if (head.length < 4) throw new TruncatedStreamError('truncated pkt-line length');
  const text = head.toString('ascii');
  if (!/^[0-9a-f]{4}$/i.test(text)) throw new Error(`not a pkt-line: ${JSON.stringify(text)}`);
  const length = Number.parseInt(text, 16);
  if (length === 0) return { kind: 'flush' };
  if (length === 1) return { kind: 'delim' };
  if (length < 4) throw new Error(`invalid pkt-line length ${length}`);
  const data = await reader.read(length - 4);
  if (data.length < length - 4) throw new TruncatedStreamError('truncated pkt-line');
  return { kind: 'data', data };
}

/** A pkt-line's text without the trailing newline. */
export function pktText(data: Buffer): string {
  const text = data.toString('utf8');
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

export interface SideBandHandlers {
  /** Band 1: the payload (pack data, or a nested report-status). */
  readonly data: (chunk: Buffer) => void | Promise<void>;
  /** Band 2: progress text from the remote ("remote: ..."). */
  readonly progress?: (text: string) => void;
}

/**
 * The response ended in the middle of what it was sending (a connection a proxy or the server
 * closed early): worth another attempt, unlike an answer that is wrong.
 */
export class TruncatedStreamError extends Error {}

/**
 * Demultiplexes side-band-64k packets until the flush that ends them. Band 3 is a fatal error
 * from the remote: it is thrown with the remote's text. A stream that ends before that flush was
 * cut short: TruncatedStreamError.
 */
export async function demuxSideBand(
  reader: ByteReader,
  handlers: SideBandHandlers,
  first?: Buffer,
): Promise<void> {
  let pending: Buffer | undefined = first;
  for (;;) {
    let data: Buffer;
    if (pending) {
      data = pending;
      pending = undefined;
    } else {
      const pkt = await readPkt(reader);
      if (pkt.kind === 'flush') return;
      if (pkt.kind === 'end')
        throw new TruncatedStreamError('the response ended before its side-band data did');
      if (pkt.kind !== 'data') continue;
      data = pkt.data;
    }
    const band = data[0];
    const payload = data.subarray(1);
    if (band === 1) await handlers.data(payload);
    else if (band === 2) handlers.progress?.(payload.toString('utf8'));
    else if (band === 3) throw new SideBandError(payload.toString('utf8').trim());
    else throw new Error(`unexpected side-band ${band}`);
  }
}

/** The remote sent a fatal error on side-band 3. */
export class SideBandError extends Error {
  constructor(readonly remoteMessage: string) {
    super(`the remote reported: ${remoteMessage}`);
    this.name = 'SideBandError';
  }
}
