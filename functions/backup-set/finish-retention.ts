import { lambdaHandler } from '#runtime/lambda.ts';
import { finishRetention } from './retention.ts';

/** Lambda entry: Write the retention report, release the lock. */
export const handler = lambdaHandler(finishRetention);
