import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/**
 * Every temporary folder the tests make (stores, trees, database servers' data) goes under one
 * folder per run, removed when the run ends: many tests leave theirs to the end of the process,
 * and a developer's /tmp filled up with thousands of them. KEEP_TEST_TMP=1 keeps it to look at.
 * Set before the test processes start, so os.tmpdir() in each of them answers this folder.
 */
export default function setup(): () => void {
  const root = mkdtempSync(path.join(tmpdir(), 'liferay-backup-tests-'));
  // The PostgreSQL test server runs as the postgres user, in a folder under this one.
  chmodSync(root, 0o755);
  process.env.TMPDIR = root;
  return () => {
    if (process.env.KEEP_TEST_TMP) console.error(`test folders kept in ${root}`);
    else rmSync(root, { recursive: true, force: true });
  };
}
