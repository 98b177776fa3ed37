import { lambdaHandler } from '#runtime/lambda.ts';
import { restoreShard } from '../restore-shard.ts';

/** Lambda entry of the files engine's `files-restore-shard` task (liferayHome and appServer). */
export const handler = lambdaHandler(restoreShard);
