import { lambdaHandler } from '#runtime/lambda.ts';
import { deleteSet } from './retention.ts';

/** Lambda entry: Delete one expired backup set. */
export const handler = lambdaHandler(deleteSet);
