import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../cdk/config.ts';
import { CDK_JSON, FULL_CONFIG, synthesize } from './support.ts';

/**
 * What `cdk deploy` of a new version, or of an edited cdk.json, does to the resources that hold
 * backups or the means to read them. CloudFormation names a resource by its logical id: a new id is
 * a new, empty resource, and the old one (retained) is no longer the stack's. The Lambdas then write
 * to and read from the new bucket: the backups look gone and `latest` restores nothing.
 */

interface Pin {
  readonly id: string;
  readonly type: string;
  readonly what: string;
  /** What a deployed stack loses when the id changes. */
  readonly loss: string;
}

const STORE_LOSS =
  'every backup set stays in the old bucket, which the stack no longer uses: the backups look gone and "latest" restores nothing';

const PINS: readonly Pin[] = [
  { id: 'StoreBucket4FBDE984', type: 'AWS::S3::Bucket', what: 'the backup store', loss: STORE_LOSS },
  {
    id: 'StoreKey7A3C02BD',
    type: 'AWS::KMS::Key',
    what: "the store's KMS key",
    loss: 'the Lambdas are granted only the new key, so nothing encrypted with the old one can be read or restored',
  },
  {
    id: 'StoreAccessLogs087BBF22',
    type: 'AWS::S3::Bucket',
    what: "the store's access-log bucket",
    loss: 'the audit trail of who read or deleted backups stays in a bucket nobody looks at',
  },
  {
    id: 'NotificationsKeyADCFA950',
    type: 'AWS::KMS::Key',
    what: "the notification topic's KMS key",
    loss: 'the topic is re-keyed and the old key lingers unused',
  },
  {
    id: 'NotificationsTopicAE679CBD',
    type: 'AWS::SNS::Topic',
    what: 'the notification topic',
    loss: 'the email subscription starts over unconfirmed: failures notify nobody until the recipient confirms again',
  },
  {
    id: 'WorkflowsBackupLogs1124935E',
    type: 'AWS::Logs::LogGroup',
    what: "the Backup workflow's execution log",
    loss: 'the execution history of past backups stays in a log group the stack no longer names',
  },
  {
    id: 'WorkflowsRestoreLogs70630F5C',
    type: 'AWS::Logs::LogGroup',
    what: "the Restore workflow's execution log",
    loss: 'the execution history of past restores stays in a log group the stack no longer names',
  },
  {
    id: 'WorkflowsVerifyLogs81885565',
    type: 'AWS::Logs::LogGroup',
    what: "the Verify workflow's execution log",
    loss: 'the execution history of past drills stays in a log group the stack no longer names',
  },
  {
    id: 'RetentionLogsFC7F8844',
    type: 'AWS::Logs::LogGroup',
    what: "the Retention workflow's execution log",
    loss: 'the record of which sets retention deleted stays in a log group the stack no longer names',
  },
];

/** Types whose every resource must be pinned above: each holds data or the key to it. */
const PINNED_TYPES = [
  'AWS::S3::Bucket',
  'AWS::KMS::Key',
  'AWS::SNS::Topic',
  'AWS::SSM::Parameter',
  'AWS::EFS::AccessPoint',
  'AWS::EFS::FileSystem',
  'AWS::DynamoDB::Table',
  'AWS::SecretsManager::Secret',
  'AWS::Scheduler::ScheduleGroup',
];

/** Types that must survive a replacement or a stack deletion (DeletionPolicy and UpdateReplacePolicy Retain). */
const RETAINED_TYPES = [
  'AWS::S3::Bucket',
  'AWS::KMS::Key',
  'AWS::Logs::LogGroup',
  'AWS::SSM::Parameter',
  'AWS::EFS::AccessPoint',
  'AWS::EFS::FileSystem',
  'AWS::DynamoDB::Table',
  'AWS::SecretsManager::Secret',
];

interface Resource {
  Type: string;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Properties?: Record<string, unknown>;
}

const resourcesOf = (template: Template) =>
  (template.toJSON() as { Resources: Record<string, Resource> }).Resources;

function orphanMessage(pin: Pin): string {
  return (
    `${pin.id} (${pin.what}, ${pin.type}) is no longer in the template. On a deployed stack CloudFormation ` +
    `would create a new, empty one and drop the old one from the stack: ${pin.loss}. Keep the construct ` +
    `id and path that produce ${pin.id}. If the rename is intended, keep the old id with ` +
    `(construct.node.defaultChild as CfnResource).overrideLogicalId('${pin.id}'), or move the old ` +
    'resource under the new id with `cdk import`, and say how under "Upgrading the stack" in the README'
  );
}

const EXAMPLE = CDK_JSON.context.liferayBackup as Record<string, unknown>;
const CONFIGS: [string, Record<string, unknown>][] = [
  ['cdk.json', EXAMPLE],
  ['every component', FULL_CONFIG],
];

