import * as z from 'zod';

/**
 * A KMS key ARN, never an alias ARN: in an IAM statement's Resource an alias ARN names the alias
 * only, so kms:Decrypt or kms:CreateGrant granted on it never applies to the key behind it, and a
 * deployment that synthesized would fail at run time with AccessDenied.
 */
export const kmsKeyArnSchema = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/,
    'a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), not an alias',
  );
