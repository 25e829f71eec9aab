/**
 * The EC2 ports' contracts against their in-memory fakes and their real adapters, all on one local
 * stack (moto for EC2, the EBS emulator behind the gateway for the direct APIs):
 * - SnapshotStateReader: MemoryEbs vs Ec2SnapshotState (snapshots written by EbsSnapshots);
 * - SnapshotPort: the ASL tests' FakeWorld vs Ec2ReplicaSnapshots;
 * - ServerDirectory and ReplicaVolumeSource: MemoryEc2Volumes vs Ec2ServerDirectory and Ec2ReplicaVolumes;
 * - InstanceDirectory: the workflow tests' MemoryEc2 vs Ec2InstanceDirectory;
 * - CloneResources and CreatedResources: MemoryEc2 and MemoryCreatedResources vs Ec2CloneResources
 *   and Ec2WorkflowResources;
 * - PrimarySnapshotPort: MemoryPrimarySnapshots vs Ec2PrimarySnapshots;
 * - ReplicaStatePort: MemoryReplicaState vs Ec2DrsReplicaState, the volumes' tags from moto and
 *   DRS source servers from DrsReplication on the gateway's local DRS (local/drs);
 * - RestoredVolumes and AvailabilityZones: MemoryRestoredVolumes vs Ec2RestoredVolumes and
 *   Ec2AvailabilityZones.
 */
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DrsClient } from '@aws-sdk/client-drs';
import { DrsReplication } from '../../lambdas/aws/drs-replication.ts';
import { EbsSnapshots } from '../../lambdas/aws/ebs-snapshots.ts';
import { Ec2PrimarySnapshots } from '../../lambdas/aws/ec2-primary-snapshots.ts';
import { Ec2AvailabilityZones, Ec2RestoredVolumes } from '../../lambdas/aws/ec2-restored-volumes.ts';
import { Ec2InstanceDirectory } from '../../lambdas/aws/ec2-instance-directory.ts';
import { Ec2ReplicaSnapshots } from '../../lambdas/aws/ec2-replica-snapshots.ts';
import { Ec2ReplicaVolumes } from '../../lambdas/aws/ec2-replica-volumes.ts';
import { Ec2ServerDirectory } from '../../lambdas/aws/ec2-server-directory.ts';
import { Ec2SnapshotState } from '../../lambdas/aws/ec2-snapshot-state.ts';
import { Ec2WorkflowResources } from '../../lambdas/aws/ec2-workflow-resources.ts';
import { Ec2DrsReplicaState } from '../../lambdas/aws/replica-state.ts';
import { Ec2CloneResources } from '../../lambdas/aws/workflow-run-adapters.ts';
import { REPLICA_AVAILABILITY_ZONE as ZONE } from '../../local/replica/replica-volumes.ts';
import { MemoryCreatedResources } from '../fakes/memory-created-resources.ts';
import { MemoryEbs } from '../fakes/memory-ebs.ts';
import { MemoryEc2Volumes } from '../fakes/memory-ec2-volumes.ts';
import { MemoryPrimarySnapshots } from '../fakes/memory-primary-snapshots.ts';
import { MemoryReplicaState } from '../fakes/memory-replica-state.ts';
import { MemoryAvailabilityZones, MemoryRestoredVolumes } from '../restore/memory-restored-volumes.ts';
import { FakeWorld, SteppingClock } from '../statemachines/asl-harness.ts';
import { useLocalClients, useLocalStack } from '../support/local-stack.ts';
import { INSTANCE, MemoryEc2, ZONE as WORKFLOW_ZONE } from '../workflows/memory-workflow-world.ts';
import { cloneResourcesContract } from './clone-resources.contract.ts';
import { primarySnapshotsContract } from './primary-snapshots.contract.ts';
import { instanceDirectoryContract, volumeDirectoriesContract } from './ec2-directories.contract.ts';
import { replicaSnapshotsContract } from './replica-snapshots.contract.ts';
import {
  drsSourceServerContract,
  replicaStateContract,
  type ReplicaStateHarness,
} from './replica-state.contract.ts';
import { restoredVolumesContract } from './restored-volumes.contract.ts';
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
    launch: runInstance,
    terminate: async (instanceId) => {
      await aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    },
  }),
);

cloneResourcesContract(
  'MemoryEc2 and MemoryCreatedResources (the workflow tests)',
  { honoursClientToken: true },
  () => {
    const ec2 = new MemoryEc2();
    return Promise.resolve({
      resources: ec2,
      created: new MemoryCreatedResources(ec2),
      snapshot: (tags) => Promise.resolve(ec2.makeSnapshot('restore', { ...tags }, 'completed')),
      instance: () => Promise.resolve({ instanceId: INSTANCE, availabilityZone: WORKFLOW_ZONE }),
      tick: () => Promise.resolve(ec2.tick()),
    });
  },
);
cloneResourcesContract(
  'Ec2CloneResources and Ec2WorkflowResources on moto',
  { honoursClientToken: false },
  () =>
    Promise.resolve({
      resources: new Ec2CloneResources(aws.ec2),
      created: new Ec2WorkflowResources(aws.ec2),
      snapshot: async (tags) => {
        const created = await aws.ec2.send(
          new CreateSnapshotCommand({
            VolumeId: await createVolume({ 'rbp:contract': 'clone-source' }, 1),
            ...tagSpecifications('snapshot', tags),
          }),
        );
        return created.SnapshotId!;
      },
      instance: async () => ({
        instanceId: await (cloneInstance ??= runInstance(ZONE)),
        availabilityZone: ZONE,
      }),
      tick: () => new Promise((resolve) => setTimeout(resolve, SETTLE_PAUSE_MS)),
    }),
);

