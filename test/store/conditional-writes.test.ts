import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { acquireBackupLock } from '#backup-set/lock.ts';
import { thisProcess } from '#runtime/host-process.ts';
import { jsonBody } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { S3Store, s3ClientConfig } from '#store/s3-store.ts';
import { tempDir } from '../support/local-runtime.ts';
import { type LocalS3Server, startS3Server } from '../support/s3-server.ts';

/**
 * Conditional writes (createIfAbsent, replaceIfMatch) are what the backup and retention locks
 * stand on: each must answer true exactly when this call wrote the object.
 *
 * S3: the SDK sends a request again when its answer is lost; a conditional PUT that S3 applied
 * then meets its own object and is answered 412, which read "someone else has it", and a CLI
 * backup refused itself ("a backup is already running: <its own id>"). A proxy in front of s3rver
 * loses chosen answers after s3rver applied the request, or answers 409 for it.
 *
 * Local folder: a replace holds `<key>.guard` for a stat and a rename; a process killed while it
 * held it left the guard, and every later replace of that key answered false for ever (a dead CLI
 * backup's lock could never be taken over).
 */

const work = tempDir('conditional-writes');
let s3: LocalS3Server;
let proxy: Server;
let proxyEndpoint: string;

/**
 * What the proxy does with each coming conditional PUT, in order; then it passes them through.
 * lose-answer: forwarded, and s3rver's answer lost (the connection reset). hold: the connection is
 * reset at once, the request kept as if still in flight at S3. answer-409: answered 409 as S3 does
 * while another conditional write to the key is in flight, and the held request applied 30 ms later.
 */
type Fate = 'lose-answer' | 'hold' | 'answer-409';
const fates: Fate[] = [];
const seen: Array<{ method: string; conditional: boolean; status: number; fate: Fate | 'passed' }> = [];
const held: Array<{ method: string; path: string; headers: IncomingHttpHeaders; body: Buffer }> = [];

function forwardHeld(upstream: URL): void {
  for (const request of held.splice(0)) {
    const forward = httpRequest({ host: upstream.hostname, port: upstream.port, ...request }, (answer) =>
      answer.resume(),
    );
    // Its answer goes to nobody; s3rver may be stopped by then (a test that failed early).
    forward.on('error', () => undefined);
    forward.end(request.body);
  }
}

