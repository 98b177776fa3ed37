import { DescribeKeyCommand, KMSClient, NotFoundException } from '@aws-sdk/client-kms';
import {
  DBClusterSnapshotNotFoundFault,
  DBSnapshotNotFoundFault,
  DeleteDBClusterSnapshotCommand,
  DeleteDBSnapshotCommand,
  DescribeDBClusterSnapshotAttributesCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBSnapshotAttributesCommand,
  DescribeDBSnapshotsCommand,
  InvalidDBClusterSnapshotStateFault,
  InvalidDBSnapshotStateFault,
  RDSClient,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import type { ComponentResult } from '#components/component.ts';

/**
 * A small stand-in for the snapshots of two regions behind the mocked RDS and KMS clients:
 * describe, delete (only `available` ones, as RDS does) and sharing attributes answer from it, the
 * documented faults for a missing snapshot or a wrong state, and every call is recorded with the
 * region of the client that made it.
 */

export const ACCOUNT = '111111111111';
export const SOURCE_KEY = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555`;
export const DR_KEY = `arn:aws:kms:eu-central-1:${ACCOUNT}:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9`;

export interface FakeSnapshot {
  status: string;
  tags: Record<string, string>;
  engine: string;
  engineVersion: string;
  encrypted: boolean;
  kmsKeyId?: string;
  restoreAccounts: string[];
}

export interface RecordedCall {
  readonly region: string;
  readonly command: string;
  readonly input: Record<string, unknown>;
}

export function snapshotArn(kind: 'snapshot' | 'cluster-snapshot', region: string, id: string): string {
  return `arn:aws:rds:${region}:${ACCOUNT}:${kind}:${id}`;
}

export class RdsWorld {
  readonly rds = mockClient(RDSClient);
  readonly kms = mockClient(KMSClient);
  readonly snapshots = new Map<string, FakeSnapshot>();
  readonly keys = new Map<string, string>();
  readonly calls: RecordedCall[] = [];

  reset(): void {
    this.rds.reset();
    this.kms.reset();
    this.snapshots.clear();
    this.keys.clear();
    this.calls.length = 0;
    this.install();
  }

  put(region: string, id: string, snapshot: FakeSnapshot): void {
    this.snapshots.set(`${region}/${id}`, snapshot);
  }

  has(region: string, id: string): boolean {
    return this.snapshots.has(`${region}/${id}`);
  }

  /** The recorded calls of one command (e.g. 'DeleteDBSnapshot'). */
  callsOf(command: string): RecordedCall[] {
    return this.calls.filter((call) => call.command === command);
  }

  private async record(command: string, input: object, getClient: () => RDSClient): Promise<string> {
    const region = await getClient().config.region();
    this.calls.push({ region, command, input: { ...input } as Record<string, unknown> });
    return region;
  }

  private find(region: string, id: string, cluster: boolean): FakeSnapshot {
    const found = this.snapshots.get(`${region}/${id}`);
    if (found) return found;
    const message = `${cluster ? 'DBClusterSnapshot' : 'DBSnapshot'} ${id} not found.`;
    throw cluster
      ? new DBClusterSnapshotNotFoundFault({ message, $metadata: {} })
      : new DBSnapshotNotFoundFault({ message, $metadata: {} });
  }

  private instanceView(region: string, id: string, snapshot: FakeSnapshot) {
    return {
      DBSnapshotIdentifier: id,
      DBSnapshotArn: snapshotArn('snapshot', region, id),
      DBInstanceIdentifier: 'liferay-db',
      Status: snapshot.status,
      Engine: snapshot.engine,
      EngineVersion: snapshot.engineVersion,
      Encrypted: snapshot.encrypted,
      ...(snapshot.kmsKeyId ? { KmsKeyId: snapshot.kmsKeyId } : {}),
      TagList: Object.entries(snapshot.tags).map(([Key, Value]) => ({ Key, Value })),
    };
  }

  private clusterView(region: string, id: string, snapshot: FakeSnapshot) {
    return {
      DBClusterSnapshotIdentifier: id,
      DBClusterSnapshotArn: snapshotArn('cluster-snapshot', region, id),
      DBClusterIdentifier: 'liferay-aurora',
      Status: snapshot.status,
      Engine: snapshot.engine,
      EngineVersion: snapshot.engineVersion,
      StorageEncrypted: snapshot.encrypted,
      ...(snapshot.kmsKeyId ? { KmsKeyId: snapshot.kmsKeyId } : {}),
      TagList: Object.entries(snapshot.tags).map(([Key, Value]) => ({ Key, Value })),
    };
  }

  private install(): void {
    this.rds
      .on(DescribeDBSnapshotsCommand)
      .callsFake(async (input: { DBSnapshotIdentifier: string }, getClient: () => RDSClient) => {
        const region = await this.record('DescribeDBSnapshots', input, getClient);
        const id = input.DBSnapshotIdentifier;
        return { DBSnapshots: [this.instanceView(region, id, this.find(region, id, false))] };
      });
    this.rds
      .on(DescribeDBClusterSnapshotsCommand)
      .callsFake(async (input: { DBClusterSnapshotIdentifier: string }, getClient: () => RDSClient) => {
        const region = await this.record('DescribeDBClusterSnapshots', input, getClient);
        const id = input.DBClusterSnapshotIdentifier;
        return { DBClusterSnapshots: [this.clusterView(region, id, this.find(region, id, true))] };
      });
    this.rds
      .on(DeleteDBSnapshotCommand)
      .callsFake(async (input: { DBSnapshotIdentifier: string }, getClient: () => RDSClient) => {
        const region = await this.record('DeleteDBSnapshot', input, getClient);
        const id = input.DBSnapshotIdentifier;
        const found = this.find(region, id, false);
        if (found.status !== 'available') {
          throw new InvalidDBSnapshotStateFault({
            message: `DBSnapshot ${id} is not in the available state.`,
            $metadata: {},
          });
        }
        this.snapshots.delete(`${region}/${id}`);
        return { DBSnapshot: { ...this.instanceView(region, id, found), Status: 'deleted' } };
      });
    this.rds
      .on(DeleteDBClusterSnapshotCommand)
      .callsFake(async (input: { DBClusterSnapshotIdentifier: string }, getClient: () => RDSClient) => {
        const region = await this.record('DeleteDBClusterSnapshot', input, getClient);
        const id = input.DBClusterSnapshotIdentifier;
        const found = this.find(region, id, true);
        if (found.status !== 'available') {
          throw new InvalidDBClusterSnapshotStateFault({
            message: `DBClusterSnapshot ${id} is not in the available state.`,
            $metadata: {},
          });
        }
        this.snapshots.delete(`${region}/${id}`);
        return { DBClusterSnapshot: { ...this.clusterView(region, id, found), Status: 'deleted' } };
      });
    this.rds
      .on(DescribeDBSnapshotAttributesCommand)
      .callsFake(async (input: { DBSnapshotIdentifier: string }, getClient: () => RDSClient) => {
        const region = await this.record('DescribeDBSnapshotAttributes', input, getClient);
        const found = this.find(region, input.DBSnapshotIdentifier, false);
        return {
          DBSnapshotAttributesResult: {
            DBSnapshotIdentifier: input.DBSnapshotIdentifier,
            DBSnapshotAttributes: [{ AttributeName: 'restore', AttributeValues: found.restoreAccounts }],
          },
        };
      });
    this.rds
      .on(DescribeDBClusterSnapshotAttributesCommand)
      .callsFake(async (input: { DBClusterSnapshotIdentifier: string }, getClient: () => RDSClient) => {
        const region = await this.record('DescribeDBClusterSnapshotAttributes', input, getClient);
        const found = this.find(region, input.DBClusterSnapshotIdentifier, true);
        return {
          DBClusterSnapshotAttributesResult: {
            DBClusterSnapshotIdentifier: input.DBClusterSnapshotIdentifier,
            DBClusterSnapshotAttributes: [
              { AttributeName: 'restore', AttributeValues: found.restoreAccounts },
            ],
          },
        };
      });
    this.kms.on(DescribeKeyCommand).callsFake(async (input: { KeyId: string }) => {
      const state = this.keys.get(input.KeyId);
      if (!state)
        throw new NotFoundException({ message: `Key '${input.KeyId}' does not exist`, $metadata: {} });
      return { KeyMetadata: { KeyId: input.KeyId, KeyState: state, KeyManager: 'CUSTOMER' } };
    });
  }
}

const INSTANCE_SOURCE = {
  identifier: 'liferay-db',
  arn: `arn:aws:rds:eu-west-1:${ACCOUNT}:db:liferay-db`,
  region: 'eu-west-1',
  engine: 'mysql',
  engineVersion: '8.0.39',
  instanceClass: 'db.r6g.large',
  securityGroupIds: ['sg-0a1b2c3d4e5f60718'],
  multiAz: true,
  port: 3306,
  kmsKeyId: SOURCE_KEY,
  storageEncrypted: true,
  publiclyAccessible: false,
  deletionProtection: true,
  iamDatabaseAuthentication: false,
};

const CLUSTER_SOURCE = {
  identifier: 'liferay-aurora',
  arn: `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:liferay-aurora`,
  region: 'eu-west-1',
  engine: 'aurora-postgresql',
  engineVersion: '15.4',
  securityGroupIds: ['sg-0a1b2c3d4e5f60718'],
  port: 5432,
  kmsKeyId: SOURCE_KEY,
  storageEncrypted: true,
  deletionProtection: false,
  iamDatabaseAuthentication: false,
  instances: [{ identifier: 'liferay-aurora-1', writer: true, instanceClass: 'db.r6g.large' }],
};

/**
 * The complete result a snapshot backup records: the snapshot in eu-west-1 and (optionally) its DR
 * copy in eu-central-1, both encrypted, the copy with the DR key, optionally shared with an account.
 */
export function snapshotResult(
  mode: 'rds-instance' | 'aurora-cluster',
  backupId: string,
  options: { drCopy?: boolean; sharedWith?: string; environment?: string } = {},
): ComponentResult {
  const id = `liferay-backup-${options.environment ?? 'liferay-prod'}-${backupId}`;
  const kind = mode === 'aurora-cluster' ? 'cluster-snapshot' : 'snapshot';
  const snapshot = {
    identifier: id,
    arn: snapshotArn(kind, 'eu-west-1', id),
    region: 'eu-west-1',
    status: 'available',
    encrypted: true,
    kmsKeyId: SOURCE_KEY,
  };
  const drCopy = options.drCopy
    ? {
        identifier: id,
        arn: snapshotArn(kind, 'eu-central-1', id),
        region: 'eu-central-1',
        encrypted: true,
        kmsKeyId: DR_KEY,
      }
    : undefined;
  const sharedWith = options.sharedWith
    ? [snapshot, ...(drCopy ? [drCopy] : [])].map((ref) => ({
        account: options.sharedWith ?? '',
        snapshotArn: ref.arn,
      }))
    : [];
  return {
    component: 'database',
    status: 'complete',
    warnings: [],
    summary: {},
    details: {
      mode,
      source: mode === 'aurora-cluster' ? CLUSTER_SOURCE : INSTANCE_SOURCE,
      snapshot,
      ...(drCopy ? { drCopy } : {}),
      sharedWith,
    },
  };
}

/** What RDS holds for a result made by snapshotResult: the snapshot and copy, available, tagged for the set. */
export function snapshotsFor(
  world: RdsWorld,
  mode: 'rds-instance' | 'aurora-cluster',
  backupId: string,
  options: { drCopy?: boolean; sharedWith?: string; environment?: string } = {},
): string {
  const environment = options.environment ?? 'liferay-prod';
  const id = `liferay-backup-${environment}-${backupId}`;
  const source = mode === 'aurora-cluster' ? CLUSTER_SOURCE : INSTANCE_SOURCE;
  const base = {
    status: 'available',
    tags: {
      'managed-by': 'liferay-backup',
      'liferay-backup:environment': environment,
      'liferay-backup:backup-id': backupId,
    },
    engine: source.engine,
    engineVersion: source.engineVersion,
    encrypted: true,
    restoreAccounts: options.sharedWith ? [options.sharedWith] : [],
  };
  world.put('eu-west-1', id, { ...base, tags: { ...base.tags }, kmsKeyId: SOURCE_KEY });
  if (options.drCopy) world.put('eu-central-1', id, { ...base, tags: { ...base.tags }, kmsKeyId: DR_KEY });
  world.keys.set(SOURCE_KEY, 'Enabled');
  world.keys.set(DR_KEY, 'Enabled');
  return id;
}
