/**
 * The contracts of the EC2 directories: the servers plans select (ServerDirectory,
 * lambdas/core/plans/plan-ports.ts), the replica volumes the API lists (ReplicaVolumeSource,
 * lambdas/core/api/record-directories.ts) and the instances a DirectMount workflow attaches to
 * (InstanceDirectory, lambdas/core/workflows/workflow-service.ts). EC2 facts both sides must show:
 * DescribeVolumes returns each volume with all its tags and its size, and a `tag:KEY` filter keeps
 * the volumes with that tag value; DescribeInstances of an unknown id is InvalidInstanceID.NotFound
 * and a terminated instance stays listed as `terminated`
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html).
 *
 * Several contracts may share one account (one moto per test file), so each test names its own
 * servers and looks only at them.
 */
import { describe, expect, it } from 'vitest';
import type { ReplicaVolumeSource } from '../../lambdas/core/api/record-directories.ts';
import type { ServerDirectory } from '../../lambdas/core/plans/plan-ports.ts';
import type { InstanceDirectory } from '../../lambdas/core/workflows/workflow-service.ts';

export interface VolumeDirectoriesHarness {
  readonly servers: ServerDirectory;
  readonly volumes: ReplicaVolumeSource;
  /** EC2 CreateVolume of `sizeGib` with `tags`; its id. */
  addVolume(tags: Readonly<Record<string, string>>, sizeGib: number): Promise<string>;
}

export interface InstanceDirectoryHarness {
  readonly instances: InstanceDirectory;
  /** A running instance in `availabilityZone`; its id. */
  launch(availabilityZone: string): Promise<string>;
  terminate(instanceId: string): Promise<void>;
}

const ZONE = 'us-east-1a';
const UNKNOWN_INSTANCE = 'i-0fedcba9876543210';

const replica = (server: string, device: string, more: Record<string, string> = {}) => ({
  'rbp:replica': 'true',
  'rbp:source-server': server,
  'rbp:source-device': device,
  ...more,
});

export function volumeDirectoriesContract(name: string, open: () => Promise<VolumeDirectoriesHarness>): void {
  describe(`ServerDirectory and ReplicaVolumeSource contract: ${name}`, () => {
    it('groups replica volumes by source server with all their tags; other volumes are no server', async () => {
      const { servers, addVolume } = await open();
      const a = await addVolume(replica('DIR-A', '/dev/xvda', { 'rbp:replication-state': 'in-sync' }), 1);
      const b = await addVolume(
        replica('DIR-A', '/dev/xvdb', { 'rbp:replication-state': 'lagging', 'rbp:lag-seconds': '42' }),
        2,
      );
      await addVolume({ 'rbp:replica': 'false', 'rbp:source-server': 'DIR-NOT' }, 1);
      await addVolume({ 'rbp:source-server': 'DIR-NOT' }, 1);
      const listed = (await servers.list()).filter((s) => s.name.startsWith('DIR-'));
      expect(
        listed.map((s) => [s.name, s.replication, s.lagSeconds, s.volumes.map((v) => v.volumeId)]),
      ).toEqual([['DIR-A', 'lagging', 42, [a, b].sort()]]);
      expect(listed[0]?.volumes.find((v) => v.volumeId === b)?.tags).toEqual(
        replica('DIR-A', '/dev/xvdb', { 'rbp:replication-state': 'lagging', 'rbp:lag-seconds': '42' }),
      );
      expect(await servers.get('DIR-A')).toEqual(listed[0]);
      expect(await servers.get('DIR-NOT')).toBeUndefined();
      expect(await servers.get('DIR-NONE')).toBeUndefined();
    });

    it('a replica volume without a source server is a server of its own, named by its volume id', async () => {
      const { servers, addVolume } = await open();
      const lone = await addVolume({ 'rbp:replica': 'true' }, 1);
      const server = await servers.get(lone);
      expect(server?.name).toBe(lone);
      expect(server?.volumes.map((v) => v.volumeId)).toEqual([lone]);
      expect((await servers.list()).map((s) => s.name)).toContain(lone);
    });

    it('lists every replica volume with its server, device and size, and no other volume', async () => {
      const { volumes, addVolume } = await open();
      const c = await addVolume(replica('VOL-C', '/dev/sdf'), 3);
      const bare = await addVolume({ 'rbp:replica': 'true' }, 1);
      const other = await addVolume({ 'rbp:source-server': 'VOL-C' }, 1);
      const listed = await volumes.listReplicaVolumes();
      expect(listed.filter((v) => [c, bare, other].includes(v.volumeId))).toEqual(
        expect.arrayContaining([
          { volumeId: c, serverId: 'VOL-C', device: '/dev/sdf', sizeGib: 3 },
          { volumeId: bare, sizeGib: 1 },
        ]),
      );
      expect(listed.map((v) => v.volumeId)).not.toContain(other);
    });
  });
}

export function instanceDirectoryContract(name: string, open: () => Promise<InstanceDirectoryHarness>): void {
  describe(`InstanceDirectory contract: ${name}`, () => {
    it('describes a running instance: its zone and the devices in use, sorted', async () => {
      const { instances, launch } = await open();
      const instanceId = await launch(ZONE);
      const described = await instances.describe(instanceId);
      expect(described).toMatchObject({ instanceId, availabilityZone: ZONE });
      expect(described?.devicesInUse.length).toBeGreaterThan(0);
      expect(described?.devicesInUse).toEqual([...(described?.devicesInUse ?? [])].sort());
    });

    it('an unknown and a terminated instance are both absent', async () => {
      const { instances, launch, terminate } = await open();
      expect(await instances.describe(UNKNOWN_INSTANCE)).toBeUndefined();
      const instanceId = await launch(ZONE);
      await terminate(instanceId);
      expect(await instances.describe(instanceId)).toBeUndefined();
    });
  });
}
