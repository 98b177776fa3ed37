import { lambdaHandler } from '#runtime/lambda.ts';
import { checkRestore } from '../restore.ts';

/** Lambda entry of database-check-restore. */
export const handler = lambdaHandler(checkRestore);
