import { lambdaHandler } from '#runtime/lambda.ts';
import { markSet } from './garbage-collection.ts';

/** Lambda entry: Mark the content one kept set references. */
export const handler = lambdaHandler(markSet);
