/**
 * Takes the guard of one LocalFolderStore.replaceIfMatch and never gives it back: the rename that
 * ends a replace (made while the guard is held) never settles. Prints "holding" once there, then
 * waits to be killed, as a CLI run killed with SIGKILL or by the OOM killer in the middle of a
 * replace; what it leaves is exactly what the store wrote.
 *
 *   node --import tsx guard-holder.ts STORE_DIR KEY ETAG
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';

const [root, key, etag] = process.argv.slice(2);
if (!root || !key || !etag) throw new Error('usage: guard-holder.ts STORE_DIR KEY ETAG');

// The store imports node:fs/promises as a namespace: patching the module object and syncing the
// builtin's ES exports is what reaches it.
const fsPromises = createRequire(import.meta.url)('node:fs/promises') as { rename: unknown };
fsPromises.rename = () => {
  process.stdout.write('holding\n');
  return new Promise(() => undefined);
};
syncBuiltinESMExports();
setInterval(() => undefined, 60_000);

const { LocalFolderStore } = await import('#store/local-folder-store.ts');
await new LocalFolderStore(root).replaceIfMatch(key, etag, 'the body of a replace that never ended');
