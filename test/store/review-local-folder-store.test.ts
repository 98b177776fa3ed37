import { afterAll, describe, expect, it } from 'vitest';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';

/**
 * A listing of the local folder store while another process deletes objects under it (retention
 * deleting a set or sweeping content while `list`, a backup or a drill lists the same prefix): as
 * on S3, an object deleted during the listing is listed or not, and the listing goes on.
 */

const work = tempDir('review-local-folder-store');
afterAll(() => work.cleanup());

describe('LocalFolderStore.list while objects are deleted', () => {
  it('goes on past an object deleted after its folder was read (S3 never fails a listing for it)', async () => {
    // Prepare
    const store = new LocalFolderStore(`${work.dir}/one`);
    const set = 'backups/b20260101t000000z-0000';
    await store.put(`${set}/files/liferayHome/index.json`, '{}');
    await store.put(`${set}/manifest.json`, '{}');
    await store.put(`${set}/retention-mark.json`, '{}');
    // Act: a retention run deletes the set's objects while the listing is at its first one.
    const listed: string[] = [];
    for await (const object of store.list('backups/')) {
      listed.push(object.key);
      if (listed.length === 1) await store.delete([`${set}/manifest.json`, `${set}/retention-mark.json`]);
    }
    // Assess
    expect(listed).toEqual([`${set}/files/liferayHome/index.json`]);
  });

  it('goes on past an object that deleteAsSeen moves aside while the listing runs', async () => {
    const store = new LocalFolderStore(`${work.dir}/two`);
    await store.put('objects/aa/one', '1');
    await store.put('objects/aa/two', '2');
    await store.put('objects/aa/three', '3');
    const seen = await store.stat('objects/aa/two');
    if (!seen) throw new Error('no object');
    const listed: string[] = [];
    for await (const object of store.list('objects/aa/')) {
      listed.push(object.key);
      if (listed.length === 1) await store.deleteAsSeen([{ key: 'objects/aa/two', seen }]);
    }
    expect(listed).toEqual(['objects/aa/one', 'objects/aa/three']);
  });
});
