import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import type { LiferayBackupConfig } from './config.ts';

/** The existing VPC, subnets and security group that the Lambdas reaching EFS and databases use. */
export class Network extends Construct {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.ISecurityGroup;

  constructor(scope: Construct, id: string, network: NonNullable<LiferayBackupConfig['network']>) {
    super(scope, id);
    // fromVpcAttributes, not fromLookup: synth must work offline, without AWS credentials.
    this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: network.vpcId,
      availabilityZones: network.availabilityZones,
      privateSubnetIds: network.subnetIds,
    });
    this.subnets = {
      subnets: network.subnetIds.map((subnetId, index) =>
        ec2.Subnet.fromSubnetId(this, `Subnet${index}`, subnetId),
      ),
    };
    this.securityGroup = ec2.SecurityGroup.fromSecurityGroupId(
      this,
      'SecurityGroup',
      network.securityGroupId,
      {
        mutable: false,
      },
    );
  }
}
