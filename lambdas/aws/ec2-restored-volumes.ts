/**
 * EC2 for volumes made from restored snapshots (lambdas/core/restore/restored-volumes.ts):
 * DescribeVolumes by the restore's tags, CreateVolume (encrypted, tagged at creation), and
 * DescribeAvailabilityZones for the API's check of a requested zone.
 */
import {
  CreateVolumeCommand,
  DescribeAvailabilityZonesCommand,
  DescribeVolumesCommand,
  type EC2Client,
  type Volume,
} from '@aws-sdk/client-ec2';
import {
  DEVICE_TAG,
  type AvailabilityZones,
  type CreateRestoredVolumeRequest,
  type RestoredVolume,
  type RestoredVolumes,
} from '../core/restore/restored-volumes.ts';
import { RESTORE_ID_TAG } from '../core/restore/volume-restore.ts';
import { PermanentError } from '../core/errors.ts';
import { tagList } from './aws-tags.ts';
import { callSdk } from './sdk-errors.ts';

function restoredVolumeOf(volume: Volume | undefined, operation: string): RestoredVolume {
  if (volume?.VolumeId === undefined) {
    throw new PermanentError(`${operation} answered without a volume id`, { context: { operation } });
  }
  return { volumeId: volume.VolumeId, state: volume.State ?? 'creating' };
}

export class Ec2RestoredVolumes implements RestoredVolumes {
  constructor(private readonly ec2: EC2Client) {}

  async findRestoredVolume(serverRestoreId: string, device: string): Promise<RestoredVolume | undefined> {
    const out = await callSdk('DescribeVolumes', { serverRestoreId, device }, () =>
      this.ec2.send(
        new DescribeVolumesCommand({
          Filters: [
            { Name: `tag:${RESTORE_ID_TAG}`, Values: [serverRestoreId] },
            { Name: `tag:${DEVICE_TAG}`, Values: [device] },
          ],
        }),
      ),
    );
    // A deleted volume is not the restore's: the operator removed it, and a redrive makes another.
    const live = (out.Volumes ?? []).filter((v) => v.State !== 'deleted' && v.State !== 'deleting');
    return live.length === 0 ? undefined : restoredVolumeOf(live[0], 'DescribeVolumes');
  }

  async createVolume(request: CreateRestoredVolumeRequest): Promise<RestoredVolume> {
    const out = await callSdk(
      'CreateVolume',
      { snapshotId: request.snapshotId, availabilityZone: request.availabilityZone },
      () =>
        this.ec2.send(
          new CreateVolumeCommand({
            SnapshotId: request.snapshotId,
            AvailabilityZone: request.availabilityZone,
            VolumeType: request.volumeType,
            Size: request.sizeGib,
            ...(request.iops === undefined ? {} : { Iops: request.iops }),
            // MiB/s; EC2 takes it only with a SnapshotId, which a restored volume always has.
            ...(request.volumeInitializationRate === undefined
              ? {}
              : { VolumeInitializationRate: request.volumeInitializationRate }),
            Encrypted: true,
            ...(request.kmsKeyArn === undefined ? {} : { KmsKeyId: request.kmsKeyArn }),
            ClientToken: request.clientToken,
            TagSpecifications: [
              {
                ResourceType: 'volume',
                Tags: tagList(request.tags),
              },
            ],
          }),
        ),
    );
    return restoredVolumeOf(out, 'CreateVolume');
  }
}

export class Ec2AvailabilityZones implements AvailabilityZones {
  constructor(private readonly ec2: EC2Client) {}

  async zoneNames(): Promise<readonly string[]> {
    const out = await callSdk('DescribeAvailabilityZones', {}, () =>
      this.ec2.send(new DescribeAvailabilityZonesCommand({})),
    );
    return (out.AvailabilityZones ?? []).flatMap((z) => (z.ZoneName === undefined ? [] : [z.ZoneName]));
  }
}
