import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { compileSelection } from '#components/files/liferay-rules.ts';
import { putInPlace } from '#components/files/restore-swap.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../../support/local-runtime.ts';

/** Renames whose source contains one of these parts fail once (a Lambda cut off mid carry-over). */
const fault = vi.hoisted(() => ({ failing: [] as string[] }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:fs/promises')>();
  const rename: typeof original.rename = async (from, to) => {
    const hit = fault.failing.find((part) => String(from).includes(part));
    if (hit) {
      fault.failing = fault.failing.filter((part) => part !== hit);
      throw Object.assign(new Error('Lambda cut off'), { code: 'EINTR' });
    }
    return original.rename(from, to);
  };
  return { ...original, rename, default: { ...original, rename } };
});

const work = tempDir('swap-carry-into');
afterAll(() => work.cleanup());

function write(root: string, rel: string, content: string) {
  const abs = path.join(root, ...rel.split('/'));
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, content);
}

function setup(name: string) {
  const target = path.join(work.dir, name, 'liferay');
  const restoreId = 'r20261127t030000z-ab12';
  const staging = `${target}.restore-${restoreId}`;
  write(target, 'portal-ext.properties', 'damaged\n');
  // The Patching Tool of the bundle (the backup held no patching-tool/default.properties).
  write(target, 'patching-tool/lib/patching-tool.jar', 'jar');
  write(target, 'patching-tool/patching-tool.sh', '#!/bin/sh\n');
  fs.chmodSync(path.join(target, 'patching-tool'), 0o755);
  const old = new Date(Date.UTC(2022, 0, 1));
  fs.utimesSync(path.join(target, 'patching-tool'), old, old);
  write(staging, 'portal-ext.properties', 'restored\n');
  const storeDir = path.join(work.dir, name, 'store');
  fs.mkdirSync(storeDir);
  const request = {
    store: new LocalFolderStore(storeDir),
    restoreId,
    component: 'liferayHome' as const,
    target,
    staging,
    swap: true,
    selection: compileSelection('liferayHome'),
  };
  return { target, request, old };
}

describe('a folder the restored tree lacks, made by the carry-over (found in review)', () => {
  it('keeps the live folder mtime', async () => {
    const { target, request, old } = setup('mtime');
    const placement = await putInPlace(request);
    expect(placement.carried).toContain('patching-tool/lib');
    expect(fs.statSync(path.join(target, 'patching-tool')).mtime.toISOString()).toBe(old.toISOString());
  });

  it('keeps the live folder mode when Finalize is retried after being cut off inside it', async () => {
    const { target, request } = setup('mode');
    fault.failing = ['patching-tool/patching-tool.sh'];
    await expect(putInPlace(request)).rejects.toThrow('Lambda cut off');
    // Step Functions retries Finalize.
    const placement = await putInPlace(request);
    expect(placement.carried).toContain('patching-tool/patching-tool.sh');
    expect((fs.statSync(path.join(target, 'patching-tool')).mode & 0o777).toString(8)).toBe('755');
  });
});
