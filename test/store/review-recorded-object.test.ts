import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { CorruptBackupError, ObjectNotFoundError } from '#runtime/errors.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { type RecordedObjectMessages, readRecordedObject } from '#store/recorded-object.ts';
import { tempDir } from '../support/local-runtime.ts';
import { type LocalS3Server, startS3Server } from '../support/s3-server.ts';

/**
 * readRecordedObject: the one check of an object read back against the size and sha256 recorded
 * when it was written (files index, search index list, source repository list), each reader
 * keeping its own words.
 */

const work = tempDir('review-recorded-object');
afterAll(() => work.cleanup());

const BODY = Buffer.from('[{"name":"one"}]', 'utf8');
const RECORDED = { size: BODY.length, sha256: createHash('sha256').update(BODY).digest('hex') };
const MESSAGES: RecordedObjectMessages = {
  missing: () => 'list missing',
  changed: (found, failed) => `list changed: ${failed}, ${found} bytes`,
};

async function storeWith(name: string, body?: Buffer): Promise<LocalFolderStore> {
  const store = new LocalFolderStore(`${work.dir}/${name}`);
  if (body) await store.put('backups/b/list.json', body);
  return store;
}

describe('readRecordedObject', () => {
  it('returns the bytes when they are the recorded ones', async () => {
    const store = await storeWith('same', BODY);
    const bytes = await readRecordedObject(store, 'backups/b/list.json', RECORDED, MESSAGES);
    expect(bytes.equals(BODY)).toBe(true);
  });

  it.each([
    [
      'one byte longer',
      Buffer.concat([BODY, Buffer.from(' ')]),
      `list changed: size, ${BODY.length + 1} bytes`,
    ],
    // Past the one byte more it reads, the store refuses it (ObjectTooLargeError): still the
    // caller's CorruptBackupError naming the object, with its size, never the store's own error.
    [
      'a kilobyte longer',
      Buffer.concat([BODY, Buffer.alloc(1024, 32)]),
      `list changed: size, ${BODY.length + 1024} bytes`,
    ],
    ['shorter', BODY.subarray(1), `list changed: size, ${BODY.length - 1} bytes`],
    [
      'the same size, other bytes',
      Buffer.from(BODY.toString('utf8').replace('one', 'two')),
      `list changed: sha256, ${BODY.length} bytes`,
    ],
  ])('refuses an object %s with the caller’s message, as CorruptBackupError', async (name, body, message) => {
    const store = await storeWith(`changed-${name.replaceAll(' ', '-').replace(',', '')}`, body);
    const read = readRecordedObject(store, 'backups/b/list.json', RECORDED, MESSAGES);
    await expect(read).rejects.toThrow(CorruptBackupError);
    await expect(read).rejects.toThrow(message);
  });

  it('maps a missing object to the caller’s message, or lets ObjectNotFoundError through without one', async () => {
    const store = await storeWith('missing');
    await expect(readRecordedObject(store, 'backups/b/list.json', RECORDED, MESSAGES)).rejects.toThrow(
      new CorruptBackupError('list missing'),
    );
    await expect(
      readRecordedObject(store, 'backups/b/list.json', RECORDED, { changed: MESSAGES.changed }),
    ).rejects.toThrow(ObjectNotFoundError);
  });

  it('reads up to the caller’s limit, so that an object grown by more than a byte is still named as changed', async () => {
    const store = await storeWith('grown', Buffer.concat([BODY, Buffer.from('     ')]));
    await expect(readRecordedObject(store, 'backups/b/list.json', RECORDED, MESSAGES, 1024)).rejects.toThrow(
      `list changed: size, ${BODY.length + 5} bytes`,
    );
  });
});

describe('readRecordedObject on S3, which cannot tell the size before reading', () => {
  let s3: LocalS3Server | undefined;
  afterAll(async () => s3?.stop());

  it('refuses an object that grew past the byte more it reads with the caller’s message and its size', async () => {
    s3 = await startS3Server();
    const store = s3.store();
    await store.put('backups/b/list.json', Buffer.concat([BODY, Buffer.alloc(1024, 32)]));
    await expect(readRecordedObject(store, 'backups/b/list.json', RECORDED, MESSAGES)).rejects.toThrow(
      new CorruptBackupError(`list changed: size, ${BODY.length + 1024} bytes`),
    );
  }, 30_000);
});
