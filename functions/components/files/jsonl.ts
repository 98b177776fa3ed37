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

/**
 * The longest line a JSON Lines object may hold, in characters (UTF-16 units). The longest real
 * line is a large file's entry (or catalog line) with its chunk list, about 81 characters a chunk:
 * this admits 200,000 chunks (3 TiB in 16 MiB chunks, more than one Lambda reads in 15 minutes),
 * and bounds what a damaged or hostile object costs to read (a line without an end, 64 MiB of it
 * in 64 KB of gzip, took 5 s and 530 MB, and four times as much would have exhausted a Lambda).
 * Writers refuse a longer line, so nothing is stored that cannot be read back.
 */
export const MAX_LINE_CHARS = 16 * 1024 * 1024;

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
    if (json.length > MAX_LINE_CHARS)
      throw new LineTooLongError(
        `a line of ${json.length} characters is longer than a stored line may be (${MAX_LINE_CHARS}; a file of more than 200,000 chunks: raise chunkBytes): ${json.slice(0, 300)}`,
      );
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

/** A line longer than MAX_LINE_CHARS was written: a reader would refuse it. */
export class LineTooLongError extends Error {
  override readonly name = 'LineTooLongError';
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
  // The start of a line not yet ended, in pieces: joined once its end comes, and never searched
  // again for a line end (text added to it and searched whole, chunk after chunk, was quadratic).
  let rest: string[] = [];
  let restChars = 0;
  let line = 0;
  const tooLong = () =>
    new CorruptBackupError(
      `${key} line ${line + 1} is longer than ${MAX_LINE_CHARS} characters (no line of this tool's is): it was changed or damaged`,
    );
  try {
    for await (const chunk of gunzip) {
      const text = decoder.write(chunk as Buffer);
      const batch: JsonLine[] = [];
      let start = 0;
      let newline = text.indexOf('\n', start);
      while (newline >= 0) {
        let lineText = text.slice(start, newline);
        if (rest.length > 0) {
          if (restChars + lineText.length > MAX_LINE_CHARS) throw tooLong();
          rest.push(lineText);
          lineText = rest.join('');
          rest = [];
          restChars = 0;
        } else if (lineText.length > MAX_LINE_CHARS) throw tooLong();
        line += 1;
        batch.push({ value: parseLine(lineText, key, line), line, text: lineText });
        start = newline + 1;
        newline = text.indexOf('\n', start);
      }
      if (start < text.length) {
        restChars += text.length - start;
        if (restChars > MAX_LINE_CHARS) throw tooLong();
        rest.push(start === 0 ? text : text.slice(start));
      }
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
  if (restChars + decoder.end().length > 0)
    throw new CorruptBackupError(`${key} ends in the middle of a line (line ${line + 1})`);
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
