import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import aslValidator from 'asl-validator';
import { App, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { definitionsFromTemplate } from '#local/template-definitions.ts';
import { MetricUnit, powertoolsMetricsSink } from '#runtime/metrics.ts';
import { parseConfig } from '../../cdk/config.ts';
import { InlineFunctionFactory } from '../../cdk/lambda-function.ts';
import { LiferayBackupStack } from '../../cdk/liferay-backup-stack.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** Every component on: the configuration local mode's definitions are built from. */
const FULL_CONFIG = JSON.parse(
  readFileSync(path.join(ROOT, 'functions/local/workflows/config.json'), 'utf8'),
) as Record<string, unknown>;
/** What an operator starts from. */
const CDK_JSON = JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as {
  context: { liferayBackup: unknown } & Record<string, unknown>;
};
const EXAMPLE_CONFIG = CDK_JSON.context.liferayBackup;
/** The feature flags `cdk synth` runs with (partition literals change how ARNs read). */
const FEATURE_FLAGS = Object.fromEntries(
  Object.entries(CDK_JSON.context).filter(([key]) => key.startsWith('@aws-cdk/')),
);

function build(rawConfig: unknown, withNag = false) {
  const app = new App({ context: FEATURE_FLAGS });
  const stack = new LiferayBackupStack(app, 'LiferayBackup', {
    config: parseConfig(rawConfig),
    env: { account: '111111111111', region: 'eu-west-1' },
    functionFactory: (options) => new InlineFunctionFactory(options),
  });
  if (withNag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, template: Template.fromStack(stack) };
}

describe('the stack', () => {
  let template: Template;
  beforeAll(() => {
    template = build(FULL_CONFIG).template;
  });

  it('keeps backups in a bucket encrypted with its own KMS key, versioned, private, TLS-only, with lifecycle rules', () => {
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      Description: 'Encrypts liferay-backup backup sets',
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() },
          },
        ],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 3 }, Status: 'Enabled' }),
          Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 30 }, Status: 'Enabled' }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:PutObject',
            Condition: {
              StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' },
              Null: { 's3:x-amz-server-side-encryption': 'false' },
            },
          }),
        ]),
      },
    });
  });

  it('turns Object Lock on with a default retention only when configured', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      ObjectLockEnabled: Match.absent(),
    });
    const locked = build({
      ...FULL_CONFIG,
      objectLockEnabled: true,
      objectLock: { mode: 'COMPLIANCE', days: 35 },
    }).template;
    locked.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 35 } },
      },
    });
  });

  it('runs every Lambda on arm64 Node.js 22 with JSON logs, its own log group and tracing', () => {
    const functions = template.findResources('AWS::Lambda::Function');
    expect(Object.keys(functions).length).toBeGreaterThan(5);
    for (const [id, fn] of Object.entries(functions)) {
      const props = (fn as { Properties: Record<string, unknown> }).Properties;
      expect(props.Runtime, id).toBe('nodejs22.x');
      expect(props.Architectures, id).toEqual(['arm64']);
      expect(props.LoggingConfig, id).toMatchObject({
        LogFormat: 'JSON',
        LogGroup: { Ref: expect.stringMatching(/LogGroup/) },
      });
      expect(props.TracingConfig, id).toEqual({ Mode: 'Active' });
      expect(
        (fn as { Metadata?: Record<string, unknown> }).Metadata?.['LiferayBackup:Handler'],
        id,
      ).toBeTypeOf('string');
    }
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });

  it('defines Standard Backup, Restore, Verify and Retention state machines with logging and tracing', () => {
    const machines = template.findResources('AWS::StepFunctions::StateMachine');
    expect(
      Object.values(machines)
        .map(
          (machine) => (machine as { Metadata: Record<string, string> }).Metadata['LiferayBackup:Workflow'],
        )
        .sort(),
    ).toEqual(['backup', 'restore', 'retention', 'verify']);
    template.allResourcesProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false, Destinations: Match.anyValue() },
    });
  });

  it('starts Backup from one EventBridge Scheduler schedule per configured schedule, with its name and components', () => {
    const schedules = (EXAMPLE_CONFIG as { schedules: { name: string }[] }).schedules;
    expect(schedules.length).toBeGreaterThan(0);
    const template = build({ ...FULL_CONFIG, schedules }).template;
    const created = template.findResources('AWS::Scheduler::Schedule');
    // One per configured schedule, plus the hourly age check and the daily retention.
    expect(Object.keys(created)).toHaveLength(schedules.length + 2);
    for (const schedule of schedules) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        Target: { Arn: Match.anyValue(), Input: Match.stringLikeRegexp(`"schedule":"${schedule.name}"`) },
      });
    }
  });

  it('sends failures to an encrypted SNS topic', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['aws.states'], detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'] } },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      TreatMissingData: 'breaching',
      Threshold: 26,
    });
  });

  it('alarms to the topic on every workflow failure, a partial set and the RPO, watching the metrics exactly as the functions emit them', () => {
    const alarms = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).map(
      ([id, alarm]): { id: string } & Record<string, unknown> => ({
        id,
        ...(alarm as { Properties: Record<string, unknown> }).Properties,
      }),
    );
    const byId = (prefix: string) => {
      const found = alarms.find((alarm) => new RegExp(`^Monitoring${prefix}[0-9A-F]{8}$`).test(alarm.id));
      if (!found) throw new Error(`no alarm ${prefix}`);
      expect(JSON.stringify(found.AlarmActions), prefix).toMatch(
        /^\[\{"Ref":"NotificationsTopic[0-9A-F]+"\}\]$/,
      );
      return found;
    };
    for (const workflow of ['Backup', 'Restore', 'Verify', 'Retention']) {
      // A failed execution publishes ExecutionsFailed alone: each series is filled with 0, or the sum
      // may have no value in that period, and missing data does not breach.
      const expression = (byId(`${workflow}DidNotSucceed`).Metrics as Array<{ Expression?: string }>).find(
        (metric) => metric.Expression,
      )?.Expression;
      expect(expression, workflow).toBe('FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)');
    }
    const partial = byId('BackupSetPartial');
    const rpo = byId('RecoveryPointObjective');
    expect(rpo).toMatchObject({
      TreatMissingData: 'breaching',
      Threshold: 26,
      MetricName: 'LatestCompleteBackupAge',
    });
    expect(partial).toMatchObject({ MetricName: 'BackupPartial', Threshold: 1 });
    // One per component: hourly database-only sets must not hide a nightly files backup that stopped.
    const componentRpo = byId('RecoveryPointObjectiveLiferayHome');
    expect(componentRpo).toMatchObject({
      TreatMissingData: 'breaching',
      Threshold: 26,
      MetricName: 'ComponentCompleteBackupAge',
    });
    for (const component of ['AppServer', 'Database', 'Search', 'Source'])
      byId(`RecoveryPointObjective${component}`);

    // What Powertools really writes (EMF) for these two metrics: the alarms must name the same
    // namespace and the same dimension set, or they watch a metric that never exists.
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      powertoolsMetricsSink().publish([
        ...['BackupPartial', 'LatestCompleteBackupAge'].map((name) => ({
          name,
          unit: MetricUnit.Count,
          value: 1,
          dimensions: { Environment: String(FULL_CONFIG.environment) },
        })),
        {
          name: 'ComponentCompleteBackupAge',
          unit: MetricUnit.Count,
          value: 1,
          dimensions: { Environment: String(FULL_CONFIG.environment), Component: 'liferayHome' },
        },
      ]);
    } finally {
      spy.mockRestore();
    }
    const emitted = lines
      .flatMap((line) => line.split('\n'))
      .filter((line) => line.startsWith('{'))
      .map(
        (line) =>
          JSON.parse(line) as {
            _aws: {
              CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
            };
          } & Record<string, unknown>,
      );
    expect(emitted).toHaveLength(3);
    for (const alarm of [partial, rpo, componentRpo]) {
      const record = emitted.find(
        (emf) => emf._aws.CloudWatchMetrics[0]?.Metrics[0]?.Name === alarm.MetricName,
      );
      const directive = record?._aws.CloudWatchMetrics[0];
      expect(alarm.Namespace).toBe(directive?.Namespace);
      const dimensions = (alarm.Dimensions as { Name: string; Value: string }[]).map((d) => [
        d.Name,
        d.Value,
      ]);
      expect(dimensions.map(([name]) => name).sort()).toEqual([...(directive?.Dimensions[0] ?? [])].sort());
      for (const [name, value] of dimensions) expect(record?.[name ?? ''], name).toBe(value);
    }
  });

  it("takes a component's own recovery point objective from componentRpoHours (the example: the database hourly, 2 hours)", () => {
    const example = build(EXAMPLE_CONFIG).template;
    const thresholds = Object.fromEntries(
      Object.entries(example.findResources('AWS::CloudWatch::Alarm'))
        .filter(([id]) => id.startsWith('MonitoringRecoveryPointObjective'))
        .map(([id, alarm]) => [
          id.replace(/^MonitoringRecoveryPointObjective/, '').replace(/[0-9A-F]{8}$/, ''),
          (alarm as { Properties: { Threshold: number } }).Properties.Threshold,
        ]),
    );
    expect(thresholds).toMatchObject({ '': 26, Database: 2, LiferayHome: 26 });
    expect(() => parseConfig({ ...(EXAMPLE_CONFIG as object), componentRpoHours: { ldap: 2 } })).toThrow(
      /componentRpoHours/,
    );
  });

  it('builds a dashboard with the age of the newest set and per-component duration and size', () => {
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(
      (dashboards[0] as { Properties: { DashboardBody: unknown } }).Properties.DashboardBody,
    );
    for (const metric of [
      'LatestCompleteBackupAge',
      'ComponentCompleteBackupAge',
      'ComponentDuration',
      'ComponentBytes',
      'BytesStored',
      'BytesRead',
      'FilesSeen',
      'FilesChanged',
      'SnapshotBytes',
      'RetentionDeletedSets',
      'RetentionPostponedSets',
      'RetentionSweptBytes',
    ])
      expect(body, metric).toContain(metric);
    expect(body).toContain('\\"service\\",\\"liferay-backup\\"');
  });

  it('starts full backups (building on no earlier set) from the schedules that ask for them', () => {
    const schedules = [
      { name: 'nightly-full', expression: 'cron(0 2 2-31 * ? *)' },
      { name: 'hourly-database', expression: 'cron(30 * * * ? *)', components: ['database'] },
      { name: 'monthly-full', expression: 'cron(0 2 1 * ? *)', full: true },
    ];
    const t = build({ ...FULL_CONFIG, schedules }).template;
    const inputs = Object.values(t.findResources('AWS::Scheduler::Schedule'))
      .map((schedule) => (schedule as { Properties: { Target: { Input?: string } } }).Properties.Target.Input)
      .map((input) => JSON.parse(input ?? '{}') as { schedule?: string; full?: boolean })
      .filter((input) => input.schedule !== undefined);
    expect(inputs.map(({ schedule, full }) => [schedule, full])).toEqual([
      ['nightly-full', undefined],
      ['hourly-database', undefined],
      ['monthly-full', true],
    ]);
  });

  it('schedules the restore drill of the latest set only when verify.schedule is set', () => {
    const drills = (t: Template) =>
      Object.values(t.findResources('AWS::Scheduler::Schedule')).filter((schedule) =>
        JSON.stringify(schedule).includes('WorkflowsVerify'),
      );
    expect(drills(template)).toEqual([]);
    const scheduled = build({ ...FULL_CONFIG, verify: { schedule: 'cron(0 7 ? * SUN *)' } }).template;
    expect(drills(scheduled)).toHaveLength(1);
    scheduled.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 7 ? * SUN *)',
      Target: {
        Arn: { Ref: Match.stringLikeRegexp('^WorkflowsVerify') },
        Input: JSON.stringify({ backupId: 'latest', requestedBy: 'schedule' }),
      },
    });
  });

  it('the restore drill restores the files into an EFS scratch folder with the Restore workflow, then removes it', () => {
    const json = template.toJSON() as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    const verify = definitionsFromTemplate(json as never).verify as { States: Record<string, unknown> };
    const text = JSON.stringify(verify);
    expect(text).toContain('"Resource":"arn:aws:states:::states:startExecution.sync:2"');
    expect(text.match(/startExecution\.sync:2/g)).toHaveLength(2);
    // The drill restores into the folder Begin names and never swaps anything into place.
    expect(text).toContain(
      `"target.$":"States.Format('{}/liferayHome', $.verify.scratch.folder)","swap":false`,
    );
    // Its name says it is a drill: a failure notification of the Restore workflow names the execution.
    expect(text).toContain(`"Name.$":"States.Format('drill-{}-liferayHome', $.verify.verifyId)"`);
    const cleanups = Object.entries(json.Resources).filter(
      ([id, resource]) => resource.Type === 'AWS::Lambda::Function' && /DrillCleanup/.test(id),
    );
    expect(cleanups.map(([id]) => id.replace(/[0-9A-F]{8}$/, ''))).toEqual([
      'LiferayHomeFilesDrillCleanup',
      'AppServerFilesDrillCleanup',
    ]);
    for (const [, cleanup] of cleanups) {
      expect(cleanup.Properties.FileSystemConfigs).toEqual([
        expect.objectContaining({ LocalMountPath: '/mnt/liferay' }),
      ]);
      const settings = JSON.parse(
        (cleanup.Properties.Environment as { Variables: { LIFERAY_BACKUP_SETTINGS: string } }).Variables
          .LIFERAY_BACKUP_SETTINGS,
      ) as { verify: { scratchRoot?: string } };
      expect(settings.verify).toEqual({ scratchRoot: '/mnt/liferay/liferay-backup-drills' });
    }
    // The drill's role may start the Restore workflow and nothing else.
    const verifyPolicy = Object.entries(json.Resources).find(
      ([id, resource]) =>
        resource.Type === 'AWS::IAM::Policy' && /^WorkflowsVerifyRoleDefaultPolicy/.test(id),
    )?.[1];
    if (!verifyPolicy) throw new Error('no policy of the Verify state machine');
    const { Statement } = verifyPolicy.Properties.PolicyDocument as {
      Statement: { Action: unknown; Resource: unknown }[];
    };
    const starts = Statement.filter((statement) => statement.Action === 'states:StartExecution');
    expect(starts).toEqual([
      expect.objectContaining({ Resource: { Ref: expect.stringMatching(/^WorkflowsRestore[0-9A-F]{8}$/) } }),
    ]);

    // scratchPath false: the drill reads the files back instead, and no function writes to EFS for it.
    const readBack = build({
      ...FULL_CONFIG,
      verify: { scratchPath: false },
    }).template.toJSON() as typeof json;
    expect(JSON.stringify(definitionsFromTemplate(readBack as never).verify)).not.toContain('startExecution');
    expect(Object.keys(readBack.Resources).filter((id) => /DrillCleanup/.test(id))).toEqual([]);
  });

  const describers: Array<[string, string, RegExp, RegExp, RegExp]> = [
    [
      'Begin',
      'the Backup',
      /^BackupSetBeginBackupReadsBackupExecutions/,
      /^BackupSetBeginBackup/,
      /^WorkflowsBackup[0-9A-F]{8}$/,
    ],
    ...(['LiferayHome', 'AppServer'] as const).map((component): [string, string, RegExp, RegExp, RegExp] => [
      `${component} PlanRestore`,
      'the Restore',
      new RegExp(`^${component}FilesPlanRestoreReadsRestoreExecutions`),
      new RegExp(`^${component}FilesPlanRestore(?!Reads)`),
      /^WorkflowsRestore[0-9A-F]{8}$/,
    ]),
  ];
  it.each(describers)(
    "lets %s describe %s state machine's executions only (an execution stopped in the console), in a policy of its own",
    (_who, _machine, policyId, functionId, machineId) => {
      const json = template.toJSON() as {
        Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
      };
      const describing = Object.entries(json.Resources).filter(
        ([, resource]) =>
          resource.Type === 'AWS::IAM::Policy' &&
          JSON.stringify(resource.Properties).includes('states:DescribeExecution'),
      );
      const own = describing.filter(([id]) => policyId.test(id));
      expect(own, describing.map(([id]) => id).join(', ')).toHaveLength(1);
      const [, policy] = own[0] as [string, { Properties: Record<string, unknown> }];
      const roleId = Object.entries(json.Resources).find(
        ([id, resource]) => resource.Type === 'AWS::Lambda::Function' && functionId.test(id),
      )?.[1].Properties.Role as { 'Fn::GetAtt': [string, string] };
      expect(policy.Properties.Roles).toEqual([{ Ref: roleId['Fn::GetAtt'][0] }]);
      expect((policy.Properties.PolicyDocument as { Statement: unknown[] }).Statement).toEqual([
        {
          Effect: 'Allow',
          Action: 'states:DescribeExecution',
          Resource: {
            'Fn::Join': [
              '',
              [
                'arn:aws:states:eu-west-1:111111111111:execution:',
                { 'Fn::GetAtt': [expect.stringMatching(machineId), 'Name'] },
                ':*',
              ],
            ],
          },
        },
      ]);
    },
  );

  it('refuses a drill scratch folder inside a folder that is backed up', () => {
    expect(() => build({ ...FULL_CONFIG, verify: { scratchPath: '/liferay-home/drills' } })).toThrow(
      /verify\.scratchPath: \/liferay-home\/drills overlaps liferayHome's folder \/liferay-home: the drill's scratch copy must lie outside what is backed up and restored/,
    );
    expect(() => build({ ...FULL_CONFIG, verify: { scratchPath: '/' } })).toThrow(/verify\.scratchPath/);
  });

  it('restores the Liferay Home, then the app server, in one branch of the Restore Parallel; every other component in a branch of its own', () => {
    type Branch = { StartAt: string; States: Record<string, Record<string, unknown>> };
    const branchesOf = (t: Template): Branch[] => {
      const restore = definitionsFromTemplate(t.toJSON() as never).restore?.States.Restore;
      return (restore as { Branches?: Branch[] } | undefined)?.Branches ?? [];
    };

    const branches = branchesOf(template);
    expect(branches.map((branch) => branch.StartAt)).toEqual([
      'Database selected? (restore)',
      'Restore Liferay Home, then app server',
      'Search selected? (restore)',
      'Source selected? (restore)',
    ]);
    const sequence = branches[1]?.States ?? {};
    // Each step is the component's usual branch (its own skip and Catch), its result kept beside
    // the state so that the app server's branch still sees $.restore.
    expect(sequence['Restore Liferay Home, then app server']).toMatchObject({
      Type: 'Parallel',
      ResultPath: '$.sequence.liferayHome',
      Next: 'Restore App server after Liferay Home',
      Branches: [{ StartAt: 'Liferay Home selected? (restore)' }],
    });
    expect(sequence['Restore App server after Liferay Home']).toMatchObject({
      Type: 'Parallel',
      ResultPath: '$.sequence.appServer',
      Next: 'Liferay Home and app server results',
      Branches: [{ StartAt: 'App server selected? (restore)' }],
    });
    expect(sequence['Liferay Home and app server results']).toEqual({
      Type: 'Pass',
      Parameters: {
        'results.$': 'States.Array($.sequence.liferayHome[0], $.sequence.appServer[0])',
      },
      OutputPath: '$.results',
      End: true,
    });
    expect(Object.keys(sequence)).toHaveLength(3);

    // Without both components there is nothing to order: each has its branch, as before.
    const components = FULL_CONFIG.components as Record<string, Record<string, unknown>>;
    const homeOnly = build({
      ...FULL_CONFIG,
      components: { ...components, appServer: { ...components.appServer, enabled: false } },
    }).template;
    expect(branchesOf(homeOnly).map((branch) => branch.StartAt)).toEqual([
      'Database selected? (restore)',
      'Liferay Home selected? (restore)',
      'Search selected? (restore)',
      'Source selected? (restore)',
    ]);
  });

  it('emits valid Amazon States Language', () => {
    const definitions = definitionsFromTemplate(template.toJSON() as never);
    expect(Object.keys(definitions).sort()).toEqual(['backup', 'restore', 'retention', 'verify']);
    for (const [name, definition] of Object.entries(definitions)) {
      const { isValid, errorsText } = aslValidator(definition as never, {
        checkArn: false,
        checkPaths: true,
      });
      expect(isValid, `${name}: ${errorsText('\n')}`).toBe(true);
    }
  });
});

