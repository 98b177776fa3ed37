import { createHash, randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FetchError, type FetchTarget, FetchWorkers } from '#components/files/fetch-worker.ts';
import type { ContentSource } from '#store/content-store.ts';
import { makeSelfSignedCertificate } from '../../support/self-signed.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'files-fetch-'));
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
let sequence = 0;
const fresh = () => path.join(dir, `f${sequence++}`);

/** The pack: three files side by side, the second also restored to a second path (one content, two paths). */
const pack = randomBytes(300_000);
const slices = [
  { offset: 0, size: 100_000 },
  { offset: 100_000, size: 150_000 },
  { offset: 100_000, size: 150_000 },
  { offset: 250_000, size: 50_000 },
];
const packFile = path.join(dir, 'pack');
writeFileSync(packFile, pack);

function targetsFor(start: number, expected = (bytes: Buffer) => sha256(bytes)) {
  const files = slices.map(() => fresh());
  const targets: FetchTarget[] = slices.map((slice, i) => ({
    path: files[i] as string,
    offset: slice.offset - start,
    size: slice.size,
    sha256: expected(pack.subarray(slice.offset, slice.offset + slice.size)),
    mode: 0o640,
    mtime: 1_000_000_000.25,
  }));
  return { files, targets };
}

/** An S3-like server of the pack: Range honoured, and a queue of misbehaviours for the next requests. */
type Misbehaviour = 'reset-mid-body' | 503 | 404 | 403 | 'ignore-range' | 'short';
let server: Server;
let base: string;
const misbehave: Misbehaviour[] = [];
const seen: Array<{ url: string; range: string | undefined }> = [];

function serve(request: IncomingMessage, response: ServerResponse): void {
  seen.push({ url: request.url ?? '', range: request.headers.range });
  const match = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? '');
  const start = Number(match?.[1] ?? 0);
  const end = Number(match?.[2] ?? pack.length - 1);
  const next = misbehave.shift();
  if (typeof next === 'number') {
    response.writeHead(next, { 'content-type': 'application/xml' });
    response.end(
      `<Error><Code>${next === 503 ? 'SlowDown' : next === 404 ? 'NoSuchKey' : 'AccessDenied'}</Code></Error>`,
    );
    return;
  }
  if (next === 'ignore-range') {
    response.writeHead(200, { 'content-length': pack.length });
    response.end(pack);
    return;
  }
  const body = pack.subarray(start, next === 'short' ? end - 1000 : end + 1);
  response.writeHead(206, {
    'content-length': body.length,
    'content-range': `bytes ${start}-${end}/${pack.length}`,
  });
  if (next === 'reset-mid-body') {
    response.write(body.subarray(0, 120_000), () => request.socket.destroy());
    return;
  }
  response.end(body);
}

beforeAll(async () => {
  server = createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  misbehave.length = 0;
  seen.length = 0;
});

const httpSource = (start: number, length: number): ContentSource => ({
  url: `${base}/bucket/objects/packs/p?X-Amz-Signature=secret`,
  headers: { range: `bytes=${start}-${start + length - 1}` },
});

/** Files this process still has open (the worker must have closed every one it created). */
function openFiles(files: readonly string[]): string[] {
  const open = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      open.add(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // Closed while listing.
    }
  }
  return files.filter((file) => open.has(file));
}

function expectRestored(files: string[]): void {
  expect(openFiles(files)).toEqual([]);
  files.forEach((file, i) => {
    const slice = slices[i] as { offset: number; size: number };
    expect(readFileSync(file).equals(pack.subarray(slice.offset, slice.offset + slice.size))).toBe(true);
    expect(statSync(file).mode & 0o7777).toBe(0o640);
    expect(statSync(file).mtimeMs).toBe(1_000_000_000_250);
  });
}