beforeAll(async () => {
  s3 = await startS3Server();
  const upstream = new URL(s3.endpoint);
  proxy = createServer((req, res) => {
    const conditional = req.method === 'PUT' && (!!req.headers['if-none-match'] || !!req.headers['if-match']);
    const fate = conditional ? fates.shift() : undefined;
    if (fate === 'hold') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        held.push({ method: 'PUT', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
        seen.push({ method: 'PUT', conditional, status: 0, fate });
        req.socket.destroy();
      });
      return;
    }
    if (fate === 'answer-409') {
      req.resume();
      seen.push({ method: 'PUT', conditional, status: 409, fate });
      res.writeHead(409, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ConditionalRequestConflict</Code><Message>A conflicting operation occurred.</Message></Error>',
      );
      setTimeout(() => forwardHeld(upstream), 30);
      return;
    }
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        seen.push({
          method: req.method ?? '',
          conditional,
          status: answer.statusCode ?? 0,
          fate: fate ?? 'passed',
        });
        if (fate === 'lose-answer') {
          // s3rver has done what was asked; the answer is lost on the way back (a reset connection).
          answer.resume();
          req.socket.destroy();
          return;
        }
        res.writeHead(answer.statusCode ?? 500, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => req.socket.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyEndpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => proxy.close(() => resolve()));
  await s3?.stop();
  work.cleanup();
});
beforeEach(() => {
  fates.length = 0;
  seen.length = 0;
  held.length = 0;
});

/** The S3 store as the CLI builds it (the SDK's retries included), through the proxy. */
function storeThroughProxy(): S3Store {
  const client = new S3Client({
    ...s3ClientConfig({ endpoint: proxyEndpoint, region: 'us-east-1' }),
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  return new S3Store(client, { bucket: s3.bucket });
}

const conditionalPuts = () =>
  seen.filter((request) => request.conditional).map(({ status, fate }) => ({ status, fate }));

describe('S3Store conditional writes, when S3 applied a write whose answer was lost', () => {
  it('createIfAbsent answers true: the object holds this call’s body', async () => {
    // Prepare
    const store = storeThroughProxy();
    fates.push('lose-answer');
    // Act
    const created = await store.createIfAbsent('locks/created.json', '{"backupId":"mine"}\n');
    // Assess: the SDK sent it again and met its own object (412); the store read it back.
    expect(conditionalPuts()).toEqual([
      { status: 200, fate: 'lose-answer' },
      { status: 412, fate: 'passed' },
    ]);
    expect(created).toBe(true);
    expect((await store.read('locks/created.json')).toString()).toBe('{"backupId":"mine"}\n');
  });

  it('replaceIfMatch answers true: the object holds this call’s body', async () => {
    const store = storeThroughProxy();
    await store.put('locks/replaced.json', 'old');
    const before = await store.stat('locks/replaced.json');
    fates.push('lose-answer');
    const replaced = await store.replaceIfMatch('locks/replaced.json', before?.etag ?? '', 'new');
    expect(conditionalPuts()).toEqual([
      { status: 200, fate: 'lose-answer' },
      { status: 412, fate: 'passed' },
    ]);
    expect(replaced).toBe(true);
    expect((await store.read('locks/replaced.json')).toString()).toBe('new');
  });

  it('a CLI backup whose lock PUT was applied runs, instead of refusing itself', async () => {
    const store = storeThroughProxy();
    fates.push('lose-answer');
    const backupId = 'b20261127t020000z-a0d1';
    const acquired = await acquireBackupLock(store, 'locks/backup.json', backupId, new Date(), 60, {
      process: thisProcess(),
    });
    expect(acquired).toEqual({});
    expect(JSON.parse((await store.read('locks/backup.json')).toString()).backupId).toBe(backupId);
  });

  it('answers false when the object another writer holds refused it (its answer lost too): nothing changes', async () => {
    const store = storeThroughProxy();
    await store.put('locks/theirs.json', '{"backupId":"theirs"}\n');
    fates.push('lose-answer');
    const created = await store.createIfAbsent('locks/theirs.json', '{"backupId":"mine"}\n');
    expect(conditionalPuts()).toEqual([
      { status: 412, fate: 'lose-answer' },
      { status: 412, fate: 'passed' },
    ]);
    expect(created).toBe(false);
    expect((await store.read('locks/theirs.json')).toString()).toBe('{"backupId":"theirs"}\n');
  });

  it('a 412 to the first and only send is never read back: a second writer of the same bytes did not write them', async () => {
    const store = storeThroughProxy();
    expect(await store.createIfAbsent('locks/same.json', 'same bytes')).toBe(true);
    seen.length = 0;
    expect(await store.createIfAbsent('locks/same.json', 'same bytes')).toBe(false);
    expect(seen.map(({ method, status }) => ({ method, status }))).toEqual([{ method: 'PUT', status: 412 }]);
  });

  it('a 409 after a repeated send is sent again until S3 settles it: its own earlier send was still in flight', async () => {
    const store = storeThroughProxy();
    // The first send is still in flight at S3 when the SDK sends it again, and that second send
    // meets the conflict; the first is applied just after. Read back at once, the object would not
    // be there yet ("someone else"), and then it would be: this call's own lock, never released.
    fates.push('hold', 'answer-409');
    const created = await store.createIfAbsent('locks/conflict.json', '{"backupId":"mine"}\n');
    expect(created).toBe(true);
    expect(conditionalPuts()).toEqual([
      { status: 0, fate: 'hold' },
      { status: 409, fate: 'answer-409' },
      { status: 412, fate: 'passed' },
    ]);
    expect((await store.read('locks/conflict.json')).toString()).toBe('{"backupId":"mine"}\n');
  });
});

/** Starts a process that takes the guard of a replace of `key` and holds it until it is killed. */
async function guardHolder(root: string, key: string, etag: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'support', 'guard-holder.ts'), root, key, etag],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`the guard holder exited (${code}) before holding: ${stderr}`)),
    );
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) =>
      line === 'holding' ? resolve() : reject(new Error(`the guard holder printed ${line}`)),
    );
  });
  return child;
}

