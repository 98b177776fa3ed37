/**
 * Runs one files backup or restore in its own process and prints its peak memory, so that a test
 * measures the engine alone (not vitest, not the S3 server):
 *
 *   node --import tsx engine-child.ts backup  --root DIR --id ID [--store DIR | --endpoint URL --bucket B] [--scratch DIR]
 *   node --import tsx engine-child.ts restore --root DIR --id ID [...]
 *
 * Prints one JSON line: {"maxRssMiB": N, "result": {...}}.
 */
import { parseArgs } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { S3Store, s3ClientConfig } from '#store/s3-store.ts';
import { backupContext, commitSet, driveBackup, driveRestore, homeRuntime, restoreContext } from './drive.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    root: { type: 'string' },
    id: { type: 'string' },
    store: { type: 'string' },
    endpoint: { type: 'string' },
    bucket: { type: 'string' },
    scratch: { type: 'string' },
  },
});
const [command] = positionals;
if (!values.root || !values.id || (command !== 'backup' && command !== 'restore'))
  throw new Error('usage: see the header');

const store: ContentStore = values.endpoint
  ? new S3Store(
      new S3Client({
        ...s3ClientConfig({ endpoint: values.endpoint, region: 'us-east-1' }),
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      }),
      { bucket: values.bucket ?? 'liferay-backup-test' },
    )
  : new LocalFolderStore(values.store ?? '');
const rt = homeRuntime(store, { root: values.root }, values.scratch);

let result: unknown;
if (command === 'backup') {
  const backup = await driveBackup(rt, backupContext(values.id));
  await commitSet(store, values.id, [backup]);
  result = backup.summary;
} else {
  result = (await driveRestore(rt, restoreContext(values.id, {}))).summary;
}
console.log(JSON.stringify({ maxRssMiB: process.resourceUsage().maxRSS / 1024, result }));
