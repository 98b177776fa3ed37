import { lambdaHandler } from '#runtime/lambda.ts';
import { planRetention } from './retention.ts';

/** Lambda entry: Decide which backup sets retention deletes, write the report. */
export const handler = lambdaHandler(planRetention);
