import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { filesSettingsSchema } from '#components/files/settings.ts';
import { definitionsFromTemplate } from '#local/template-definitions.ts';
import { parseConfig } from '../../../cdk/config.ts';
import { InlineFunctionFactory } from '../../../cdk/lambda-function.ts';
import { LiferayBackupStack } from '../../../cdk/liferay-backup-stack.ts';

const BASE = {
  environment: 'liferay-prod',
  network: {
    vpcId: 'vpc-0a1b2c3d4e5f60718',
    availabilityZones: ['eu-west-1a', 'eu-west-1b'],
    subnetIds: ['subnet-0a1b2c3d4e5f60718', 'subnet-0f1e2d3c4b5a69788'],
    securityGroupId: 'sg-0a1b2c3d4e5f60718',
  },
  efs: { fileSystemId: 'fs-0a1b2c3d4e5f60718', accessPointId: 'fsap-0a1b2c3d4e5f60718' },
};

function synth(components: Record<string, unknown>, base: Record<string, unknown> = BASE) {
  const app = new App();
  const stack = new LiferayBackupStack(app, 'LiferayBackup', {
    config: parseConfig({ ...base, components }),
    env: { account: '111111111111', region: 'eu-west-1' },
    functionFactory: (options) => new InlineFunctionFactory(options),
  });
  return { app, template: Template.fromStack(stack) };
}

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

function functionOf(template: Template, handlerId: string) {
  const functions = template.findResources('AWS::Lambda::Function', {
    Metadata: { 'LiferayBackup:Handler': handlerId },
  });
  return Object.values(functions) as Array<{
    Properties: Record<string, unknown> & { Role: { 'Fn::GetAtt': [string, string] } };
  }>;
}

function statementsOf(template: Template, handlerId: string): Statement[] {
  const fn = functionOf(template, handlerId)[0];
  if (!fn) throw new Error(`no function ${handlerId}`);
  const role = fn.Properties.Role['Fn::GetAtt'][0];
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } });
  return Object.values(policies).flatMap(
    (policy) =>
      (policy as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
        .Statement,
  );
}

const actionsOf = (statements: Statement[]) => statements.flatMap((s) => ([] as string[]).concat(s.Action));
const resourcesText = (statements: Statement[]) => JSON.stringify(statements.map((s) => s.Resource));

