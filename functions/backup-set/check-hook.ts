import { lambdaHandler } from '#runtime/lambda.ts';
import { checkHook } from './run-hook.ts';

/** Lambda entry of the SSM hook poll (its logic lives beside runHook). */
export const handler = lambdaHandler(checkHook);
