/** node --import tsx put-in-place-child.ts STORE TARGET STAGING RESTORE_ID: runs putInPlace (swap) and prints one JSON line. */
import { compileSelection } from '#components/files/liferay-rules.ts';
import { putInPlace } from '#components/files/restore-swap.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';

const [storeDir, target, staging, restoreId] = process.argv.slice(2) as [string, string, string, string];
try {
  const placement = await putInPlace({
    store: new LocalFolderStore(storeDir),
    restoreId,
    component: 'liferayHome',
    target,
    staging,
    swap: true,
    selection: compileSelection('liferayHome'),
  });
  console.log(JSON.stringify({ ok: true, placement }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: `${(error as Error).name}: ${(error as Error).message}` }));
}
