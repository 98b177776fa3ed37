import * as z from 'zod';
import { isRdsIdentifier, MAX_SNAPSHOT_IDENTIFIER, SQL_DATABASE_NAME } from './naming.ts';

/**
 * The database component's shapes: its settings (what the stack or the CLI gives its handlers),
 * its restore request, the `details` it records in the manifest, and the progress record that the
 * workflow's Wait loop carries between describe calls.
 */

export const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
export const regionSchema = z.string().regex(AWS_REGION, 'an AWS region like eu-west-1');
export const rdsIdentifierSchema = z.string().refine((value) => isRdsIdentifier(value), {
  message:
    'an RDS identifier: 1-63 letters, digits or hyphens, starting with a letter, no "--", not ending with "-"',
});
export const kmsKeyArnSchema = z
  .string()
  .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+$/, 'a KMS key ARN');
export const accountIdSchema = z.string().regex(/^\d{12}$/, 'a 12-digit AWS account id');

const waitSettings = {
  /** Seconds between two describe calls of the Wait loop. */
  waitIntervalSeconds: z.number().int().min(1).max(3600).default(60),
  /** Describe calls before the loop gives up (interval × attempts bounds the wait). */
  maxWaitAttempts: z.number().int().min(1).max(100_000).default(240),
};

export const rdsSettingsSchema = z.strictObject({
  mode: z.enum(['rds-instance', 'aurora-cluster']),
  /** The DB instance (rds-instance) or DB cluster (aurora-cluster) identifier. */
  identifier: rdsIdentifierSchema,
  /** Region of the source. @default the Lambda's AWS_REGION */
  region: regionSchema.optional(),
  /** Copy each snapshot to this region, encrypted with `drKmsKeyArn` (a key of that region). */
  drRegion: regionSchema.optional(),
  drKmsKeyArn: kmsKeyArnSchema.optional(),
  /** Share each snapshot (and its DR copy) with this account. */
  shareWithAccount: accountIdSchema.optional(),
  ...waitSettings,
});
export type RdsSettings = z.infer<typeof rdsSettingsSchema>;

export const dumpSettingsSchema = z.strictObject({
  mode: z.literal('dump'),
  /** The database URL (local mode). Never in a Lambda's environment: use urlParameterName. */
  url: z.string().min(1).max(2048).optional(),
  /** Name of the SSM SecureString parameter that holds the URL (with its password). */
  urlParameterName: z
    .string()
    .regex(/^[A-Za-z0-9_.\-/]{1,2011}$/, 'an SSM parameter name')
    .optional(),
  /** Environment variable that holds the password when the URL has none. */
  passwordEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
    .default('LIFERAY_BACKUP_DATABASE_PASSWORD'),
  /** Extra folder searched for the client programs first (a Lambda layer puts them in /opt/bin). */
  toolsDir: z.string().min(1).optional(),
  /**
   * Compression level 1-9: gzip of SQL dumps, pg_dump --compress for PostgreSQL's custom format.
   * 1 by default: on a 2-core machine level 6 made dumps 1.5-4x slower (a dump must fit a Lambda's 15 minutes).
   */
  compressionLevel: z.number().int().min(1).max(9).default(1),
  /** PostgreSQL database to connect to for CREATE DATABASE and catalog queries. */
  maintenanceDatabase: z.string().regex(SQL_DATABASE_NAME).default('postgres'),
  ...waitSettings,
});
export type DumpSettings = z.infer<typeof dumpSettingsSchema>;

export const databaseSettingsSchema = z
  .discriminatedUnion('mode', [rdsSettingsSchema, dumpSettingsSchema])
  .superRefine((settings, ctx) => {
    if (settings.mode === 'dump') {
      if ((settings.url === undefined) === (settings.urlParameterName === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['url'],
          message: 'give exactly one of url and urlParameterName',
        });
      }
    } else if ((settings.drRegion === undefined) !== (settings.drKmsKeyArn === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['drKmsKeyArn'],
        message: 'drRegion and drKmsKeyArn go together',
      });
    }
  });
export type DatabaseSettings = z.infer<typeof databaseSettingsSchema>;

/**
 * The database part of a restore request. RDS/Aurora: every recorded setting may be overridden;
 * `region` restores from the DR copy. Dump: `targetDatabase` (default derived from the restore
 * id, never the source's name) and `overwrite` for a target that is not empty.
 */
export const databaseRestoreRequestSchema = z.strictObject({
  targetIdentifier: rdsIdentifierSchema.optional(),
  region: regionSchema.optional(),
  instanceClass: z
    .string()
    .regex(/^db\.[a-z0-9.-]+$/, 'an instance class like db.r6g.large')
    .optional(),
  subnetGroupName: z.string().min(1).max(255).optional(),
  securityGroupIds: z
    .array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'a security group id'))
    .min(1)
    .max(5)
    .optional(),
  parameterGroupName: z.string().min(1).max(255).optional(),
  clusterParameterGroupName: z.string().min(1).max(255).optional(),
  optionGroupName: z.string().min(1).max(255).optional(),
  multiAz: z.boolean().optional(),
  port: z.number().int().min(1150).max(65535).optional(),
  storageType: z.string().min(1).max(32).optional(),
  allocatedStorage: z.number().int().min(5).max(65536).optional(),
  iops: z.number().int().min(1000).max(256000).optional(),
  publiclyAccessible: z.boolean().optional(),
  deletionProtection: z.boolean().optional(),
  targetDatabase: z
    .string()
    .regex(
      SQL_DATABASE_NAME,
      'letters, digits and underscores, starting with a letter or underscore, up to 63',
    )
    .optional(),
  overwrite: z.boolean().default(false),
});
export type DatabaseRestoreRequest = z.infer<typeof databaseRestoreRequestSchema>;

