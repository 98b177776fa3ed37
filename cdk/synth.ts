import { App } from 'aws-cdk-lib';
import { parseConfig } from './config.ts';
import { InlineFunctionFactory } from './lambda-function.ts';
import { LiferayBackupStack } from './liferay-backup-stack.ts';

/**
 * Synthesizes the stack's template in memory, without bundling (inline placeholder code): what
 * the definition extraction and the template tests need. `cdk synth` still bundles for real.
 */
export function synthTemplate(rawConfig: unknown): Record<string, unknown> {
  const app = new App();
  const config = parseConfig(rawConfig);
  const stack = new LiferayBackupStack(app, 'LiferayBackup', {
    config,
    env: { account: '111111111111', region: 'eu-west-1' },
    functionFactory: (options) => new InlineFunctionFactory(options),
  });
  return app.synth().getStackByName(stack.stackName).template as Record<string, unknown>;
}
