import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import type { Settings } from '#runtime/settings.ts';
import { BackupStore } from './backup-store.ts';
import { CaptureHooks } from './capture-hooks.ts';
import type { WorkflowComponent } from './components/component.ts';
import { databaseValidateSettings } from './components/database.ts';
import { drillScratchRoot } from './components/files.ts';
import { CDK_COMPONENTS } from './components/registry.ts';
import { sourceValidateSettings } from './components/source.ts';
import { enabledComponents, type LiferayBackupConfig } from './config.ts';
import { BundledFunctionFactory, type FunctionFactory } from './lambda-function.ts';
import { Monitoring } from './monitoring.ts';
import { acknowledgeFunctionBaseline, acknowledgeWildcards, STACK_WIDE_REASONS } from './nag.ts';
import { pascalCase } from './names.ts';
import { Network } from './network.ts';
import { Notifications } from './notifications.ts';
import { Retention } from './retention.ts';
import { Schedules } from './schedules.ts';
import { allowDescribeExecutions, Workflows } from './workflows.ts';

export interface LiferayBackupStackProps extends StackProps {
  readonly config: LiferayBackupConfig;
  /**
   * Builds the Lambdas. Tests that only inspect the template pass the inline factory.
   * @default bundled with the locally installed esbuild
   */
  readonly functionFactory?: (options: {
    logRetentionDays: logs.RetentionDays;
    environment: Record<string, string>;
  }) => FunctionFactory;
}

/** The whole deployment: store, functions, workflows, schedules, notifications. */
export class LiferayBackupStack extends Stack {
  readonly store: BackupStore;
  readonly workflows: Workflows;
  readonly notifications: Notifications;
  readonly monitoring: Monitoring;
  readonly retention: Retention;

