import { lambdaHandler } from '#runtime/lambda.ts';
import { planBackup } from '../backup-plan.ts';

/** Lambda entry of the files engine's `files-plan-backup` task (liferayHome and appServer). */
export const handler = lambdaHandler(planBackup);
