import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const work = mkdtempSync(path.join(tmpdir(), 'bench-plan-cpu-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const planCpu = (tree: string) =>
  spawnSync(path.join(ROOT, 'node_modules/.bin/tsx'), [path.join(ROOT, 'bench/plan-cpu.ts'), tree], {
    cwd: ROOT,
    encoding: 'utf8',
  });

/**
 * bench/plan-cpu.ts gives the scale simulation its Plan CPU per entry: it must walk what Plan walks
 * (the Liferay Home's rules: osgi/state is a cache left out), in both modes, and say so.
 */
describe('bench/plan-cpu.ts', () => {
  it("walks a tree with Plan's rules, asynchronously and synchronously, and prints the CPU per entry", () => {
    const home = path.join(work, 'home');
    mkdirSync(path.join(home, 'osgi/state'), { recursive: true });
    writeFileSync(path.join(home, 'osgi/state/bundle.cache'), 'rebuilt by Liferay');
    writeFileSync(path.join(home, 'portal-ext.properties'), 'a=b\n');
    for (const folder of ['a', 'b', 'c', 'd', 'e']) {
      mkdirSync(path.join(home, 'data/document_library', folder), { recursive: true });
      for (const version of ['1.0', '1.1', '1.2', '2.0'])
        writeFileSync(path.join(home, 'data/document_library', folder, version), `${folder} ${version}`);
    }
    const result = planCpu(home);
    expect(result.status, result.stderr).toBe(0);
    // portal-ext.properties, osgi, data, document_library, 5 folders and their 20 versions.
    const lines = result.stdout.trim().split('\n');
    expect(lines[1]).toMatch(/^asynchronous walk \(29 entries, 1 shard\(s\)\): \d+\.\d µs of CPU per entry/);
    expect(lines[2]).toMatch(
      /^synchronous walk {2}\(29 entries, 1 shard\(s\)\): \d+\.\d µs of CPU per entry/,
    );
  }, 60_000);

  it('names the missing tree', () => {
    const result = planCpu(path.join(work, 'nowhere'));
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${path.join(work, 'nowhere')} does not exist`);
  });
});