  constructor(scope: Construct, id: string, props: LiferayBackupStackProps) {
    super(scope, id, props);
    const { config } = props;
    const logRetentionDays = config.logRetentionDays as logs.RetentionDays;
    const factory = (props.functionFactory ?? ((options) => new BundledFunctionFactory(options)))({
      logRetentionDays,
      environment: {},
    });

    this.store = new BackupStore(this, 'Store', {
      objectLockEnabled: config.objectLockEnabled,
      ...(config.objectLock ? { objectLock: config.objectLock } : {}),
    });
    const network = config.network ? new Network(this, 'Network', config.network) : undefined;
    const enabled = enabledComponents(config);
    const scratchRoot = drillScratchRoot(config);
    const baseSettings: Settings = {
      environment: config.environment,
      // Longer than the workflow may run, so only a dead run's lock is ever taken over.
      lockTimeoutMinutes: config.backupTimeoutHours * 60 + 60,
      configuredComponents: enabled,
      components: {},
      verify: scratchRoot ? { scratchRoot } : {},
      ...(config.hooks ? { hooks: config.hooks } : {}),
      retention: {
        policy: config.retention.policy,
        graceHours: config.retention.graceHours,
        ...(config.objectLock ? { objectLockDays: config.objectLock.days } : {}),
      },
    };
    const settingsEnvironment = (settings: Settings) => ({
      LIFERAY_BACKUP_SETTINGS: JSON.stringify(settings),
    });

    const backupSet = new Construct(this, 'BackupSet');
    const createBackupSetFunction = (
      fnId: string,
      handlerId: string,
      description: string,
      settings: Settings = baseSettings,
    ): lambda.Function => {
      const fn = factory.create(backupSet, fnId, {
        handlerId,
        entry: `functions/backup-set/${handlerId}.ts`,
        description,
        environment: settingsEnvironment(settings),
      });
      this.store.bind(fn);
      return fn;
    };
    const beginBackup = createBackupSetFunction(
      'BeginBackup',
      'begin-backup',
      'Begin a backup set: id, lock, running manifest',
    );
    this.store.grantReadWrite(beginBackup, 'backups/*', 'locks/*');
    // Begin gives the lock back when it fails after taking it (writing the running manifest).
    this.store.grantDelete(beginBackup, 'locks/*');
    this.store.grantRead(beginBackup, 'pointers/*');
    const commitBackup = createBackupSetFunction(
      'CommitBackup',
      'commit-backup',
      'Commit a backup set: final manifest, latest, unlock',
    );
    this.store.grantReadWrite(commitBackup, 'backups/*', 'pointers/*', 'locks/*', 'work/*');
    this.store.grantDelete(commitBackup, 'locks/*', 'work/*');
    // Validate refuses a source target's credentials outside restoreCredentialsPath before anything
    // is pushed: it gets that path (names only; no other source setting, no SSM grant). It refuses a
    // database set this deployment's database mode or engine cannot restore: it gets the database
    // settings (names and identifiers, no secret; no RDS or SSM grant).
    const validateRestore = createBackupSetFunction(
      'ValidateRestore',
      'validate-restore',
      'Validate a restore request against its manifest',
      {
        ...baseSettings,
        components: {
          ...(enabled.includes('source') ? { source: sourceValidateSettings(config) } : {}),
          ...(enabled.includes('database') ? { database: databaseValidateSettings(config) } : {}),
        },
      },
    );
    this.store.grantRead(validateRestore, 'backups/*', 'pointers/*');
    // One lock per live target a restore writes (restore-lock.ts): Validate takes them, or takes
    // over one whose run has ended, and gives back what it took when it refuses.
    this.store.grantReadWrite(validateRestore, 'backups/*/restores/*', 'locks/restores/*');
    this.store.grantDelete(validateRestore, 'locks/restores/*');
    const reportRestore = createBackupSetFunction(
      'ReportRestore',
      'report-restore',
      'Write the restore report',
    );
    this.store.grantReadWrite(reportRestore, 'backups/*/restores/*');
    // Report gives the target locks back once the report is written.
    this.store.grantRead(reportRestore, 'locks/restores/*');
    this.store.grantDelete(reportRestore, 'locks/restores/*');
    const checkBackupAge = createBackupSetFunction(
      'CheckBackupAge',
      'check-backup-age',
      'Publish the age of the newest complete set and of each component',
    );
    this.store.grantRead(checkBackupAge, 'pointers/*', 'backups/*');

    const components: WorkflowComponent[] = CDK_COMPONENTS.filter((definition) =>
      enabled.includes(definition.name),
    ).map((definition) => {
      const settings = settingsEnvironment({
        ...baseSettings,
        components: { [definition.name]: definition.settings(config) },
      });
      return definition.create(new Construct(this, pascalCase(definition.name)), {
        config,
        store: this.store,
        network,
        createFunction: (fnScope, fnId, fnProps) => {
          const fn = factory.create(fnScope, fnId, {
            ...fnProps,
            environment: { ...settings, ...fnProps.environment },
          });
          this.store.bind(fn);
          return fn;
        },
      });
    });

    const hooks = new CaptureHooks(this, 'CaptureHooks', {
      hooks: config.hooks,
      createFunction: (fnScope, fnId, fnProps) => {
        const fn = factory.create(fnScope, fnId, {
          ...fnProps,
          environment: settingsEnvironment(baseSettings),
        });
        return fn;
      },
    });

    const beginVerify = createBackupSetFunction('BeginVerify', 'begin-verify', 'Begin a restore drill');
    this.store.grantRead(beginVerify, 'backups/*', 'pointers/*');
    this.store.grantReadWrite(beginVerify, 'backups/*/verifications/*');
    const reportVerify = createBackupSetFunction(
      'ReportVerify',
      'report-verify',
      'Write the verification report',
    );
    this.store.grantReadWrite(reportVerify, 'backups/*/verifications/*');
    this.store.grantDelete(reportVerify, 'work/*');
    const verifiers = new Construct(this, 'Verifiers');
    // Drills and retention reach what the components reach (a database, a search domain in the VPC).
    const inVpc = network
      ? { vpc: network.vpc, vpcSubnets: network.subnets, securityGroups: [network.securityGroup] }
      : {};
    const verifyComponent = (name: (typeof enabled)[number]) => {
      const definition = CDK_COMPONENTS.find((d) => d.name === name);
      const component = components.find((c) => c.name === name);
      const fn = factory.create(verifiers, `Verify${pascalCase(name)}`, {
        handlerId: 'verify-component',
        entry: 'functions/backup-set/verify-component.ts',
        description: `Verify the ${name} of a backup set (restore drill)`,
        timeout: Duration.minutes(15),
        memorySize: 1024,
        ...inVpc,
        environment: settingsEnvironment({
          ...baseSettings,
          components: definition ? { [name]: definition.settings(config) } : {},
        }),
      });
      this.store.bind(fn);
      this.store.grantRead(fn, 'backups/*', 'objects/*', 'dumps/*');
      component?.grantVerify?.(fn);
      return fn;
    };

    this.workflows = new Workflows(this, 'Workflows', {
      beginVerify,
      reportVerify,
      verifyComponent,
      components,
      runHook: hooks.runHook,
      checkHook: hooks.checkHook,
      beginBackup,
      commitBackup,
      validateRestore,
      reportRestore,
      backupTimeout: Duration.hours(config.backupTimeoutHours),
      logRetentionDays,
    });
    // Begin asks whether the Backup execution holding the lock has ended, to take over the lock of
    // an execution stopped in the console at once.
    allowDescribeExecutions(
      backupSet,
      'BeginBackupReadsBackupExecutions',
      beginBackup,
      this.workflows.backup,
    );
    // Validate asks whether the Restore execution holding a target's lock has ended, likewise.
    allowDescribeExecutions(
      backupSet,
      'ValidateRestoreReadsRestoreExecutions',
      validateRestore,
      this.workflows.restore,
    );
    new Schedules(this, 'Schedules', {
      schedules: config.schedules,
      enabledComponents: enabled,
      backup: this.workflows.backup,
    });
    this.retention = new Retention(this, 'Retention', {
      store: this.store,
      components,
      schedule: config.retention.schedule,
      logRetentionDays,
      createFunction: (fnScope, fnId, fnProps) => {
        // Retention runs every component's hooks: it gets every component's settings.
        const all: Settings = {
          ...baseSettings,
          components: Object.fromEntries(
            CDK_COMPONENTS.filter((d) => enabled.includes(d.name)).map((d) => [d.name, d.settings(config)]),
          ),
        };
        const fn = factory.create(fnScope, fnId, {
          ...fnProps,
          ...inVpc,
          environment: settingsEnvironment(all),
        });
        this.store.bind(fn);
        return fn;
      },
    });

    this.notifications = new Notifications(this, 'Notifications', {
      ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}),
      environment: config.environment,
      stateMachines: [
        this.workflows.backup,
        this.workflows.restore,
        this.workflows.verify,
        this.retention.stateMachine,
      ],
    });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      otherWorkflows: { Retention: this.retention.stateMachine, Verify: this.workflows.verify },
      environment: config.environment,
      components: enabled,
      backup: this.workflows.backup,
      restore: this.workflows.restore,
      topic: this.notifications.topic,
      checkBackupAge,
      rpoHours: config.rpoHours,
      componentRpoHours: config.componentRpoHours,
    });

    // Stack-wide cdk-nag acknowledgements (each with its reason, cdk/nag.ts); last, so every role exists.
    acknowledgeWildcards(this, STACK_WIDE_REASONS);
    acknowledgeFunctionBaseline(this);

    if (config.verify.schedule) {
      new scheduler.Schedule(this, 'RestoreDrill', {
        description: 'liferay-backup: restore drill of the latest complete set',
        schedule: scheduler.ScheduleExpression.expression(config.verify.schedule),
        target: new targets.StepFunctionsStartExecution(this.workflows.verify, {
          input: scheduler.ScheduleTargetInput.fromObject({ backupId: 'latest', requestedBy: 'schedule' }),
          retryAttempts: 3,
        }),
      });
    }

    new CfnOutput(this, 'BucketName', {
      value: this.store.bucket.bucketName,
      description: 'The backup store',
    });
    new CfnOutput(this, 'BackupStateMachineArn', { value: this.workflows.backup.stateMachineArn });
    new CfnOutput(this, 'RestoreStateMachineArn', { value: this.workflows.restore.stateMachineArn });
    new CfnOutput(this, 'VerifyStateMachineArn', { value: this.workflows.verify.stateMachineArn });
    new CfnOutput(this, 'RetentionStateMachineArn', { value: this.retention.stateMachine.stateMachineArn });
    new CfnOutput(this, 'NotificationTopicArn', { value: this.notifications.topic.topicArn });
  }
}
