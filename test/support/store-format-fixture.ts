import { createHash } from 'node:crypto';
import { chmod, lutimes, mkdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * The tiny Liferay Home (with its Tomcat inside, as a DXP bundle has it) that the store format
 * fixtures under test/fixtures/store-format-* were backed up from, written again byte for byte,
 * mode for mode and mtime for mtime from a fixed seed: the fixture test restores every set and
 * compares it with the generation it was taken of, and builds generation 3 on top of the stored
 * sets. scripts/make-format-fixture.ts writes the fixtures from generations 1 and 2.
 *
 * Its own small tree, not the demo's sample (functions/local/sample-home.ts, 4 MiB): a change to
 * the sample must not change what the committed fixtures are compared with.
 */

export type FormatGeneration = 1 | 2 | 3;

/** Where the tree's Tomcat is, inside the Liferay Home. */
export const FORMAT_TREE_APP_SERVER = 'tomcat-9.0.83';

const SEED = 'liferay-backup-store-format-1';
/** 2024-05-01T08:00:00Z: every entry's mtime is this plus a few minutes (one entry is before 1970). */
const BASE = 1_714_550_400;

interface Entry {
  readonly path: string;
  readonly kind: 'file' | 'symlink' | 'dir';
  readonly mode?: number;
  readonly mtime: number;
  readonly content?: Buffer;
  readonly target?: string;
}

/** Bytes that look random (they do not compress), the same for the same name on every run. */
function noise(name: string, size: number): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0; blocks.length * 32 < size; i += 1)
    blocks.push(createHash('sha256').update(`${SEED}:${name}:${i}`).digest());
  return Buffer.concat(blocks).subarray(0, size);
}

const text = (value: string) => Buffer.from(value, 'utf8');
/** Node.js takes a negative number of seconds for "now": a time before 1970 is given as a Date. */
const at = (seconds: number) => new Date(seconds * 1000);

function entries(generation: FormatGeneration): Entry[] {
  const t = (minutes: number) => BASE + minutes * 60;
  const dl = 'data/document_library/20101/20121';
  const list: Entry[] = [
    { path: '.liferay-version', kind: 'file', mtime: t(1), content: text('2024.q1.1\n') },
    {
      path: 'portal-ext.properties',
      kind: 'file',
      mtime: generation === 1 ? t(2) : t(90),
      content: text(
        `jdbc.default.driverClassName=org.mariadb.jdbc.Driver\njdbc.default.url=jdbc:mariadb://db/lportal\n${
          generation === 1 ? '' : 'company.default.locale=de_DE\n'
        }`,
      ),
    },
    {
      path: 'portal-setup-wizard.properties',
      kind: 'file',
      mode: 0o600,
      mtime: t(3),
      content: text('setup.wizard.enabled=false\nadmin.email.from.address=test@liferay.com\n'),
    },
    {
      path: 'osgi/configs/com.liferay.portal.store.file.system.configuration.FileSystemStoreConfiguration.config',
      kind: 'file',
      mtime: t(4),
      content: text('rootDir="data/document_library"\n'),
    },
    {
      path: 'osgi/modules/com.example.blog.web-1.0.0.jar',
      kind: 'file',
      mtime: t(5),
      content: noise('jar', 3000),
    },
    // An empty file (stored as nothing), a name outside ASCII, a mode without write bits.
    { path: `${dl}/empty.txt`, kind: 'file', mtime: t(6), content: Buffer.alloc(0) },
    { path: `${dl}/Grüße 1.0`, kind: 'file', mode: 0o444, mtime: t(7), content: noise('dl-1', 9000) },
    { path: `${dl}/34501/1.0`, kind: 'file', mtime: t(8), content: noise('dl-2', 12_000) },
    // Copies of one content: stored once.
    { path: `${dl}/34502/1.0`, kind: 'file', mtime: t(9), content: noise('dl-2', 12_000) },
    // Before 1970: a negative time in the index.
    { path: 'data/license/old.li', kind: 'file', mtime: -86_400 * 400, content: text('<license/>\n') },
    { path: 'data/private', kind: 'dir', mode: 0o700, mtime: t(10) },
    {
      path: `${FORMAT_TREE_APP_SERVER}/bin/catalina.sh`,
      kind: 'file',
      mode: 0o755,
      mtime: t(11),
      content: text('#!/bin/sh\nexec java "$@"\n'),
    },
    {
      path: `${FORMAT_TREE_APP_SERVER}/conf/server.xml`,
      kind: 'file',
      mtime: t(12),
      content: text('<Server port="8005" shutdown="SHUTDOWN"><Service name="Catalina"/></Server>\n'),
    },
    {
      path: `${FORMAT_TREE_APP_SERVER}/lib/ext/portal-kernel.jar`,
      kind: 'file',
      mtime: t(13),
      content: noise('kernel', 6000),
    },
    { path: `${FORMAT_TREE_APP_SERVER}/lib/current`, kind: 'symlink', mtime: t(14), target: 'ext' },
    {
      path: `${FORMAT_TREE_APP_SERVER}/webapps/ROOT/WEB-INF/web.xml`,
      kind: 'file',
      mtime: t(15),
      content: text('<web-app version="4.0"/>\n'),
    },
    { path: 'data/document_library/link-to-dl', kind: 'symlink', mtime: t(16), target: '20101/20121' },
  ];
  if (generation >= 2) {
    // Changed content, a new file, a removed file, a changed mode, a changed mtime only.
    const changed = list
      .filter((entry) => entry.path !== `${dl}/34501/1.0`)
      .map((entry) => {
        if (entry.path === `${FORMAT_TREE_APP_SERVER}/bin/catalina.sh`) return { ...entry, mode: 0o700 };
        if (entry.path === `${FORMAT_TREE_APP_SERVER}/conf/server.xml`) return { ...entry, mtime: t(91) };
        return entry;
      });
    changed.push({ path: `${dl}/34503/1.0`, kind: 'file', mtime: t(92), content: noise('dl-3', 7000) });
    list.splice(0, list.length, ...changed);
  }
  if (generation >= 3) {
    list.push({ path: `${dl}/34504/1.0`, kind: 'file', mtime: t(120), content: noise('dl-4', 5000) });
    const web = list.findIndex((entry) => entry.path.endsWith('WEB-INF/web.xml'));
    list[web] = {
      ...list[web],
      mtime: t(121),
      content: text('<web-app version="4.0"><display-name>x</display-name></web-app>\n'),
    } as Entry;
  }
  return list;
}