describe('files construct', () => {
  const { app, template } = synth({
    liferayHome: {
      enabled: true,
      path: '/liferay-home',
      map: { maxConcurrency: 7, toleratedFailurePercentage: 5 },
    },
    appServer: { enabled: true, path: '/tomcat' },
  });

  it('creates six functions per component, mounting the access point at /mnt/liferay inside the VPC', () => {
    for (const id of ['plan-backup', 'copy-shard', 'plan-restore', 'restore-shard', 'finalize-restore']) {
      const fns = functionOf(template, `files-${id}`);
      expect(fns).toHaveLength(2);
      for (const fn of fns) {
        expect(fn.Properties.FileSystemConfigs).toEqual([
          { Arn: expect.anything(), LocalMountPath: '/mnt/liferay' },
        ]);
        expect(fn.Properties.VpcConfig).toBeDefined();
      }
    }
    // Finalize only touches the store: no mount, no VPC.
    for (const fn of functionOf(template, 'files-finalize-backup')) {
      expect(fn.Properties.FileSystemConfigs).toBeUndefined();
      expect(fn.Properties.VpcConfig).toBeUndefined();
    }
    // A first backup's Plan walks the whole tree in one function: with less than a vCPU its CPU,
    // not EFS, would bound the tree it lists in 15 minutes (bench/scale-simulation.ts).
    const plans = functionOf(template, 'files-plan-backup');
    expect(plans.length).toBeGreaterThan(0);
    for (const plan of plans) expect(plan.Properties).toMatchObject({ MemorySize: 1769, Timeout: 900 });
    const [copy] = functionOf(template, 'files-copy-shard');
    expect(copy?.Properties).toMatchObject({
      MemorySize: 1769,
      Timeout: 900,
      EphemeralStorage: { Size: 2048 },
    });
  });

  it('mounts read-only for backups and read-write for restores', () => {
    for (const id of ['files-plan-backup', 'files-copy-shard']) {
      const actions = actionsOf(statementsOf(template, id));
      expect(actions).toContain('elasticfilesystem:ClientMount');
      expect(actions).not.toContain('elasticfilesystem:ClientWrite');
    }
    for (const id of ['files-plan-restore', 'files-restore-shard', 'files-finalize-restore']) {
      expect(actionsOf(statementsOf(template, id))).toContain('elasticfilesystem:ClientWrite');
    }
  });

  it('grants each function only its store prefixes, and never deletes content', () => {
    const copy = resourcesText(statementsOf(template, 'files-copy-shard'));
    expect(copy).toContain('/objects/*');
    expect(copy).toContain('/backups/*/files/*');
    expect(copy).toContain('/work/*');
    expect(copy).not.toContain('/pointers/');
    expect(copy).not.toContain('/locks/');
    const restoreShard = statementsOf(template, 'files-restore-shard');
    const restoreWrites = restoreShard.filter((s) => actionsOf([s]).some((a) => a.startsWith('s3:Put')));
    expect(resourcesText(restoreWrites)).not.toContain('/objects/');
    expect(resourcesText(restoreWrites)).not.toContain('/backups/');
    for (const id of [
      'plan-backup',
      'copy-shard',
      'finalize-backup',
      'plan-restore',
      'restore-shard',
      'finalize-restore',
    ]) {
      expect(
        actionsOf(statementsOf(template, `files-${id}`)).filter((a) => /^s3:DeleteObject$/.test(a)),
      ).toEqual([]);
    }
  });

  it('passes settings the functions accept, with the root below the mount', () => {
    for (const fn of functionOf(template, 'files-copy-shard')) {
      const env = (fn.Properties.Environment as { Variables: Record<string, string> }).Variables;
      const settings = JSON.parse(env.LIFERAY_BACKUP_SETTINGS ?? '{}') as {
        components: Record<string, unknown>;
      };
      const [name, value] = Object.entries(settings.components)[0] ?? [];
      const parsed = filesSettingsSchema.parse(value);
      expect(parsed.root).toBe(name === 'liferayHome' ? '/mnt/liferay/liferay-home' : '/mnt/liferay/tomcat');
      expect(parsed.writableRoot).toBe('/mnt/liferay');
      expect(parsed.shard.timeBudgetSeconds).toBe(600);
    }
  });

  it('refuses a blob threshold above the upload buffer (a smaller file is read whole into one)', () => {
    const parsed = filesSettingsSchema.safeParse({
      root: '/mnt/liferay/liferay-home',
      blobThresholdBytes: 64 * 1024 * 1024,
      packBytes: 16 * 1024 * 1024,
      chunkBytes: 32 * 1024 * 1024,
    });
    expect(parsed.success ? [] : parsed.error.issues).toMatchObject([
      {
        path: ['blobThresholdBytes'],
        message: expect.stringMatching(/^must be at most packBytes or chunkBytes/),
      },
    ]);
    expect(
      filesSettingsSchema.safeParse({
        root: '/x',
        blobThresholdBytes: 32 * 1024 * 1024,
        chunkBytes: 32 * 1024 * 1024,
      }).success,
    ).toBe(true);
  });

  it('fans out with a Distributed Map reading the shard list from the bucket, in a loop until no round is left', () => {
    const { backup, restore } = definitionsFromTemplate(template.toJSON() as never);
    const text = JSON.stringify(backup);
    const map = JSON.parse(JSON.stringify(backup), (_key, value) => value) as unknown;
    const states: Record<string, Record<string, unknown>> = {};
    const collect = (node: unknown) => {
      if (!node || typeof node !== 'object') return;
      for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
        if (key === 'States') Object.assign(states, value);
        collect(value);
      }
    };
    collect(map);
    const copy = states['Liferay Home copy shards'] ?? {};
    expect(copy).toMatchObject({
      Type: 'Map',
      MaxConcurrency: 7,
      ToleratedFailurePercentage: 5,
      ResultPath: null,
      ItemReader: {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { 'Key.$': '$.files.shardListKey' },
      },
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
      ItemSelector: { 'backup.$': '$.backup', component: 'liferayHome', 'shard.$': '$$.Map.Item.Value' },
    });
    expect(states['Liferay Home copy another round?']).toMatchObject({
      Choices: [{ Variable: '$.files.next', BooleanEquals: true, Next: 'Liferay Home copy shards' }],
      Default: 'Liferay Home backed up',
    });
    expect(states['Liferay Home backed up']).toMatchObject({ Type: 'Pass', OutputPath: '$.files.result' });
    expect(text).toContain('App server copy shards');
    expect(JSON.stringify(restore)).toContain('Liferay Home restore shards');
  });

  it('lets the state machines read only work/ for the item lists', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const machinePolicies = Object.entries(policies).filter(
      ([id]) => id.startsWith('WorkflowsBackupRole') || id.startsWith('WorkflowsRestoreRole'),
    );
    expect(machinePolicies.length).toBe(2);
    for (const [, policy] of machinePolicies) {
      const statements = (policy as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties
        .PolicyDocument.Statement;
      const s3 = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('s3:')));
      expect(s3).toHaveLength(1);
      expect(actionsOf(s3)).toEqual(['s3:GetObject']);
      expect(resourcesText(s3)).toContain('/work/*');
    }
  });

  it('cdk-nag AwsSolutions: every finding of the construct is acknowledged with its reason', () => {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    let findings: string[] = [];
    try {
      app.synth({ force: true });
    } catch {
      const report = JSON.parse(readFileSync(path.join(app.outdir, 'validation-report.json'), 'utf8')) as {
        pluginReports: {
          violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
        }[];
      };
      findings = report.pluginReports.flatMap((plugin) =>
        plugin.violations.flatMap((violation) =>
          violation.violatingConstructs
            .filter(
              ({ constructPath }) =>
                constructPath.includes('/Files/') || constructPath.includes('/Workflows/'),
            )
            .map(({ constructPath }) => `${violation.ruleName} ${constructPath}`),
        ),
      );
    }
    const ours = findings.filter(
      (finding) =>
        finding.includes('/Files/') ||
        /Files|execution|\/work\//.test(finding.slice(0, finding.indexOf(' '))),
    );
    // Left: the common function construct's (AWS managed basic-execution policy, runtime version).
    const common =
      /^AwsSolutions-(IAM4\[Policy::arn:<AWS::Partition>:iam::aws:policy\/service-role\/AWSLambdaBasicExecutionRole\]|L1) /;
    expect(ours.filter((finding) => !common.test(finding))).toEqual([]);
  });
});

