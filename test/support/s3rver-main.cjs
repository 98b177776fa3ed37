#!/usr/bin/env node
// A local S3-compatible server for the tests and benchmarks: s3rver 3.7.1 in its own process
// (so its CPU and memory never mix with the code under test), with three S3 behaviours it lacks
// added in front of its routes and store:
// - conditional writes (If-None-Match: * and If-Match: ETag on PutObject -> 412), which S3 has
//   offered since 2024 and the backup lock relies on;
// - each object whole to its readers: s3rver rewrites an object's file in place, so a GET beside a
//   PUT of the same key read a truncated file and the connection was cut; here the writes of a key
//   (PUT, copy, multipart completion, delete) take it alone, its reads (GET, HEAD) together, and a
//   conditional check and its write cannot interleave;
// - DeleteObjects that does not answer 500 when its keys share a folder (see below);
// - a PUT answered once its bytes are on disk, and the object replaced at once (see below);
// and one cost it has that S3 does not put on the machine being measured: GetObject's garbage
// (below).
//
//   node s3rver-main.cjs --dir DIR [--port 0] [--bucket NAME]... [--cert FILE --key FILE]
// Prints one line {"port": N} on stdout when ready.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Transform } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const S3rver = require('s3rver');

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const buckets = args.flatMap((arg, i) => (arg === '--bucket' ? [args[i + 1]] : []));
const dir = opt('dir');
if (!dir) {
  console.error('usage: s3rver-main.cjs --dir DIR [--port N] [--bucket NAME]...');
  process.exit(2);
}
fs.mkdirSync(dir, { recursive: true });
const cert = opt('cert');
const key = opt('key');

const server = new S3rver({
  address: '127.0.0.1',
  port: Number(opt('port') ?? 0),
  directory: path.resolve(dir),
  silent: true,
  vhostBuckets: false,
  configureBuckets: buckets.map((name) => ({ name })),
  ...(cert && key ? { cert: fs.readFileSync(cert), key: fs.readFileSync(key) } : {}),
});

// A key's writers one at a time, its readers together, in the order they came (a reader waits for
// a writer that came before it, so none starves). The GET's body is sent inside its turn (below).
const keyLocks = new Map();

function grant(lock) {
  while (lock.waiting.length > 0 && !lock.writer) {
    const first = lock.waiting[0];
    if (first.exclusive && lock.readers > 0) return;
    lock.waiting.shift();
    if (first.exclusive) lock.writer = true;
    else lock.readers++;
    first.resolve();
  }
}

async function withKey(id, exclusive, work) {
  let lock = keyLocks.get(id);
  if (!lock) {
    lock = { readers: 0, writer: false, waiting: [] };
    keyLocks.set(id, lock);
  }
  await new Promise((resolve) => {
    lock.waiting.push({ exclusive, resolve });
    grant(lock);
  });
  try {
    return await work();
  } finally {
    if (exclusive) lock.writer = false;
    else lock.readers--;
    if (lock.readers === 0 && !lock.writer && lock.waiting.length === 0) keyLocks.delete(id);
    else grant(lock);
  }
}

/** The bucket and key a request names, or undefined when it names no object. */
function objectOf(ctx) {
  const match = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
  return match ? { bucket: match[1], key: decodeURIComponent(match[2]) } : undefined;
}

function preconditionFailed(ctx) {
  ctx.status = 412;
  ctx.type = 'application/xml';
  ctx.body =
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>';
}

function noSuchKey(ctx) {
  ctx.status = 404;
  ctx.type = 'application/xml';
  ctx.body =
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>';
}

server.middleware.unshift(async (ctx, next) => {
  const isObjectPut =
    ctx.method === 'PUT' && !ctx.query.uploadId && !ctx.query.partNumber && !ctx.get('x-amz-copy-source');
  const object = objectOf(ctx);
  if (!isObjectPut || !object) return next();
  const { bucket, key: objectKey } = object;
  const ifNoneMatch = ctx.get('if-none-match');
  const ifMatch = ctx.get('if-match');
  if (ifNoneMatch || ifMatch) {
    const exists = await server.store.existsObject(bucket, objectKey);
    if (ifNoneMatch === '*' && exists) return preconditionFailed(ctx);
    if (ifMatch) {
      if (!exists) return noSuchKey(ctx);
      const metadata = await server.store.getMetadata(bucket, objectKey);
      if (metadata.etag !== ifMatch) return preconditionFailed(ctx);
    }
  }
  return next();
});

