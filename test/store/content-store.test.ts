import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectNotFoundError } from '#runtime/errors.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { type LocalS3Server, startS3Server } from '../support/s3-server.ts';

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function sha256(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function keys(store: ContentStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const object of store.list(prefix)) out.push(object.key);
  return out;
}

/** The same contract, proven for both adapters. */
function contract(name: string, open: () => ContentStore) {
  describe(`${name} store`, () => {
    it('writes, reads, stats and ranges an object', async () => {
      const store = open();
      await store.put('a/b/c.txt', 'hello world');
      expect(await text(await store.get('a/b/c.txt'))).toBe('hello world');
      expect((await store.read('a/b/c.txt')).toString()).toBe('hello world');
      expect(await text(await store.getRange('a/b/c.txt', 6, 5))).toBe('world');
      expect((await store.stat('a/b/c.txt'))?.size).toBe(11);
      expect(await store.stat('a/b/missing')).toBeUndefined();
    });

    it('hands out a content source for a range that a worker thread reads without the client', async () => {
      const store = open();
      await store.put('a/b/source.txt', 'hello world');
      const source = await store.contentSource?.('a/b/source.txt', 6, 5);
      if (!source) throw new Error('the store has no content sources');
      let bytes: string;
      if ('url' in source) {
        // Exactly the headers returned: the range is part of the signature.
        expect(Object.keys(source.headers)).toEqual(['range']);
        expect(source.url).toMatch(/X-Amz-Signature=/);
        const response = await fetch(source.url, { headers: source.headers });
        expect(response.status).toBe(206);
        bytes = await response.text();
      } else {
        bytes = readFileSync(source.path)
          .subarray(source.start, source.start + 5)
          .toString();
      }
      expect(bytes).toBe('world');
    });

    it('stores a streamed body byte for byte, multipart included (no aws-chunked framing)', async () => {
      const store = open();
      const data = randomBytes(12 * 1024 * 1024 + 123);
      await store.put(
        'big/object.bin',
        Readable.from([data.subarray(0, 5_000_000), data.subarray(5_000_000)]),
      );
      expect(await sha256(await store.get('big/object.bin'))).toBe(
        createHash('sha256').update(data).digest('hex'),
      );
      expect((await store.stat('big/object.bin'))?.size).toBe(data.length);
      const small = Buffer.from('small stream');
      await store.put('big/small.bin', Readable.from([small]), { contentLength: small.length });
      expect(await text(await store.get('big/small.bin'))).toBe('small stream');
    });

    it('lists recursively in key order, past 1,000 keys', async () => {
      const store = open();
      const written: string[] = [];
      for (let i = 0; i < 1_050; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, j) => {
            const key = `many/${String(i + j).padStart(5, '0')}/x`;
            written.push(key);
            return store.put(key, 'x');
          }),
        );
      }
      await store.put('many-other/y', 'y');
      const listed = await keys(store, 'many/');
      expect(listed).toEqual([...written].sort());
    });

    it('refuses a missing object with ObjectNotFoundError and reads of oversized objects', async () => {
      const store = open();
      await expect(store.get('nope/never')).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(store.read('nope/never')).rejects.toBeInstanceOf(ObjectNotFoundError);
      await store.put('sized/ten', '0123456789');
      await expect(store.read('sized/ten', 5)).rejects.toThrow(/allowed/);
    });

    it('creates only if absent, and replaces only if unchanged', async () => {
      const store = open();
      expect(await store.createIfAbsent('locks/one.json', 'first')).toBe(true);
      expect(await store.createIfAbsent('locks/one.json', 'second')).toBe(false);
      expect((await store.read('locks/one.json')).toString()).toBe('first');
      const info = await store.stat('locks/one.json');
      expect(info).toBeDefined();
      expect(await store.replaceIfMatch('locks/one.json', 'not-the-etag', 'third')).toBe(false);
      expect(await store.replaceIfMatch('locks/one.json', info?.etag ?? '', 'fourth')).toBe(true);
      expect((await store.read('locks/one.json')).toString()).toBe('fourth');
      // The old tag is stale now.
      expect(await store.replaceIfMatch('locks/one.json', info?.etag ?? '', 'fifth')).toBe(false);
    });

    it('lets exactly one of many concurrent creators win', async () => {
      const store = open();
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.createIfAbsent('locks/race.json', `writer ${i}`)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('deletes, ignoring missing keys', async () => {
      const store = open();
      await store.put('del/a', 'a');
      await store.delete(['del/a', 'del/missing']);
      expect(await store.stat('del/a')).toBeUndefined();
    });

    it('refuses keys with traversal or empty segments', async () => {
      const store = open();
      for (const bad of ['../escape', 'a/../../b', '/abs', 'a//b', 'a/./b', '']) {
        await expect(store.put(bad, 'x')).rejects.toThrow(/store key/);
      }
    });
  });
}

const folder = mkdtempSync(path.join(tmpdir(), 'local-store-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));
contract('local folder', () => new LocalFolderStore(folder));

let server: LocalS3Server;
beforeAll(async () => {
  server = await startS3Server();
});
afterAll(async () => {
  await server?.stop();
});
contract('S3 (s3rver)', () => server.store({ partSize: 5 * 1024 * 1024 }));
