import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip, createGzip } from 'node:zlib';
import { CorruptBackupError } from '#runtime/errors.ts';
import type { ContentStore } from '#store/content-store.ts';

/**
 * Gzip-compressed JSON Lines, the format of index parts, content lists and catalog partitions:
 * written to a scratch file as they are produced (never whole in memory), uploaded with their
 * size and sha256, and read back as a stream that checks both.
 */

/** Size and sha256 of a stored object, recorded by whoever references it. */
export interface ObjectDigest {
  readonly size: number;
  readonly sha256: string;
}

/**
 * Output buffer of the gzip and gunzip streams: each buffer filled is a round trip between the
 * thread pool and the main thread, and at the default 16 KiB reading a 1.5 MB index part (9 MB
 * of text) took 660 of them: 20 ms of main-thread time and 55-70 ms of wall time, against 4-6 ms
 * and 16-32 ms at 256 KiB.
 */
const ZLIB_CHUNK_BYTES = 256 * 1024;

/**
 * Text handed to gzip before the writer waits for it. At the default 16 KiB every flush of 64 KiB
 * waited while the thread pool compressed it, so the walk stopped each time; with 1 MiB the main
 * thread goes on while the text is compressed on the other core (memory: 1 MiB per file).
 */
const GZIP_BUFFERED_BYTES = 1024 * 1024;

/** Writes JSON lines through gzip into a scratch file; `upload` stores it and removes the file. */
export class JsonLinesFile {
  private readonly gzip = createGzip({ level: 1, chunkSize: ZLIB_CHUNK_BYTES });
  private readonly hash = createHash('sha256');
  private size = 0;
  private buffered: string[] = [];
  private bufferedChars = 0;
  private readonly done: Promise<void>;
  lines = 0;

  private constructor(readonly file: string) {
    const out = createWriteStream(file);
    this.gzip.on('data', (chunk: Buffer) => {
      this.hash.update(chunk);
      this.size += chunk.length;
    });
    this.gzip.pipe(out);
    this.done = new Promise((resolve, reject) => {
      out.on('finish', resolve);
      out.on('error', reject);
      this.gzip.on('error', reject);
    });
    // A failure surfaces through `done`; until someone awaits it, keep it from being unhandled.
    this.done.catch(() => undefined);
  }

  static async create(scratchDir: string, label: string): Promise<JsonLinesFile> {
    await fs.mkdir(scratchDir, { recursive: true });
    return new JsonLinesFile(path.join(scratchDir, `${label}-${randomBytes(6).toString('hex')}.jsonl.gz`));
  }

  /** Adds one value; pauses the caller when gzip is behind (bounded memory). */
  async write(value: unknown): Promise<void> {
    if (this.add(value)) await this.flush();
  }

  /**
   * Adds one value without waiting; true means the buffer is full and the caller must `flush()`
   * before adding more (a walk of millions of entries then costs no promise per entry).
   */
  add(value: unknown): boolean {
    return this.addLine(JSON.stringify(value));
  }

  /** Adds one line of JSON text, as it is (a line copied from an earlier part); see add(). */
  addLine(json: string): boolean {
    this.buffered.push(json);
    this.bufferedChars += json.length + 1;
    this.lines += 1;
    return this.bufferedChars >= 64 * 1024;
  }

  /** Hands the buffered lines to gzip; waits while gzip is behind. */
  async flush(): Promise<void> {
    if (this.buffered.length === 0) return;
    this.buffered.push('');
    const text = this.buffered.join('\n');
    this.buffered = [];
    this.bufferedChars = 0;
    if (!this.gzip.write(text) && this.gzip.writableLength > GZIP_BUFFERED_BYTES)
      await new Promise<void>((resolve) => this.gzip.once('drain', resolve));
  }

  private closed: ObjectDigest | undefined;

  /** Closes the file and returns its size and sha256 (again when it was closed already). */
  async close(): Promise<ObjectDigest> {
    if (this.closed) return this.closed;
    await this.flush();
    this.gzip.end();
    await this.done;
    this.closed = { size: this.size, sha256: this.hash.digest('hex') };
    return this.closed;
  }

  /** Closes, uploads under `key`, removes the scratch file. */
  async upload(store: ContentStore, key: string): Promise<ObjectDigest> {
    const digest = await this.close();
    try {
      await store.put(key, createReadStream(this.file), {
        contentLength: digest.size,
        contentType: 'application/gzip',
      });
    } finally {
      await fs.rm(this.file, { force: true });
    }
    return digest;
  }

  async discard(): Promise<void> {
    this.gzip.destroy();
    await fs.rm(this.file, { force: true });
  }
}

/** Passes bytes through while counting and hashing them. */
export class DigestTap extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/** One line of a JSON Lines object: its parsed value, its number (from 1) and its text. */
export interface JsonLine {
  readonly value: unknown;
  readonly line: number;
  readonly text: string;
}

/**
 * Streams the lines of a stored gzip JSON Lines object, parsed (not yet validated: callers use
 * their schema). With `expected`, the object's size and sha256 are checked once it has been
 * read; a mismatch throws CorruptBackupError (a caller that must not act on unverified lines
 * reads the whole object first).
 */
export async function* readJsonLines(
  store: ContentStore,
  key: string,
  expected?: ObjectDigest,
): AsyncGenerator<JsonLine> {
  for await (const batch of readJsonLineBatches(store, key, expected)) yield* batch;
}

/**
 * readJsonLines in batches (the lines of each decompressed chunk): a reader of tens of thousands
 * of lines then costs one promise per chunk, not one per line. The digest check comes after the
 * last batch, as above.
 */
export async function* readJsonLineBatches(
  store: ContentStore,
  key: string,
  expected?: ObjectDigest,
): AsyncGenerator<JsonLine[]> {
  const body = await store.get(key);
  const tap = new DigestTap();
  const gunzip = createGunzip({ chunkSize: ZLIB_CHUNK_BYTES });
  body.on('error', (error) => gunzip.destroy(error));
  body.pipe(tap).pipe(gunzip);
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let line = 0;
  try {
    for await (const chunk of gunzip) {
      const text = rest + decoder.write(chunk as Buffer);
      const batch: JsonLine[] = [];
      let start = 0;
      let newline = text.indexOf('\n', start);
      while (newline >= 0) {
        line += 1;
        const lineText = text.slice(start, newline);
        batch.push({ value: parseLine(lineText, key, line), line, text: lineText });
        start = newline + 1;
        newline = text.indexOf('\n', start);
      }
      rest = text.slice(start);
      if (batch.length > 0) yield batch;
    }
  } catch (error) {
    if (error instanceof CorruptBackupError) throw error;
    if ((error as { code?: string }).code?.startsWith('Z_')) {
      throw new CorruptBackupError(`${key} is not valid gzip: ${(error as Error).message}`, { cause: error });
    }
    throw error;
  } finally {
    body.destroy();
  }
  rest += decoder.end();
  if (rest.length > 0) throw new CorruptBackupError(`${key} ends in the middle of a line (line ${line + 1})`);
  if (expected && (tap.bytes !== expected.size || tap.digest() !== expected.sha256)) {
    throw new CorruptBackupError(
      `${key} does not match its recorded size and sha256 (${tap.bytes} bytes read, ${expected.size} recorded): it was changed or damaged`,
    );
  }
}

function parseLine(text: string, key: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new CorruptBackupError(`${key} line ${line} is not JSON`);
  }
}
