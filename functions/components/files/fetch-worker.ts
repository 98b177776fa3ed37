import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { NETWORK_CODES } from '#runtime/errors.ts';
import type { ContentSource } from '#store/content-store.ts';

/**
 * Restores files straight from the store on worker threads: each thread makes the GET, and as the
 * bytes arrive creates and writes the files they belong to and hashes them, then sets each file's
 * mode and mtime (only once its sha256 matched) and closes it. The main thread only plans, makes
 * the folders, signs the requests and counts.
 *
 * Why: on the medium set, a restore through the SDK on the main thread spent 1.5 s of its 8 s
 * collecting garbage (every socket read is a new 64 KiB buffer, and each collection walks the
 * main thread's 28 MB heap of SDK code and index entries), 0.3 s copying the bytes into shared
 * memory for the hashing thread and 0.25 s posting them. Here each thread reads its connections
 * into one buffer and hashes and writes every read before the next (HTTP/1.1 by hand: streamHttp
 * below says why), so a restore allocates nothing per read and copies nothing between threads.
 *
 * Requests are signed by the store on the main thread (ContentStore.contentSource: a presigned
 * URL for S3, a file path for a local folder); a worker never holds credentials. A transient
 * failure (connection reset, 5xx, 429) repeats the request up to four times; the files it had
 * begun are written again from their start (positional writes), the ones it had finished are
 * kept. The code is a string evaluated by the worker (CommonJS, no imports of this project): the
 * same code runs from the sources (tests), from the CLI bundle and from a Lambda bundle.
 */
const WORKER_CODE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');
const { createHash } = require('node:crypto');
// Reads of a local store go through one buffer (the bytes are written and hashed before the next read).
const readBuffer = Buffer.allocUnsafeSlow(1024 * 1024);
const ATTEMPTS = 4;
const CREATE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
const IDLE_TIMEOUT_MS = 60000;
const NETWORK_CODES = new Set(${JSON.stringify([...NETWORK_CODES])});

function failure(kind, message, extra) {
  return Object.assign(new Error(message), { kind }, extra);
}

function retryable(error) {
  if (error.kind === 'http') return error.status >= 500 || error.status === 429;
  return error.kind === undefined && NETWORK_CODES.has(error.code);
}

// HTTP/1.1 by hand, over sockets that read into one buffer per thread (net/tls "onread"): each
// read is hashed and written before the callback returns, so nothing is allocated per read. Node's
// http client made a new 64 KiB buffer per read, pushed it through a stream and left it to the
// garbage collector: reading 262 MiB of objects from the local S3 server took 0.29 s of CPU that
// way against 0.17 s here, of which hashing is 0.14 s (0.6 s less for the medium restore). A
// ranged GET of S3 always answers with a Content-Length; a success without one (or chunked) is
// refused rather than guessed at.
const socketBuffer = Buffer.allocUnsafeSlow(1024 * 1024);
const idleSockets = new Map();
const MAX_HEAD_BYTES = 64 * 1024;
const MAX_ERROR_TEXT = 2048;

function originOf(url) {
  return url.protocol + '//' + url.host;
}

function connect(url) {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  const state = { receive: undefined };
  const onread = { buffer: socketBuffer, callback: (size, buffer) => { state.receive?.(buffer.subarray(0, size)); } };
  const socket = url.protocol === 'https:'
    ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, onread })
    : net.connect({ host, port, onread });
  socket.setNoDelay(true);
  socket.lbState = state;
  // Errors reach the request in flight through its own listener; an idle socket's are only closes.
  socket.on('error', () => undefined);
  socket.on('close', () => {
    const pool = idleSockets.get(originOf(url));
    const at = pool ? pool.indexOf(socket) : -1;
    if (at >= 0) pool.splice(at, 1);
  });
  return socket;
}

function release(url, socket) {
  // Bytes on an idle connection were never asked for: the connection is not trusted again.
  socket.lbState.receive = () => socket.destroy();
  const origin = originOf(url);
  const pool = idleSockets.get(origin) ?? [];
  pool.push(socket);
  idleSockets.set(origin, pool);
}

function acquire(url, mayReuse) {
  const pool = mayReuse ? idleSockets.get(originOf(url)) : undefined;
  while (pool && pool.length > 0) {
    const socket = pool.pop();
    if (!socket.destroyed) return { socket, reused: true };
  }
  return { socket: connect(url), reused: false };
}

