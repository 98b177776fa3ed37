import { describe, expect, it } from 'vitest';
import { main } from '#local/cli.ts';
import { thisProcess } from '#runtime/host-process.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';
import { killedProcess } from '../support/processes.ts';

/**
 * `list`, where an SRE looks after "a backup is already running": the sets, and who holds each
 * lock with what this machine can tell of that run.
 */

async function list(dir: string, ...flags: string[]): Promise<string[]> {
  const lines: string[] = [];
  const code = await main(['list', '--store', dir, ...flags], {
    out: (line) => lines.push(line),
    err: process.stderr,
  });
  expect(code).toBe(0);
  return lines;
}

const lock = (backupId: string, extra: Record<string, unknown>) =>
  JSON.stringify({ backupId, acquiredAt: '2026-11-27T02:00:00.000Z', ...extra });

describe('list', () => {
  it('says who holds each lock, and whether that process runs, has ended, or cannot be checked here', async () => {
    const { dir } = tempDir('list-locks');
    const store = new LocalFolderStore(dir);
    expect(await list(dir)).toEqual([`no backup sets in ${dir}`]);

    const dead = await killedProcess();
    await store.put('locks/backup.json', lock('b20261127t020000z-aaaa', { process: dead }));
    await store.put('locks/retention.json', lock('g20261127t020000z-bbbb', { process: thisProcess() }));
    expect(await list(dir)).toEqual([
      `no backup sets in ${dir}`,
      `locks/backup.json: held by b20261127t020000z-aaaa since 2026-11-27T02:00:00.000Z; its process (pid ${dead.pid} on ${dead.host}) had ended: the next backup takes the lock over`,
      `locks/retention.json: held by g20261127t020000z-bbbb since 2026-11-27T02:00:00.000Z; its process (pid ${process.pid} on ${dead.host}) is running`,
    ]);

    const elsewhere = { ...dead, bootId: 'another-machine', machineId: 'another', host: 'admin-2' };
    const execution = 'arn:aws:states:eu-west-1:111111111111:execution:Backup:nightly';
    await store.put('locks/backup.json', lock('b20261127t020000z-aaaa', { process: elsewhere }));
    await store.put('locks/retention.json', lock('g20261127t020000z-bbbb', { executionId: execution }));
    const lines = await list(dir);
    expect(lines.slice(1)).toEqual([
      `locks/backup.json: held by b20261127t020000z-aaaa since 2026-11-27T02:00:00.000Z; its process (pid ${dead.pid} on admin-2) cannot be checked from here`,
      `locks/retention.json: held by g20261127t020000z-bbbb since 2026-11-27T02:00:00.000Z; its execution is ${execution}`,
    ]);
    const json = JSON.parse((await list(dir, '--json')).join('\n')) as { locks: Record<string, unknown> };
    expect(json.locks).toEqual({
      backup: {
        holder: 'b20261127t020000z-aaaa',
        since: '2026-11-27T02:00:00.000Z',
        state: `its process (pid ${dead.pid} on admin-2) cannot be checked from here`,
      },
      retention: {
        holder: 'g20261127t020000z-bbbb',
        since: '2026-11-27T02:00:00.000Z',
        state: `its execution is ${execution}`,
      },
      restores: [],
      restoresNotListed: 0,
    });
  });
});