const snapshotRefSchema = z.object({
  identifier: z.string().min(1).max(MAX_SNAPSHOT_IDENTIFIER),
  arn: z.string().min(1),
  region: regionSchema,
  status: z.string().optional(),
  kmsKeyId: z.string().optional(),
  encrypted: z.boolean().optional(),
  createdAt: z.string().optional(),
  sizeGiB: z.number().optional(),
});
export type SnapshotRef = z.infer<typeof snapshotRefSchema>;

export const instanceSourceSchema = z.object({
  identifier: z.string(),
  arn: z.string(),
  region: regionSchema,
  engine: z.string(),
  engineVersion: z.string(),
  instanceClass: z.string(),
  subnetGroupName: z.string().optional(),
  securityGroupIds: z.array(z.string()),
  parameterGroupName: z.string().optional(),
  optionGroupName: z.string().optional(),
  storageType: z.string().optional(),
  allocatedStorage: z.number().optional(),
  iops: z.number().optional(),
  storageThroughput: z.number().optional(),
  multiAz: z.boolean(),
  port: z.number(),
  kmsKeyId: z.string().optional(),
  storageEncrypted: z.boolean(),
  publiclyAccessible: z.boolean(),
  availabilityZone: z.string().optional(),
  deletionProtection: z.boolean(),
  iamDatabaseAuthentication: z.boolean(),
  caCertificateIdentifier: z.string().optional(),
  databaseName: z.string().optional(),
  masterUsername: z.string().optional(),
  licenseModel: z.string().optional(),
  copyTagsToSnapshot: z.boolean().optional(),
  cloudwatchLogsExports: z.array(z.string()).default([]),
});
export type InstanceSource = z.infer<typeof instanceSourceSchema>;

export const clusterMemberSchema = z.object({
  identifier: z.string(),
  writer: z.boolean(),
  instanceClass: z.string().optional(),
  parameterGroupName: z.string().optional(),
  availabilityZone: z.string().optional(),
  promotionTier: z.number().optional(),
  publiclyAccessible: z.boolean().optional(),
});

export const clusterSourceSchema = z.object({
  identifier: z.string(),
  arn: z.string(),
  region: regionSchema,
  engine: z.string(),
  engineVersion: z.string(),
  engineMode: z.string().optional(),
  subnetGroupName: z.string().optional(),
  securityGroupIds: z.array(z.string()),
  clusterParameterGroupName: z.string().optional(),
  port: z.number(),
  kmsKeyId: z.string().optional(),
  storageEncrypted: z.boolean(),
  storageType: z.string().optional(),
  databaseName: z.string().optional(),
  masterUsername: z.string().optional(),
  deletionProtection: z.boolean(),
  iamDatabaseAuthentication: z.boolean(),
  copyTagsToSnapshot: z.boolean().optional(),
  backtrackWindow: z.number().optional(),
  serverlessV2Scaling: z.object({ minCapacity: z.number(), maxCapacity: z.number() }).optional(),
  cloudwatchLogsExports: z.array(z.string()).default([]),
  availabilityZones: z.array(z.string()).default([]),
  instances: z.array(clusterMemberSchema),
});
export type ClusterSource = z.infer<typeof clusterSourceSchema>;

const shareSchema = z.object({ account: accountIdSchema, snapshotArn: z.string() });

export const instanceDetailsSchema = z.object({
  mode: z.literal('rds-instance'),
  source: instanceSourceSchema,
  snapshot: snapshotRefSchema,
  drCopy: snapshotRefSchema.optional(),
  sharedWith: z.array(shareSchema).default([]),
});
export const clusterDetailsSchema = z.object({
  mode: z.literal('aurora-cluster'),
  source: clusterSourceSchema,
  snapshot: snapshotRefSchema,
  drCopy: snapshotRefSchema.optional(),
  sharedWith: z.array(shareSchema).default([]),
});
export const dumpDetailsSchema = z.object({
  mode: z.literal('dump'),
  engine: z.enum(['mysql', 'mariadb', 'postgresql']),
  /** The source, without password. */
  source: z.string(),
  database: z.string(),
  serverVersion: z.string(),
  tool: z.string(),
  toolVersion: z.string(),
  format: z.enum(['sql-gzip', 'pg-custom']),
  key: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Bytes the dump tool wrote (before compression for SQL dumps). */
  dumpBytes: z.number().int().nonnegative(),
  characterSet: z.string().optional(),
  /** MySQL/MariaDB: the default collation. PostgreSQL: LC_COLLATE. */
  collation: z.string().optional(),
  /**
   * PostgreSQL's LC_CTYPE and locale provider, with the provider's locale (ICU or builtin) and
   * ICU tailoring rules (16+). Sets taken before they were recorded have none: their restore
   * creates a libc database with LC_CTYPE = `collation`.
   */
  ctype: z.string().optional(),
  localeProvider: z.enum(['libc', 'icu', 'builtin']).optional(),
  providerLocale: z.string().optional(),
  icuRules: z.string().optional(),
});
export type DumpDetails = z.infer<typeof dumpDetailsSchema>;

export const databaseDetailsSchema = z.discriminatedUnion('mode', [
  instanceDetailsSchema,
  clusterDetailsSchema,
  dumpDetailsSchema,
]);
export type DatabaseDetails = z.infer<typeof databaseDetailsSchema>;
export type SnapshotDetails = z.infer<typeof instanceDetailsSchema> | z.infer<typeof clusterDetailsSchema>;
