import * as z from 'zod';
import { lambdaHandler } from '#runtime/lambda.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseInput } from '#runtime/validate.ts';
import { redactEndpoint } from '../engine-errors.ts';
import type { PreparedRepository } from '../records.ts';
import { prepareRepository } from '../repository.ts';
import { backupRefSchema, restoreRefSchema, s3Repository, searchRuntime } from './context.ts';

const eventSchema = z.union([
  z.object({ mode: z.literal('backup'), backup: backupRefSchema }),
  z.object({ mode: z.literal('restore'), restore: restoreRefSchema }),
]);

/**
 * `search-prepare-repository`, first task of both search branches: reads the engine's version and
 * registers (idempotently) or finds the snapshot repository, then verifies it. The only search
 * function allowed to pass the snapshot role to Amazon OpenSearch Service.
 * Event: `{mode: "backup", backup}` or `{mode: "restore", restore}`. Returns PreparedRepository.
 */
export async function prepareSearchRepository(event: unknown, rt: Runtime): Promise<PreparedRepository> {
  const input = parseInput(eventSchema, event, 'search prepare event');
  const { settings, engine } = await searchRuntime(rt);
  const info = await engine.info();
  const prepared = await prepareRepository(
    engine,
    info,
    { name: settings.repository.name, s3: s3Repository(settings) },
    input.mode,
  );
  rt.logger.info('search repository ready', {
    repository: prepared.record.name,
    location: prepared.record.location,
    registration: prepared.registration,
    engine: `${info.distribution} ${info.version}`,
  });
  return {
    engine: {
      kind: settings.engine,
      distribution: info.distribution,
      version: info.version,
      clusterName: info.clusterName,
      endpoint: redactEndpoint(settings.endpoint),
    },
    repository: prepared.record,
    registration: prepared.registration,
    warnings: prepared.warnings,
  };
}

export const handler = lambdaHandler(prepareSearchRepository);