function requestHead(url, headers) {
  let head = 'GET ' + url.pathname + url.search + ' HTTP/1.1\\r\\nHost: ' + url.host + '\\r\\n';
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (/[\\r\\n]/.test(name + value) || name.toLowerCase() === 'host') throw failure('http', 'a signed header is not valid', { status: 0 });
    head += name + ': ' + value + '\\r\\n';
  }
  return head + '\\r\\n';
}

function parseHead(text) {
  const lines = text.split('\\r\\n');
  const statusLine = /^HTTP\\/1\\.([01]) (\\d{3})/.exec(lines[0]);
  if (!statusLine) throw Object.assign(new Error('the store did not answer in HTTP/1.1'), { code: 'ECONNRESET' });
  const fields = new Map();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const length = fields.get('content-length');
  const connection = (fields.get('connection') ?? '').toLowerCase();
  const status = Number(statusLine[2]);
  return {
    status,
    success: status === 200 || status === 206,
    contentLength: length !== undefined && /^\\d+$/.test(length) ? Number(length) : undefined,
    chunked: /chunked/i.test(fields.get('transfer-encoding') ?? ''),
    keepAlive: statusLine[1] === '1' ? connection !== 'close' : connection === 'keep-alive',
  };
}

function closedEarly() {
  return Object.assign(new Error('the connection closed before the response ended'), { code: 'ECONNRESET' });
}

// One GET on one connection. A kept-alive connection the server closed meanwhile fails before any
// byte of the answer: marked stale, so the caller asks again at once on a new connection.
function exchange(url, headers, length, onChunk, mayReuse) {
  const request = requestHead(url, headers);
  return new Promise((resolve, reject) => {
    const { socket, reused } = acquire(url, mayReuse);
    let head = [];
    let headBytes = 0;
    let response;
    let received = 0;
    let body = 0;
    let position = 0;
    let errorText = '';
    let settled = false;
    // An error answer without a Content-Length ends with its connection.
    const onEnd = () => finish(response && !response.success && response.contentLength === undefined ? undefined : closedEarly());
    const onError = (error) => finish(error);
    const onTimeout = () => finish(Object.assign(new Error('no data from the store for 60 s'), { code: 'ETIMEDOUT' }));
    function finish(error) {
      if (settled) return;
      settled = true;
      socket.lbState.receive = undefined;
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onError);
      socket.removeListener('timeout', onTimeout);
      socket.setTimeout(0);
      if (!error && response?.success) {
        if (response.keepAlive && body === response.contentLength) release(url, socket);
        else socket.destroy();
        if (position === length) resolve();
        else reject(failure('short', 'the store returned ' + position + ' of ' + length + ' bytes', { received: position }));
        return;
      }
      socket.destroy();
      if (!error) {
        const code = /<Code>([^<]*)<\\/Code>/.exec(errorText);
        const status = response.status;
        const answer = 'HTTP ' + status + (code ? ' ' + code[1] : '');
        // 416 (S3's InvalidRange): the object ends before the range starts, a pack cut short
        // before these files. No byte of them exists: short, as the same pack read from a folder.
        if (status === 416) error = failure('short', 'the store returned 0 of ' + length + ' bytes (' + answer + ': the object ends before the range)', { received: 0 });
        else error = failure(status === 404 ? 'not-found' : 'http', answer, { status });
      } else if (reused && received === 0 && error.kind === undefined) {
        error.stale = true;
      }
      reject(error);
    }
    function receive(bytes) {
      received += bytes.length;
      if (!response) {
        // The head is copied: the buffer it arrived in is read into again.
        head.push(Buffer.from(bytes));
        headBytes += bytes.length;
        const all = head.length === 1 ? head[0] : Buffer.concat(head);
        const end = all.indexOf('\\r\\n\\r\\n');
        if (end < 0) {
          if (headBytes > MAX_HEAD_BYTES) throw failure('http', 'the store sent a response head of more than 64 KiB', { status: 0 });
          head = [all];
          return;
        }
        response = parseHead(all.toString('latin1', 0, end));
        bytes = all.subarray(end + 4);
        if (response.status < 200) {
          // An interim answer (100 Continue): the real one follows.
          response = undefined;
          head = [];
          headBytes = 0;
          if (bytes.length > 0) receive(bytes);
          return;
        }
        head = undefined;
        if (response.success && (response.contentLength === undefined || response.chunked))
          throw failure('http', 'the store answered HTTP ' + response.status + ' without a Content-Length', { status: response.status });
        if (response.status === 200 && response.contentLength !== length)
          throw failure('http', 'the store answered a ranged read with the whole object (HTTP 200): it ignores Range', { status: 200 });
        if (!response.success && response.contentLength === 0) return finish();
      }
      if (!response.success) {
        if (errorText.length < MAX_ERROR_TEXT) errorText += bytes.toString('latin1', 0, Math.min(bytes.length, MAX_ERROR_TEXT));
        body += bytes.length;
        // An error's end: its Content-Length, the last chunk of a chunked body, or enough to name it.
        const ended = response.chunked
          ? /(^|\\r\\n)0\\r\\n\\r\\n$/.test(errorText)
          : response.contentLength !== undefined && body >= response.contentLength;
        if (ended || errorText.length >= MAX_ERROR_TEXT) finish();
        return;
      }
      if (body + bytes.length > response.contentLength)
        throw Object.assign(new Error('the store sent more bytes than its Content-Length'), { code: 'ECONNRESET' });
      body += bytes.length;
      const take = Math.min(bytes.length, length - position);
      if (take > 0) {
        onChunk(bytes.subarray(0, take), position);
        position += take;
      }
      if (body === response.contentLength) finish();
    }
    socket.lbState.receive = (bytes) => {
      if (settled) return;
      try {
        receive(bytes);
      } catch (error) {
        finish(error);
      }
    };
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    socket.on('timeout', onTimeout);
    socket.setTimeout(IDLE_TIMEOUT_MS);
    socket.write(request);
  });
}