describe('Distributed Map outputs', () => {
  // A Distributed Map gathers every item's output before its ResultPath discards them
  // (aws-cdk#24799: States.DataLimitExceeded with ResultPath null): a retention run deleting
  // 1,000 expired hourly sets (250 bytes each) went over the 256 KiB quota. Items answer {}.
  it('makes every item of every Distributed Map answer nothing (OutputPath null)', () => {
    const { template } = build(FULL_CONFIG);
    const definitions = definitionsFromTemplate(template.toJSON() as never);
    const items: string[] = [];
    const visit = (states: Record<string, Record<string, unknown>>) => {
      for (const [name, state] of Object.entries(states)) {
        const processor = state.ItemProcessor as
          | { ProcessorConfig?: { Mode?: string }; States: Record<string, Record<string, unknown>> }
          | undefined;
        if (processor?.ProcessorConfig?.Mode === 'DISTRIBUTED') {
          for (const [item, inner] of Object.entries(processor.States)) {
            if (inner.End !== true) continue;
            items.push(item);
            expect(inner, `${name} → ${item}`).toHaveProperty('OutputPath', null);
          }
        }
        if (processor) visit(processor.States);
        for (const branch of (state.Branches as Array<{ States: Record<string, Record<string, unknown>> }>) ??
          [])
          visit(branch.States);
      }
    };
    for (const definition of Object.values(definitions))
      visit((definition as { States: Record<string, Record<string, unknown>> }).States);
    expect(items.length).toBeGreaterThanOrEqual(7);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged, in the full and in the example configuration', () => {
    for (const config of [FULL_CONFIG, EXAMPLE_CONFIG]) {
      const { app, stack } = build(config, true);
      app.synth();
      const errors = Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'));
      const warnings = Annotations.fromStack(stack).findWarning(
        '*',
        Match.stringLikeRegexp('AwsSolutions-.*'),
      );
      expect(
        [...errors, ...warnings].map((finding) => `${finding.id}: ${String(finding.entry.data)}`),
      ).toEqual([]);
    }
  });
});
