import { lambdaHandler } from '#runtime/lambda.ts';
import { finalizeRestore } from '../restore-finalize.ts';

/** Lambda entry of the files engine's `files-finalize-restore` task (liferayHome and appServer). */
export const handler = lambdaHandler(finalizeRestore);