/** The files whose content generation 3 adds or changes: what a backup on top of generation 2 uploads. */
export const GENERATION_3_UPLOADS = { liferayHome: 1, appServer: 1 } as const;

/**
 * Writes the tree of one generation into `dir` (removed first). Modes are set explicitly (the
 * umask does not decide them), folders' mtimes last, deepest first.
 */
export async function writeFormatTree(dir: string, generation: FormatGeneration): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const folders = new Map<string, { mode: number; mtime: number }>();
  const noteParents = (path: string, mtime: number) => {
    for (let parent = dirname(path); parent !== '.'; parent = dirname(parent)) {
      const known = folders.get(parent);
      folders.set(parent, { mode: known?.mode ?? 0o755, mtime: Math.max(known?.mtime ?? 0, mtime + 60) });
    }
  };
  for (const entry of entries(generation)) {
    const absolute = join(dir, entry.path);
    noteParents(entry.path, entry.mtime);
    if (entry.kind === 'dir') {
      await mkdir(absolute, { recursive: true });
      const known = folders.get(entry.path);
      folders.set(entry.path, { mode: entry.mode ?? 0o755, mtime: Math.max(known?.mtime ?? 0, entry.mtime) });
      continue;
    }
    await mkdir(dirname(absolute), { recursive: true });
    if (entry.kind === 'symlink') {
      await symlink(entry.target as string, absolute);
      await lutimes(absolute, at(entry.mtime), at(entry.mtime));
      continue;
    }
    await writeFile(absolute, entry.content ?? Buffer.alloc(0));
    await chmod(absolute, entry.mode ?? 0o644);
    await utimes(absolute, at(entry.mtime), at(entry.mtime));
  }
  const deepestFirst = [...folders].sort((a, b) => b[0].split('/').length - a[0].split('/').length);
  for (const [path, { mode, mtime }] of deepestFirst) {
    await chmod(join(dir, path), mode);
    await utimes(join(dir, path), at(mtime), at(mtime));
  }
  await chmod(dir, 0o755);
  await utimes(dir, at(BASE + 3600), at(BASE + 3600));
}
