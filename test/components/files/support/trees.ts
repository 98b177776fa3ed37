import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Test trees for the files engine and a comparison that says what differs: type, mode, size,
 * content (sha256), mtime (to the microsecond, what utimes can set) and link targets.
 */

export interface TreeEntry {
  readonly type: 'file' | 'dir' | 'symlink';
  readonly mode: number;
  readonly size: number;
  readonly sha256?: string;
  readonly target?: string;
  readonly mtimeUs: bigint;
}

export function readTree(root: string): Map<string, TreeEntry> {
  const out = new Map<string, TreeEntry>();
  const visit = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir)) {
      const abs = path.join(dir, name);
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const stats = fs.lstatSync(abs, { bigint: true });
      const base = {
        mode: Number(stats.mode) & 0o7777,
        size: Number(stats.size),
        mtimeUs: stats.mtimeNs / 1000n,
      };
      if (stats.isSymbolicLink())
        out.set(relPath, { ...base, type: 'symlink', mode: 0, target: fs.readlinkSync(abs) });
      else if (stats.isDirectory()) {
        out.set(relPath, { ...base, type: 'dir', size: 0 });
        visit(abs, relPath);
      } else {
        const sha256 = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
        out.set(relPath, { ...base, type: 'file', sha256 });
      }
    }
  };
  visit(root, '');
  return out;
}

/** Differences between two trees, one line each (empty when identical). */
export function diffTrees(expected: Map<string, TreeEntry>, actual: Map<string, TreeEntry>): string[] {
  const problems: string[] = [];
  for (const [rel, want] of expected) {
    const got = actual.get(rel);
    if (!got) {
      problems.push(`missing: ${rel}`);
      continue;
    }
    for (const key of ['type', 'mode', 'size', 'sha256', 'target'] as const) {
      if (want[key] !== got[key])
        problems.push(`${rel}: ${key} ${String(got[key])}, expected ${String(want[key])}`);
    }
    const delta = want.mtimeUs - got.mtimeUs;
    if (want.type !== 'symlink' && (delta > 1n || delta < -1n))
      problems.push(`${rel}: mtime ${got.mtimeUs} µs, expected ${want.mtimeUs}`);
  }
  for (const rel of actual.keys()) if (!expected.has(rel)) problems.push(`unexpected: ${rel}`);
  return problems;
}

function write(root: string, rel: string, content: string | Buffer, mode = 0o644, mtime?: Date): void {
  const abs = path.join(root, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, content);
  fs.chmodSync(abs, mode);
  if (mtime) fs.utimesSync(abs, mtime, mtime);
}

/** Deterministic bytes (not compressible, unique per label). */
export function bytesFor(label: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(label).digest();
  for (let offset = 0; offset < size; offset += block.length) {
    block.copy(out, offset);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/**
 * A small Liferay Home with the awkward cases: empty files and folders, links (relative,
 * absolute, dangling, to a folder), unicode and spaces, a deep path, unusual modes, old mtimes,
 * small documents in many folders and a few files above the blob threshold.
 */
export function makeTrickyHome(
  root: string,
  options: { documents?: number; largeFiles?: number } = {},
): void {
  const old = new Date('2001-02-03T04:05:06.789Z');
  write(root, 'portal-ext.properties', 'jdbc.default.driverClassName=org.mariadb.jdbc.Driver\n', 0o600, old);
  write(root, '.liferay-home', '');
  write(root, 'data/empty-file', '');
  fs.mkdirSync(path.join(root, 'data/empty-dir'), { recursive: true });
  fs.mkdirSync(path.join(root, 'osgi/modules/empty'), { recursive: true });
  write(root, 'osgi/configs/com.liferay.x.config', 'enabled=B"true"\n');
  write(root, 'data/unicode/ünïcødé ✓ 日本語 😀.txt', 'unicode name');
  write(root, 'data/with space/and\\backslash', 'odd names');
  write(root, `data/deep/${Array.from({ length: 30 }, (_, i) => `level-${i}`).join('/')}/leaf.txt`, 'deep');
  write(root, 'data/exec.sh', '#!/bin/sh\necho hi\n', 0o755);
  write(root, 'data/readonly.txt', 'read only', 0o444);
  fs.symlinkSync('../portal-ext.properties', path.join(root, 'data/link-relative'));
  fs.symlinkSync('/etc/hostname', path.join(root, 'data/link-absolute'));
  fs.symlinkSync('does-not-exist', path.join(root, 'data/link-dangling'));
  fs.symlinkSync('unicode', path.join(root, 'data/link-to-dir'));
  for (let i = 0; i < (options.documents ?? 40); i += 1) {
    const folder = `data/document_library/20101/${20000 + (i % 5)}/${1000 + i}.pdf`;
    write(root, `${folder}/1.0`, bytesFor(`doc-${i}`, 100 + ((i * 7919) % 20_000)));
  }
  // The same document uploaded twice: identical bytes under another name.
  write(root, 'data/document_library/20101/20000/9999.pdf/1.0', bytesFor('doc-0', 100));
  for (let i = 0; i < (options.largeFiles ?? 2); i += 1) {
    write(root, `osgi/marketplace/app-${i}.lpkg`, bytesFor(`large-${i}`, 600_000 + i * 1000));
  }
  // Folder mtimes last: writing into a folder changes its mtime.
  for (const dir of ['data/empty-dir', 'osgi/modules/empty', 'data/unicode'])
    fs.utimesSync(path.join(root, dir), old, old);
  fs.chmodSync(path.join(root, 'data/empty-dir'), 0o750);
}
