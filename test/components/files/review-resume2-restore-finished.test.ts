import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { filesKeys } from '#components/files/keys.ts';
import { secondsOf } from '#components/files/restore-fs.ts';
import { stagingDirFor } from '#components/files/restore-plan.ts';
import { restoreShard } from '#components/files/restore-shard.ts';
import { backupContext, commitSet, driveBackup, driveRestore, restoreContext } from './support/drive.ts';
import { CHUNK, clockedChunkReads, resumeHome } from './support/resume.ts';
import { bytesFor, diffTrees, readTree } from './support/trees.ts';

/**
 * Review of "large files across invocations" (files-engine.md), restore side: a file an attempt
 * finished and recorded as finished is kept by an attempt that starts again only when it is as that
 * attempt left it. One rewritten in place since (same size, its mtime put back: only its ctime
 * tells) must be written again, never counted verified.
 */
const work = fs.mkdtempSync(path.join(tmpdir(), 'review-resume2-finished-'));
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('a retried restore shard that meets a large file an earlier attempt finished', () => {
  it('writes it again when its staging copy was rewritten in place at the same size and mtime', async () => {
    // Prepare: a file of 69 chunks followed by a small one, restored five chunks per round.
    const { home, store, storeDir, rt } = resumeHome(work, 1, 600);
    const rel = 'data/document_library/video.mp4';
    fs.writeFileSync(path.join(home, rel), bytesFor('a long video', 69 * CHUNK - 11));
    fs.writeFileSync(path.join(home, 'data/document_library/zz.txt'), 'after it');
    const id = 'b20261128t070000z-e001';
    const backup = await driveBackup(rt(home), backupContext(id));
    await commitSet(store, id, [backup]);
    const { store: slowStore, gets } = clockedChunkReads(store, 200);
    const target = path.join(work, 'restored');
    const restore = restoreContext(id, {});
    const staged = path.join(stagingDirFor(target, restore.restoreId), rel);
    const checkpoint = path.join(
      storeDir,
      filesKeys.fileCheckpoint(
        restore.restoreId,
        'liferayHome',
        createHash('sha256').update(rel).digest('hex'),
      ),
    );
    let tampered = false;
    // Act: each shard runs once here; once the file is recorded finished, its staging copy is
    // rewritten in place and the driver runs the shard again (a Step Functions retry).
    const restored = await driveRestore(rt(target, slowStore, 1), restore, 'liferayHome', {
      beforeShard: async (item) => {
        if (tampered) return true;
        const event = JSON.parse(JSON.stringify({ restore, component: 'liferayHome', shard: item }));
        await restoreShard(event, rt(target, slowStore, 1));
        const finished =
          fs.existsSync(checkpoint) && JSON.parse(fs.readFileSync(checkpoint, 'utf8')).chunks.length === 69;
        if (!finished) return false;
        const was = fs.statSync(staged, { bigint: true });
        fs.chmodSync(staged, 0o600);
        const fd = fs.openSync(staged, 'r+');
        fs.writeSync(fd, Buffer.from('tampered'), 0, 8, 1000);
        fs.closeSync(fd);
        fs.chmodSync(staged, Number(was.mode) & 0o7777);
        // As the restore set it (from the recorded mtime): the mtime it had, to the nanosecond (only the ctime tells).
        fs.utimesSync(
          staged,
          secondsOf(String(was.atimeNs)),
          secondsOf(String(fs.statSync(path.join(home, rel), { bigint: true }).mtimeNs)),
        );
        const now = fs.statSync(staged, { bigint: true });
        expect([now.size, now.mtimeNs, now.ino]).toEqual([was.size, was.mtimeNs, was.ino]);
        tampered = true;
        return true;
      },
    });
    // Assess: written twice (the retry wrote it again from its first byte), restored right.
    expect(tampered).toBe(true);
    expect(restored.status).toBe('complete');
    expect(gets).toHaveLength(2 * 69);
    expect(diffTrees(readTree(home), readTree(target))).toEqual([]);
  });
});