async function streamHttp(source, length, onChunk) {
  const url = new URL(source.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw failure('http', 'the store URL is neither http nor https', { status: 0 });
  try {
    await exchange(url, source.headers, length, onChunk, true);
  } catch (error) {
    if (!error.stale) throw error;
    await exchange(url, source.headers, length, onChunk, false);
  }
}

function streamFile(source, length, onChunk) {
  let fd;
  try {
    fd = fs.openSync(source.path, 'r');
  } catch (error) {
    throw error.code === 'ENOENT' ? failure('not-found', 'no such object') : error;
  }
  try {
    let position = 0;
    while (position < length) {
      const read = fs.readSync(fd, readBuffer, 0, Math.min(readBuffer.length, length - position), source.start + position);
      if (read === 0) throw failure('short', 'the store returned ' + position + ' of ' + length + ' bytes', { received: position });
      onChunk(readBuffer.subarray(0, read), position);
      position += read;
    }
  } finally {
    fs.closeSync(fd);
  }
}

// A new file (never through a link); one an earlier attempt left is replaced, a folder never:
// SafeTree.createFile's rule (restore-fs.ts), which this code cannot import.
function create(path) {
  try {
    return fs.openSync(path, CREATE, 0o600);
  } catch (error) {
    if (error.code !== 'EEXIST') throw error;
    if (fs.lstatSync(path).isDirectory()) throw failure('unsafe', 'a directory of that name was restored already', { path });
    fs.unlinkSync(path);
    return fs.openSync(path, CREATE, 0o600);
  }
}

// The bytes are written as they arrive: the buffer they are in is read into again afterwards.
function write(target, bytes) {
  const started = performance.now();
  for (let k = 0; k < bytes.length; ) k += fs.writeSync(target.fd, bytes, k, bytes.length - k, target.written + k);
  target.ms += performance.now() - started;
}

function closeQuietly(target) {
  if (target.fd === undefined) return;
  try { fs.closeSync(target.fd); } catch {}
  target.fd = undefined;
}

async function run(job) {
  const targets = job.paths.map((path, i) => ({
    path,
    offset: job.numbers[i * 3],
    size: job.numbers[i * 3 + 1],
    mode: job.numbers[i * 3 + 2],
    mtime: job.mtimes[i],
    sha256Expected: job.sha256.slice(i * 64, i * 64 + 64),
    fd: undefined, hash: undefined, written: 0, done: false, sha256: '', ms: 0,
  }));
  // Each chunk goes to the files it overlaps: those begun (open) and those beginning in it (from next).
  let open = [];
  let next = 0;
  // The chunk's memory is read into again once this returns, so nothing of it is kept.
  const onChunk = (chunk, position) => {
    const end = position + chunk.length;
    while (next < targets.length && targets[next].offset < end) {
      const target = targets[next++];
      if (target.done) continue;
      if (target.fd === undefined) {
        const started = performance.now();
        target.fd = create(target.path);
        target.ms += performance.now() - started;
      }
      target.hash = createHash('sha256');
      target.written = 0;
      open.push(target);
    }
    let finished = false;
    for (const target of open) {
      const from = Math.max(position, target.offset + target.written);
      const to = Math.min(end, target.offset + target.size);
      if (to > from) {
        const bytes = chunk.subarray(from - position, to - position);
        target.hash.update(bytes);
        write(target, bytes);
        target.written += bytes.length;
      }
      if (target.written === target.size) {
        target.sha256 = target.hash.digest('hex');
        const started = performance.now();
        if (target.sha256 === target.sha256Expected) {
          fs.fchmodSync(target.fd, target.mode);
          fs.futimesSync(target.fd, target.mtime, target.mtime);
        }
        const fd = target.fd;
        target.fd = undefined;
        fs.closeSync(fd);
        target.ms += performance.now() - started;
        target.done = true;
        finished = true;
      }
    }
    if (finished) open = open.filter((target) => !target.done);
  };
  try {
    for (let attempt = 1; ; attempt++) {
      open = [];
      next = 0;
      try {
        // The parts in order, as one range (a large file's chunks); a part with a sha256 is checked on its own.
        let base = 0;
        for (const part of job.parts) {
          const partHash = part.sha256 === undefined ? undefined : createHash('sha256');
          const onPartChunk = (chunk, position) => {
            partHash?.update(chunk);
            try {
              onChunk(chunk, base + position);
            } catch (error) {
              // Creating, writing or closing a file: what the store sent is not in question.
              error.kind ??= 'io';
              throw error;
            }
          };
          try {
            if (part.source.url !== undefined) await streamHttp(part.source, part.length, onPartChunk);
            else streamFile(part.source, part.length, onPartChunk);
          } catch (error) {
            // Which chunk failed (the caller names its object).
            if (part.sha256 !== undefined) error.part ??= part.sha256;
            throw error;
          }
          if (partHash && partHash.digest('hex') !== part.sha256)
            throw failure('damaged', 'part ' + part.sha256 + ' does not match its name', { part: part.sha256 });
          base += part.length;
        }
        break;
      } catch (error) {
        if (attempt >= ATTEMPTS || !retryable(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
    const missing = targets.filter((target) => !target.done);
    if (missing.length > 0) throw failure('short', 'the response ended before ' + missing.length + ' of the files were complete');
    return {
      sha256: targets.map((t) => t.sha256 || '-'.repeat(64)).join(''),
      written: Float64Array.from(targets, (t) => t.written),
      ms: Float64Array.from(targets, (t) => t.ms),
    };
  } finally {
    for (const target of targets) closeQuietly(target);
  }
}

parentPort.on('message', (job) => {
  run(job).then(
    (outcome) => parentPort.postMessage({ id: job.id, outcome }),
    (error) => parentPort.postMessage({ id: job.id, error: { kind: error.kind, code: error.code, status: error.status, path: error.path, part: error.part, message: String(error.message) } }),
  );
});
`;

/**
 * A file the fetched bytes go into, created by the worker when its first bytes arrive (a run
 * never holds more descriptors than files being written), with O_EXCL|O_NOFOLLOW: the caller has
 * made the folders above it real directories (SafeTree.ensureDir).
 */
export interface FetchTarget {
  /** Absolute path. */
  readonly path: string;
  /** Where the file's bytes begin in the fetched range. */
  readonly offset: number;
  readonly size: number;
  /** The sha256 the bytes must have; the file keeps mode 0600 and the time of the restore when they do not. */
  readonly sha256: string;
  readonly mode: number;
  readonly mtime: number | Date;
}

/** A range to read; `sha256`: what its bytes must hash to on their own (a large file's chunk). */
export interface FetchPart {
  readonly source: ContentSource;
  readonly length: number;
  readonly sha256?: string;
}

export interface FetchJob {
  /** Read one after the other; the targets' offsets count from the start of the first. */
  readonly parts: readonly FetchPart[];
  /** In order of offset; files may overlap (one content restored to two paths). */
  readonly targets: readonly FetchTarget[];
}

export interface FetchedFile {
  /** The sha256 of the bytes written (compare it with the expected one: a mismatch is not an error here). */
  readonly sha256: string;
  readonly written: number;
  /** How long the file calls took (what the adaptive I/O counts as fast or slow). */
  readonly ms: number;
}

/** A failed fetch: what went wrong, without the request's URL (it carries a signature). */
export class FetchError extends Error {
  constructor(
    message: string,
    /**
     * not-found, http (status), short (the object is shorter than asked, or ends before the range:
     * HTTP 416), io (a file call; see
     * code), unsafe (a folder where the file goes: see path), damaged (a part did not match its sha256).
     */
    readonly kind: 'not-found' | 'http' | 'short' | 'io' | 'unsafe' | 'damaged' | 'network',
    readonly code?: string,
    readonly status?: number,
    readonly path?: string,
    /** The sha256 of the part (a large file's chunk) that failed or did not match (damaged). */
    readonly part?: string,
  ) {
    super(message);
    this.name = 'FetchError';
  }
}

interface Reply {
  readonly id: number;
  readonly outcome?: { readonly sha256: string; readonly written: Float64Array; readonly ms: Float64Array };
  readonly error?: {
    kind?: string;
    code?: string;
    status?: number;
    path?: string;
    part?: string;
    message: string;
  };
}

interface Pending {
  readonly resolve: (files: FetchedFile[]) => void;
  readonly reject: (error: Error) => void;
  readonly worker: Worker;
}

/** A few worker threads fetching into files; every file they create is closed by them, in every case. */
export class FetchWorkers {
  private readonly workers: Worker[] = [];
  private readonly load = new Map<Worker, number>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(count = Math.min(2, availableParallelism())) {
    for (let i = 0; i < count; i++) {
      // A small young generation: a worker allocates a few objects per file and response, and the
      // default semi-spaces (16 MB each) would cost about 30 MB of RSS per worker.
      const worker = new Worker(WORKER_CODE, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
      // Not unref'd: while a job is in flight the process may wait on nothing else. The shard
      // closes its workers when it ends (restore-shard.ts).
      worker.on('message', (reply: Reply) => this.settle(reply));
      worker.on('error', (error) => this.fail(error));
      worker.on('exit', (code) => this.fail(new Error(`a restore fetch worker exited (code ${code})`)));
      this.workers.push(worker);
      this.load.set(worker, 0);
    }
  }

  /**
   * Fetches the range into the files. The message is a few flat arrays: an array of objects per
   * file took a millisecond to clone for a run of a hundred files.
   */
  fetch(job: FetchJob): Promise<FetchedFile[]> {
    if (this.failure) return Promise.reject(this.failure);
    const worker = this.leastLoaded();
    const id = this.nextId++;
    const numbers = new Float64Array(job.targets.length * 3);
    job.targets.forEach((target, i) => {
      numbers.set([target.offset, target.size, target.mode], i * 3);
    });
    return new Promise<FetchedFile[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker });
      this.load.set(worker, (this.load.get(worker) ?? 0) + 1);
      worker.postMessage({
        id,
        parts: job.parts,
        paths: job.targets.map((target) => target.path),
        numbers,
        mtimes: job.targets.map((target) => target.mtime),
        sha256: job.targets.map((target) => target.sha256).join(''),
      });
    });
  }

  /** Stops the workers (after the jobs handed over have settled). */
  async close(): Promise<void> {
    for (const worker of this.workers) worker.removeAllListeners('exit');
    await Promise.all(this.workers.map((worker) => worker.terminate()));
    this.fail(new Error('the restore fetch workers were stopped'));
  }

  private leastLoaded(): Worker {
    let best = this.workers[0] as Worker;
    for (const worker of this.workers)
      if ((this.load.get(worker) ?? 0) < (this.load.get(best) ?? 0)) best = worker;
    return best;
  }

  private settle(reply: Reply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    this.load.set(waiting.worker, (this.load.get(waiting.worker) ?? 1) - 1);
    if (reply.error) {
      const { kind, code, status, path, part, message } = reply.error;
      const known = ['not-found', 'http', 'short', 'io', 'unsafe', 'damaged'].includes(kind ?? '');
      waiting.reject(
        new FetchError(message, known ? (kind as FetchError['kind']) : 'network', code, status, path, part),
      );
    } else {
      const outcome = reply.outcome;
      const files: FetchedFile[] = [];
      for (let i = 0; outcome && i < outcome.written.length; i++)
        files.push({
          sha256: outcome.sha256.slice(i * 64, i * 64 + 64),
          written: outcome.written[i] ?? 0,
          ms: outcome.ms[i] ?? 0,
        });
      waiting.resolve(files);
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}
