/**
 * A log that grows while it is read is accepted as appended to (content.ts `onlyAppended`) only
 * if every byte read is still on disk. Each case below is a rewrite that leaves the file longer:
 * the bytes a read would return were never the file's at any one moment (lines read before the
 * rotation, then zeros, the new hole, or the new version's bytes read after it). A first version
 * compared only the first 4 KiB again, and took a sparse log's copytruncate for an append (found
 * in review).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readChunks, readSmallFile, UploadBuffers } from '#components/files/content.ts';
import { ContentChangedError } from '#components/files/errors.ts';
import type { FileIo } from '#components/files/fsx.ts';
import * as fsx from '#components/files/fsx.ts';
import { bytesFor } from './support/trees.ts';

const work = fs.mkdtempSync(path.join(tmpdir(), 'append-only-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
let files = 0;

/** Reads cut to 16 KiB; `writer` runs once, after the first read call. */
function ioWith(writer: () => void): FileIo {
  let reads = 0;
  return {
    ...fsx.ASYNC_IO,
    read: async (fd, buffer, offset, length, position) => {
      const got = await fsx.ASYNC_IO.read(fd, buffer, offset, Math.min(length, 16 * 1024), position);
      reads += 1;
      if (reads === 1) writer();
      return got;
    },
  };
}

/**
 * A log written through `>` (no O_APPEND) after last night's copytruncate: a hole where the
 * truncated bytes were, then its lines. Returns its path and bytes.
 */
function sparseLog(hole: number, lines: Buffer): { file: string; original: Buffer } {
  files += 1;
  const file = path.join(work, `liferay-${files}.out`);
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, lines, 0, lines.length, hole);
  fs.closeSync(fd);
  return { file, original: fs.readFileSync(file) };
}

/** logrotate's copytruncate, then the writer (its offset kept, no O_APPEND) writes its next line. */
function copytruncateThenWrite(file: string, writerOffset: number): void {
  fs.copyFileSync(file, `${file}.1`);
  fs.truncateSync(file, 0);
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(
    fd,
    Buffer.from('2026-11-27 03:00:01.000 INFO  [main] next line\n'),
    0,
    undefined,
    writerOffset,
  );
  fs.closeSync(fd);
}

/** The outcome that would be right: the read is refused, or it returns the file as it was opened. */
async function expectRefusedOrWhole(reading: Promise<{ sha256: string }>, original: Buffer): Promise<void> {
  let got: { sha256: string } | undefined;
  try {
    got = await reading;
  } catch (error) {
    expect(error).toBeInstanceOf(ContentChangedError);
    return;
  }
  expect(got.sha256, 'accepted as appended to, but not the bytes the file had when the read began').toBe(
    sha(original),
  );
}

describe('a log rewritten (not appended to) while it is read, longer than before, is refused', () => {
  it('small: copytruncate of a sparse log (written through > after an earlier copytruncate)', async () => {
    const { file, original } = sparseLog(8 * 1024, bytesFor('log-lines', 56 * 1024));
    const io = ioWith(() => copytruncateThenWrite(file, original.length));
    const region = Buffer.alloc(original.length + 1);
    await expectRefusedOrWhole(
      readSmallFile(file, region, io, true).then(({ bytes }) => ({ sha256: sha(bytes) })),
      original,
    );
  });

  it('small: shrunk to 8 KiB and grown past its size again during the read', async () => {
    files += 1;
    const file = path.join(work, `liferay-${files}.log`);
    const original = bytesFor('v1', 64 * 1024);
    fs.writeFileSync(file, original);
    const io = ioWith(() => {
      fs.truncateSync(file, 8 * 1024);
      fs.appendFileSync(file, bytesFor('v2', 100 * 1024));
    });
    const region = Buffer.alloc(original.length + 1);
    await expectRefusedOrWhole(
      readSmallFile(file, region, io, true).then(({ bytes }) => ({ sha256: sha(bytes) })),
      original,
    );
  });

  it('large (chunks): copytruncate of a sparse log after its second chunk was read', async () => {
    const chunkBytes = 256 * 1024;
    const { file, original } = sparseLog(300 * 1024, bytesFor('big-log-lines', 724 * 1024));
    let truncated = false;
    const reading = readChunks(
      file,
      chunkBytes,
      new UploadBuffers(2, chunkBytes),
      async (chunk, _bytes, release) => {
        release();
        // The second chunk [256 KiB, 512 KiB) holds lines from 300 KiB on; the rotation comes next.
        if (chunk.start === chunkBytes && !truncated) {
          truncated = true;
          copytruncateThenWrite(file, original.length);
        }
      },
      fsx.ASYNC_IO,
      true,
    );
    await expectRefusedOrWhole(reading, original);
  });
});