describe('FetchWorkers', () => {
  const workers = new FetchWorkers(2);
  afterAll(() => workers.close());

  it('reads a local file range into the files, overlapping ones included, and sets mode and mtime', async () => {
    const { files, targets } = targetsFor(0);
    const outcome = await workers.fetch({
      parts: [{ source: { path: packFile, start: 0 }, length: pack.length }],
      targets,
    });
    expect(outcome.map((file) => file.written)).toEqual(slices.map((slice) => slice.size));
    expect(outcome.map((file) => file.sha256)).toEqual(targets.map((target) => target.sha256));
    expectRestored(files);
  });

  it('reads a signed ranged GET, sending exactly the signed headers', async () => {
    const { files, targets } = targetsFor(0);
    const outcome = await workers.fetch({
      parts: [{ source: httpSource(0, pack.length), length: pack.length }],
      targets,
    });
    expect(outcome.every((file, i) => file.sha256 === targets[i]?.sha256)).toBe(true);
    expect(seen).toEqual([
      { url: '/bucket/objects/packs/p?X-Amz-Signature=secret', range: 'bytes=0-299999' },
    ]);
    expectRestored(files);
  });

  it('repeats a request cut mid-body or refused with 503, rewriting the files it had begun', async () => {
    misbehave.push('reset-mid-body', 503);
    const { files, targets } = targetsFor(0);
    const outcome = await workers.fetch({
      parts: [{ source: httpSource(0, pack.length), length: pack.length }],
      targets,
    });
    expect(seen).toHaveLength(3);
    expect(outcome.map((file) => file.written)).toEqual(slices.map((slice) => slice.size));
    expectRestored(files);
  });

  it('reports a mismatch without setting mode or mtime, and goes on with the other files', async () => {
    const { files, targets } = targetsFor(0, (bytes) =>
      bytes.length === 50_000 ? '0'.repeat(64) : sha256(bytes),
    );
    const outcome = await workers.fetch({
      parts: [{ source: { path: packFile, start: 0 }, length: pack.length }],
      targets,
    });
    expect(outcome[3]?.sha256).toBe(sha256(pack.subarray(250_000)));
    expect(statSync(files[3] as string).mode & 0o7777).toBe(0o600);
    expect(statSync(files[0] as string).mode & 0o7777).toBe(0o640);
    expect(openFiles(files)).toEqual([]);
  });

  it('replaces a file an earlier attempt left, and refuses to replace a folder', async () => {
    const { files, targets } = targetsFor(0);
    writeFileSync(files[0] as string, 'left by an attempt that crashed');
    await workers.fetch({ parts: [{ source: { path: packFile, start: 0 }, length: pack.length }], targets });
    expectRestored(files);

    const again = targetsFor(0);
    mkdirSync(again.files[1] as string);
    const error = await workers
      .fetch({
        parts: [{ source: { path: packFile, start: 0 }, length: pack.length }],
        targets: again.targets,
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'unsafe', path: again.files[1] });
    expect(statSync(again.files[1] as string).isDirectory()).toBe(true);
    expect(openFiles(again.files)).toEqual([]);
  });

  it.each([
    [[404] as Misbehaviour[], { kind: 'not-found', status: 404, message: 'HTTP 404 NoSuchKey' }],
    [[403] as Misbehaviour[], { kind: 'http', status: 403, message: 'HTTP 403 AccessDenied' }],
    [[503, 503, 503, 503] as Misbehaviour[], { kind: 'http', status: 503, message: 'HTTP 503 SlowDown' }],
    [['short'] as Misbehaviour[], { kind: 'short', message: 'the store returned 248999 of 250000 bytes' }],
    [['ignore-range'] as Misbehaviour[], { kind: 'http', status: 200 }],
  ])(
    'fails on %j with a FetchError that never shows the signed URL, every file closed',
    async (bad, expected) => {
      misbehave.push(...bad);
      // The first 250,000 bytes: the first three files.
      const { files, targets } = targetsFor(0);
      const error = await workers
        .fetch({ parts: [{ source: httpSource(0, 250_000), length: 250_000 }], targets: targets.slice(0, 3) })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FetchError);
      expect(error).toMatchObject(expected);
      expect(String((error as Error).message)).not.toContain('Signature');
      // 503 is retried (four attempts in all); the others are not.
      expect(seen).toHaveLength(bad.length);
      expect(openFiles(files)).toEqual([]);
    },
  );

  it('fails on a missing local object as not found, and a file error keeps its code', async () => {
    const missing = targetsFor(0);
    await expect(
      workers.fetch({
        parts: [{ source: { path: path.join(dir, 'nope'), start: 0 }, length: pack.length }],
        targets: missing.targets,
      }),
    ).rejects.toMatchObject({ kind: 'not-found' });

    const { files, targets } = targetsFor(0);
    const noFolder = path.join(dir, 'no-such-folder', 'f');
    const error = await workers
      .fetch({
        parts: [{ source: { path: packFile, start: 0 }, length: pack.length }],
        targets: [...targets.slice(0, 3), { ...(targets[3] as FetchTarget), path: noFolder }],
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'io', code: 'ENOENT' });
    expect(openFiles(files)).toEqual([]);
  });

  it('reads a large file from its chunks in order, each checked against its own sha256', async () => {
    // The pack's three thirds as three chunk objects, one file made of them.
    const chunks = [0, 100_000, 200_000].map((start) => {
      const bytes = pack.subarray(start, start + 100_000);
      const file = path.join(dir, `chunk-${sha256(bytes)}`);
      writeFileSync(file, bytes);
      return { source: { path: file, start: 0 }, length: bytes.length, sha256: sha256(bytes) };
    });
    const whole = {
      path: fresh(),
      offset: 0,
      size: pack.length,
      sha256: sha256(pack),
      mode: 0o600,
      mtime: 1,
    };
    const outcome = await workers.fetch({ parts: chunks, targets: [whole] });
    expect(outcome[0]).toMatchObject({ sha256: sha256(pack), written: pack.length });
    expect(readFileSync(whole.path).equals(pack)).toBe(true);

    // One chunk's stored bytes no longer match its name.
    const damaged = chunks.map((chunk, i) => (i === 1 ? { ...chunk, sha256: '1'.repeat(64) } : chunk));
    const target = { ...whole, path: fresh() };
    await expect(workers.fetch({ parts: damaged, targets: [target] })).rejects.toMatchObject({
      kind: 'damaged',
      part: '1'.repeat(64),
    });
    expect(openFiles([target.path])).toEqual([]);

    // One chunk's object is missing: the failure names that chunk.
    const missing = chunks.map((chunk, i) =>
      i === 2 ? { ...chunk, source: { path: path.join(dir, 'no-such-chunk'), start: 0 } } : chunk,
    );
    await expect(
      workers.fetch({ parts: missing, targets: [{ ...whole, path: fresh() }] }),
    ).rejects.toMatchObject({ kind: 'not-found', part: chunks[2]?.sha256 });
  });

  it('reads a range that starts inside the object', async () => {
    const start = 100_000;
    const file = fresh();
    const bytes = pack.subarray(start, 250_000);
    const outcome = await workers.fetch({
      parts: [{ source: { path: packFile, start }, length: bytes.length }],
      targets: [{ path: file, offset: 0, size: bytes.length, sha256: sha256(bytes), mode: 0o600, mtime: 1 }],
    });
    expect(outcome[0]?.sha256).toBe(sha256(bytes));
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });
});

