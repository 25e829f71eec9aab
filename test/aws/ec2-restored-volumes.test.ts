/**
 * What Ec2RestoredVolumes.createVolume sends EC2 (a recording client: moto ignores
 * VolumeInitializationRate, so the request itself is what is checked): every field exactly, with
 * `VolumeInitializationRate` in MiB/s when the restore asked for one and absent otherwise.
 */
import { CreateVolumeCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { Ec2RestoredVolumes } from '../../lambdas/aws/ec2-restored-volumes.ts';
import {
  restoredVolumeClientToken,
  restoredVolumeTags,
  type CreateRestoredVolumeRequest,
} from '../../lambdas/core/restore/restored-volumes.ts';

/** An EC2 client that records each CreateVolume input and answers a creating volume. */
class RecordingEc2 {
  readonly inputs: unknown[] = [];

  send(command: unknown): Promise<unknown> {
    if (!(command instanceof CreateVolumeCommand)) {
      return Promise.reject(new Error(`unexpected command ${String(command)}`));
    }
    this.inputs.push(command.input);
    return Promise.resolve({ $metadata: {}, VolumeId: 'vol-0new', State: 'creating' });
  }
}

const TARGET = {
  availabilityZone: 'us-east-1a',
  sizeGib: 8,
  serverRestoreId: 'rs-1',
  serverId: 'web-01',
  device: '/dev/xvda',
};

function request(extra: Partial<CreateRestoredVolumeRequest> = {}): CreateRestoredVolumeRequest {
  return {
    snapshotId: 'snap-0restored',
    availabilityZone: 'us-east-1a',
    volumeType: 'gp3',
    sizeGib: 8,
    kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001',
    clientToken: restoredVolumeClientToken('rs-1', '/dev/xvda'),
    tags: restoredVolumeTags(TARGET, 'vol-0a'),
    ...extra,
  };
}

const EXPECTED_TAGS = [
  { Key: 'rbp:restore-id', Value: 'rs-1' },
  { Key: 'rbp:source-server', Value: 'web-01' },
  { Key: 'rbp:source-volume', Value: 'vol-0a' },
  { Key: 'rbp:device', Value: '/dev/xvda' },
  { Key: 'Name', Value: 'web-01 /dev/xvda (rbp restore rs-1)' },
];

describe('Ec2RestoredVolumes.createVolume', () => {
  it('sends VolumeInitializationRate in MiB/s when the restore asks for one', async () => {
    const ec2 = new RecordingEc2();
    const made = await new Ec2RestoredVolumes(ec2 as unknown as EC2Client).createVolume(
      request({ volumeInitializationRate: 300 }),
    );
    expect(made).toEqual({ volumeId: 'vol-0new', state: 'creating' });
    expect(ec2.inputs).toEqual([
      {
        SnapshotId: 'snap-0restored',
        AvailabilityZone: 'us-east-1a',
        VolumeType: 'gp3',
        Size: 8,
        VolumeInitializationRate: 300,
        Encrypted: true,
        KmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001',
        ClientToken: restoredVolumeClientToken('rs-1', '/dev/xvda'),
        TagSpecifications: [{ ResourceType: 'volume', Tags: EXPECTED_TAGS }],
      },
    ]);
  });

  it('sends no VolumeInitializationRate (and io1 IOPS) when none is asked', async () => {
    const ec2 = new RecordingEc2();
    await new Ec2RestoredVolumes(ec2 as unknown as EC2Client).createVolume(
      request({ volumeType: 'io1', iops: 400 }),
    );
    expect(ec2.inputs).toEqual([
      {
        SnapshotId: 'snap-0restored',
        AvailabilityZone: 'us-east-1a',
        VolumeType: 'io1',
        Size: 8,
        Iops: 400,
        Encrypted: true,
        KmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001',
        ClientToken: restoredVolumeClientToken('rs-1', '/dev/xvda'),
        TagSpecifications: [{ ResourceType: 'volume', Tags: EXPECTED_TAGS }],
      },
    ]);
  });
});
