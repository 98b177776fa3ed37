import { Worker } from 'node:worker_threads';

/**
 * A restore's last steps for a file assembled in shared memory, on a thread of its own: write
 * the bytes, check their sha256, set the mode and mtime, close. The restore's main thread parses
 * the responses and cuts them into files; on a local disk it was the bottleneck, and these calls
 * were a third of its time (measured on the medium set: creating, writing and closing 19,000
 * files, and WebCrypto's digest, which copies its input on the main thread and zeroes the copy
 * when it is freed). Here the bytes are hashed where they lie (no copy) and the calls are
 * synchronous on the worker thread (a few microseconds each on a local disk).
 *
 * The worker is only for synchronous file calls: over EFS, where calls wait on the server, the
 * restore turns asynchronous and keeps many calls in flight on the thread pool instead.
 *
 * The worker's code is a string evaluated by the worker (CommonJS, no imports of this project):
 * the same code then runs from the sources (tests), from the CLI bundle and from a Lambda bundle.
 */
const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const ring = workerData.ring;
parentPort.on('message', (job) => {
  const bytes = new Uint8Array(job.buffer ?? ring, job.offset, job.length);
  if (job.fd < 0) {
    parentPort.postMessage({ id: job.id, sha256: createHash('sha256').update(bytes).digest('hex'), ms: 0 });
    return;
  }
  let closed = false;
  try {
    let started = performance.now();
    let written = 0;
    while (written < bytes.length) written += fs.writeSync(job.fd, bytes, written, bytes.length - written, null);
    // The time of the file calls, not of the hash, is what tells a slow disk.
    let ms = performance.now() - started;
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    started = performance.now();
    if (sha256 === job.sha256) {
      fs.fchmodSync(job.fd, job.mode);
      fs.futimesSync(job.fd, job.mtime, job.mtime);
    }
    closed = true;
    fs.closeSync(job.fd);
    ms += performance.now() - started;
    parentPort.postMessage({ id: job.id, sha256, ms });
  } catch (error) {
    if (!closed) try { fs.closeSync(job.fd); } catch {}
    parentPort.postMessage({ id: job.id, error: { code: error.code, message: String(error.message) } });
  }
});
`;

export interface FinishJob {
  /** The open file (-1: only hash the bytes). */
  readonly fd: number;
  /** The file's bytes: a view on the worker's ring, or on a SharedArrayBuffer of its own. */
  readonly bytes: Buffer;
  readonly mode: number;
  readonly mtime: number | Date;
  /** The sha256 the bytes must have; the file keeps mode 0600 and its mtime when they do not. */
  readonly sha256: string;
}

export interface FinishOutcome {
  /** The sha256 of the bytes written (compare it with the expected one: a mismatch is not an error here). */
  readonly sha256: string;
  /** How long the worker's calls took (what the adaptive I/O counts as fast or slow). */
  readonly ms: number;
}

interface Reply {
  readonly id: number;
  readonly sha256?: string;
  readonly ms?: number;
  readonly error?: { readonly code?: string; readonly message: string };
}

/** One worker thread finishing files; jobs run in order, the file descriptor is closed in every case. */
export class FinishWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: (outcome: FinishOutcome) => void; reject: (error: Error) => void }
  >();
  private nextId = 0;
  private failure: Error | undefined;

  /** `ring`: the shared memory most files are assembled in (sent once, not with every job). */
  constructor(private readonly ring: SharedArrayBuffer) {
    // The descriptors are the main thread's: the worker closes them without owning them.
    this.worker = new Worker(WORKER_CODE, { eval: true, workerData: { ring }, trackUnmanagedFds: false });
    // A restore never waits on the worker alone: it does not keep the process alive.
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => this.settle(reply));
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`the restore's file worker exited (code ${code})`)));
  }

  /** Only the sha256 of bytes in shared memory (the file calls are made elsewhere). */
  async hash(bytes: Buffer): Promise<string> {
    return (await this.finish({ fd: -1, bytes, mode: 0, mtime: 0, sha256: '' })).sha256;
  }

  finish(job: FinishJob): Promise<FinishOutcome> {
    if (this.failure) return Promise.reject(this.failure);
    const shared = job.bytes.buffer instanceof SharedArrayBuffer ? job.bytes.buffer : undefined;
    if (!shared) return Promise.reject(new Error('a file to finish must be in shared memory'));
    const id = this.nextId++;
    return new Promise<FinishOutcome>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({
        id,
        fd: job.fd,
        ...(shared === this.ring ? {} : { buffer: shared }),
        offset: job.bytes.byteOffset,
        length: job.bytes.length,
        mode: job.mode,
        mtime: job.mtime,
        sha256: job.sha256,
      });
    });
  }

  /** Stops the worker (after the jobs handed over have settled). */
  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
    this.fail(new Error("the restore's file worker was stopped"));
  }

  private settle(reply: Reply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    if (reply.error) {
      const error = new Error(reply.error.message) as NodeJS.ErrnoException;
      if (reply.error.code !== undefined) error.code = reply.error.code;
      waiting.reject(error);
    } else {
      waiting.resolve({ sha256: reply.sha256 ?? '', ms: reply.ms ?? 0 });
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}
