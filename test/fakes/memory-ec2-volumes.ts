/**
 * The replica volumes of an EC2 account in memory: volumes with their tags, read as EC2
 * DescribeVolumes with a `tag:rbp:replica=true` filter reads them (ServerDirectory for the plans,
 * ReplicaVolumeSource for the API). Its contract with Ec2ServerDirectory and Ec2ReplicaVolumes on
 * moto is test/contracts/ec2-directories.contract.ts.
 */
import type { ReplicaVolume, ReplicaVolumeSource } from '../../lambdas/core/api/record-directories.ts';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import { REPLICA_TAG, type ReplicaVolumeTags } from '../../lambdas/core/orchestration/replica-probe.ts';
import type { ServerDirectory } from '../../lambdas/core/plans/plan-ports.ts';
import { serversFromVolumes, type ServerView } from '../../lambdas/core/plans/servers.ts';
import { SOURCE_DEVICE_TAG, SOURCE_SERVER_TAG } from '../../lambdas/aws/ec2-replica-volumes.ts';

/** A volume as the fakes keep it: its id, size and tags, as EC2 DescribeVolumes answers them. */
export interface MemoryVolume {
  readonly volumeId: string;
  readonly sizeGib: number;
  readonly tags: Readonly<Record<string, string>>;
}

/** The replica volume a tagged volume is: its server and device from its rbp:source-* tags, when it has them. */
export function replicaVolumeOf({ volumeId, sizeGib, tags }: MemoryVolume): ReplicaVolume {
  const serverId = tags[SOURCE_SERVER_TAG];
  const device = tags[SOURCE_DEVICE_TAG];
  return {
    volumeId,
    ...(serverId === undefined ? {} : { serverId }),
    ...(device === undefined ? {} : { device }),
    sizeGib,
  };
}

export class MemoryEc2Volumes implements ServerDirectory, ReplicaVolumeSource {
  private readonly volumes = new Map<string, MemoryVolume>();
  private next = 1;

  /** EC2 CreateVolume with tags; the new volume's id. */
  addVolume(tags: Readonly<Record<string, string>>, sizeGib = 1): string {
    const volumeId = `vol-${(this.next++).toString(16).padStart(17, '0')}`;
    this.volumes.set(volumeId, { volumeId, sizeGib, tags: { ...tags } });
    return volumeId;
  }

  /** EC2 CreateTags on a volume: adds to (or replaces values of) its tags. */
  tag(volumeId: string, tags: Readonly<Record<string, string>>): void {
    const volume = this.volumes.get(volumeId)!;
    this.volumes.set(volumeId, { ...volume, tags: { ...volume.tags, ...tags } });
  }

  private replicas(): MemoryVolume[] {
    return [...this.volumes.values()].filter((volume) => volume.tags[REPLICA_TAG] === 'true');
  }

  list(): Promise<readonly ServerView[]> {
    return Promise.resolve(serversFromVolumes(this.replicas()));
  }

  async get(name: string): Promise<ServerView | undefined> {
    return (await this.list()).find((server) => server.name === name);
  }

  listReplicaVolumes(): Promise<readonly ReplicaVolume[]> {
    return Promise.resolve(this.replicas().map(replicaVolumeOf));
  }

  /**
   * EC2 DescribeVolumes of `volumeIds`: each volume's tags; an unknown id fails the whole call
   * with InvalidVolume.NotFound, as EC2 answers
   * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html).
   */
  volumeTags(volumeIds: readonly string[]): Promise<ReplicaVolumeTags[]> {
    const unknown = volumeIds.find((volumeId) => !this.volumes.has(volumeId));
    if (unknown !== undefined) {
      return Promise.reject(
        new NotFoundError(
          `DescribeVolumes failed: InvalidVolume.NotFound: The volume '${unknown}' does not exist.`,
          { context: { volumeIds: volumeIds.join(',') } },
        ),
      );
    }
    return Promise.resolve(
      volumeIds.map((volumeId) => ({ volumeId, tags: { ...this.volumes.get(volumeId)!.tags } })),
    );
  }
}
