import type { Logger } from '@aws-lambda-powertools/logger';
import type { ContentStore } from '#store/content-store.ts';
import type { HostProcess } from './host-process.ts';
import type { MetricsSink } from './metrics.ts';
import type { Settings } from './settings.ts';

/**
 * What a handler gets besides its event: the store, a logger, the validated settings and a clock.
 * Lambda builds it once per container from the environment (lambda.ts); the local runner builds it
 * from CLI flags. AWS control-plane clients are built by each component's adapter at module scope.
 */
export interface Runtime {
  readonly store: ContentStore;
  readonly logger: Logger;
  readonly settings: Settings;
  readonly now: () => Date;
  /** Where a handler may put scratch files (Lambda: /tmp). */
  readonly scratchDir: string;
  /** Progress for long work (the CLI shows it; Lambda logs it at debug level). */
  readonly progress: (message: string) => void;
  /** CloudWatch metrics on Lambda; discarded locally. */
  readonly metrics: MetricsSink;
  /**
   * The process the whole run lives in: the CLI's (host-process.ts). Locks and running reports
   * record it so that another run can tell the run ended (killed, its machine restarted). A
   * Lambda's process is not the run (the execution goes on in other functions): undefined there.
   */
  readonly process?: HostProcess;
}

/** A workflow task. The event is validated by the handler itself (it arrives from Step Functions). */
export type Handler = (event: unknown, runtime: Runtime) => Promise<unknown>;
