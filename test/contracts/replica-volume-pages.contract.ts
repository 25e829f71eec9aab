/**
 * The contract of the ports `GET /servers` and `GET /volumes` page through: the replica volumes EC2
 * has (ReplicaVolumePages, lambdas/core/api/server-pages.ts; the paging half of
 * ReplicaVolumeSource, lambdas/core/api/record-directories.ts) and the protected-volume registry
 * behind them (lambdas/core/lifecycle/protected-volumes.ts): whole, by server from its index, and
 * a page at a time as the volumes EC2 no longer has. EC2 facts both sides show: DescribeVolumes
 * with MaxResults answers pages of at most that many volumes and a NextToken while more follow,
 * each volume with all its tags and its size; a `volume-id` filter with an unknown id matches
 * nothing (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html).
 * Registry facts: a commit that names a server files the volume under it, one that names none
 * keeps the server it had; the index by server answers nothing until its backfill is done.
 *
 * Run against MemoryReplicaFleet (test/fakes) and Ec2ReplicaVolumePages / ReplicaVolumesWithRegistered
 * over DynamoDbLifecycleImageRecords on moto (test/contracts/replica-volume-pages.contract.test.ts).
 * One moto account serves every test of the file, so each test names its own servers and volumes
 * and looks only at them; each `make` gives a registry never written before.
 */
import { describe, expect, it } from 'vitest';
import {
  REPLICA_GONE,
  type ReplicaVolume,
  type ReplicaVolumeSource,
} from '../../lambdas/core/api/record-directories.ts';
import type { ReplicaVolumePages } from '../../lambdas/core/api/server-pages.ts';
import type { ServerVolume } from '../../lambdas/core/plans/servers.ts';

export interface ReplicaFleetUnderTest {
  /** What `GET /servers` reads. */
  readonly servers: ReplicaVolumePages;
  /** What `GET /volumes` (and the file search's whole listing) reads. */
  readonly volumes: ReplicaVolumeSource;
  /** EC2 CreateVolume of `sizeGib` with `tags`; its id. */
  addVolume(tags: Readonly<Record<string, string>>, sizeGib: number): Promise<string>;
  /** A commit of an image of `volumeId` (naming `serverId` when given): the registry's write. */
  register(volumeId: string, serverId?: string): Promise<void>;
  /** Completes the registry's index by server (the lifecycle job's backfill). */
  indexServers(): Promise<void>;
}

/** The smallest page EC2 DescribeVolumes takes with MaxResults (and `GET /volumes` asks for). */
const SMALLEST_PAGE = 5;

let cases = 0;

/** Names of this test's own: servers `C<n>-<name>`, and volume ids EC2 never made. */
function ownNames() {
  cases += 1;
  const n = cases;
  return {
    server: (name: string) => `C${n}-${name}`,
    goneVolume: (i: number) => `vol-0eee${String(n).padStart(6, '0')}${String(i).padStart(7, '0')}`,
  };
}

const replicaTags = (server: string, device: string) => ({
  'rbp:replica': 'true',
  'rbp:source-server': server,
  'rbp:source-device': device,
});

const byId = <T extends { readonly volumeId: string }>(items: readonly T[]) =>
  [...items].sort((a, b) => (a.volumeId < b.volumeId ? -1 : a.volumeId > b.volumeId ? 1 : 0));

/** Every page from the first, following the token; fails on a page longer than `limit`. */
async function everyPage<T>(
  limit: number,
  read: (page: { limit: number; token?: string }) => Promise<{
    readonly volumes: readonly T[];
    readonly nextToken?: string;
  }>,
): Promise<T[][]> {
  const pages: T[][] = [];
  let token: string | undefined;
  do {
    const page = await read(token === undefined ? { limit } : { limit, token });
    expect(page.volumes.length).toBeLessThanOrEqual(limit);
    pages.push([...page.volumes]);
    token = page.nextToken;
  } while (token !== undefined);
  return pages;
}

