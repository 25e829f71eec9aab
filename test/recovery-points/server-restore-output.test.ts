/**
 * What `rbp restore server` prints: `--json` keeps exactly {restoreId, status, snapshots:
 * [{device, volumeId, imageId, snapshotId}]} without --availability-zone and adds
 * restoredVolumeId and availabilityZone to each entry only with it; the human output lists each
 * device with its new volume.
 */
import { describe, expect, it } from 'vitest';
import { describeServerRestore, serverRestoreJson } from '../../cli/commands/recovery-points.ts';
import type { ServerRestore } from '../../lambdas/core/recovery-points/recovery-point-service.ts';

const SNAPSHOTS_ONLY: ServerRestore = {
  restoreId: 'rs-1',
  recoveryPointId: 'rp-bk-1',
  serverId: 'web-01',
  status: 'RUNNING',
  createdAt: '2026-03-01T00:00:00.000Z',
  snapshots: [
    {
      device: '/dev/xvda',
      volumeId: 'vol-0a',
      imageId: 'img-bk-1-vol-0a',
      snapshotId: 'snap-0a',
      restoreId: 'rs-1-v0',
      status: 'SUCCEEDED',
    },
    {
      device: '/dev/xvdb',
      volumeId: 'vol-0b',
      imageId: 'img-bk-1-vol-0b',
      restoreId: 'rs-1-v1',
      status: 'RUNNING',
    },
  ],
};
const INTO_VOLUMES: ServerRestore = {
  ...SNAPSHOTS_ONLY,
  availabilityZone: 'us-east-1b',
  volumeType: 'gp3',
  snapshots: [
    { ...SNAPSHOTS_ONLY.snapshots[0]!, restoredVolumeId: 'vol-new0', availabilityZone: 'us-east-1b' },
    { ...SNAPSHOTS_ONLY.snapshots[1]!, availabilityZone: 'us-east-1b' },
  ],
};

describe('rbp restore server output', () => {
  it('--json is unchanged without volumes and adds restoredVolumeId and availabilityZone with them', () => {
    expect(serverRestoreJson(SNAPSHOTS_ONLY)).toEqual({
      restoreId: 'rs-1',
      status: 'RUNNING',
      snapshots: [
        { device: '/dev/xvda', volumeId: 'vol-0a', imageId: 'img-bk-1-vol-0a', snapshotId: 'snap-0a' },
        { device: '/dev/xvdb', volumeId: 'vol-0b', imageId: 'img-bk-1-vol-0b', snapshotId: null },
      ],
    });
    expect(serverRestoreJson(INTO_VOLUMES)).toEqual({
      restoreId: 'rs-1',
      status: 'RUNNING',
      snapshots: [
        {
          device: '/dev/xvda',
          volumeId: 'vol-0a',
          imageId: 'img-bk-1-vol-0a',
          snapshotId: 'snap-0a',
          restoredVolumeId: 'vol-new0',
          availabilityZone: 'us-east-1b',
        },
        {
          device: '/dev/xvdb',
          volumeId: 'vol-0b',
          imageId: 'img-bk-1-vol-0b',
          snapshotId: null,
          restoredVolumeId: null,
          availabilityZone: 'us-east-1b',
        },
      ],
    });
  });

  it('lists each device with its new volume', () => {
    expect(describeServerRestore(SNAPSHOTS_ONLY).split('\n')).toEqual([
      'restore rs-1: RUNNING',
      '  recovery point rp-bk-1 of web-01',
      '  /dev/xvda   vol-0a  SUCCEEDED snap-0a',
      '  /dev/xvdb   vol-0b  RUNNING   ',
    ]);
    expect(describeServerRestore(INTO_VOLUMES).split('\n')).toEqual([
      'restore rs-1: RUNNING',
      '  recovery point rp-bk-1 of web-01',
      '  new gp3 volumes in us-east-1b:',
      '  /dev/xvda   vol-0a  SUCCEEDED snap-0a -> vol-new0',
      '  /dev/xvdb   vol-0b  RUNNING    -> (not yet)',
    ]);
  });
});
