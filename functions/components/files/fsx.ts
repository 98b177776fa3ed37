import * as fs from 'node:fs';

/**
 * The few filesystem calls the engine makes per file, as promises over the callback API.
 * `fs/promises` costs about twice as much main-thread time per call (measured here: 34,000
 * lstat calls, 880 ms against 400 ms), and a walk of millions of files makes millions of calls.
 */

function call<T>(start: (done: (error: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    start((error, value) => (error ? reject(error) : resolve(value)));
  });
}

export const lstat = (path: string) => call<fs.Stats>((done) => fs.lstat(path, done));
export const stat = (path: string) => call<fs.Stats>((done) => fs.stat(path, done));
/** The entry's own stats (a link is not followed), or undefined when nothing has that name. */
export async function lstatIfPresent(path: string): Promise<fs.Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
/** Whether something (a link included, not followed) has that name; other errors are thrown. */
export async function exists(path: string): Promise<boolean> {
  return (await lstatIfPresent(path)) !== undefined;
}
export const lstatBig = (path: string) =>
  call<fs.BigIntStats>((done) =>
    fs.lstat(path, { bigint: true }, done as (e: NodeJS.ErrnoException | null, s: fs.BigIntStats) => void),
  );
export const statBig = (path: string) =>
  call<fs.BigIntStats>((done) =>
    fs.stat(path, { bigint: true }, done as (e: NodeJS.ErrnoException | null, s: fs.BigIntStats) => void),
  );
export const fstatBig = (fd: number) =>
  call<fs.BigIntStats>((done) =>
    fs.fstat(fd, { bigint: true }, done as (e: NodeJS.ErrnoException | null, s: fs.BigIntStats) => void),
  );
export const readdir = (path: string) => call<string[]>((done) => fs.readdir(path, done));
export const open = (path: string, flags: number, mode?: number) =>
  call<number>((done) => fs.open(path, flags, mode, done));
export const close = (fd: number) => call<void>((done) => fs.close(fd, (error) => done(error, undefined)));
export const read = (fd: number, buffer: Buffer, offset: number, length: number, position: number) =>
  call<number>((done) =>
    fs.read(fd, buffer, offset, length, position, (error, bytesRead) => done(error, bytesRead)),
  );
export const write = (fd: number, buffer: Buffer, offset: number, length: number, position: number | null) =>
  call<number>((done) =>
    fs.write(fd, buffer, offset, length, position, (error, written) => done(error, written)),
  );

/** Writes all of `buffer` at `position` (null: at the current offset). */
export async function writeAll(
  fd: number,
  buffer: Buffer,
  position: number | null,
  io: Pick<FileIo, 'write'> = { write },
): Promise<void> {
  let offset = 0;
  while (offset < buffer.length) {
    const written = await io.write(
      fd,
      buffer,
      offset,
      buffer.length - offset,
      position === null ? null : position + offset,
    );
    offset += written;
  }
}

/** Reads into `buffer` from `position` until it is full or the file ends; returns the bytes read. */
export async function readFully(
  fd: number,
  buffer: Buffer,
  position: number,
  length = buffer.length,
  io: Pick<FileIo, 'read'> = { read },
): Promise<number> {
  let total = 0;
  while (total < length) {
    const bytesRead = await io.read(fd, buffer, total, length - total, position + total);
    if (bytesRead === 0) break;
    total += bytesRead;
  }
  return total;
}
export const mkdir = (path: string, mode: number) =>
  call<void>((done) => fs.mkdir(path, { mode }, (error) => done(error, undefined)));
export const fchmod = (fd: number, mode: number) =>
  call<void>((done) => fs.fchmod(fd, mode, (error) => done(error, undefined)));
export const futimes = (fd: number, seconds: number | Date) =>
  call<void>((done) => fs.futimes(fd, seconds, seconds, (error) => done(error, undefined)));
export const chmod = (path: string, mode: number) =>
  call<void>((done) => fs.chmod(path, mode, (error) => done(error, undefined)));
export const utimes = (path: string, seconds: number | Date) =>
  call<void>((done) => fs.utimes(path, seconds, seconds, (error) => done(error, undefined)));

/**
 * The per-file calls of a backup's reads and a restore's writes, run synchronously while they are
 * fast and through libuv's thread pool for good once they are not.
 *
 * On a local disk with the metadata and pages in memory a synchronous open, write or futimes costs
 * a few microseconds, while the asynchronous call costs 20-45 us of main-thread time on its own
 * (measured on a 2-vCPU VM: 19,000 files restored spent 0.9 s in open, 0.5 s in mkdir and 1.4 s
 * submitting writes); the thread pool only pays off when calls wait on a server (EFS, NFS) or a
 * cold disk. Once more than a fifth of the synchronous calls took longer than `slowCallMs`
 * (judged from the 32nd call on), every later call is asynchronous. Errors are the same either
 * way (an Error with the errno `code`), delivered as rejected promises.
 */
