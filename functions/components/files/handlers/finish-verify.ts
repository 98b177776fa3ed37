import { lambdaHandler } from '#runtime/lambda.ts';
import { finishVerify } from '../verify.ts';

/** Lambda entry of the files engine's `files-finish-verify` task (the restore drill; liferayHome and appServer). */
export const handler = lambdaHandler(finishVerify);
