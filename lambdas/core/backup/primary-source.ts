/**
 * Backups from the primary: the source server's own EBS volumes instead of its replica volumes.
 *
 * A server names its primary on its replica volumes: `rbp:primary-volume` on each replica volume
 * is the EBS volume id of the source disk that the replica copies (set by the operator, a DRS
 * EC2-to-EC2 integration, or `rbp local primary create`). The primary volumes of one EC2 instance
 * are snapshotted together with EC2 CreateSnapshots, one crash-consistent set across the
 * instance's volumes (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSnapshots.html);
 * a primary volume that is not attached to an instance gets a CreateSnapshot of its own.
 *
 * Everything after the snapshot is the same engine: a primary snapshot is tagged with the replica
 * volume id it stands for (`rbp:volume-id`), so the image is an image of that protected volume,
 * with `source: primary` on its record. Incrementals stay per source lineage: the parent of an
 * image is the latest image of the volume from the same source (`sameLineage`), so a primary
 * image is never the parent of a replica image (their snapshots are of different EBS volumes, and
 * ListChangedBlocks between them would be meaningless).
 */
import { NotFoundError } from '../errors.ts';
import type { StepLog } from '../ports.ts';
import type { BackupSource } from '../plans/source-selection.ts';

export const BACKUP_SOURCES = ['replica', 'primary'] as const satisfies readonly BackupSource[];

/** On a replica volume: the EBS volume id of the source disk it copies (docs/replica-tags.md). */
export const PRIMARY_VOLUME_TAG = 'rbp:primary-volume';
/**
 * On a primary volume and on its EC2 instance: `true` lets this product snapshot it. The stack's
 * IAM grants CreateSnapshots/CreateSnapshot only on instances and volumes carrying it
 * (lib/constructs/primary-snapshots-policy.ts), so a source server is backed up from its primary
 * only when its operator has marked it.
 */
export const PRIMARY_OPT_IN_TAG = 'rbp:primary';

/** On a snapshot or image: which copy it was taken from. */
export const SOURCE_TAG = 'rbp:source';

/** The primary of one replica volume, as EC2 describes it. */
export interface PrimaryVolumeView {
  readonly replicaVolumeId: string;
  /** Undefined when the replica volume names no primary. */
  readonly primaryVolumeId?: string;
  /** The instance the primary is attached to; undefined when it is not attached. */
  readonly instanceId?: string;
}

export interface PrimarySnapshotPort {
  /** Reads `rbp:primary-volume` of each replica volume and where that volume is attached. */
  primaryVolumes(replicaVolumeIds: readonly string[]): Promise<PrimaryVolumeView[]>;
  /**
   * CreateSnapshots of `instanceId` covering exactly `volumeIds` (the instance's other volumes
   * excluded); returns a snapshot id per volume id.
   */
  createInstanceSnapshots(
    instanceId: string,
    volumeIds: readonly string[],
    tags: Record<string, string>,
    description: string,
  ): Promise<ReadonlyMap<string, string>>;
  /** CreateSnapshot of one volume, tagged on creation; returns the snapshot id. */
  createVolumeSnapshot(volumeId: string, tags: Record<string, string>, description: string): Promise<string>;
  tagSnapshot(snapshotId: string, tags: Record<string, string>): Promise<void>;
}

/** A snapshot group: the volumes one CreateSnapshots (or one CreateSnapshot) covers. */
export interface PrimarySnapshotGroup {
  readonly instanceId?: string;
  readonly volumes: readonly { readonly replicaVolumeId: string; readonly primaryVolumeId: string }[];
}

/**
 * Groups the primaries of `replicaVolumeIds` by instance (in the order of the replica volumes);
 * NotFoundError names every replica volume without a primary (an on-premises source has none).
 */
