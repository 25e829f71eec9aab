/**
 * The replica volumes a page at a time for `GET /servers` (core/api/server-pages.ts): one
 * DescribeVolumes page of the volumes tagged `rbp:replica=true`, and the volumes of given servers
 * through a filter on their `rbp:source-server` tag. DescribeVolumes returns each volume's tags
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html).
 */
import { DescribeVolumesCommand, type EC2Client, type Volume } from '@aws-sdk/client-ec2';
import type {
  RegisteredServerPage,
  ReplicaVolumePage,
  ReplicaVolumePages,
} from '../core/api/server-pages.ts';
import { REPLICA_TAG } from '../core/orchestration/replica-probe.ts';
import type { ServerVolume } from '../core/plans/servers.ts';
import type { ProtectedVolume } from '../core/lifecycle/protected-volumes.ts';
import { Ec2ReplicaVolumes, SOURCE_SERVER_TAG, describeReplicaVolumes } from './ec2-replica-volumes.ts';
import { callSdk } from './sdk-errors.ts';

function serverVolumesOf(volumes: readonly Volume[]): ServerVolume[] {
  const found: ServerVolume[] = [];
  for (const volume of volumes) {
    if (!volume.VolumeId) continue;
    const tags: Record<string, string> = {};
    for (const tag of volume.Tags ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
    found.push({ volumeId: volume.VolumeId, tags });
  }
  return found;
}

export class Ec2ReplicaVolumePages implements ReplicaVolumePages {
  constructor(
    private readonly ec2: EC2Client,
    /** The protected-volume registry, whole; absent: GET /servers lists EC2's servers only. */
    readonly registeredVolumes?: () => Promise<readonly ProtectedVolume[]>,
    /**
     * The registry's servers a page at a time from its index by server
     * (DynamoDbLifecycleImageRecords.pageRegisteredServers); absent: the whole registry per page.
     */
    private readonly serverIndex?: (page: {
      readonly after?: string;
      readonly limit: number;
    }) => Promise<RegisteredServerPage | undefined>,
  ) {}

  registeredServers(page: {
    readonly after?: string;
    readonly limit: number;
  }): Promise<RegisteredServerPage | undefined> {
    return this.serverIndex === undefined ? Promise.resolve(undefined) : this.serverIndex(page);
  }

  /** Which of `volumeIds` EC2 has as replica volumes (one DescribeVolumes per 100 ids). */
  replicaVolumeIdsAmong(volumeIds: readonly string[]): Promise<ReadonlySet<string>> {
    return new Ec2ReplicaVolumes(this.ec2).replicaVolumeIdsAmong(volumeIds);
  }

  async pageReplicaVolumes(page: {
    readonly limit: number;
    readonly token?: string;
  }): Promise<ReplicaVolumePage> {
    const answer = await callSdk('DescribeVolumes (server page)', {}, () =>
      this.ec2.send(
        new DescribeVolumesCommand({
          Filters: [{ Name: `tag:${REPLICA_TAG}`, Values: ['true'] }],
          MaxResults: page.limit,
          ...(page.token === undefined ? {} : { NextToken: page.token }),
        }),
      ),
    );
    const volumes = serverVolumesOf(answer.Volumes ?? []);
    return answer.NextToken ? { volumes, nextToken: answer.NextToken } : { volumes };
  }

  async volumesOfServers(serverIds: readonly string[]): Promise<readonly ServerVolume[]> {
    if (serverIds.length === 0) return [];
    return serverVolumesOf(
      await describeReplicaVolumes(this.ec2, 'DescribeVolumes (servers of a page)', [
        { Name: `tag:${SOURCE_SERVER_TAG}`, Values: [...serverIds] },
      ]),
    );
  }
}
