/**
 * The EC2 instances a DirectMount workflow attaches to (core/workflows/workflow-service.ts):
 * DescribeInstances gives an instance's availability zone and its block-device mappings
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html); an unknown
 * id answers `InvalidInstanceID.NotFound` (or `InvalidInstanceID.Malformed`), and a terminated
 * instance stays listed for a while with the state `terminated`: both are "no such instance".
 */
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { TargetInstance } from '../core/workflows/devices.ts';
import type { InstanceDirectory } from '../core/workflows/workflow-service.ts';
import { sdkErrorName, translateSdkError } from './sdk-errors.ts';

const ABSENT_INSTANCE_ERRORS = new Set(['InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed']);
const GONE_STATES = new Set(['shutting-down', 'terminated']);

export class Ec2InstanceDirectory implements InstanceDirectory {
  constructor(private readonly ec2: EC2Client) {}

  async describe(instanceId: string): Promise<TargetInstance | undefined> {
    let answer;
    try {
      answer = await this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    } catch (error) {
      if (ABSENT_INSTANCE_ERRORS.has(sdkErrorName(error) ?? '')) return undefined;
      throw translateSdkError(error, 'DescribeInstances', { instanceId });
    }
    const instance = answer.Reservations?.flatMap((r) => r.Instances ?? []).find(
      (i) => i.InstanceId === instanceId,
    );
    if (instance === undefined || GONE_STATES.has(instance.State?.Name ?? '')) return undefined;
    const devices = new Set<string>();
    if (instance.RootDeviceName !== undefined) devices.add(instance.RootDeviceName);
    for (const mapping of instance.BlockDeviceMappings ?? []) {
      if (mapping.DeviceName !== undefined) devices.add(mapping.DeviceName);
    }
    return {
      instanceId,
      availabilityZone: instance.Placement?.AvailabilityZone ?? '',
      devicesInUse: [...devices].sort(),
    };
  }
}
