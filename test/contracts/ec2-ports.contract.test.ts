/**
 * The EC2 ports' contracts against their in-memory fakes and their real adapters, all on one local
 * stack (moto for EC2, the EBS emulator behind the gateway for the direct APIs):
 * - SnapshotStateReader: MemoryEbs vs Ec2SnapshotState (snapshots written by EbsSnapshots);
 * - SnapshotPort: the ASL tests' FakeWorld vs Ec2ReplicaSnapshots;
 * - ServerDirectory and ReplicaVolumeSource: MemoryEc2Volumes vs Ec2ServerDirectory and Ec2ReplicaVolumes;
 * - InstanceDirectory: the workflow tests' MemoryEc2 vs Ec2InstanceDirectory.
 */
import { randomBytes } from 'node:crypto';
import {
  CreateVolumeCommand,
  DescribeImagesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { EbsSnapshots } from '../../lambdas/aws/ebs-snapshots.ts';
import { Ec2InstanceDirectory } from '../../lambdas/aws/ec2-instance-directory.ts';
import { Ec2ReplicaSnapshots } from '../../lambdas/aws/ec2-replica-snapshots.ts';
import { Ec2ReplicaVolumes } from '../../lambdas/aws/ec2-replica-volumes.ts';
import { Ec2ServerDirectory } from '../../lambdas/aws/ec2-server-directory.ts';
import { Ec2SnapshotState } from '../../lambdas/aws/ec2-snapshot-state.ts';
import { REPLICA_AVAILABILITY_ZONE as ZONE } from '../../local/replica/replica-volumes.ts';
import { MemoryEbs } from '../fakes/memory-ebs.ts';
import { MemoryEc2Volumes } from '../fakes/memory-ec2-volumes.ts';
import { FakeWorld, SteppingClock } from '../statemachines/asl-harness.ts';
import { useLocalClients, useLocalStack } from '../support/local-stack.ts';
import { MemoryEc2 } from '../workflows/memory-workflow-world.ts';
import { instanceDirectoryContract, volumeDirectoriesContract } from './ec2-directories.contract.ts';
import { replicaSnapshotsContract } from './replica-snapshots.contract.ts';
import { snapshotStateContract } from './snapshot-state.contract.ts';

snapshotStateContract('MemoryEbs', () => {
  const ebs = new MemoryEbs();
  return Promise.resolve({ state: ebs, writer: ebs });
});
snapshotStateContract('Ec2SnapshotState on moto, written by EbsSnapshots on the EBS emulator', () =>
  Promise.resolve({ state: new Ec2SnapshotState(aws.ec2), writer: new EbsSnapshots(aws.ebs) }),
);

replicaSnapshotsContract('FakeWorld (the ASL tests)', () => {
  const world = new FakeWorld(
    new SteppingClock(Date.UTC(2026, 0, 1)),
    { syncAfterProbes: 0 },
    { completeAfterChecks: 0, failingCreations: [], limitExceededCalls: 0 },
  );
  return Promise.resolve({
    snapshots: world,
    newVolume: () => Promise.resolve(`vol-${randomBytes(8).toString('hex')}0`),
  });
});
replicaSnapshotsContract('Ec2ReplicaSnapshots on moto', () =>
  Promise.resolve({
    snapshots: new Ec2ReplicaSnapshots(aws.ec2),
    newVolume: () => createVolume({ 'rbp:replica': 'true' }, 1),
  }),
);

volumeDirectoriesContract('MemoryEc2Volumes', () => {
  const ec2 = new MemoryEc2Volumes();
  return Promise.resolve({
    servers: ec2,
    volumes: ec2,
    addVolume: (tags, sizeGib) => Promise.resolve(ec2.addVolume(tags, sizeGib)),
  });
});
volumeDirectoriesContract('Ec2ServerDirectory and Ec2ReplicaVolumes on moto', () =>
  Promise.resolve({
    servers: new Ec2ServerDirectory(aws.ec2),
    volumes: new Ec2ReplicaVolumes(aws.ec2),
    addVolume: createVolume,
  }),
);

instanceDirectoryContract('MemoryEc2 (the workflow tests)', () => {
  const ec2 = new MemoryEc2();
  let launched = 0;
  return Promise.resolve({
    instances: ec2,
    launch: (availabilityZone) => {
      launched += 1;
      const instanceId = `i-${launched.toString(16).padStart(17, 'a')}`;
      ec2.instances.set(instanceId, { availabilityZone });
      return Promise.resolve(instanceId);
    },
    terminate: (instanceId) => {
      ec2.instances.delete(instanceId);
      return Promise.resolve();
    },
  });
});
instanceDirectoryContract('Ec2InstanceDirectory on moto', () =>
  Promise.resolve({
    instances: new Ec2InstanceDirectory(aws.ec2),
    launch: async (availabilityZone) => {
      const images = await aws.ec2.send(new DescribeImagesCommand({}));
      const started = await aws.ec2.send(
        new RunInstancesCommand({
          ImageId: images.Images![0]!.ImageId!,
          InstanceType: 't3.micro',
          MinCount: 1,
          MaxCount: 1,
          Placement: { AvailabilityZone: availabilityZone },
        }),
      );
      return started.Instances![0]!.InstanceId!;
    },
    terminate: async (instanceId) => {
      await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    },
  }),
);

/** The stack and its SDK clients (one attempt each: a contract sees every error the service answers). */
const local = useLocalStack();
const aws = useLocalClients(local);

async function createVolume(tags: Readonly<Record<string, string>>, sizeGib: number): Promise<string> {
  const created = await aws.ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: ZONE,
      Size: sizeGib,
      TagSpecifications: [
        { ResourceType: 'volume', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
      ],
    }),
  );
  return created.VolumeId!;
}
