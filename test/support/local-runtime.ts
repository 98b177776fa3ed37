import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { readManifest } from '#backup-set/manifest.ts';
import { filesRetention } from '#components/files/retention.ts';
import { localRuntime } from '#local/local-runtime.ts';
import type { HostProcess } from '#runtime/host-process.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';

/** A throwaway directory removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A runtime over the given store (a fresh local folder store by default) with these components' settings. */
export function testRuntime(options: {
  store?: ContentStore;
  components?: Record<string, unknown>;
  now?: () => Date;
  lockTimeoutMinutes?: number;
  /** The process a lock or a report records (default: this one). */
  process?: HostProcess;
}): Runtime {
  const components = options.components ?? {};
  const settings = parseSettings(
    {
      environment: 'test-env',
      lockTimeoutMinutes: options.lockTimeoutMinutes ?? 60,
      configuredComponents: Object.keys(components),
      components,
    },
    'test',
  );
  return localRuntime({
    store: options.store ?? new LocalFolderStore(tempDir('store').dir),
    settings,
    ...(options.now ? { now: options.now } : {}),
    ...(options.process ? { process: options.process } : {}),
  });
}

/** Every key in a store, for "nothing was written" assertions. */
export async function allKeys(store: ContentStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list('')) keys.push(object.key);
  return keys.sort();
}

/** What a set's Liferay Home references, as retention's mark reads it: its content under objects/ included. */
export async function liferayHomeReferences(store: ContentStore, backupId: string): Promise<string[]> {
  const result = (await readManifest(store, backupId)).results.liferayHome;
  if (!result) throw new Error(`set ${backupId} has no liferayHome result`);
  const keys: string[] = [];
  for await (const key of filesRetention.references?.({ backupId, result }, testRuntime({ store })) ?? [])
    keys.push(key);
  return keys;
}
