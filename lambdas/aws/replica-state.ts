/**
 * The replica probe's view (ReplicaStatePort): the replica volumes' tags from EC2
 * (DescribeVolumes) and, for DRS probes, the source server from AWS Elastic Disaster Recovery
 * (DescribeSourceServers). Each side's adapter is built on first use, so a tag probe never builds
 * a DRS client.
 */
import type { ReplicaStatePort } from '../core/orchestration/orchestration-ports.ts';
import type { DrsSourceServerView, ReplicaVolumeTags } from '../core/orchestration/replica-probe.ts';
import type { DrsReplication } from './drs-replication.ts';
import type { Ec2ReplicaSnapshots } from './ec2-replica-snapshots.ts';

export class Ec2DrsReplicaState implements ReplicaStatePort {
  constructor(
    private readonly volumes: () => Pick<Ec2ReplicaSnapshots, 'volumeTags'>,
    private readonly drs: () => Pick<DrsReplication, 'sourceServer'>,
  ) {}

  readonly volumeTags = (volumeIds: readonly string[]): Promise<ReplicaVolumeTags[]> =>
    this.volumes().volumeTags(volumeIds);

  readonly drsSourceServer = (sourceServerId: string): Promise<DrsSourceServerView | undefined> =>
    this.drs().sourceServer(sourceServerId);
}