export class AdaptiveIo {
  private synchronous: boolean;
  private readonly slowCallMs: number;
  private calls = 0;
  private slowCalls = 0;

  constructor(
    options: {
      /** Start synchronous (default), or asynchronous for good. */
      readonly synchronous?: boolean;
      readonly slowCallMs?: number;
    } = {},
  ) {
    this.synchronous = options.synchronous ?? true;
    this.slowCallMs = options.slowCallMs ?? ADAPTIVE_SLOW_CALL_MS;
  }

  /** Whether calls are still made synchronously. */
  get isSynchronous(): boolean {
    return this.synchronous;
  }

  /** `bytes` moved by the call: a read or write is allowed 2 ms per MiB on top (page cache speed). */
  private run<T>(sync: () => T, async: () => Promise<T>, bytes = 0): Promise<T> {
    if (!this.synchronous) return async();
    const started = performance.now();
    try {
      return Promise.resolve(sync());
    } catch (error) {
      return Promise.reject(error);
    } finally {
      this.note(performance.now() - started, bytes);
    }
  }

  /** Counts a synchronous call made elsewhere (a worker thread's) that took `ms` and moved `bytes`. */
  note(ms: number, bytes = 0): void {
    this.calls += 1;
    if (ms > this.slowCallMs + bytes / 500_000) this.slowCalls += 1;
    if (this.calls >= 32 && this.slowCalls > this.calls * 0.2) this.synchronous = false;
  }

  open(path: string, flags: number, mode?: number): Promise<number> {
    return this.run(
      () => fs.openSync(path, flags, mode),
      () => open(path, flags, mode),
    );
  }
  close(fd: number): Promise<void> {
    return this.run(
      () => fs.closeSync(fd),
      () => close(fd),
    );
  }
  fstatBig(fd: number): Promise<fs.BigIntStats> {
    return this.run(
      () => fs.fstatSync(fd, { bigint: true }),
      () => fstatBig(fd),
    );
  }
  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    return this.run(
      () => fs.readSync(fd, buffer, offset, length, position),
      () => read(fd, buffer, offset, length, position),
      length,
    );
  }
  write(
    fd: number,
    buffer: Buffer,
    offset: number,
    length: number,
    position: number | null,
  ): Promise<number> {
    return this.run(
      () => fs.writeSync(fd, buffer, offset, length, position),
      () => write(fd, buffer, offset, length, position),
      length,
    );
  }
  mkdir(path: string, mode: number): Promise<void> {
    return this.run(
      () => void fs.mkdirSync(path, { mode }),
      () => mkdir(path, mode),
    );
  }
  fchmod(fd: number, mode: number): Promise<void> {
    return this.run(
      () => fs.fchmodSync(fd, mode),
      () => fchmod(fd, mode),
    );
  }
  futimes(fd: number, seconds: number | Date): Promise<void> {
    return this.run(
      () => fs.futimesSync(fd, seconds, seconds),
      () => futimes(fd, seconds),
    );
  }
  chmod(path: string, mode: number): Promise<void> {
    return this.run(
      () => fs.chmodSync(path, mode),
      () => chmod(path, mode),
    );
  }
  utimes(path: string, seconds: number | Date): Promise<void> {
    return this.run(
      () => fs.utimesSync(path, seconds, seconds),
      () => utimes(path, seconds),
    );
  }
}

/** A synchronous call slower than this counts as slow for AdaptiveIo. */
export const ADAPTIVE_SLOW_CALL_MS = 0.25;

/**
 * The same limit for a restore, whose calls write (mkdir, create, write, chmod, close). EFS
 * documents its write operations at 1.6 ms (One Zone) and 2.7 ms (Regional) at the least, so 1 ms
 * still tells it from a local disk. 0.25 ms did not: on ext4 without a journal (this machine's
 * disk) a mkdir takes 0.25-0.65 ms for a minute or more after a tree was deleted, because the
 * kernel passes over every inode freed in that time to find a free one; a restore of the medium
 * set right after `rm -rf` of the old tree turned asynchronous after 180 calls, in two runs of
 * three, and then took 8.5-9.7 s instead of 4.6 s.
 */
export const ADAPTIVE_SLOW_WRITE_CALL_MS = 1;

/** The calls AdaptiveIo and the plain asynchronous functions above both offer. */
export type FileIo = Pick<
  AdaptiveIo,
  'open' | 'close' | 'fstatBig' | 'read' | 'write' | 'mkdir' | 'fchmod' | 'futimes' | 'chmod' | 'utimes'
>;

/** The plain asynchronous calls, as a FileIo (EFS functions, and where nothing is gained). */
export const ASYNC_IO: FileIo = { open, close, fstatBig, read, write, mkdir, fchmod, futimes, chmod, utimes };
