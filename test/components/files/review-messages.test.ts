import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateRestore } from '#backup-set/validate-restore.ts';
import { liferayHomeModule } from '#components/files/module.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { backupContext, commitSet, driveBackup, driveRestore, homeRuntime } from './support/drive.ts';
import { readTree } from './support/trees.ts';

/**
 * Found in a review of the README examples: the same restore is started from the Step Functions
 * console (a JSON request) or from the CLI (flags that build that request), and the messages named
 * only the request's fields ("restore with swap"), or refused what an SRE types in a shell
 * (`--path './data/document_library/...'` "matches nothing").
 */

const work = fs.mkdtempSync(path.join(tmpdir(), 'review-files-messages-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
const fresh = (name: string) => {
  const dir = path.join(work, `${name}-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
};
const settings = (root: string) => ({ root });

/** A Liferay Home of two document library folders, backed up into a fresh store. */
async function backedUp(): Promise<{ store: LocalFolderStore; id: string }> {
  const store = new LocalFolderStore(fresh('store'));
  const tree = fresh('home');
  for (const folder of ['data/document_library/20101', 'data/document_library/20102']) {
    fs.mkdirSync(path.join(tree, folder), { recursive: true });
    for (let i = 0; i < 3; i += 1) fs.writeFileSync(path.join(tree, folder, `f${i}`), `${folder} ${i}`);
  }
  fs.writeFileSync(path.join(tree, 'portal-ext.properties'), 'a=b\n');
  const id = 'b20261127t020001z-0001';
  await commitSet(store, id, [await driveBackup(homeRuntime(store, settings(tree)), backupContext(id))]);
  return { store, id };
}

/** The liferayHome request of `restore latest --to TARGET` with these flags, as the CLI builds it. */
function cliRequest(target: string, flags: Record<string, unknown>): unknown {
  const request = liferayHomeModule.local?.restoreRequestFromOptions?.({ to: target, ...flags });
  if (!request) throw new Error('the CLI built no liferayHome request');
  return request;
}

const files = (root: string) =>
  [...readTree(root)].filter(([, entry]) => entry.type === 'file').map(([rel]) => rel);

describe('review: a restore path that starts with ./', () => {
  const cases: Record<string, (target: string) => unknown> = {
    // A glob's leading ./ picomatch ignored already; a plain path was compared as typed.
    'request field "path" (Step Functions console)': () => ({ path: './data/document_library/20101' }),
    'CLI --path': (target) => cliRequest(target, { path: './data/./document_library/20101/' }),
    'negated, CLI --path': (target) => cliRequest(target, { path: '!./data/document_library/20102/**' }),
  };
  for (const [how, request] of Object.entries(cases)) {
    it(`${how}: is read relative to the tree's root and restores that folder`, async () => {
      // Prepare
      const { store, id } = await backedUp();
      const target = path.join(fresh('restore'), 'home');
      const rt = homeRuntime(store, settings(target));
      // Act: Validate, then the files restore, as the workflow runs them.
      const context = await validateRestore(
        { backupId: id, components: ['liferayHome'], liferayHome: request(target) },
        rt,
      );
      const restored = await driveRestore(rt, context);
      // Assess
      expect(restored.status).toBe('complete');
      expect(
        files(target)
          .filter((rel) => rel.startsWith('data/'))
          .sort(),
      ).toEqual([
        'data/document_library/20101/f0',
        'data/document_library/20101/f1',
        'data/document_library/20101/f2',
      ]);
    }, 60_000);
  }

  it('an absolute path is refused at Validate, saying paths are relative to the tree (request and CLI)', async () => {
    // Prepare
    const { store, id } = await backedUp();
    const target = path.join(fresh('restore'), 'home');
    const rt = homeRuntime(store, settings(target));
    // Act
    const refusal = validateRestore(
      {
        backupId: id,
        components: ['liferayHome'],
        liferayHome: cliRequest(target, { path: '/opt/liferay/data/document_library/20101/**' }),
      },
      rt,
    );
    // Assess
    await expect(refusal).rejects.toThrow(
      /liferayHome\.path: a path or glob relative to the root of the tree, not an absolute path \(.*; the same for CLI --path\): give it from the tree's root/,
    );
    await expect(refusal).rejects.toThrow(/give data\/document_library\/20101\/\*\*/);
  }, 60_000);

  it('a path that matches nothing says paths are relative to the tree backed up, and names --path', async () => {
    // Prepare
    const { store, id } = await backedUp();
    const target = path.join(fresh('restore'), 'home');
    const rt = homeRuntime(store, settings(target));
    const context = await validateRestore(
      {
        backupId: id,
        components: ['liferayHome'],
        liferayHome: cliRequest(target, { path: 'document_library/**' }),
      },
      rt,
    );
    // Act / Assess
    await expect(driveRestore(rt, context)).rejects.toThrow(
      /"document_library\/\*\*" \(CLI: --path\) matches nothing in backup set .*relative to the root of the tree as it was backed up \(\//,
    );
  }, 60_000);
});

describe('review: a restore beside an existing tree', () => {
  it('says how to replace it from the console ("swap": true) and from the CLI (--swap)', async () => {
    // Prepare: a target that holds a tree.
    const { store, id } = await backedUp();
    const target = path.join(fresh('restore'), 'home');
    fs.mkdirSync(target, { recursive: true });
    fs.writeFileSync(path.join(target, 'live.txt'), 'live');
    const rt = homeRuntime(store, settings(target));
    const context = await validateRestore(
      { backupId: id, components: ['liferayHome'], liferayHome: cliRequest(target, {}) },
      rt,
    );
    // Act
    const restored = await driveRestore(rt, context);
    // Assess
    expect(fs.readFileSync(path.join(target, 'live.txt'), 'utf8')).toBe('live');
    const warning = restored.warnings.find((text) => text.includes('was left as it was'));
    expect(warning).toContain('"swap": true in the request');
    expect(warning).toContain('CLI: --swap');
  }, 60_000);
});