export function replicaVolumePagesContract(name: string, make: () => Promise<ReplicaFleetUnderTest>): void {
  describe(`replica volume pages and registry contract: ${name}`, () => {
    it('pages the replica volumes: each exactly once in pages of at most the limit, whole, and no other volume', async () => {
      const fleet = await make();
      const own = ownNames();
      const replicas: { volumeId: string; server: string; device: string; sizeGib: number }[] = [];
      for (let i = 0; i < 7; i += 1) {
        const server = own.server(`srv-${i % 3}`);
        const device = `/dev/xvd${'abcdefg'[i]}`;
        const volumeId = await fleet.addVolume(replicaTags(server, device), i + 1);
        replicas.push({ volumeId, server, device, sizeGib: i + 1 });
      }
      const notReplicas = [
        await fleet.addVolume({ 'rbp:replica': 'false', 'rbp:source-server': own.server('srv-0') }, 1),
        await fleet.addVolume({ 'rbp:source-server': own.server('srv-0') }, 1),
      ];
      const ownIds = new Set([...replicas.map((r) => r.volumeId), ...notReplicas]);

      const serverPages = (await everyPage(SMALLEST_PAGE, (p) => fleet.servers.pageReplicaVolumes(p))).flat();
      expect(new Set(serverPages.map((v) => v.volumeId)).size).toBe(serverPages.length);
      expect(byId(serverPages.filter((v) => ownIds.has(v.volumeId)))).toEqual(
        byId(replicas).map((r): ServerVolume => ({
          volumeId: r.volumeId,
          tags: replicaTags(r.server, r.device),
        })),
      );

      const volumePages = (
        await everyPage(SMALLEST_PAGE, (p) => fleet.volumes.pageReplicaVolumes!(p))
      ).flat();
      expect(new Set(volumePages.map((v) => v.volumeId)).size).toBe(volumePages.length);
      expect(byId(volumePages.filter((v) => ownIds.has(v.volumeId)))).toEqual(
        byId(replicas).map((r): ReplicaVolume => ({
          volumeId: r.volumeId,
          serverId: r.server,
          device: r.device,
          sizeGib: r.sizeGib,
        })),
      );
    });

    it('reads the replica volumes of named servers only, and finds one replica volume by id', async () => {
      const fleet = await make();
      const own = ownNames();
      const a1 = await fleet.addVolume(replicaTags(own.server('a'), '/dev/xvda'), 1);
      const a2 = await fleet.addVolume(replicaTags(own.server('a'), '/dev/xvdb'), 2);
      const b1 = await fleet.addVolume(replicaTags(own.server('b'), '/dev/xvda'), 3);
      await fleet.addVolume(replicaTags(own.server('c'), '/dev/xvda'), 1);
      const notReplica = await fleet.addVolume({ 'rbp:source-server': own.server('a') }, 1);

      expect(byId(await fleet.servers.volumesOfServers([own.server('a'), own.server('b')]))).toEqual(
        byId([
          { volumeId: a1, tags: replicaTags(own.server('a'), '/dev/xvda') },
          { volumeId: a2, tags: replicaTags(own.server('a'), '/dev/xvdb') },
          { volumeId: b1, tags: replicaTags(own.server('b'), '/dev/xvda') },
        ]),
      );
      expect(await fleet.servers.volumesOfServers([own.server('never')])).toEqual([]);
      expect(await fleet.servers.volumesOfServers([])).toEqual([]);

      expect(await fleet.volumes.findReplicaVolume!(a2)).toEqual({
        volumeId: a2,
        serverId: own.server('a'),
        device: '/dev/xvdb',
        sizeGib: 2,
      });
      expect(await fleet.volumes.findReplicaVolume!(notReplica)).toBeUndefined();
      expect(await fleet.volumes.findReplicaVolume!(own.goneVolume(1))).toBeUndefined();
      expect(await fleet.servers.replicaVolumeIdsAmong!([b1, notReplica, own.goneVolume(1), a1])).toEqual(
        new Set([a1, b1]),
      );
    });

    it('lists the registry whole by volume id, and by server only once its index is complete', async () => {
      const fleet = await make();
      const own = ownNames();
      const [v1, v2, v3, v4] = [1, 2, 3, 4].map((i) => own.goneVolume(i)) as [string, string, string, string];
      await fleet.register(v1, 'srv-b');
      await fleet.register(v2, 'srv-a');
      await fleet.register(v3);
      await fleet.register(v4, 'srv-a');
      expect(await fleet.servers.registeredServers!({ limit: 10 })).toBeUndefined();

      await fleet.indexServers();
      expect(await fleet.servers.registeredServers!({ limit: 10 })).toEqual({
        servers: [
          { name: 'srv-a', volumeIds: [v2, v4] },
          { name: 'srv-b', volumeIds: [v1] },
          { name: v3, volumeIds: [v3] },
        ],
        more: false,
      });
      expect(await fleet.servers.registeredServers!({ limit: 1 })).toEqual({
        servers: [{ name: 'srv-a', volumeIds: [v2, v4] }],
        more: true,
      });
      expect(await fleet.servers.registeredServers!({ after: 'srv-a', limit: 1 })).toEqual({
        servers: [{ name: 'srv-b', volumeIds: [v1] }],
        more: true,
      });
      expect(await fleet.servers.registeredServers!({ after: 'srv-b', limit: 2 })).toEqual({
        servers: [{ name: v3, volumeIds: [v3] }],
        more: false,
      });
      expect(await fleet.servers.registeredServers!({ after: v3, limit: 2 })).toEqual({
        servers: [],
        more: false,
      });

      // A later commit naming another server moves the volume; one naming none keeps its server.
      await fleet.register(v1, 'srv-a');
      await fleet.register(v4);
      expect(await fleet.servers.registeredServers!({ limit: 10 })).toEqual({
        servers: [
          { name: 'srv-a', volumeIds: [v1, v2, v4] },
          { name: v3, volumeIds: [v3] },
        ],
        more: false,
      });
      expect(await fleet.servers.registeredVolumes!()).toEqual([
        { volumeId: v1, serverId: 'srv-a' },
        { volumeId: v2, serverId: 'srv-a' },
        { volumeId: v3 },
        { volumeId: v4, serverId: 'srv-a' },
      ]);
    });

    it('pages the registered volumes EC2 no longer has as replicas, REPLICA GONE with their server, in volume-id order', async () => {
      const fleet = await make();
      const own = ownNames();
      const kept = await fleet.addVolume(replicaTags(own.server('kept'), '/dev/xvda'), 1);
      const untagged = await fleet.addVolume({ 'rbp:source-server': own.server('untagged') }, 1);
      await fleet.register(kept, own.server('kept'));
      await fleet.register(untagged, own.server('untagged'));
      const gone = [1, 2, 3, 4, 5, 6].map((i) => own.goneVolume(i));
      for (const [i, volumeId] of gone.entries()) {
        if (i % 2 === 0) await fleet.register(volumeId, own.server(`gone-${i}`));
        else await fleet.register(volumeId);
      }
      await fleet.indexServers();

      const pages = await everyPage(SMALLEST_PAGE, (p) => fleet.volumes.pageGoneVolumes!(p));
      expect(pages.flat()).toEqual(
        byId([
          { volumeId: untagged, serverId: own.server('untagged'), state: REPLICA_GONE },
          ...gone.map((volumeId, i): ReplicaVolume => ({
            volumeId,
            ...(i % 2 === 0 ? { serverId: own.server(`gone-${i}`) } : {}),
            state: REPLICA_GONE,
          })),
        ]),
      );
      expect(pages.length).toBeGreaterThanOrEqual(2);

      // The whole listing (the file search's): EC2's replicas, then the registered ones it lacks.
      const listed = (await fleet.volumes.listReplicaVolumes()).filter(
        (v) => v.volumeId === kept || v.volumeId === untagged || gone.includes(v.volumeId),
      );
      expect(listed[0]).toEqual({
        volumeId: kept,
        serverId: own.server('kept'),
        device: '/dev/xvda',
        sizeGib: 1,
      });
      expect(byId(listed.slice(1))).toEqual(
        byId([
          { volumeId: untagged, serverId: own.server('untagged') },
          ...gone.map((volumeId, i) => ({
            volumeId,
            ...(i % 2 === 0 ? { serverId: own.server(`gone-${i}`) } : {}),
          })),
        ]),
      );
    });
  });
}
