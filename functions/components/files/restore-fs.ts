import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { type FileIdentity, sameIdentity } from './content.ts';
import { UnsafeEntryError } from './errors.ts';
import type { FileIo } from './fsx.ts';
import * as fsx from './fsx.ts';
import { ancestorsOf, parentOf, unsafePathReason } from './paths.ts';

/**
 * Writes a restored tree under one directory without ever leaving it: every path is checked
 * (relative, no `.`/`..`), every folder on the way is created as (or verified to be) a real
 * directory, never a link, and files are created with O_NOFOLLOW|O_EXCL so that the last name
 * is not a link either. A hostile index therefore cannot make the restore write elsewhere.
 */
export class SafeTree {
  /** Folders known to be real directories (created or checked by this instance). */
  private readonly realDirs = new Set<string>(['']);

  constructor(
    readonly root: string,
    /** The calls that create folders and files (adaptive: synchronous while they are fast). */
    private readonly io: FileIo = fsx.ASYNC_IO,
  ) {}

  absolute(rel: string): string {
    const problem = unsafePathReason(rel);
    if (problem) throw new UnsafeEntryError(`refused to restore ${JSON.stringify(rel)}: ${problem}`);
    return path.join(this.root, ...rel.split('/'));
  }

  /**
   * Creates `rel` and the folders above it as real directories (mode 0700 until the metadata
   * pass), and makes one that exists writable by its owner again.
   */
  async ensureDir(rel: string): Promise<void> {
    if (this.realDirs.has(rel)) return;
    for (const dir of [...ancestorsOf(rel), rel]) {
      if (this.realDirs.has(dir)) continue;
      const abs = this.absolute(dir);
      try {
        await this.io.mkdir(abs, 0o700);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const stats = await fs.lstat(abs);
        if (!stats.isDirectory()) {
          throw new UnsafeEntryError(
            `refused to restore beneath ${JSON.stringify(dir)}: it is ${stats.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}, and writing beneath it would write through it`,
          );
        }
        // A shard run again (Step Functions retrying a Lambda that ended after its folder pass)
        // finds the modes its earlier run gave its folders, 0555 say: as any user but root it could
        // neither replace nor add a file there. The folder's mode is set again once its files are
        // written (by the shard that restores its entry, or by Finalize for an open one).
        if ((stats.mode & 0o700) !== 0o700) await this.io.chmod(abs, (stats.mode & 0o7777) | 0o700);
      }
      this.realDirs.add(dir);
    }
  }

  /** Creates a new file for writing and returns its descriptor (replacing a file a previous attempt left). */
  async createFile(rel: string): Promise<number> {
    await this.ensureDir(parentOf(rel));
    const abs = this.absolute(rel);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    try {
      return await this.io.open(abs, flags, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      await this.removeLeftover(rel, abs);
      return this.io.open(abs, flags, 0o600);
    }
  }

  /**
   * Opens for writing, without truncating, the file an earlier invocation of this restore was
   * writing, if it is still that file as it left it (its size, times and inode): a
   * restore that stopped in the middle of a large file goes on there. Undefined otherwise (the
   * caller starts the file again with createFile, which replaces it).
   */
  async openUnchanged(rel: string, left: FileIdentity): Promise<number | undefined> {
    await this.ensureDir(parentOf(rel));
    let fd: number;
    try {
      fd = await this.io.open(this.absolute(rel), constants.O_WRONLY | constants.O_NOFOLLOW);
    } catch (error) {
      // Gone, a link in its place (ELOOP), or finished by an attempt that then failed (its mode
      // set, read-only for all but root): start again; createFile replaces whatever is there.
      if (
        ['ENOENT', 'ELOOP', 'EISDIR', 'EACCES', 'EPERM'].includes((error as NodeJS.ErrnoException).code ?? '')
      )
        return undefined;
      throw error;
    }
    const now = await this.io.fstatBig(fd);
    if (now.isFile() && sameIdentity(now, left)) return fd;
    await this.io.close(fd);
    return undefined;
  }

  /** Creates a symbolic link (its target is data: the link is never followed by the restore). */
  async createSymlink(rel: string, target: string): Promise<void> {
    await this.ensureDir(parentOf(rel));
    const abs = this.absolute(rel);
    try {
      await fs.symlink(target, abs);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      await this.removeLeftover(rel, abs);
      await fs.symlink(target, abs);
    }
  }

  /** Removes a file or link an earlier attempt left at `rel` (a restore with skipLost leaves no partial file). */
  async removeFile(rel: string): Promise<void> {
    // Its folder may have kept the read-only mode an earlier run gave it.
    await this.ensureDir(parentOf(rel));
    const abs = this.absolute(rel);
    try {
      await this.removeLeftover(rel, abs);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  /** A re-run shard finds what its earlier attempt wrote: a file or a link is replaced, a folder is not. */
  private async removeLeftover(rel: string, abs: string): Promise<void> {
    const stats = await fs.lstat(abs);
    if (stats.isDirectory()) {
      throw new UnsafeEntryError(
        `refused to restore ${JSON.stringify(rel)}: a directory of that name was restored already`,
      );
    }
    // unlink removes a link itself, never what it points to.
    await fs.unlink(abs);
  }
}

/**
 * The time argument fs.utimes takes for nanoseconds as decimal text: seconds (a double, so about
 * a microsecond of precision), or a Date before 1970, because Node.js replaces a negative number
 * of seconds by "now" (a Date keeps its sign, to the millisecond).
 */
export function secondsOf(mtimeNs: string): number | Date {
  const ns = BigInt(mtimeNs);
  if (ns < 0n) return new Date(Number(ns / 1_000_000n));
  return Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
}

/** Sets a directory's mode and mtime (after everything beneath it was written). */
export async function applyDirMetadata(
  abs: string,
  mode: number,
  mtimeNs: string,
  io: FileIo = fsx.ASYNC_IO,
): Promise<void> {
  await io.chmod(abs, mode);
  await io.utimes(abs, secondsOf(mtimeNs));
}

/**
 * Removes a restored tree whatever modes the restore gave its folders. A folder without write
 * permission for its owner (a read-only `osgi/configs`, restored exactly) keeps every user but root
 * from removing what it holds: the EFS access point's user, a `liferay` user. Its folders are made
 * writable by their owner first, when a plain removal is refused.
 */
export async function removeRestoredTree(dir: string): Promise<void> {
  try {
    await fs.rm(dir, { recursive: true, force: true });
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw error;
  }
  await makeFoldersWritable(dir);
  await fs.rm(dir, { recursive: true, force: true });
}

async function makeFoldersWritable(dir: string): Promise<void> {
  const stats = await fs.lstat(dir);
  if (!stats.isDirectory()) return;
  // Before the listing: a folder without read or search permission cannot be listed either.
  if ((stats.mode & 0o700) !== 0o700) await fs.chmod(dir, (stats.mode & 0o7777) | 0o700);
  for (const entry of await fs.readdir(dir, { withFileTypes: true }))
    if (entry.isDirectory()) await makeFoldersWritable(path.join(dir, entry.name));
}
