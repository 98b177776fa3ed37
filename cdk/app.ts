import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseConfig } from './config.ts';
import { LiferayBackupStack } from './liferay-backup-stack.ts';

const app = new App();
const config = parseConfig(app.node.tryGetContext('liferayBackup'));
new LiferayBackupStack(app, `LiferayBackup-${config.environment}`, {
  config,
  env: {
    account: config.account ?? process.env.CDK_DEFAULT_ACCOUNT,
    region: config.region ?? process.env.CDK_DEFAULT_REGION,
  },
  description: 'liferay-backup: scheduled, verified backups and restores of Liferay DXP',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