describe.each(CONFIGS)('the stateful resources of a stack built from %s', (_name, config) => {
  const resources = resourcesOf(synthesize(config));

  it.each(PINS.map((pin) => [pin.id, pin] as const))('keep the logical id %s', (_id, pin) => {
    expect(resources[pin.id]?.Type, orphanMessage(pin)).toBe(pin.type);
  });

  it('are all pinned: a new bucket, key, topic, parameter or access point gets its id pinned here', () => {
    const pinned = new Set(PINS.map((pin) => pin.id));
    const unpinned = Object.entries(resources)
      .filter(([id, r]) => PINNED_TYPES.includes(r.Type) && !pinned.has(id))
      .map(([id, r]) => `${id} (${r.Type})`);
    expect(
      unpinned,
      'add each to PINS with what a deployed stack would lose if its logical id changed',
    ).toEqual([]);
  });

  it('survive a replacement and a stack deletion (DeletionPolicy and UpdateReplacePolicy Retain)', () => {
    const notRetained = Object.entries(resources)
      .filter(([, r]) => RETAINED_TYPES.includes(r.Type))
      .filter(([, r]) => r.DeletionPolicy !== 'Retain' || r.UpdateReplacePolicy !== 'Retain')
      .map(
        ([id, r]) =>
          `${id} (${r.Type}): DeletionPolicy ${r.DeletionPolicy}, UpdateReplacePolicy ${r.UpdateReplacePolicy}`,
      );
    expect(notRetained, 'give each removalPolicy: RemovalPolicy.RETAIN').toEqual([]);
  });

  it("never schedule the store key's deletion early, nor set a property whose change replaces the key", () => {
    const key = resources.StoreKey7A3C02BD?.Properties ?? {};
    // Retain keeps CloudFormation from scheduling the deletion at all; should that ever change, the
    // longest waiting period leaves the most time to cancel it before every backup becomes unreadable.
    expect([undefined, 30]).toContain(key.PendingWindowInDays);
    // KeySpec and KeyUsage changes replace the key (the old one is scheduled for deletion);
    // MultiRegion cannot change at all. The defaults are what every deployed store key has.
    expect(
      key.KeySpec,
      'KeySpec other than the default replaces the key of a deployed stack',
    ).toBeUndefined();
    expect(
      key.KeyUsage,
      'KeyUsage other than the default replaces the key of a deployed stack',
    ).toBeUndefined();
    expect(key.MultiRegion, 'MultiRegion cannot change on a deployed key').toBeUndefined();
  });

  it('leave the store bucket unnamed, so no setting renames (replaces) it', () => {
    // BucketName is "Update requires: Replacement": a configurable name would be a switch that
    // replaces the store. Add a synth-time refusal of a change before adding one.
    expect(resources.StoreBucket4FBDE984?.Properties?.BucketName).toBeUndefined();
  });
});

describe('the logical ids of the stateful resources', () => {
  const pinnedTypes = (config: Record<string, unknown>) => {
    const resources = resourcesOf(synthesize(config));
    return Object.fromEntries(PINS.map((pin) => [pin.id, resources[pin.id]?.Type]));
  };
  const before = pinnedTypes(EXAMPLE);
  const { alarmEmail: _alarmEmail, ...withoutEmail } = EXAMPLE;
  const otherVpc = {
    vpcId: 'vpc-0fedcba9876543210',
    availabilityZones: ['eu-west-1c'],
    subnetIds: ['subnet-0fedcba9876543210'],
    securityGroupId: 'sg-0fedcba9876543210',
  };
  const edits: [string, Record<string, unknown>][] = [
    ['another environment name', { ...EXAMPLE, environment: 'liferay-renamed' }],
    ['another VPC, subnets and security group', { ...EXAMPLE, network: otherVpc }],
    ['no alarm email', withoutEmail],
    ['other schedules', { ...EXAMPLE, schedules: [{ name: 'weekly', expression: 'cron(0 1 ? * SUN *)' }] }],
    ['another log retention', { ...EXAMPLE, logRetentionDays: 365 }],
    [
      'Object Lock set up',
      { ...EXAMPLE, objectLockEnabled: true, objectLock: { mode: 'GOVERNANCE', days: 7 } },
    ],
  ];
  it.each(edits)('stay the same with %s in cdk.json', (_name, edited) => {
    expect(pinnedTypes(edited)).toEqual(before);
  });
});

describe('Object Lock on the store bucket (ObjectLockEnabled: "Update requires: Replacement")', () => {
  const storeBucket = (config: Record<string, unknown>) =>
    resourcesOf(synthesize(config)).StoreBucket4FBDE984?.Properties ?? {};
  const retention = { mode: 'COMPLIANCE', days: 35 };

  it('is refused at synth when objectLock alone would switch it on (or, once removed, off)', () => {
    expect(() => parseConfig({ ...EXAMPLE, objectLock: retention })).toThrow(
      /liferayBackup\.objectLockEnabled: objectLock needs "objectLockEnabled": true beside it.*replace the store bucket with a new, empty one/,
    );
  });

  it('follows objectLockEnabled alone: removing the default retention keeps the bucket', () => {
    const locked = storeBucket({ ...EXAMPLE, objectLockEnabled: true, objectLock: retention });
    expect(locked.ObjectLockEnabled).toBe(true);
    expect(locked.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 35 } },
    });
    const retentionRemoved = storeBucket({ ...EXAMPLE, objectLockEnabled: true });
    expect(retentionRemoved.ObjectLockEnabled).toBe(true);
    expect(retentionRemoved.ObjectLockConfiguration).toBeUndefined();
  });

  it('stays off for a stack that never asked for it, as every stack deployed before was built', () => {
    expect(storeBucket(EXAMPLE).ObjectLockEnabled).toBe(false);
    expect(storeBucket({ ...EXAMPLE, objectLockEnabled: false }).ObjectLockEnabled).toBe(false);
  });
});
