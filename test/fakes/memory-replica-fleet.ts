/**
 * The replica volumes of an EC2 account and the protected-volume registry in memory, read a page at
 * a time as the API reads them: `servers` for `GET /servers` (ReplicaVolumePages,
 * lambdas/core/api/server-pages.ts; Ec2ReplicaVolumePages over DynamoDbLifecycleImageRecords in
 * production) and `volumes` for `GET /volumes` (ReplicaVolumeSource,
 * lambdas/core/api/record-directories.ts; ReplicaVolumesWithRegistered). EC2's pages are cut in
 * volume-id order with the offset as the token; the registry is kept as Commit Image writes it (a
 * commit naming a server files the volume under it, one naming none keeps the server it has) and
 * its index by server answers only once `indexServers` ran, as the adapter's backfill marker says.
 * Its contract with the adapters on moto: test/contracts/replica-volume-pages.contract.ts.
 */
import {
  REPLICA_GONE,
  type ReplicaVolume,
  type ReplicaVolumeSource,
  type ReplicaVolumeSourcePage,
} from '../../lambdas/core/api/record-directories.ts';
import type {
  RegisteredServerPage,
  ReplicaVolumePage,
  ReplicaVolumePages,
} from '../../lambdas/core/api/server-pages.ts';
import type { ProtectedVolume } from '../../lambdas/core/lifecycle/protected-volumes.ts';
import { REPLICA_TAG } from '../../lambdas/core/orchestration/replica-probe.ts';
import type { ServerVolume } from '../../lambdas/core/plans/servers.ts';
import { SOURCE_SERVER_TAG } from '../../lambdas/aws/ec2-replica-volumes.ts';
import { replicaVolumeOf, type MemoryVolume } from './memory-ec2-volumes.ts';

const byVolumeId = <T extends { readonly volumeId: string }>(a: T, b: T) =>
  a.volumeId < b.volumeId ? -1 : a.volumeId > b.volumeId ? 1 : 0;

/** One page of `items` from the offset in `token`; the next offset while more follow. */
function pageOf<T>(items: readonly T[], limit: number, token: string | undefined) {
  const at = token === undefined ? 0 : Number(token);
  const next = at + limit;
  return { items: items.slice(at, next), ...(next < items.length ? { nextToken: String(next) } : {}) };
}

export class MemoryReplicaFleet {
  private readonly ec2 = new Map<string, MemoryVolume>();
  private readonly registry = new Map<string, string | undefined>();
  private serverIndexDone = false;
  private next = 1;

  /** EC2 CreateVolume with tags; the new volume's id. */
  addVolume(tags: Readonly<Record<string, string>>, sizeGib = 1): string {
    const volumeId = `vol-${(this.next++).toString(16).padStart(17, '0')}`;
    this.ec2.set(volumeId, { volumeId, sizeGib, tags: { ...tags } });
    return volumeId;
  }

  /** Commit Image's registry write: `serverId` files the volume under it; none keeps its server. */
  register(volumeId: string, serverId?: string): void {
    this.registry.set(volumeId, serverId ?? this.registry.get(volumeId));
  }

  /** The registry's index by server is complete (the adapter's backfill marker says done). */
  indexServers(): void {
    this.serverIndexDone = true;
  }

  private replicas(): MemoryVolume[] {
    return [...this.ec2.values()].filter((v) => v.tags[REPLICA_TAG] === 'true').sort(byVolumeId);
  }

  private registered(): ProtectedVolume[] {
    return [...this.registry]
      .map(([volumeId, serverId]) => ({ volumeId, ...(serverId === undefined ? {} : { serverId }) }))
      .sort(byVolumeId);
  }

  private replicaIdsAmong(volumeIds: readonly string[]): ReadonlySet<string> {
    const replicas = new Set(this.replicas().map((v) => v.volumeId));
    return new Set(volumeIds.filter((id) => replicas.has(id)));
  }

  readonly servers: ReplicaVolumePages = {
    pageReplicaVolumes: (page): Promise<ReplicaVolumePage> => {
      const { items, nextToken } = pageOf(this.replicas(), page.limit, page.token);
      const volumes: ServerVolume[] = items.map(({ volumeId, tags }) => ({ volumeId, tags: { ...tags } }));
      return Promise.resolve(nextToken === undefined ? { volumes } : { volumes, nextToken });
    },
    volumesOfServers: (serverIds) => {
      const wanted = new Set(serverIds);
      return Promise.resolve(
        this.replicas()
          .filter((v) => wanted.has(v.tags[SOURCE_SERVER_TAG] ?? ''))
          .map(({ volumeId, tags }) => ({ volumeId, tags: { ...tags } })),
      );
    },
    registeredVolumes: () => Promise.resolve(this.registered()),
    registeredServers: (page): Promise<RegisteredServerPage | undefined> => {
      if (!this.serverIndexDone) return Promise.resolve(undefined);
      const byServer = new Map<string, string[]>();
      for (const { volumeId, serverId } of this.registered()) {
        const name = serverId ?? volumeId;
        byServer.set(name, [...(byServer.get(name) ?? []), volumeId]);
      }
      const names = [...byServer.keys()]
        .sort()
        .filter((name) => page.after === undefined || name > page.after);
      return Promise.resolve({
        servers: names.slice(0, page.limit).map((name) => ({ name, volumeIds: byServer.get(name)! })),
        more: names.length > page.limit,
      });
    },
    replicaVolumeIdsAmong: (volumeIds) => Promise.resolve(this.replicaIdsAmong(volumeIds)),
  };

  readonly volumes: ReplicaVolumeSource = {
    listReplicaVolumes: () => {
      const tagged = this.replicas().map(replicaVolumeOf);
      const inEc2 = new Set(tagged.map((v) => v.volumeId));
      const gone = this.registered().filter((v) => !inEc2.has(v.volumeId));
      return Promise.resolve([...tagged, ...gone]);
    },
    pageReplicaVolumes: (page): Promise<ReplicaVolumeSourcePage> => {
      const { items, nextToken } = pageOf(this.replicas(), page.limit, page.token);
      const volumes = items.map(replicaVolumeOf);
      return Promise.resolve(nextToken === undefined ? { volumes } : { volumes, nextToken });
    },
    findReplicaVolume: (volumeId) => {
      const found = this.replicas().find((v) => v.volumeId === volumeId);
      return Promise.resolve(found === undefined ? undefined : replicaVolumeOf(found));
    },
    pageGoneVolumes: (page): Promise<ReplicaVolumeSourcePage> => {
      const registered = this.registered();
      const at = page.token === undefined ? 0 : registered.findIndex((v) => v.volumeId > page.token!);
      const read = at < 0 ? [] : registered.slice(at, at + page.limit);
      const inEc2 = this.replicaIdsAmong(read.map((v) => v.volumeId));
      const volumes = read
        .filter((v) => !inEc2.has(v.volumeId))
        .map((v): ReplicaVolume => ({ ...v, state: REPLICA_GONE }));
      const last = read.at(-1)?.volumeId;
      return Promise.resolve(
        at >= 0 && at + page.limit < registered.length && last !== undefined
          ? { volumes, nextToken: last }
          : { volumes },
      );
    },
  };
}
