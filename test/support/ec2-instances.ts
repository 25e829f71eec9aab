/**
 * EC2 instances and volumes on moto for the tests that attach volumes (workflow DirectMounts,
 * primary sources, deleting a workflow's clones): one running instance from moto's first AMI.
 */
import {
  CreateVolumeCommand,
  DescribeImagesCommand,
  RunInstancesCommand,
  type EC2Client,
  type Tag,
} from '@aws-sdk/client-ec2';

/** The instance type the tests launch: moto accepts any; the smallest current type reads as a stand-in. */
const TEST_INSTANCE_TYPE = 't3.micro';

/** Starts one instance of moto's first AMI in `availabilityZone`, tagged `tags`; returns its id. */
export async function launchInstance(
  ec2: EC2Client,
  availabilityZone: string,
  tags: Readonly<Record<string, string>> = {},
): Promise<string> {
  const ami = (await ec2.send(new DescribeImagesCommand({}))).Images![0]!.ImageId!;
  const started = await ec2.send(
    new RunInstancesCommand({
      ImageId: ami,
      MinCount: 1,
      MaxCount: 1,
      InstanceType: TEST_INSTANCE_TYPE,
      Placement: { AvailabilityZone: availabilityZone },
      ...(Object.keys(tags).length === 0
        ? {}
        : { TagSpecifications: [{ ResourceType: 'instance', Tags: tagList(tags) }] }),
    }),
  );
  return started.Instances![0]!.InstanceId!;
}

/** Creates an empty 1 GiB volume in `availabilityZone` tagged `tags` (if any); returns its id. */
export async function createTaggedVolume(
  ec2: EC2Client,
  availabilityZone: string,
  tags: Readonly<Record<string, string>>,
): Promise<string> {
  const created = await ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: availabilityZone,
      Size: 1,
      ...(Object.keys(tags).length === 0
        ? {}
        : { TagSpecifications: [{ ResourceType: 'volume', Tags: tagList(tags) }] }),
    }),
  );
  return created.VolumeId!;
}

/** EC2's tag list of a record. */
export function tagList(tags: Readonly<Record<string, string>>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}
