import { lambdaHandler } from '#runtime/lambda.ts';
import { reportVerify } from './verify.ts';

/** Lambda entry: Write the verification report. */
export const handler = lambdaHandler(reportVerify);
