import { execFileSync } from 'node:child_process';
import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  concatenatedSize,
  concatPacks,
  emptyPack,
  InvalidPackError,
  PackVerifier,
} from '#components/source/pack-stream.ts';
import { ByteReader, demuxSideBand, pktLine, readPkt, SideBandError } from '#components/source/pkt-line.ts';
import { indexKeyOf, indexPackFile, storePack } from '#components/source/store-copy.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { git, gitEnv } from '../../support/git-http-server.ts';
import { WorkRepo } from './git-fixtures.ts';

/** A pack of the given revisions' objects, made by git pack-objects. */
function packOf(repo: string, revs: string): Buffer {
  const objects = execFileSync('git', ['rev-list', '--objects', ...revs.split(' ')], {
    cwd: repo,
    env: gitEnv(),
  });
  return execFileSync('git', ['pack-objects', '--stdout', '-q', '--delta-base-offset'], {
    cwd: repo,
    env: gitEnv(),
    input: objects,
  });
}

/** Feeds a pack to `git index-pack` in a new bare repository; returns the object ids it holds. */
async function indexPack(pack: Buffer): Promise<string[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pack-check-'));
  await git(['init', '--bare', '--quiet', dir], dir);
  const file = path.join(dir, 'in.pack');
  execFileSync('sh', ['-c', `cat > ${file}`], { input: pack });
  // --strict: what receive-pack runs with receive.fsckObjects (hosting services turn it on).
  await git(['index-pack', '--strict', file], dir);
  const listing = await git(['verify-pack', '-v', file.replace(/\.pack$/, '.idx')], dir);
  return listing
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((oid) => /^[0-9a-f]{40}$/.test(oid))
    .sort();
}

async function* chunks(buffer: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < buffer.length; offset += size) yield buffer.subarray(offset, offset + size);
}

describe('PackVerifier', () => {
  it('accepts a pack from git in any chunking and reports its objects, size and sha256', async () => {
    const repo = await WorkRepo.create();
    await repo.commit('one');
    await repo.commit('two');
    const pack = packOf(repo.dir, 'HEAD');
    for (const size of [1, 7, 20, 21, 4096]) {
      const verifier = new PackVerifier();
      for await (const chunk of chunks(pack, size)) verifier.update(Buffer.from(chunk));
      const info = verifier.finish();
      expect(info.objects).toBe(pack.readUInt32BE(8));
      expect(info.bytes).toBe(pack.length);
      expect(info.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('refuses a corrupted or truncated pack', async () => {
    const repo = await WorkRepo.create();
    await repo.commit('one');
    const pack = packOf(repo.dir, 'HEAD');
    const corrupted = Buffer.from(pack);
    corrupted[20] = (corrupted[20] ?? 0) ^ 0xff;
    const check = (bytes: Buffer) => {
      const verifier = new PackVerifier();
      verifier.update(bytes);
      return verifier.finish();
    };
    expect(() => check(corrupted)).toThrow(/checksum mismatch/);
    expect(() => check(pack.subarray(0, pack.length - 1))).toThrow(InvalidPackError);
    expect(() => check(Buffer.from('not a pack at all, but long enough to look like one'))).toThrow(
      /PACK signature/,
    );
  });
});

describe('concatPacks', () => {
  it('joins disjoint packs (with their deltas) into one that git indexes strictly, every object in it', async () => {
    const repo = await WorkRepo.create();
    for (let i = 0; i < 6; i++) await repo.commit(`commit ${i} ${'x'.repeat(2000)}`);
    const older = packOf(repo.dir, 'HEAD~3');
    const newer = packOf(repo.dir, 'HEAD ^HEAD~3');
    const parts = [older, newer].map((pack) => ({
      objects: pack.readUInt32BE(8),
      bytes: pack.length,
      open: async () => chunks(pack, 333),
    }));
    const out: Buffer[] = [];
    for await (const chunk of concatPacks(parts)) out.push(chunk);
    const joined = Buffer.concat(out);
    expect(joined.length).toBe(concatenatedSize(parts));
    const everything = await indexPack(packOf(repo.dir, 'HEAD'));
    expect(await indexPack(joined)).toEqual(everything);
  });

  it('refuses a part whose object count is not the recorded one', async () => {
    const repo = await WorkRepo.create();
    await repo.commit('one');
    const pack = packOf(repo.dir, 'HEAD');
    const run = async () => {
      for await (const _ of concatPacks([
        { objects: 99, bytes: pack.length, open: async () => chunks(pack, 64) },
      ])) {
        // consume
      }
    };
    await expect(run()).rejects.toThrow(/99/);
  });

  it('makes an empty pack that git accepts', async () => {
    expect(await indexPack(emptyPack())).toEqual([]);
  });
});

describe('pkt-line', () => {
  it('frames payloads with their length and reads them back, flushes included', async () => {
    expect(pktLine('done\n').toString()).toBe('0009done\n');
    const reader = new ByteReader(
      chunks(Buffer.concat([pktLine('a\n'), Buffer.from('0000'), pktLine('bc')]), 3),
    );
    expect(await readPkt(reader)).toEqual({ kind: 'data', data: Buffer.from('a\n') });
    expect(await readPkt(reader)).toEqual({ kind: 'flush' });
    expect(await readPkt(reader)).toEqual({ kind: 'data', data: Buffer.from('bc') });
    expect(await readPkt(reader)).toEqual({ kind: 'end' });
  });

  it('demultiplexes side-band data and progress, and throws the remote error of band 3', async () => {
    const band = (n: number, text: string) => pktLine(Buffer.concat([Buffer.from([n]), Buffer.from(text)]));
    const data: string[] = [];
    const progress: string[] = [];
    await demuxSideBand(
      new ByteReader(
        chunks(Buffer.concat([band(2, 'counting'), band(1, 'PA'), band(1, 'CK'), Buffer.from('0000')]), 5),
      ),
      {
        data: (chunk) => {
          data.push(chunk.toString());
        },
        progress: (text) => progress.push(text),
      },
    );
    expect(data.join('')).toBe('PACK');
    expect(progress).toEqual(['counting']);
    await expect(
      demuxSideBand(new ByteReader(chunks(band(3, 'access denied'), 64)), { data: () => undefined }),
    ).rejects.toThrow(SideBandError);
  });
});

describe('storePack', () => {
  it('reuses a stored pack only while it is young enough that garbage collection spares it', async () => {
    const repo = await WorkRepo.create();
    await repo.commit('one');
    const bytes = packOf(repo.dir, 'HEAD');
    const dir = mkdtempSync(path.join(tmpdir(), 'store-pack-'));
    const file = path.join(dir, 'p.pack');
    writeFileSync(file, bytes);
    const verifier = new PackVerifier();
    verifier.update(bytes);
    const indexed = await indexPackFile(file, verifier.finish());
    const root = mkdtempSync(path.join(tmpdir(), 'store-pack-store-'));
    const store = new LocalFolderStore(root);
    const hour = 3_600_000;

    const first = await storePack(store, indexed);
    expect(first.written).toBe(true);
    expect((await storePack(store, indexed)).written).toBe(false);

    // Written two hours ago: it may belong to no kept set, so it is written again (and young again).
    const old = new Date(Date.now() - 2 * hour);
    for (const key of [first.stored.key, indexKeyOf(first.stored)]) {
      utimesSync(path.join(root, ...key.split('/')), old, old);
    }
    expect((await storePack(store, indexed)).written).toBe(true);
    expect((await storePack(store, indexed)).written).toBe(false);
  });
});
