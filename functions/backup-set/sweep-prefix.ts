import { lambdaHandler } from '#runtime/lambda.ts';
import { sweepPrefix } from './garbage-collection.ts';

/** Lambda entry: Collect unreferenced content under one prefix. */
export const handler = lambdaHandler(sweepPrefix);
