import { lambdaHandler } from '#runtime/lambda.ts';
import { beginVerify } from './verify.ts';

/** Lambda entry: Resolve the set a restore drill verifies. */
export const handler = lambdaHandler(beginVerify);
