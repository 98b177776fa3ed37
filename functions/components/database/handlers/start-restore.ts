import { lambdaHandler } from '#runtime/lambda.ts';
import { startRestore } from '../restore.ts';

/** Lambda entry of database-start-restore. */
export const handler = lambdaHandler(startRestore);
