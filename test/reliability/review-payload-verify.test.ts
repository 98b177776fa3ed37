import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { payloadBytes, runWorkflow, STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';
import { backupIdOf, runtimeWith, writeTree } from './support.ts';

/**
 * The restore drill of a Liferay Home whose store lost its packs (what the drill is for): every
 * damaged file is a problem line, up to 200 per index part and 1,000 in all, and the lines travel
 * in the Verify state machine's states.
 */
describe('a restore drill that finds thousands of damaged files', () => {
  it('reports 1,000 of them within the payload quota (the lines fill most of it)', async () => {
    const { dir } = tempDir('payload-verify');
    const home = path.join(dir, 'home');
    const files: Record<string, string> = { 'portal-ext.properties': 'x=1\n' };
    for (let i = 0; i < 2400; i += 1) {
      files[`data/document_library/20097/20121/${35_000 + i}/1.0`] = `document ${i} `.repeat(20);
    }
    writeTree(home, files);
    const store = new LocalFolderStore(path.join(dir, 'store'));
    const rt = runtimeWith(store, {
      liferayHome: {
        root: home,
        shard: { maxFiles: 300, maxBytes: 1024 * 1024 * 1024, timeBudgetSeconds: 600 },
      },
    });
    const backup = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, rt);
    const backupId = backupIdOf(backup);
    const lost: string[] = [];
    for await (const object of store.list('objects/')) lost.push(object.key);
    await store.delete(lost);

    let biggest = 0;
    const drill = await runWorkflow(WORKFLOWS.verify, { backupId, requestedBy: 'cli' }, rt, {
      onStateExited: (_name, output) => {
        biggest = Math.max(biggest, payloadBytes(output));
      },
    });
    // The drill fails and says why (the runner fails it with States.DataLimitExceeded otherwise).
    expect(drill.status === 'FAILED' ? drill.error : '').toBe('VerifyFailed');
    // 1,000 problem lines of this length take about 160 KB: what is left of the quota for the
    // other components' outcomes is not much (measured, not a limit the code sets).
    expect(biggest).toBeLessThan(STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES);
  }, 120_000);
});
