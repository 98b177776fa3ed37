import { lambdaHandler } from '#runtime/lambda.ts';
import { planVerify } from '../verify.ts';

/** Lambda entry of the files engine's `files-plan-verify` task (the restore drill; liferayHome and appServer). */
export const handler = lambdaHandler(planVerify);