/** SIGKILL, and waits until the process is reaped (a zombie still shows in /proc). */
async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** A store with `key` written, and a guard of it left by a process killed in the middle of a replace. */
async function storeWithDeadGuard(name: string, key: string, body: string) {
  const root = path.join(work.dir, name);
  const store = new LocalFolderStore(root);
  await store.put(key, body);
  const etag = (await store.stat(key))?.etag ?? '';
  await kill(await guardHolder(root, key, etag));
  const guard = `${path.join(root, ...key.split('/'))}.guard`;
  expect(existsSync(guard), 'the killed process left its guard').toBe(true);
  return { root, store, etag, guard };
}

describe('LocalFolderStore.replaceIfMatch and its guard', () => {
  it('gives way to a live replacer, and takes the guard of one that was killed holding it', async () => {
    // Prepare: a process in the middle of a replace of the key.
    const root = path.join(work.dir, 'live-then-killed');
    const store = new LocalFolderStore(root);
    await store.put('locks/backup.json', 'old');
    const etag = (await store.stat('locks/backup.json'))?.etag ?? '';
    const holder = await guardHolder(root, 'locks/backup.json', etag);
    try {
      // Act, Assess: while it lives, its replace goes first.
      expect(await store.replaceIfMatch('locks/backup.json', etag, 'new')).toBe(false);
    } finally {
      await kill(holder);
    }
    // Once it is dead, its guard no longer blocks the key.
    expect(await store.replaceIfMatch('locks/backup.json', etag, 'new')).toBe(true);
    expect(readFileSync(path.join(root, 'locks', 'backup.json'), 'utf8')).toBe('new');
    expect(existsSync(path.join(root, 'locks', 'backup.json.guard'))).toBe(false);
  });

  it('of many replacers that find the same dead guard at once, exactly one replaces', async () => {
    const { root, store, guard } = await storeWithDeadGuard('dead-guard-race', 'locks/backup.json', 'old');
    const deadGuard = readFileSync(guard);
    // Rounds, each with the dead guard in place again: the replacers interleave differently each time.
    for (let round = 0; round < 40; round++) {
      writeFileSync(guard, deadGuard);
      await store.put('locks/backup.json', `old ${round}`);
      const etag = (await store.stat('locks/backup.json'))?.etag ?? '';
      const outcomes = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          store.replaceIfMatch('locks/backup.json', etag, `replacer ${i}`),
        ),
      );
      const winners = outcomes.flatMap((won, i) => (won ? [i] : []));
      expect(winners, `round ${round}`).toHaveLength(1);
      expect(readFileSync(path.join(root, 'locks', 'backup.json'), 'utf8')).toBe(`replacer ${winners[0]}`);
      // No guard is left behind: the next replace is not blocked.
      expect(readdirSync(path.join(root, 'locks')).filter((name) => name.endsWith('.guard'))).toEqual([]);
    }
  });

  it('a stale backup lock whose guard a killed process left is still taken over', async () => {
    const longAgo = new Date(Date.now() - 24 * 3_600_000);
    const { store } = await storeWithDeadGuard(
      'dead-guard-lock',
      'locks/backup.json',
      jsonBody({ backupId: 'b20261126t020000z-dead', acquiredAt: longAgo.toISOString() }),
    );
    const outcome = await acquireBackupLock(
      store,
      'locks/backup.json',
      'b20261127t020000z-0001',
      new Date(),
      60,
    );
    expect(outcome).toEqual({ tookOverFrom: 'b20261126t020000z-dead' });
  });

  it('a guard whose process it cannot judge (an earlier version’s bare pid) is taken over only once it is 10 minutes old', async () => {
    const root = path.join(work.dir, 'unjudged-guard');
    const store = new LocalFolderStore(root);
    await store.put('locks/backup.json', 'old');
    const etag = (await store.stat('locks/backup.json'))?.etag ?? '';
    const guard = path.join(root, 'locks', 'backup.json.guard');
    // A bare pid names no machine: its process may run elsewhere, in the middle of a replace.
    writeFileSync(guard, '424242');
    expect(await store.replaceIfMatch('locks/backup.json', etag, 'new')).toBe(false);
    const elevenMinutesAgo = new Date(Date.now() - 11 * 60_000);
    utimesSync(guard, elevenMinutesAgo, elevenMinutesAgo);
    expect(await store.replaceIfMatch('locks/backup.json', etag, 'new')).toBe(true);
    expect(readFileSync(path.join(root, 'locks', 'backup.json'), 'utf8')).toBe('new');
  });
});
