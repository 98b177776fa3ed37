import { lambdaHandler } from '#runtime/lambda.ts';
import { verifyIndexPart } from '../verify.ts';

/** Lambda entry of the files engine's `files-verify-part` task (the restore drill; liferayHome and appServer). */
export const handler = lambdaHandler(verifyIndexPart);
