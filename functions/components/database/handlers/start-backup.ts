import { lambdaHandler } from '#runtime/lambda.ts';
import { startBackup } from '../backup.ts';

/** Lambda entry of database-start-backup. */
export const handler = lambdaHandler(startBackup);
