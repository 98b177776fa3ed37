import { constants, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ReadArena } from '#components/files/content.ts';
import { AdaptiveIo, readFully, writeAll } from '#components/files/fsx.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'files-fsx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('AdaptiveIo', () => {
  it.each([
    ['synchronous', () => new AdaptiveIo()],
    ['asynchronous', () => new AdaptiveIo({ synchronous: false })],
  ])('makes the same calls %s, with the same errors', async (name, make) => {
    const io = make();
    const base = path.join(dir, name);
    await io.mkdir(base, 0o700);
    await expect(io.mkdir(base, 0o700)).rejects.toMatchObject({ code: 'EEXIST' });
    const file = path.join(base, 'f');
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const fd = await io.open(file, flags, 0o600);
    await expect(io.open(file, flags, 0o600)).rejects.toMatchObject({ code: 'EEXIST' });
    await writeAll(fd, Buffer.from('hello, world'), null, io);
    await io.fchmod(fd, 0o640);
    await io.futimes(fd, 1_000_000_000.5);
    await io.close(fd);
    expect(readFileSync(file, 'utf8')).toBe('hello, world');
    expect(statSync(file).mode & 0o7777).toBe(0o640);
    expect(statSync(file).mtimeMs).toBe(1_000_000_000_500);
    const rd = await io.open(file, constants.O_RDONLY);
    expect(Number((await io.fstatBig(rd)).size)).toBe(12);
    const buffer = Buffer.alloc(5);
    expect(await readFully(rd, buffer, 7, 5, io)).toBe(5);
    expect(buffer.toString()).toBe('world');
    await io.close(rd);
    await io.chmod(base, 0o755);
    await io.utimes(base, 2_000_000_000);
    expect(statSync(base).mtimeMs).toBe(2_000_000_000_000);
    await expect(io.open(path.join(base, 'missing'), constants.O_RDONLY)).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(io.isSynchronous).toBe(name === 'synchronous');
  });

  it('turns asynchronous for good once a fifth of its calls are slow', async () => {
    const io = new AdaptiveIo({ slowCallMs: -1 });
    for (let i = 0; i < 31; i += 1) await io.utimes(dir, 1_000_000_000);
    expect(io.isSynchronous).toBe(true);
    await io.utimes(dir, 1_000_000_000);
    expect(io.isSynchronous).toBe(false);
    await io.utimes(dir, 1_000_000_001);
    expect(statSync(dir).mtimeMs).toBe(1_000_000_001_000);
  });
});

describe('ReadArena', () => {
  it('hands out regions that never overlap, reuses given ones, and waits when full', async () => {
    const arena = new ReadArena(1000);
    const a = await arena.take(300);
    const b = await arena.take(300);
    const c = await arena.take(300);
    for (const [region, byte] of [
      [a, 1],
      [b, 2],
      [c, 3],
    ] as const)
      region.fill(byte);
    expect([a[0], b[0], c[0], a.length, c.length]).toEqual([1, 2, 3, 300, 300]);
    let dWaiting = true;
    const d = arena.take(300).then((region) => {
      dWaiting = false;
      return region;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(dWaiting).toBe(true);
    arena.give(b); // not the oldest: nothing frees up yet at the start of the ring
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(dWaiting).toBe(true);
    arena.give(a); // a and b are free: d wraps to the start
    const region = await d;
    region.fill(4);
    expect(c[0]).toBe(3);
    arena.give(c);
    arena.give(region);
    expect(() => arena.give(region)).toThrow(/twice/);
    // Larger than half the ring: a buffer of its own, one at a time.
    const big = await arena.take(800);
    expect(big.length).toBe(800);
    let secondBig = false;
    const next = arena.take(900).then((buffer) => {
      secondBig = true;
      return buffer;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(secondBig).toBe(false);
    arena.give(big);
    arena.give(await next);
  });

  it('takeNow never waits: room in the ring, or memory of its own that give() leaves the ring out of', async () => {
    // Prepare: the oldest region is held (a restore's file still waiting for bytes), the rest is taken.
    const arena = new ReadArena(1000, true);
    const oldest = await arena.take(400);
    const newer = await arena.take(400);
    arena.give(newer);
    // Act
    const fits = arena.takeNow(150);
    const own = arena.takeNow(300);
    // Assess: the ring had 200 bytes at its end; 300 more come from memory of its own, shared too.
    expect(fits.buffer).toBe(oldest.buffer);
    expect(own.buffer).not.toBe(oldest.buffer);
    expect(own.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(own.length).toBe(300);
    arena.give(own);
    arena.give(fits);
    arena.give(oldest);
    // The ring is whole again, and the large-region path was not touched.
    const whole = await arena.take(500);
    const big = await arena.take(800);
    expect(whole.buffer).toBe(oldest.buffer);
    arena.give(big);
    arena.give(whole);
  });
});
