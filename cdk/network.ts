import { Annotations } from 'aws-cdk-lib';
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
    // The Lambdas only attach to these subnets; nothing reads their route tables.
    for (const node of this.node.findAll()) {
      Annotations.of(node).acknowledgeWarning(
        '@aws-cdk/aws-ec2:noSubnetRouteTableId',
        'the subnets are only attached to',
      );
    }
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