primarySnapshotsContract('MemoryPrimarySnapshots', () => {
  const ec2 = new MemoryPrimarySnapshots();
  return Promise.resolve({
    port: ec2,
    volume: (tags) => Promise.resolve(ec2.addVolume(tags)),
    instance: (tags, volumeIds) => Promise.resolve(ec2.addInstance(tags, volumeIds)),
    snapshot: (snapshotId) => {
      const { volumeId, description, tags } = ec2.snapshots.get(snapshotId)!;
      return Promise.resolve({ volumeId, description, tags });
    },
  });
});
primarySnapshotsContract('Ec2PrimarySnapshots on moto', () =>
  Promise.resolve({
    port: new Ec2PrimarySnapshots(aws.ec2),
    volume: (tags) => createVolume(tags, 1),
    instance: async (tags, volumeIds) => {
      const instanceId = await runInstance(ZONE, tags);
      for (const [index, volumeId] of volumeIds.entries()) {
        await aws.ec2.send(
          new AttachVolumeCommand({
            VolumeId: volumeId,
            InstanceId: instanceId,
            Device: `/dev/sd${'fghij'[index]}`,
          }),
        );
      }
      return instanceId;
    },
    snapshot: async (snapshotId) => {
      const found = (await aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })))
        .Snapshots![0]!;
      return {
        volumeId: found.VolumeId!,
        description: found.Description ?? '',
        tags: Object.fromEntries((found.Tags ?? []).map((t) => [t.Key!, t.Value ?? ''])),
      };
    },
  }),
);

const memoryReplicaState = (): Promise<ReplicaStateHarness> => {
  const ec2 = new MemoryEc2Volumes();
  return Promise.resolve({
    state: new MemoryReplicaState(ec2),
    volume: (tags) => Promise.resolve(ec2.addVolume(tags)),
    tag: (volumeId, tags) => Promise.resolve(ec2.tag(volumeId, tags)),
  });
};
const localReplicaState = (): Promise<ReplicaStateHarness> =>
  Promise.resolve({
    state: new Ec2DrsReplicaState(
      () => new Ec2ReplicaSnapshots(aws.ec2),
      () => new DrsReplication(drs()),
    ),
    volume: (tags) => createVolume(tags, 1),
    tag: async (volumeId, tags) => {
      await aws.ec2.send(
        new CreateTagsCommand({
          Resources: [volumeId],
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
        }),
      );
    },
  });
replicaStateContract('MemoryReplicaState', memoryReplicaState);
replicaStateContract('Ec2DrsReplicaState on moto', localReplicaState);
drsSourceServerContract('MemoryReplicaState', memoryReplicaState);
drsSourceServerContract('Ec2DrsReplicaState with DrsReplication on the local DRS', localReplicaState);

restoredVolumesContract('MemoryRestoredVolumes', () =>
  Promise.resolve({
    volumes: new MemoryRestoredVolumes(),
    zones: new MemoryAvailabilityZones(),
    snapshot: () => Promise.resolve(`snap-${randomBytes(8).toString('hex')}0`),
    zone: 'us-east-1b',
  }),
);
restoredVolumesContract('Ec2RestoredVolumes and Ec2AvailabilityZones on moto', () =>
  Promise.resolve({
    volumes: new Ec2RestoredVolumes(aws.ec2),
    zones: new Ec2AvailabilityZones(aws.ec2),
    snapshot: async () => {
      const created = await aws.ec2.send(
        new CreateSnapshotCommand({ VolumeId: await createVolume({ 'rbp:contract': 'restored-source' }, 1) }),
      );
      return created.SnapshotId!;
    },
    zone: ZONE,
  }),
);

/** The stack and its SDK clients (one attempt each: a contract sees every error the service answers). */
const local = useLocalStack();
const aws = useLocalClients(local);
/** A DRS client on the gateway (one attempt), made on first use inside the tests. */
let drsClient: DrsClient | undefined;
const drs = (): DrsClient => (drsClient ??= new DrsClient(local.clientConfig()));
afterAll(() => drsClient?.destroy());

/** The image instances run (DescribeImages lists moto's many AMIs: read once). */
let imageId: Promise<string> | undefined;
/** The one instance the clone contract attaches to (each of its tests leaves it as it found it). */
let cloneInstance: Promise<string> | undefined;
/** Pause between reads of a volume that is still settling on moto. */
const SETTLE_PAUSE_MS = 100;

/** The TagSpecifications of a resource created with `tags`; none for no tags (EC2 refuses an empty one). */
function tagSpecifications(
  ResourceType: 'volume' | 'snapshot' | 'instance',
  tags: Readonly<Record<string, string>>,
): { TagSpecifications?: { ResourceType: typeof ResourceType; Tags: { Key: string; Value: string }[] }[] } {
  const Tags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  return Tags.length === 0 ? {} : { TagSpecifications: [{ ResourceType, Tags }] };
}

async function runInstance(
  availabilityZone: string,
  tags: Readonly<Record<string, string>> = {},
): Promise<string> {
  imageId ??= aws.ec2.send(new DescribeImagesCommand({})).then((images) => images.Images![0]!.ImageId!);
  const started = await aws.ec2.send(
    new RunInstancesCommand({
      ImageId: await imageId,
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      Placement: { AvailabilityZone: availabilityZone },
      ...tagSpecifications('instance', tags),
    }),
  );
  return started.Instances![0]!.InstanceId!;
}

async function createVolume(tags: Readonly<Record<string, string>>, sizeGib: number): Promise<string> {
  const created = await aws.ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: ZONE,
      Size: sizeGib,
      ...tagSpecifications('volume', tags),
    }),
  );
  return created.VolumeId!;
}