describe('FetchWorkers, stopped', () => {
  it('refuses jobs without touching their files', async () => {
    const workers = new FetchWorkers(1);
    await workers.close();
    const file = fresh();
    await expect(
      workers.fetch({
        parts: [{ source: { path: packFile, start: 0 }, length: 10 }],
        targets: [
          { path: file, offset: 0, size: 10, sha256: sha256(pack.subarray(0, 10)), mode: 0o600, mtime: 1 },
        ],
      }),
    ).rejects.toThrow(/stopped/);
    expect(() => statSync(file)).toThrow(/ENOENT/);
  });
});

/**
 * The workers speak HTTP/1.1 themselves (fetch-worker.ts, streamHttp): a server scripted at the
 * byte level checks what Node's server never does (answers split anywhere, kept-alive connections
 * dropped, bodies longer than announced, chunked answers), and a TLS server the https path.
 */
describe('FetchWorkers, their HTTP/1.1 client', () => {
  type Step = 'ok' | 'split' | 'drop' | 'chunked' | 'longer' | 'continue';
  const steps: Step[] = [];
  let connections = 0;
  let requests = 0;
  /** When the server last dropped a connection, and when the next one was opened (performance.now()). */
  let droppedAt: number | undefined;
  let reconnectedAt: number | undefined;
  let raw: NetServer;
  let rawBase: string;
  const workers = new FetchWorkers(1);

  const answer = (socket: Socket, head: string): void => {
    requests += 1;
    const step = steps.shift() ?? 'ok';
    const match = /range: bytes=(\d+)-(\d+)/i.exec(head);
    const body = pack.subarray(Number(match?.[1]), Number(match?.[2]) + 1);
    const start = `HTTP/1.1 206 Partial Content\r\ncontent-range: bytes ${match?.[1]}-${match?.[2]}/${pack.length}\r\n`;
    if (step === 'drop') {
      droppedAt = performance.now();
      socket.destroy();
    } else if (step === 'chunked') {
      socket.write(`${start}transfer-encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n`);
      socket.write(body);
      socket.write('\r\n0\r\n\r\n');
    } else if (step === 'continue') {
      socket.write(`HTTP/1.1 100 Continue\r\n\r\n${start}content-length: ${body.length}\r\n\r\n`);
      socket.write(body);
    } else if (step === 'longer') {
      socket.write(`${start}content-length: ${body.length - 10}\r\n\r\n`);
      socket.write(body);
    } else if (step === 'split') {
      // The head a byte at a time, its last bytes in one write with the body's first.
      const bytes = Buffer.concat([Buffer.from(`${start}content-length: ${body.length}\r\n\r\n`), body]);
      const headEnd = bytes.indexOf('\r\n\r\n') + 2;
      let at = 0;
      const next = (): void => {
        if (at >= bytes.length || socket.destroyed) return;
        const size = at < headEnd ? 1 : 70_001;
        socket.write(bytes.subarray(at, at + size), () => setImmediate(next));
        at += size;
      };
      next();
    } else {
      socket.write(`${start}content-length: ${body.length}\r\n\r\n`);
      socket.write(body);
    }
  };

  beforeAll(async () => {
    raw = createNetServer((socket) => {
      connections += 1;
      if (droppedAt !== undefined) reconnectedAt ??= performance.now();
      let received = '';
      socket.on('data', (data) => {
        received += data.toString('latin1');
        for (let end = received.indexOf('\r\n\r\n'); end >= 0; end = received.indexOf('\r\n\r\n')) {
          const head = received.slice(0, end);
          received = received.slice(end + 4);
          answer(socket, head);
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    rawBase = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await workers.close();
    await new Promise<void>((resolve) => raw.close(() => resolve()));
  });
  beforeEach(() => {
    steps.length = 0;
    connections = 0;
    requests = 0;
    droppedAt = undefined;
    reconnectedAt = undefined;
  });

  const fetchFirstThree = () => {
    const { files, targets } = targetsFor(0);
    const source: ContentSource = {
      url: `${rawBase}/bucket/objects/packs/p?X-Amz-Signature=secret`,
      headers: { range: 'bytes=0-249999' },
    };
    const done = workers.fetch({ parts: [{ source, length: 250_000 }], targets: targets.slice(0, 3) });
    return { files: files.slice(0, 3), done };
  };

  it('keeps one connection for requests in a row, reads answers split anywhere, skips an interim 100', async () => {
    steps.push('split', 'ok', 'continue', 'split');
    for (let i = 0; i < 4; i++) {
      const { files, done } = fetchFirstThree();
      await done;
      expectRestored(files);
    }
    expect({ connections, requests }).toEqual({ connections: 1, requests: 4 });
  });

  it('asks again on a new connection, at once, when a kept-alive one was dropped', async () => {
    await fetchFirstThree().done;
    const opened = connections;
    steps.push('drop');
    const { files, done } = fetchFirstThree();
    await done;
    expectRestored(files);
    expect({ connections: connections - opened, requests }).toEqual({ connections: 1, requests: 3 });
    // Not the retry's back-off, which waits 200 ms at least after the drop: measured from the drop
    // to the new connection alone, not over the whole job (three files written, two messages
    // between threads), which a busy machine can stretch past any bound.
    expect((reconnectedAt ?? Number.POSITIVE_INFINITY) - (droppedAt ?? 0)).toBeLessThan(190);
  });

  it('refuses a success without a Content-Length, and one longer than it announced', async () => {
    steps.push('chunked');
    const chunked = fetchFirstThree();
    await expect(chunked.done).rejects.toMatchObject({
      kind: 'http',
      message: expect.stringContaining('without a Content-Length'),
    });
    expect(openFiles(chunked.files)).toEqual([]);

    steps.push('longer', 'longer', 'longer', 'longer');
    const longer = fetchFirstThree();
    await expect(longer.done).rejects.toMatchObject({
      kind: 'network',
      message: expect.stringContaining('more bytes than its Content-Length'),
    });
    expect(requests).toBe(5);
    expect(openFiles(longer.files)).toEqual([]);
  });

  it('reads over TLS', async () => {
    const keys = mkdtempSync(path.join(tmpdir(), 'fetch-tls-'));
    const key = path.join(keys, 'key.pem');
    const cert = path.join(keys, 'cert.pem');
    makeSelfSignedCertificate({ key, cert }, 'localhost');
    const tlsServer = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, serve);
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    // The worker copies the environment when it starts: only it skips the check of this certificate.
    const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    const tlsWorkers = new FetchWorkers(1);
    if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved;
    try {
      const { files, targets } = targetsFor(0);
      const port = (tlsServer.address() as AddressInfo).port;
      await tlsWorkers.fetch({
        parts: [
          {
            source: {
              url: `https://localhost:${port}/bucket/p`,
              headers: { range: `bytes=0-${pack.length - 1}` },
            },
            length: pack.length,
          },
        ],
        targets,
      });
      expectRestored(files);
    } finally {
      await tlsWorkers.close();
      await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
      tlsServer.closeAllConnections();
      rmSync(keys, { recursive: true, force: true });
    }
  });
});
