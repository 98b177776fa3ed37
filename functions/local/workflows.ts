import type { AslDefinition } from './template-definitions.ts';
import backup from './workflows/backup.asl.json' with { type: 'json' };
import restore from './workflows/restore.asl.json' with { type: 'json' };
import retention from './workflows/retention.asl.json' with { type: 'json' };
import verify from './workflows/verify.asl.json' with { type: 'json' };

/**
 * The synthesized Backup and Restore definitions, generated from the CDK stack by
 * `npm run workflows` and kept equal to the stack by test/local/workflow-definitions.test.ts.
 * Imported (not synthesized) so that a CLI run never starts the CDK.
 */
export const WORKFLOWS = {
  backup: backup as unknown as AslDefinition,
  restore: restore as unknown as AslDefinition,
  retention: retention as unknown as AslDefinition,
  verify: verify as unknown as AslDefinition,
} as const;
