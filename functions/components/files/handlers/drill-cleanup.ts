import { lambdaHandler } from '#runtime/lambda.ts';
import { drillCleanup } from '../drill-scratch.ts';

/** Lambda entry of the files engine's `files-drill-cleanup` task (restore drill into scratch; liferayHome and appServer). */
export const handler = lambdaHandler(drillCleanup);
