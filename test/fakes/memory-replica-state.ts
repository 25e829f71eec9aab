/**
 * The replica probe's view (ReplicaStatePort) in memory: the volumes' tags from MemoryEc2Volumes
 * and DRS source servers as set by the test. Its contract with Ec2DrsReplicaState on moto is
 * test/contracts/replica-state.contract.ts.
 */
import type { ReplicaStatePort } from '../../lambdas/core/orchestration/orchestration-ports.ts';
import type {
  DrsSourceServerView,
  ReplicaVolumeTags,
} from '../../lambdas/core/orchestration/replica-probe.ts';
import type { MemoryEc2Volumes } from './memory-ec2-volumes.ts';

export class MemoryReplicaState implements ReplicaStatePort {
  /** DRS's source servers by id. */
  readonly sourceServers = new Map<string, DrsSourceServerView>();

  constructor(private readonly ec2: MemoryEc2Volumes) {}

  readonly volumeTags = (volumeIds: readonly string[]): Promise<ReplicaVolumeTags[]> =>
    this.ec2.volumeTags(volumeIds);

  readonly drsSourceServer = (sourceServerId: string): Promise<DrsSourceServerView | undefined> =>
    Promise.resolve(this.sourceServers.get(sourceServerId));
}
