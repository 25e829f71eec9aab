/** Replica volumes the product may back up: EC2 volumes tagged `rbp:replica=true` (ReplicaVolumeSource). */
import { DescribeVolumesCommand, type EC2Client, type Filter, type Volume } from '@aws-sdk/client-ec2';
import {
  REPLICA_GONE,
  type ReplicaVolume,
  type ReplicaVolumeSource,
  type ReplicaVolumeSourcePage,
} from '../core/api/record-directories.ts';
import { REPLICA_TAG } from '../core/orchestration/replica-probe.ts';
import { SOURCE_SERVER_TAG } from '../core/orchestration/backup-request.ts';
import { SOURCE_DEVICE_TAG } from '../core/recovery-points/recovery-points.ts';
import type { ProtectedVolume } from '../core/lifecycle/protected-volumes.ts';
import { callSdk } from './sdk-errors.ts';

export { SOURCE_DEVICE_TAG, SOURCE_SERVER_TAG };
/** DescribeVolumes page size: the API's maximum. */
const DESCRIBE_VOLUMES_PAGE = 500;
/**
 * Volume ids per filtered DescribeVolumes (`volume-id` filter values): EC2 refuses a request whose
 * filters carry too many values; 100 keeps a registry page of the API's default size to one read.
 */
export const VOLUME_IDS_PER_READ = 100;

/** One page of the protected-volume registry in volume-id order; `last` is where the next starts. */
export interface RegisteredVolumePage {
  readonly volumes: readonly ProtectedVolume[];
  /** The last volume id the page read; absent after the registry's last page. */
  readonly last?: string;
}

/** Reads the registry a page at a time (DynamoDbLifecycleImageRecords.pageRegisteredVolumes). */
export type RegisteredVolumePages = (page: {
  readonly limit: number;
  readonly after?: string;
}) => Promise<RegisteredVolumePage>;

export class Ec2ReplicaVolumes implements ReplicaVolumeSource {
  constructor(private readonly ec2: EC2Client) {}

  async listReplicaVolumes(): Promise<readonly ReplicaVolume[]> {
    return replicaVolumesOf(await describeReplicaVolumes(this.ec2, 'DescribeVolumes'));
  }

  /** One DescribeVolumes page (MaxResults `limit`, 5–500) of the volumes tagged `rbp:replica=true`. */
  async pageReplicaVolumes(page: {
    readonly limit: number;
    readonly token?: string;
  }): Promise<ReplicaVolumeSourcePage> {
    const answer = await callSdk('DescribeVolumes (volume page)', {}, () =>
      this.ec2.send(
        new DescribeVolumesCommand({
          Filters: [{ Name: `tag:${REPLICA_TAG}`, Values: ['true'] }],
          MaxResults: page.limit,
          ...(page.token === undefined ? {} : { NextToken: page.token }),
        }),
      ),
    );
    const volumes = replicaVolumesOf(answer.Volumes ?? []);
    return answer.NextToken ? { volumes, nextToken: answer.NextToken } : { volumes };
  }

  /**
   * One DescribeVolumes filtered on the volume's id (`volume-id`) as well as the replica tag: an
   * unknown id matches nothing instead of failing with InvalidVolume.NotFound, as VolumeIds would.
   */
  async findReplicaVolume(volumeId: string): Promise<ReplicaVolume | undefined> {
    const found = replicaVolumesOf(
      await describeReplicaVolumes(this.ec2, 'DescribeVolumes (one volume)', [
        { Name: 'volume-id', Values: [volumeId] },
      ]),
    );
    return found.find((replica) => replica.volumeId === volumeId);
  }

  /** Which of `volumeIds` EC2 has as replica volumes: one DescribeVolumes per VOLUME_IDS_PER_READ ids. */
  async replicaVolumeIdsAmong(volumeIds: readonly string[]): Promise<ReadonlySet<string>> {
    const found = new Set<string>();
    for (let at = 0; at < volumeIds.length; at += VOLUME_IDS_PER_READ) {
      const described = await describeReplicaVolumes(this.ec2, 'DescribeVolumes (registered volumes)', [
        { Name: 'volume-id', Values: volumeIds.slice(at, at + VOLUME_IDS_PER_READ) },
      ]);
      for (const volume of described) if (volume.VolumeId !== undefined) found.add(volume.VolumeId);
    }
    return found;
  }
}

