import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface BackupStoreProps {
  /**
   * Object Lock on the bucket. Fixed when the bucket is created: changing it on a deployed stack
   * makes CloudFormation replace the bucket (a new, empty one). @default false
   */
  readonly objectLockEnabled?: boolean;
  /** The default retention of a bucket with `objectLockEnabled`. @default none */
  readonly objectLock?: { readonly mode: 'GOVERNANCE' | 'COMPLIANCE'; readonly days: number };
  /** Noncurrent object versions are kept this long (undo window for an overwrite or delete). @default 30 */
  readonly noncurrentVersionDays?: number;
}

/**
 * The backup bucket (DESIGN.md "Backup set and store layout") and its customer-managed key:
 * SSE-KMS with an S3 bucket key, versioning, Block Public Access, TLS only, lifecycle for
 * abandoned multipart uploads and old versions, optional Object Lock, access logs.
 */
export class BackupStore extends Construct {
  readonly bucket: s3.Bucket;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: BackupStoreProps = {}) {
    super(scope, id);
    const objectLockEnabled = props.objectLockEnabled ?? false;
    if (props.objectLock && !objectLockEnabled) {
      // A default retention alone must not switch Object Lock on: see config.ts objectLockEnabled.
      throw new Error('BackupStore: objectLock (a default retention) needs objectLockEnabled: true');
    }
    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts liferay-backup backup sets',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      // S3 server access logging can only deliver to SSE-S3 buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          expiration: Duration.days(365),
          noncurrentVersionExpiration: Duration.days(30),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'backup-bucket/',
      objectLockEnabled,
      objectLockDefaultRetention: props.objectLock
        ? props.objectLock.mode === 'COMPLIANCE'
          ? s3.ObjectLockRetention.compliance(Duration.days(props.objectLock.days))
          : s3.ObjectLockRetention.governance(Duration.days(props.objectLock.days))
        : undefined,
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(3) },
        {
          id: 'expire-noncurrent-versions',
          noncurrentVersionExpiration: Duration.days(props.noncurrentVersionDays ?? 30),
        },
        // Scratch objects of runs that died before Commit removed them.
        { id: 'expire-work-area', prefix: 'work/', expiration: Duration.days(14) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Refuse writes that ask for another encryption than this bucket's key. (`...IfExists` would also
    // refuse writes that name none, such as every multipart UploadPart.)
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyOtherEncryption',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        // Only requests that name an encryption are checked: UploadPart carries no header at all,
        // and the bucket's default encryption (SSE-KMS with this key) covers every write.
        conditions: {
          StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' },
          Null: { 's3:x-amz-server-side-encryption': 'false' },
        },
      }),
    );
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyOtherKmsKey',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: {
          StringNotEquals: { 's3:x-amz-server-side-encryption-aws-kms-key-id': this.key.keyArn },
          Null: { 's3:x-amz-server-side-encryption-aws-kms-key-id': 'false' },
        },
      }),
    );
  }

  /** The environment a function needs to reach the store. */
  bind(fn: lambda.Function): void {
    fn.addEnvironment('STORE_BUCKET', this.bucket.bucketName);
    fn.addEnvironment('STORE_KMS_KEY_ARN', this.key.keyArn);
  }

  /**
   * Read objects under the given key patterns (`backups/*`). Explicit actions, no wildcard actions:
   * GetObject on the prefixes, ListBucket on the bucket (listing reveals key names only), Decrypt.
   */
  grantRead(fn: lambda.Function, ...patterns: string[]): void {
    this.bind(fn);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: patterns.map((p) => this.bucket.arnForObjects(p)),
      }),
    );
    this.grantList(fn);
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt'], resources: [this.key.keyArn] }));
  }

  /** Read and write (no delete) under the given key patterns; multipart uploads included. */
  grantReadWrite(fn: lambda.Function, ...patterns: string[]): void {
    this.grantRead(fn, ...patterns);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: patterns.map((p) => this.bucket.arnForObjects(p)),
      }),
    );
    // SSE-KMS writes need a data key; multipart uploads also decrypt it (granted by grantRead).
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['kms:GenerateDataKey'], resources: [this.key.keyArn] }),
    );
  }

  /** Delete under the given key patterns (scratch areas, the lock, expired sets). */
  grantDelete(fn: lambda.Function, ...patterns: string[]): void {
    this.bind(fn);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:DeleteObject'],
        resources: patterns.map((p) => this.bucket.arnForObjects(p)),
      }),
    );
  }

  /**
   * What garbage collection needs to delete an object as it saw it (deleteAsSeen): a HEAD just
   * before (S3 authorises HEAD as s3:GetObject; without it the answer is 403 and the sweep fails),
   * the version that HEAD named, and HEAD's Object Lock headers (S3 returns them only with the
   * last two permissions), so that it leaves alone a version the lock still holds.
   */
  grantDeleteSeenVersions(fn: lambda.Function, ...patterns: string[]): void {
    this.grantDelete(fn, ...patterns);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:DeleteObjectVersion', 's3:GetObjectRetention', 's3:GetObjectLegalHold'],
        resources: patterns.map((p) => this.bucket.arnForObjects(p)),
      }),
    );
  }

  private grantList(fn: lambda.Function): void {
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }),
    );
  }
}
