import { createHash } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ReadArena } from '#components/files/content.ts';
import { FinishWorker } from '#components/files/finish-worker.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'files-finish-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const create = (name: string) =>
  openSync(path.join(dir, name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);

describe('FinishWorker', () => {
  it('writes, checks, sets mode and mtime and closes; a mismatch is closed untouched; errors keep their code', async () => {
    const arena = new ReadArena(1 << 20, true);
    const worker = new FinishWorker(arena.memory as SharedArrayBuffer);
    try {
      const good = await arena.take(11);
      good.write('hello world');
      const fd = create('good');
      const outcome = await worker.finish({
        fd,
        bytes: good,
        mode: 0o640,
        mtime: 1_000_000_000.5,
        sha256: sha256(good),
      });
      expect(outcome.sha256).toBe(sha256(Buffer.from('hello world')));
      expect(readFileSync(path.join(dir, 'good'), 'utf8')).toBe('hello world');
      expect(statSync(path.join(dir, 'good')).mode & 0o7777).toBe(0o640);
      expect(statSync(path.join(dir, 'good')).mtimeMs).toBe(1_000_000_000_500);
      // The descriptor was closed by the worker.
      expect(() => closeSync(fd)).toThrow(expect.objectContaining({ code: 'EBADF' }));

      // Before 1970: a Date, as the restore passes it.
      const old = await arena.take(3);
      old.write('old');
      const oldFd = create('old');
      await worker.finish({
        fd: oldFd,
        bytes: old,
        mode: 0o600,
        mtime: new Date(-86_400_000),
        sha256: sha256(old),
      });
      expect(statSync(path.join(dir, 'old')).mtimeMs).toBe(-86_400_000);

      const bad = await arena.take(5);
      bad.write('wrong');
      const badFd = create('bad');
      const mismatch = await worker.finish({
        fd: badFd,
        bytes: bad,
        mode: 0o644,
        mtime: 1,
        sha256: sha256(Buffer.from('right')),
      });
      expect(mismatch.sha256).toBe(sha256(Buffer.from('wrong')));
      expect(statSync(path.join(dir, 'bad')).mode & 0o7777).toBe(0o600);
      expect(() => closeSync(badFd)).toThrow(expect.objectContaining({ code: 'EBADF' }));

      // Memory of its own (a file larger than half the ring), and a hash alone.
      const own = Buffer.from(new SharedArrayBuffer(4));
      own.write('abcd');
      expect(await worker.hash(own)).toBe(sha256(Buffer.from('abcd')));

      await expect(
        worker.finish({ fd: 1 << 20, bytes: good, mode: 0o600, mtime: 1, sha256: '' }),
      ).rejects.toMatchObject({
        code: 'EBADF',
      });
      await expect(worker.hash(Buffer.from('not shared'))).rejects.toThrow(/shared memory/);
    } finally {
      await worker.close();
    }
    await expect(worker.hash(Buffer.from(new SharedArrayBuffer(1)))).rejects.toThrow(/stopped/);
  });
});