/**
 * The replica volumes for whole listings (`listVolumes`: the file search's volumes) with the
 * registered volumes EC2 no longer has (lambdas/core/lifecycle/protected-volumes.ts), so the backups
 * of a deleted or untagged replica volume stay searchable by volume and by server. A gone volume
 * has only its id and the server its commits registered. Pages (`GET /volumes`) and single lookups
 * (what a backup may start on) stay EC2's.
 */
export class ReplicaVolumesWithRegistered implements ReplicaVolumeSource {
  constructor(
    private readonly replicas: Ec2ReplicaVolumes,
    private readonly registered: () => Promise<readonly ProtectedVolume[]>,
    /** The registry a page at a time, for `GET /volumes`' gone volumes; absent: pages are EC2's only. */
    private readonly registeredPages?: RegisteredVolumePages,
  ) {}

  async listReplicaVolumes(): Promise<readonly ReplicaVolume[]> {
    const tagged = await this.replicas.listReplicaVolumes();
    const inEc2 = new Set(tagged.map((volume) => volume.volumeId));
    const gone = (await this.registered()).filter((volume) => !inEc2.has(volume.volumeId));
    return [
      ...tagged,
      ...gone.map((volume) => ({
        volumeId: volume.volumeId,
        ...(volume.serverId === undefined ? {} : { serverId: volume.serverId }),
      })),
    ];
  }

  pageReplicaVolumes(page: {
    readonly limit: number;
    readonly token?: string;
  }): Promise<ReplicaVolumeSourcePage> {
    return this.replicas.pageReplicaVolumes(page);
  }

  findReplicaVolume(volumeId: string): Promise<ReplicaVolume | undefined> {
    return this.replicas.findReplicaVolume(volumeId);
  }

  /**
   * One registry page (a Query of `limit` items after the token, a volume id) less the volumes EC2
   * still has as replicas (one DescribeVolumes per VOLUME_IDS_PER_READ of them), each REPLICA GONE
   * with the server its commits registered.
   */
  async pageGoneVolumes(page: {
    readonly limit: number;
    readonly token?: string;
  }): Promise<ReplicaVolumeSourcePage> {
    if (this.registeredPages === undefined) return { volumes: [] };
    const read = await this.registeredPages({
      limit: page.limit,
      ...(page.token === undefined ? {} : { after: page.token }),
    });
    const inEc2 = await this.replicas.replicaVolumeIdsAmong(read.volumes.map((v) => v.volumeId));
    const volumes = read.volumes
      .filter((volume) => !inEc2.has(volume.volumeId))
      .map((volume): ReplicaVolume => ({
        volumeId: volume.volumeId,
        ...(volume.serverId === undefined ? {} : { serverId: volume.serverId }),
        state: REPLICA_GONE,
      }));
    return read.last === undefined ? { volumes } : { volumes, nextToken: read.last };
  }
}

function replicaVolumesOf(described: readonly Volume[]): ReplicaVolume[] {
  const volumes: ReplicaVolume[] = [];
  for (const volume of described) {
    if (!volume.VolumeId) continue;
    const tag = (key: string) => volume.Tags?.find((t) => t.Key === key)?.Value;
    const serverId = tag(SOURCE_SERVER_TAG);
    const device = tag(SOURCE_DEVICE_TAG);
    volumes.push({
      volumeId: volume.VolumeId,
      ...(serverId === undefined ? {} : { serverId }),
      ...(device === undefined ? {} : { device }),
      ...(volume.Size === undefined ? {} : { sizeGib: volume.Size }),
    });
  }
  return volumes;
}

/**
 * Every volume tagged `rbp:replica=true` (and matching `filters`, e.g. one server's tag), all
 * pages; `operation` names the call in errors.
 */
export async function describeReplicaVolumes(
  ec2: EC2Client,
  operation: string,
  filters: readonly Filter[] = [],
): Promise<Volume[]> {
  const volumes: Volume[] = [];
  let nextToken: string | undefined;
  do {
    const token = nextToken;
    const page = await callSdk(operation, {}, () =>
      ec2.send(
        new DescribeVolumesCommand({
          Filters: [{ Name: `tag:${REPLICA_TAG}`, Values: ['true'] }, ...filters],
          MaxResults: DESCRIBE_VOLUMES_PAGE,
          ...(token === undefined ? {} : { NextToken: token }),
        }),
      ),
    );
    volumes.push(...(page.Volumes ?? []));
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return volumes;
}
