import { lambdaHandler } from '#runtime/lambda.ts';
import { verifyComponent } from './verify.ts';

/** Lambda entry: Verify one component of a backup set. */
export const handler = lambdaHandler(verifyComponent);
