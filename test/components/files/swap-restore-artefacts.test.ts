import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileSelection } from '#components/files/liferay-rules.ts';
import { putInPlace } from '#components/files/restore-swap.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../../support/local-runtime.ts';

/**
 * With the app server inside the Liferay Home, each restore of it leaves its previous tree there
 * (`tomcat-….before-<restoreId>`), and a failed attempt its staging folder. Outside every include
 * rule, each swap of the home carried them into the new home: a whole Tomcat more every time
 * (found in review). They stay in the previous tree now, with the rest of the live tree.
 */
const work = tempDir('swap-restore-artefacts');
afterAll(() => work.cleanup());

function write(root: string, rel: string, content: string) {
  const abs = path.join(root, ...rel.split('/'));
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, content);
}

describe('a swap of a Liferay Home holding what earlier app server restores left', () => {
  it('carries the app server, not its earlier trees or staging folders, and does not list them', async () => {
    const target = path.join(work.dir, 'liferay');
    const restoreId = 'r20261128t030000z-cd34';
    const staging = `${target}.restore-${restoreId}`;
    write(target, 'portal-ext.properties', 'damaged\n');
    write(target, 'tomcat-9.0.83/bin/catalina.sh', 'live\n');
    write(target, 'tomcat-9.0.83.before-r20261127t030000z-ab12/bin/catalina.sh', 'older\n');
    write(target, 'tomcat-9.0.83.restore-r20261126t030000z-ef56/bin/catalina.sh', 'partial\n');
    // A name that only looks like one is the bundle's own: carried.
    write(target, 'tools.before-upgrade/readme.txt', 'kept\n');
    write(staging, 'portal-ext.properties', 'restored\n');
    const storeDir = path.join(work.dir, 'store');
    fs.mkdirSync(storeDir);

    const placement = await putInPlace({
      store: new LocalFolderStore(storeDir),
      restoreId,
      component: 'liferayHome',
      target,
      staging,
      swap: true,
      selection: compileSelection('liferayHome'),
    });

    expect(fs.readdirSync(target).sort()).toEqual([
      'portal-ext.properties',
      'tomcat-9.0.83',
      'tools.before-upgrade',
    ]);
    expect(placement.carried).toEqual(['tomcat-9.0.83', 'tools.before-upgrade']);
    const previous = placement.previousTree as string;
    expect(fs.readdirSync(previous).sort()).toEqual([
      'portal-ext.properties',
      'tomcat-9.0.83.before-r20261127t030000z-ab12',
      'tomcat-9.0.83.restore-r20261126t030000z-ef56',
    ]);
  });
});
