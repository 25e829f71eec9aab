/**
 * The pure parts of the recovery point API: where a filesystem appears in the device-named tree
 * (Linux partition names, whole disks, LVM logical volumes, devices that are not paths) and a
 * server restore's status from its volumes' restores.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  filesystemPath,
  serverRestoreStatus,
} from '../../lambdas/core/recovery-points/recovery-point-service.ts';

describe('filesystemPath', () => {
  it('names partitions as Linux does, the whole disk by the device, LVs by their number', () => {
    expect(filesystemPath('/dev/xvdb', 1)).toBe('/dev/xvdb1');
    expect(filesystemPath('/dev/sda', 15)).toBe('/dev/sda15');
    expect(filesystemPath('/dev/nvme1n1', 2)).toBe('/dev/nvme1n1p2');
    expect(filesystemPath('/dev/xvda', 0)).toBe('/dev/xvda');
    expect(filesystemPath('/dev/xvdc', 2001)).toBe('/dev/xvdc-lv2001');
    expect(filesystemPath('disk1', 1)).toBe('/disk1p1');
    expect(filesystemPath('disk0', 0)).toBe('/disk0');
  });

  it('gives every (device, partition) of one server its own path (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.constantFrom('/dev/xvda', '/dev/xvdb', '/dev/nvme0n1', '/dev/nvme1n1', 'disk0', 'disk1'),
          {
            minLength: 1,
          },
        ),
        fc.uniqueArray(fc.oneof(fc.integer({ min: 0, max: 128 }), fc.integer({ min: 1000, max: 129_999 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (devices, partitions) => {
          const paths = devices.flatMap((d) => partitions.map((p) => filesystemPath(d, p)));
          expect(new Set(paths).size).toBe(paths.length);
        },
      ),
    );
  });
});

describe('serverRestoreStatus', () => {
  it('succeeds when every volume did, fails once one failed and none runs, runs otherwise', () => {
    expect(serverRestoreStatus(['SUCCEEDED', 'SUCCEEDED'])).toBe('SUCCEEDED');
    expect(serverRestoreStatus(['PENDING', 'PENDING'])).toBe('PENDING');
    expect(serverRestoreStatus(['SUCCEEDED', 'RUNNING'])).toBe('RUNNING');
    expect(serverRestoreStatus(['FAILED', 'RUNNING'])).toBe('RUNNING');
    expect(serverRestoreStatus(['FAILED', 'SUCCEEDED'])).toBe('FAILED');
  });
});
