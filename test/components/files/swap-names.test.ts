import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { compileSelection } from '#components/files/liferay-rules.ts';
import { putInPlace } from '#components/files/restore-swap.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../../support/local-runtime.ts';

const work = tempDir('swap-names');
afterAll(() => work.cleanup());

it('carries names with glob characters, spaces, backslashes and links, and leaves selected look-alikes', async () => {
  const target = path.join(work.dir, 'liferay');
  const restoreId = 'r20261127t030000z-ab12';
  const staging = `${target}.restore-${restoreId}`;
  const names = ['tomcat {a,b}', 'x\\y', 'dat[a]', 'ünï\ncode', '*', '!neg'];
  for (const name of names) {
    fs.mkdirSync(path.join(target, name), { recursive: true });
    fs.writeFileSync(path.join(target, name, 'f'), name);
  }
  fs.mkdirSync(path.join(target, 'osgi', 'core'), { recursive: true });
  fs.symlinkSync('/nowhere', path.join(target, 'osgi', 'link'));
  fs.symlinkSync('tomcat {a,b}', path.join(target, 'tomcat'));
  fs.mkdirSync(path.join(target, 'data'));
  fs.writeFileSync(path.join(target, 'data', 'new'), 'x');
  fs.mkdirSync(path.join(staging, 'osgi', 'configs'), { recursive: true });
  fs.mkdirSync(path.join(work.dir, 'store'));
  const placement = await putInPlace({
    store: new LocalFolderStore(path.join(work.dir, 'store')),
    restoreId,
    component: 'liferayHome',
    target,
    staging,
    swap: true,
    selection: compileSelection('liferayHome'),
  });
  expect([...placement.carried].sort()).toEqual([...names, 'osgi/core', 'osgi/link', 'tomcat'].sort());
  expect(fs.readlinkSync(path.join(target, 'tomcat'))).toBe('tomcat {a,b}');
  expect(fs.existsSync(path.join(target, 'data'))).toBe(false);
});
