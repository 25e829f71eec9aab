/**
 * EC2 adapter of backups from the primary (core/backup/primary-source.ts): the replica volumes'
 * `rbp:primary-volume` tags, where those volumes are attached, and their snapshots. An instance's
 * primaries are snapshotted with one CreateSnapshots, the instance's other volumes excluded
 * (ExcludeBootVolume for its root device, ExcludeDataVolumeIds for the rest), as a crash-consistent
 * set (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSnapshots.html).
 */
import {
  CreateSnapshotCommand,
  CreateSnapshotsCommand,
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import {
  PRIMARY_OPT_IN_TAG,
  PRIMARY_VOLUME_TAG,
  type PrimarySnapshotPort,
  type PrimaryVolumeView,
} from '../core/backup/primary-source.ts';
import { ValidationError } from '../core/errors.ts';
import { tagList } from './aws-tags.ts';
import { callSdk } from './sdk-errors.ts';

function optedIn(resource: { Tags?: { Key?: string; Value?: string }[] }): boolean {
  return resource.Tags?.some((tag) => tag.Key === PRIMARY_OPT_IN_TAG && tag.Value === 'true') ?? false;
}

/**
 * The stack may snapshot only primaries marked `rbp:primary=true` (its IAM condition); an unmarked
 * one is named here instead of surfacing as EC2's bare UnauthorizedOperation.
 */
function notOptedIn(what: string, ids: readonly string[]): ValidationError {
  return new ValidationError(
    `${what} ${ids.join(', ')} ${ids.length === 1 ? 'is' : 'are'} not tagged ${PRIMARY_OPT_IN_TAG}=true: ` +
      'this deployment snapshots only primaries their operator has marked (docs/plans.md, Replica or primary)',
    { context: { [what === 'instance' ? 'instanceId' : 'volumeIds']: ids.join(',') } },
  );
}

/**
 * Snapshots are tagged on creation (rbp:managed=true among them: the IAM policy's condition for
 * creating snapshots); the per-volume tags of a CreateSnapshots set are added afterwards.
 */
export class Ec2PrimarySnapshots implements PrimarySnapshotPort {
  constructor(private readonly ec2: EC2Client) {}

  async primaryVolumes(replicaVolumeIds: readonly string[]): Promise<PrimaryVolumeView[]> {
    const replicas = await callSdk('DescribeVolumes', { volumeIds: replicaVolumeIds.join(',') }, () =>
      this.ec2.send(new DescribeVolumesCommand({ VolumeIds: [...replicaVolumeIds] })),
    );
    const primaryOf = new Map<string, string>();
    for (const volume of replicas.Volumes ?? []) {
      const primary = volume.Tags?.find((tag) => tag.Key === PRIMARY_VOLUME_TAG)?.Value;
      if (volume.VolumeId !== undefined && primary !== undefined && primary !== '')
        primaryOf.set(volume.VolumeId, primary);
    }
    const primaryIds = [...new Set(primaryOf.values())];
    const attachedTo = new Map<string, string>();
    if (primaryIds.length > 0) {
      const primaries = await callSdk('DescribeVolumes', { volumeIds: primaryIds.join(',') }, () =>
        this.ec2.send(new DescribeVolumesCommand({ VolumeIds: primaryIds })),
      );
      const unmarked = (primaries.Volumes ?? [])
        .filter((volume) => !optedIn(volume))
        .map((volume) => volume.VolumeId ?? '?');
      if (unmarked.length > 0) throw notOptedIn('primary volume', unmarked);
      for (const volume of primaries.Volumes ?? []) {
        const attachment = volume.Attachments?.find(
          (a) => a.State === undefined || a.State === 'attached' || a.State === 'attaching',
        );
        if (volume.VolumeId !== undefined && attachment?.InstanceId !== undefined)
          attachedTo.set(volume.VolumeId, attachment.InstanceId);
      }
    }
    return replicaVolumeIds.map((replicaVolumeId) => {
      const primaryVolumeId = primaryOf.get(replicaVolumeId);
      const instanceId = primaryVolumeId === undefined ? undefined : attachedTo.get(primaryVolumeId);
      return {
        replicaVolumeId,
        ...(primaryVolumeId === undefined ? {} : { primaryVolumeId }),
        ...(instanceId === undefined ? {} : { instanceId }),
      };
    });
  }

  async createInstanceSnapshots(
    instanceId: string,
    volumeIds: readonly string[],
    tags: Record<string, string>,
    description: string,
  ): Promise<ReadonlyMap<string, string>> {
    const described = await callSdk('DescribeInstances', { instanceId }, () =>
      this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })),
    );
    const instance = described.Reservations?.[0]?.Instances?.[0];
    if (instance !== undefined && !optedIn(instance)) throw notOptedIn('instance', [instanceId]);
    const wanted = new Set(volumeIds);
    let excludeBoot = false;
    const excludeData: string[] = [];
    for (const mapping of instance?.BlockDeviceMappings ?? []) {
      const volumeId = mapping.Ebs?.VolumeId;
      if (volumeId === undefined || wanted.has(volumeId)) continue;
      if (mapping.DeviceName !== undefined && mapping.DeviceName === instance?.RootDeviceName)
        excludeBoot = true;
      else excludeData.push(volumeId);
    }
    const created = await callSdk('CreateSnapshots', { instanceId }, () =>
      this.ec2.send(
        new CreateSnapshotsCommand({
          InstanceSpecification: {
            InstanceId: instanceId,
            ExcludeBootVolume: excludeBoot,
            ...(excludeData.length === 0 ? {} : { ExcludeDataVolumeIds: excludeData }),
          },
          Description: description,
          TagSpecifications: [{ ResourceType: 'snapshot', Tags: tagList(tags) }],
        }),
      ),
    );
    const snapshots = new Map<string, string>();
    for (const snapshot of created.Snapshots ?? []) {
      if (
        snapshot.VolumeId !== undefined &&
        snapshot.SnapshotId !== undefined &&
        wanted.has(snapshot.VolumeId)
      ) {
        snapshots.set(snapshot.VolumeId, snapshot.SnapshotId);
      }
    }
    return snapshots;
  }

  async createVolumeSnapshot(
    volumeId: string,
    tags: Record<string, string>,
    description: string,
  ): Promise<string> {
    const created = await callSdk('CreateSnapshot', { volumeId }, () =>
      this.ec2.send(
        new CreateSnapshotCommand({
          VolumeId: volumeId,
          Description: description,
          TagSpecifications: [{ ResourceType: 'snapshot', Tags: tagList(tags) }],
        }),
      ),
    );
    return created.SnapshotId ?? '';
  }

  async tagSnapshot(snapshotId: string, tags: Record<string, string>): Promise<void> {
    await callSdk('CreateTags', { snapshotId }, () =>
      this.ec2.send(
        new CreateTagsCommand({
          Resources: [snapshotId],
          Tags: tagList(tags),
        }),
      ),
    );
  }
}
