import { lambdaHandler } from '#runtime/lambda.ts';
import { checkBackup } from '../backup.ts';

/** Lambda entry of database-check-backup. */
export const handler = lambdaHandler(checkBackup);
