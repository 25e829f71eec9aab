/**
 * PrimarySnapshotPort (lambdas/core/backup/primary-source.ts) in memory, with Ec2PrimarySnapshots'
 * rules on EC2's: a replica volume names its primary with `rbp:primary-volume`; only primaries
 * and instances tagged `rbp:primary=true` are snapshotted (the stack's IAM condition, named in a
 * ValidationError); CreateSnapshots of an instance covers the volumes asked for and excludes the
 * others, its root volume included
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSnapshots.html); tags given at
 * creation are on every snapshot, and CreateTags adds to what a snapshot has.
 */
import {
  PRIMARY_OPT_IN_TAG,
  PRIMARY_VOLUME_TAG,
  type PrimarySnapshotPort,
  type PrimaryVolumeView,
} from '../../lambdas/core/backup/primary-source.ts';
import { NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';

export interface MemoryPrimaryVolume {
  tags: Record<string, string>;
  instanceId?: string;
}

export interface MemoryPrimarySnapshot {
  readonly volumeId: string;
  readonly description: string;
  tags: Record<string, string>;
}

export class MemoryPrimarySnapshots implements PrimarySnapshotPort {
  readonly volumes = new Map<string, MemoryPrimaryVolume>();
  /** Instances by id: their tags and their volumes (the root volume first). */
  readonly instances = new Map<string, { tags: Record<string, string>; volumeIds: string[] }>();
  readonly snapshots = new Map<string, MemoryPrimarySnapshot>();
  private next = 1;

  private id(prefix: string): string {
    return `${prefix}-${(this.next++).toString(16).padStart(17, '0')}`;
  }

  addVolume(tags: Record<string, string>): string {
    const volumeId = this.id('vol');
    this.volumes.set(volumeId, { tags: { ...tags } });
    return volumeId;
  }

  /** An instance with a root volume of its own, then `volumeIds` attached in order. */
  addInstance(tags: Record<string, string>, volumeIds: readonly string[]): string {
    const instanceId = this.id('i');
    const root = this.addVolume({});
    this.instances.set(instanceId, { tags: { ...tags }, volumeIds: [root, ...volumeIds] });
    for (const volumeId of [root, ...volumeIds]) this.volumes.get(volumeId)!.instanceId = instanceId;
    return instanceId;
  }

  primaryVolumes(replicaVolumeIds: readonly string[]): Promise<PrimaryVolumeView[]> {
    const unknown = replicaVolumeIds.filter((id) => !this.volumes.has(id));
    if (unknown.length > 0) {
      return Promise.reject(
        new NotFoundError(
          `DescribeVolumes failed: InvalidVolume.NotFound: The volume '${unknown.join(', ')}' does not exist.`,
        ),
      );
    }
    const views = replicaVolumeIds.map((replicaVolumeId): PrimaryVolumeView => {
      const primaryVolumeId = this.volumes.get(replicaVolumeId)!.tags[PRIMARY_VOLUME_TAG] || undefined;
      const instanceId =
        primaryVolumeId === undefined ? undefined : this.volumes.get(primaryVolumeId)?.instanceId;
      return {
        replicaVolumeId,
        ...(primaryVolumeId === undefined ? {} : { primaryVolumeId }),
        ...(instanceId === undefined ? {} : { instanceId }),
      };
    });
    const unmarked = [
      ...new Set(views.flatMap((v) => (v.primaryVolumeId === undefined ? [] : [v.primaryVolumeId]))),
    ].filter((id) => this.volumes.get(id)?.tags[PRIMARY_OPT_IN_TAG] !== 'true');
    if (unmarked.length > 0) return Promise.reject(notOptedIn('primary volume', unmarked));
    return Promise.resolve(views);
  }

  createInstanceSnapshots(
    instanceId: string,
    volumeIds: readonly string[],
    tags: Record<string, string>,
    description: string,
  ): Promise<ReadonlyMap<string, string>> {
    const instance = this.instances.get(instanceId);
    if (instance !== undefined && instance.tags[PRIMARY_OPT_IN_TAG] !== 'true')
      return Promise.reject(notOptedIn('instance', [instanceId]));
    const snapshots = new Map<string, string>();
    for (const volumeId of instance?.volumeIds ?? []) {
      if (volumeIds.includes(volumeId)) snapshots.set(volumeId, this.snapshotOf(volumeId, tags, description));
    }
    return Promise.resolve(snapshots);
  }

  createVolumeSnapshot(volumeId: string, tags: Record<string, string>, description: string): Promise<string> {
    return Promise.resolve(this.snapshotOf(volumeId, tags, description));
  }

  tagSnapshot(snapshotId: string, tags: Record<string, string>): Promise<void> {
    const snapshot = this.snapshots.get(snapshotId);
    if (snapshot === undefined) {
      return Promise.reject(
        new NotFoundError(
          `CreateTags failed: InvalidSnapshot.NotFound: The snapshot '${snapshotId}' does not exist.`,
        ),
      );
    }
    snapshot.tags = { ...snapshot.tags, ...tags };
    return Promise.resolve();
  }

  private snapshotOf(volumeId: string, tags: Record<string, string>, description: string): string {
    const snapshotId = this.id('snap');
    this.snapshots.set(snapshotId, { volumeId, description, tags: { ...tags } });
    return snapshotId;
  }
}

/** The message Ec2PrimarySnapshots gives for a primary or instance its operator did not mark. */
function notOptedIn(what: string, ids: readonly string[]): ValidationError {
  return new ValidationError(
    `${what} ${ids.join(', ')} ${ids.length === 1 ? 'is' : 'are'} not tagged ${PRIMARY_OPT_IN_TAG}=true: ` +
      'this deployment snapshots only primaries their operator has marked (docs/plans.md, Replica or primary)',
  );
}