describe('files configuration', () => {
  it.each([
    [{ enabled: true, path: '/' }, /liferayHome\.path: a folder below the access point root/],
    [{ enabled: true, path: 'relative' }, /liferayHome\.path: a path on the file system/],
    [{ enabled: true, path: '/a/../b' }, /no \. or \.\. segments/],
    [{ enabled: true, path: '/h', include: ['/etc'] }, /include.*is absolute/],
    [{ enabled: true, path: '/h', exclude: ['!nope'] }, /"nope" is not one/],
    [{ enabled: true, path: '/h', map: { maxConcurrency: 0 } }, /map\.maxConcurrency/],
    [{ enabled: true, path: '/h', shards: { timeBudgetMinutes: 14 } }, /timeBudgetMinutes/],
  ])('refuses %j at synth, naming the key', (liferayHome, message) => {
    expect(() => synth({ liferayHome })).toThrow(message);
  });

  it('needs EFS and the network', () => {
    expect(() =>
      synth({ liferayHome: { enabled: true, path: '/h' } }, { environment: 'liferay-prod' }),
    ).toThrow(/components\.liferayHome: .*configure liferayBackup\.efs/);
  });

  it('synthesizes the example in cdk.json', () => {
    const example = (
      JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../../cdk.json'), 'utf8')) as {
        context: { liferayBackup: { components: Record<string, unknown> } };
      }
    ).context.liferayBackup;
    expect(example.components.liferayHome).toBeDefined();
    expect(example.components.appServer).toBeDefined();
    // Only the files components: schedules of the others (e.g. an hourly database one) go too.
    const schedules = ((example as { schedules?: { components?: string[] }[] }).schedules ?? []).filter(
      (schedule) =>
        !schedule.components ||
        schedule.components.every((name) => name === 'liferayHome' || name === 'appServer'),
    );
    const { template } = synth(
      { liferayHome: example.components.liferayHome, appServer: example.components.appServer },
      { ...(example as unknown as Record<string, unknown>), schedules },
    );
    expect(functionOf(template, 'files-copy-shard')).toHaveLength(2);
  });
});
