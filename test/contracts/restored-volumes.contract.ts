/**
 * The contract of the RestoredVolumes and AvailabilityZones ports
 * (lambdas/core/restore/restored-volumes.ts): a volume made from a restored snapshot is found
 * again by its server restore id and device tags, and by nothing else; CreateVolume answers the
 * new volume's id in a state a volume starts in; the region's zones include the one volumes are
 * made in. Run against MemoryRestoredVolumes (test/restore) and Ec2RestoredVolumes on moto
 * (test/contracts/ec2-ports.contract.test.ts); each `make` gives ports never used before and a
 * completed snapshot to make volumes from. ClientToken idempotency is not part of it: moto ignores
 * ClientToken (test/restore/restored-volumes.test.ts shows the step makes one volume either way).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  restoredVolumeClientToken,
  restoredVolumeTags,
  type AvailabilityZones,
  type CreateRestoredVolumeRequest,
  type RestoredVolumes,
} from '../../lambdas/core/restore/restored-volumes.ts';

export interface RestoredVolumesWorld {
  readonly volumes: RestoredVolumes;
  readonly zones: AvailabilityZones;
  /** A completed snapshot of a 1 GiB volume. */
  snapshot(): Promise<string>;
  /** A zone of the region. */
  readonly zone: string;
}

/** A server restore id never used before (the tags are the only thing that finds a volume). */
function restoreId(): string {
  return `rs-contract-${randomBytes(6).toString('hex')}`;
}

function request(
  snapshotId: string,
  zone: string,
  serverRestoreId: string,
  device: string,
): CreateRestoredVolumeRequest {
  const target = { availabilityZone: zone, sizeGib: 1, serverRestoreId, serverId: 'WEB1', device };
  return {
    snapshotId,
    availabilityZone: zone,
    volumeType: 'gp3',
    sizeGib: 1,
    clientToken: restoredVolumeClientToken(serverRestoreId, device),
    tags: restoredVolumeTags(target, 'vol-0source'),
  };
}

export function restoredVolumesContract(name: string, make: () => Promise<RestoredVolumesWorld>): void {
  describe(`restored volumes contract: ${name}`, () => {
    it('finds nothing before a volume is made', async () => {
      const world = await make();
      expect(await world.volumes.findRestoredVolume(restoreId(), '/dev/xvda')).toBeUndefined();
    });

    it('finds the made volume by its restore id and device, and by nothing else', async () => {
      const world = await make();
      const id = restoreId();
      const snapshotId = await world.snapshot();
      const made = await world.volumes.createVolume(request(snapshotId, world.zone, id, '/dev/xvdb'));
      expect(made.volumeId).toMatch(/^vol-[0-9a-f]{8,17}$/);
      expect(['creating', 'available']).toContain(made.state);
      const found = await world.volumes.findRestoredVolume(id, '/dev/xvdb');
      expect(found?.volumeId).toBe(made.volumeId);
      expect(['creating', 'available']).toContain(found?.state);
      expect(await world.volumes.findRestoredVolume(id, '/dev/xvda')).toBeUndefined();
      expect(await world.volumes.findRestoredVolume(restoreId(), '/dev/xvdb')).toBeUndefined();
    });

    it('keeps the volumes of two devices of one restore apart', async () => {
      const world = await make();
      const id = restoreId();
      const snapshotId = await world.snapshot();
      const a = await world.volumes.createVolume(request(snapshotId, world.zone, id, '/dev/xvda'));
      const b = await world.volumes.createVolume(request(snapshotId, world.zone, id, '/dev/xvdb'));
      expect(a.volumeId).not.toBe(b.volumeId);
      expect((await world.volumes.findRestoredVolume(id, '/dev/xvda'))?.volumeId).toBe(a.volumeId);
      expect((await world.volumes.findRestoredVolume(id, '/dev/xvdb'))?.volumeId).toBe(b.volumeId);
    });

    it("lists the region's zones, the one volumes are made in among them", async () => {
      const world = await make();
      const zones = await world.zones.zoneNames();
      expect(zones).toContain(world.zone);
      expect(new Set(zones).size).toBe(zones.length);
      expect(zones).not.toContain('us-east-1z');
    });
  });
}