export function groupPrimaries(
  serverId: string,
  replicaVolumeIds: readonly string[],
  views: readonly PrimaryVolumeView[],
): PrimarySnapshotGroup[] {
  const byReplica = new Map(views.map((view) => [view.replicaVolumeId, view]));
  const missing = replicaVolumeIds.filter((id) => byReplica.get(id)?.primaryVolumeId === undefined);
  if (missing.length > 0) {
    throw new NotFoundError(
      `server ${serverId} has no primary for ${missing.join(', ')} (no ${PRIMARY_VOLUME_TAG} tag); ` +
        'an on-premises source has none: back up its replica',
      { context: { serverId, volumeIds: missing.join(',') } },
    );
  }
  const groups: { instanceId?: string; volumes: { replicaVolumeId: string; primaryVolumeId: string }[] }[] =
    [];
  for (const replicaVolumeId of replicaVolumeIds) {
    const view = byReplica.get(replicaVolumeId)!;
    const volume = { replicaVolumeId, primaryVolumeId: view.primaryVolumeId! };
    const group =
      view.instanceId === undefined ? undefined : groups.find((g) => g.instanceId === view.instanceId);
    if (group !== undefined) group.volumes.push(volume);
    else
      groups.push({
        ...(view.instanceId === undefined ? {} : { instanceId: view.instanceId }),
        volumes: [volume],
      });
  }
  return groups;
}

/**
 * Snapshots the primaries of the backup's replica volumes, tagged on creation with `commonTags`
 * and `rbp:source=primary` (one CreateSnapshots gives every snapshot of the set the same tags),
 * then each with `perVolumeTags` of its replica volume and `rbp:primary-volume`. Returns the
 * snapshot of each replica volume, in their order.
 */
export async function createPrimarySnapshots(
  port: PrimarySnapshotPort,
  backup: { readonly backupId: string; readonly serverId: string; readonly volumeIds: readonly string[] },
  commonTags: Record<string, string>,
  perVolumeTags: (replicaVolumeId: string) => Record<string, string>,
  log: StepLog,
): Promise<{ volumeId: string; snapshotId: string }[]> {
  const groups = groupPrimaries(
    backup.serverId,
    backup.volumeIds,
    await port.primaryVolumes(backup.volumeIds),
  );
  const tags = { ...commonTags, [SOURCE_TAG]: 'primary' };
  const ownTags = (volume: { replicaVolumeId: string; primaryVolumeId: string }) => ({
    ...perVolumeTags(volume.replicaVolumeId),
    [PRIMARY_VOLUME_TAG]: volume.primaryVolumeId,
  });
  const snapshotOf = new Map<string, string>();
  for (const group of groups) {
    const description = `rbp backup ${backup.backupId} of the primary of ${backup.serverId}`;
    if (group.instanceId !== undefined) {
      const created = await port.createInstanceSnapshots(
        group.instanceId,
        group.volumes.map((v) => v.primaryVolumeId),
        tags,
        description,
      );
      for (const volume of group.volumes) {
        const snapshotId = created.get(volume.primaryVolumeId);
        if (snapshotId === undefined) {
          throw new NotFoundError(
            `CreateSnapshots of ${group.instanceId} returned no snapshot of ${volume.primaryVolumeId}`,
            { context: { instanceId: group.instanceId, volumeId: volume.primaryVolumeId } },
          );
        }
        await port.tagSnapshot(snapshotId, ownTags(volume));
        snapshotOf.set(volume.replicaVolumeId, snapshotId);
      }
    } else {
      for (const volume of group.volumes) {
        const snapshotId = await port.createVolumeSnapshot(
          volume.primaryVolumeId,
          { ...tags, ...ownTags(volume) },
          description,
        );
        snapshotOf.set(volume.replicaVolumeId, snapshotId);
      }
    }
    for (const volume of group.volumes) {
      log.info('primary snapshot created', {
        volumeId: volume.replicaVolumeId,
        primaryVolumeId: volume.primaryVolumeId,
        snapshotId: snapshotOf.get(volume.replicaVolumeId)!,
        ...(group.instanceId === undefined ? {} : { instanceId: group.instanceId }),
      });
    }
  }
  return backup.volumeIds.map((volumeId) => ({ volumeId, snapshotId: snapshotOf.get(volumeId)! }));
}

/** True when an image record (`source` absent: an image from before sources, a replica one) is of `source`'s lineage. */
export function sameLineage(record: { readonly source?: BackupSource }, source: BackupSource): boolean {
  return (record.source ?? 'replica') === source;
}
