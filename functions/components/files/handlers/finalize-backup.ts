import { lambdaHandler } from '#runtime/lambda.ts';
import { finalizeBackup } from '../backup-finalize.ts';

/** Lambda entry of the files engine's `files-finalize-backup` task (liferayHome and appServer). */
export const handler = lambdaHandler(finalizeBackup);
