/**
 * The replica probe's view (ReplicaStatePort) in memory: the volumes' tags from MemoryEc2Volumes,
 * and DRS source servers as the local stack's DRS derives them from those volumes' tags
 * (local/drs/drs-source-servers.ts), read the way DrsReplication reads DescribeSourceServers;
 * a server set in `sourceServers` by a test wins. Its contract with Ec2DrsReplicaState on the
 * local stack is test/contracts/replica-state.contract.ts.
 */
import type { ReplicaStatePort } from '../../lambdas/core/orchestration/orchestration-ports.ts';
import type {
  DrsSourceServerView,
  ReplicaVolumeTags,
} from '../../lambdas/core/orchestration/replica-probe.ts';
import { sourceServersOf } from '../../local/drs/drs-source-servers.ts';
import type { MemoryEc2Volumes } from './memory-ec2-volumes.ts';

export class MemoryReplicaState implements ReplicaStatePort {
  /** DRS's source servers by id, set by a test; others come from the volumes' tags. */
  readonly sourceServers = new Map<string, DrsSourceServerView>();

  constructor(private readonly ec2: MemoryEc2Volumes) {}

  readonly volumeTags = (volumeIds: readonly string[]): Promise<ReplicaVolumeTags[]> =>
    this.ec2.volumeTags(volumeIds);

  readonly drsSourceServer = async (sourceServerId: string): Promise<DrsSourceServerView | undefined> => {
    const set = this.sourceServers.get(sourceServerId);
    if (set !== undefined) return set;
    const replicas = await this.ec2.listReplicaVolumes();
    const tags = await this.ec2.volumeTags(replicas.map((v) => v.volumeId));
    const server = sourceServersOf(
      replicas.map((v, i) => ({ volumeId: v.volumeId, sizeGib: v.sizeGib ?? 0, tags: tags[i]!.tags })),
    ).find((s) => s.sourceServerID === sourceServerId);
    if (server === undefined) return undefined;
    const { dataReplicationState, lagDuration, replicatedDisks } = server.dataReplicationInfo;
    const lastSeen = server.lifeCycle.lastSeenByServiceDateTime;
    return {
      sourceServerId,
      dataReplicationState,
      ...(lagDuration === undefined ? {} : { lagDuration }),
      replicatedDisks: replicatedDisks.map((d) => ({
        ...(d.deviceName === undefined ? {} : { deviceName: d.deviceName }),
        ...(d.backloggedStorageBytes === undefined
          ? {}
          : { backloggedStorageBytes: d.backloggedStorageBytes }),
      })),
      ...(lastSeen === undefined ? {} : { lastSeenByServiceDateTime: lastSeen }),
    };
  };
}