// s3rver's putObject resolves when the last byte has passed its hashing stream, not when the file's
// write stream has written it: the PUT was answered with the file still short, and a HEAD at once
// read its size from the file (rclone, checking each upload: "corrupted on transfer: sizes differ
// 9127 vs 0", then a whole pass again, which doubled its time in some benchmark runs). Here the
// bytes go to a temporary file beside the object, renamed over it once written and closed.
let temporaries = 0;
server.store.putObject = async (object) => {
  const objectPath = server.store.getResourcePath(object.bucket, object.key, 'object');
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
  const temporary = `${objectPath}.${process.pid}-${++temporaries}.partial`;
  const md5 = crypto.createHash('md5');
  let size = 0;
  try {
    const content = Buffer.isBuffer(object.content) ? [object.content] : object.content;
    await pipeline(
      content,
      new Transform({
        transform(chunk, _encoding, callback) {
          md5.update(chunk);
          size += chunk.length;
          callback(null, chunk);
        },
      }),
      fs.createWriteStream(temporary),
    );
    await fs.promises.rename(temporary, objectPath);
  } catch (error) {
    await fs.promises.rm(temporary, { force: true });
    throw error;
  }
  const digest = md5.digest('hex');
  await server.store.putMetadata(object.bucket, object.key, object.metadata, digest);
  return { size, md5: digest };
};

// DeleteObjects deletes its keys concurrently, and each deletion then removes its folders while
// they are empty (readdirSync, rmdir): two keys in one folder race, the loser's readdir or rmdir
// meets ENOENT and the whole request answers 500 (S3 never does). The SDK retries after its
// backoff, so every backup's Commit (one DeleteObjects of the run's work area) waited 30-50 ms for
// nothing. One deletion at a time per bucket keeps the folder clean-up whole.
const deleteObject = server.store.deleteObject.bind(server.store);
server.store.deleteObject = (bucket, key) =>
  withKey(`delete ${bucket}`, true, () => deleteObject(bucket, key));

// s3rver streams an object's bytes in 64 KiB reads, each into a new Buffer, and V8 answers that
// much memory outside its heap with a full collection every 20 MB or so: serving a restore's 2 GB
// cost it about 1 s of garbage collection, on the cores the tools being measured run on (S3 costs
// them nothing). So a GetObject body is sent here instead, once s3rver has chosen the status and
// headers: 1 MiB reads into buffers that are used again once the socket has taken their bytes.
const READ_SIZE = 1024 * 1024;
const freeBuffers = [];

async function sendFileRange(res, file, start, end) {
  const handle = await fs.promises.open(file, 'r');
  const closed = new Promise((resolve) => res.once('close', resolve));
  const buffers = [
    freeBuffers.pop() ?? Buffer.allocUnsafeSlow(READ_SIZE),
    freeBuffers.pop() ?? Buffer.allocUnsafeSlow(READ_SIZE),
  ];
  // The write of each buffer's last bytes: the buffer is read into again only once it is done.
  const written = [Promise.resolve(true), Promise.resolve(true)];
  let whole = false;
  try {
    let position = start;
    for (let turn = 0; position <= end; turn ^= 1) {
      if (!(await Promise.race([written[turn], closed.then(() => false)]))) return;
      const { bytesRead } = await handle.read(
        buffers[turn],
        0,
        Math.min(READ_SIZE, end + 1 - position),
        position,
      );
      if (bytesRead === 0) break;
      written[turn] = new Promise((resolve) =>
        res.write(buffers[turn].subarray(0, bytesRead), (error) => resolve(!error)),
      );
      position += bytesRead;
    }
    whole = (await Promise.race([Promise.all(written), closed.then(() => [false])])).every(Boolean);
    if (whole) res.end();
    else res.destroy();
  } finally {
    await handle.close();
    // Buffers of a connection that broke may still be referenced by a write: left to the collector.
    if (whole && freeBuffers.length < 64) freeBuffers.push(...buffers);
  }
}

// S3RVER_ORIGINAL_GET=1 keeps s3rver's own (to measure against it: README, Benchmarks).
if (!process.env.S3RVER_ORIGINAL_GET)
  server.middleware.unshift(async (ctx, next) => {
    await next();
    const body = ctx.body;
    if (ctx.method !== 'GET' || !(body instanceof fs.ReadStream) || typeof body.path !== 'string') return;
    // s3rver always opens the stream with the range it answers (start and inclusive end).
    const { path: file, start, end } = body;
    body.destroy();
    ctx.respond = false;
    await sendFileRange(ctx.res, file, start, end);
  });

/** Whether a request on an object key writes it (true), reads it (false), or neither (undefined). */
function writesObject(ctx) {
  switch (ctx.method) {
    case 'GET':
    case 'HEAD':
      return false;
    case 'PUT':
      return ctx.query.partNumber ? undefined : true;
    case 'POST':
      return ctx.query.uploadId ? true : undefined;
    case 'DELETE':
      return ctx.query.uploadId ? undefined : true;
    default:
      return undefined;
  }
}

server.middleware.unshift(async (ctx, next) => {
  const object = objectOf(ctx);
  const exclusive = object ? writesObject(ctx) : undefined;
  if (exclusive === undefined) return next();
  return withKey(`${object.bucket}/${object.key}`, exclusive, next);
});

// Once stopping, a request on a connection kept alive gets the connection cut, like one to a server
// that is gone: server.close() would still serve it while in-flight requests finish.
let stopping = false;
server.middleware.unshift(async (ctx, next) => {
  if (stopping) {
    ctx.req.socket.destroy();
    return;
  }
  return next();
});

server.run().then((address) => {
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
});
process.on('SIGTERM', () => {
  stopping = true;
  server.close().finally(() => process.exit(0));
});
