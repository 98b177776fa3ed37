import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverLiferayHome } from '#components/files/liferay-discovery.ts';

/**
 * Found running the benchmark's tree by hand: its portal-ext.properties starts with
 * `include-and-override=portal-developer.properties`, the line Liferay's documentation gives to turn
 * the developer settings on, and production homes keep it with the file removed. Liferay skips an
 * included file that does not exist; every nightly backup still warned that the file "could not be
 * read" and that its properties were "unknown to discovery" (there are none), a warning each night
 * for nothing, which teaches people to skip the warnings that matter.
 */

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'discovery-include-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function homeWith(portalExt: string, extra: (root: string) => Promise<void> = async () => {}) {
  const root = await mkdtemp(join(work, 'home-'));
  await mkdir(join(root, 'data/document_library'), { recursive: true });
  await writeFile(
    join(root, 'portal-ext.properties'),
    `${portalExt}\ndl.store.impl=com.liferay.portal.store.file.system.FileSystemStore\n`,
  );
  await extra(root);
  return root;
}

describe('review: discovery and include-and-override files that are not there', () => {
  it('an included file that does not exist is skipped without a warning, as Liferay skips it', async () => {
    // Prepare
    const root = await homeWith('include-and-override=portal-developer.properties');
    // Act
    const facts = await discoverLiferayHome(root);
    // Assess
    expect(facts.warnings.filter((warning) => warning.includes('portal-developer.properties'))).toEqual([]);
    expect(facts.documentLibrary.kind).toBe('FileSystemStore');
  });

  it('an included file that exists but cannot be read still warns (its properties are unknown)', async () => {
    // Prepare: a folder where the file should be (Liferay cannot read it either, and says so)
    const root = await homeWith('include-and-override=portal-prod.properties', (home) =>
      mkdir(join(home, 'portal-prod.properties')),
    );
    // Act
    const facts = await discoverLiferayHome(root);
    // Assess
    expect(facts.warnings.join('\n')).toMatch(
      /portal-prod.properties could not be read \(it is not a regular file\); the properties in it are unknown to discovery/,
    );
  });
});
