import { lambdaHandler } from '#runtime/lambda.ts';
import { copyShard } from '../copy-shard.ts';

/** Lambda entry of the files engine's `files-copy-shard` task (liferayHome and appServer). */
export const handler = lambdaHandler(copyShard);
