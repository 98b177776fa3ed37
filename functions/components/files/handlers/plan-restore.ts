import { lambdaHandler } from '#runtime/lambda.ts';
import { planRestore } from '../restore-plan.ts';

/** Lambda entry of the files engine's `files-plan-restore` task (liferayHome and appServer). */
export const handler = lambdaHandler(planRestore);
