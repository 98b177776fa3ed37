import { tmpdir } from 'node:os';
import { type HostProcess, thisProcess } from '#runtime/host-process.ts';
import { createLogger } from '#runtime/logger.ts';
import { discardMetrics, type MetricsSink } from '#runtime/metrics.ts';
import type { Runtime } from '#runtime/runtime.ts';
import type { Settings } from '#runtime/settings.ts';
import type { ContentStore } from '#store/content-store.ts';

export interface LocalRuntimeOptions {
  readonly store: ContentStore;
  readonly settings: Settings;
  readonly scratchDir?: string;
  readonly progress?: (message: string) => void;
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  readonly now?: () => Date;
  readonly metrics?: MetricsSink;
  /** @default this process, where Linux tells it */
  readonly process?: HostProcess;
}

/** The runtime of the CLI and the tests: a store of their choosing and settings from flags. */
export function localRuntime(options: LocalRuntimeOptions): Runtime {
  const process = options.process ?? thisProcess();
  return {
    store: options.store,
    settings: options.settings,
    logger: createLogger({ logLevel: options.logLevel ?? 'SILENT' }),
    now: options.now ?? (() => new Date()),
    scratchDir: options.scratchDir ?? tmpdir(),
    progress: options.progress ?? (() => undefined),
    metrics: options.metrics ?? discardMetrics,
    ...(process ? { process } : {}),
  };
}
