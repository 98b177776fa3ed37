import type * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';

/**
 * A Distributed Map's item list in the store. CDK's reader would grant s3:GetObject on the whole
 * bucket; the workflows grant their state machine read access to `work/*` only instead.
 */
export class StoreItemReader extends sfn.S3JsonItemReader {
  override providePolicyStatements(): iam.PolicyStatement[] {
    return [];
  }
}
