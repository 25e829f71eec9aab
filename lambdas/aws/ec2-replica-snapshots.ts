/**
 * EC2 adapter of the backup orchestration: tags of the replica volumes, and the snapshots a backup
 * takes of them (create, describe, tag, delete). Never waits: the state machine polls.
 */
import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  paginateDescribeSnapshots,
  paginateDescribeVolumes,
  type EC2Client,
  type Snapshot,
  type Tag,
} from '@aws-sdk/client-ec2';
import { ConflictError } from '../core/errors.ts';
import { SnapshotLimitExceededError } from '../core/orchestration/orchestration-errors.ts';
import { REPLICA_TAG, type ReplicaVolumeTags } from '../core/orchestration/replica-probe.ts';
import {
  BACKUP_ID_TAG,
  MANAGED_TAG,
  VOLUME_ID_TAG,
  type SnapshotView,
} from '../core/orchestration/replica-snapshots.ts';
import { tagList } from './aws-tags.ts';
import { sdkErrorName, translateSdkError } from './sdk-errors.ts';

/**
 * EC2 answers these when a volume has its maximum of pending snapshots or exceeded its snapshot
 * rate (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
 */
const SNAPSHOT_LIMIT_CODES = new Set([
  'ConcurrentSnapshotLimitExceeded',
  'SnapshotCreationPerVolumeRateExceeded',
]);
/** DescribeSnapshots page size: the API's maximum, to keep the number of calls low. */
const DESCRIBE_SNAPSHOTS_PAGE_SIZE = 1000;
/** DescribeVolumes page size: the API's maximum. */
const DESCRIBE_VOLUMES_PAGE_SIZE = 500;

function tagsToRecord(tags: readonly Tag[] | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) record[tag.Key] = tag.Value ?? '';
  return record;
}

function toView(snapshot: Snapshot): SnapshotView {
  const tags = tagsToRecord(snapshot.Tags);
  return {
    snapshotId: snapshot.SnapshotId ?? '',
    volumeId: snapshot.VolumeId ?? tags[VOLUME_ID_TAG] ?? '',
    state: snapshot.State ?? 'pending',
    ...(snapshot.Progress === undefined ? {} : { progress: snapshot.Progress }),
    ...(snapshot.StartTime === undefined ? {} : { startTime: snapshot.StartTime.toISOString() }),
    ...(snapshot.VolumeSize === undefined ? {} : { volumeSizeGib: snapshot.VolumeSize }),
    tags,
  };
}

export class Ec2ReplicaSnapshots {
  constructor(private readonly ec2: EC2Client) {}

  async volumeTags(volumeIds: readonly string[]): Promise<ReplicaVolumeTags[]> {
    try {
      const answer = await this.ec2.send(new DescribeVolumesCommand({ VolumeIds: [...volumeIds] }));
      return (answer.Volumes ?? []).map((v) => ({ volumeId: v.VolumeId ?? '', tags: tagsToRecord(v.Tags) }));
    } catch (error) {
      throw translateSdkError(error, 'DescribeVolumes', { volumeIds: volumeIds.join(',') });
    }
  }

  /** Ids of the replica volumes (rbp:replica=true) tagged `tagKey=tagValue`. */
  async replicaVolumesTagged(tagKey: string, tagValue: string): Promise<string[]> {
    const ids: string[] = [];
    try {
      const pages = paginateDescribeVolumes(
        { client: this.ec2, pageSize: DESCRIBE_VOLUMES_PAGE_SIZE },
        {
          Filters: [
            { Name: `tag:${REPLICA_TAG}`, Values: ['true'] },
            { Name: `tag:${tagKey}`, Values: [tagValue] },
          ],
        },
      );
      for await (const page of pages)
        ids.push(...(page.Volumes ?? []).flatMap((v) => (v.VolumeId === undefined ? [] : [v.VolumeId])));
    } catch (error) {
      throw translateSdkError(error, 'DescribeVolumes', { tagKey, tagValue });
    }
    return ids;
  }

  async createSnapshot(
    volumeId: string,
    tags: Record<string, string>,
    description: string,
  ): Promise<SnapshotView> {
    try {
      const answer = await this.ec2.send(
        new CreateSnapshotCommand({
          VolumeId: volumeId,
          Description: description,
          TagSpecifications: [{ ResourceType: 'snapshot', Tags: tagList(tags) }],
        }),
      );
      return toView({
        ...answer,
        Tags: answer.Tags ?? tagList(tags),
      });
    } catch (error) {
      const name = sdkErrorName(error);
      if (name !== undefined && SNAPSHOT_LIMIT_CODES.has(name)) {
        throw new SnapshotLimitExceededError(`CreateSnapshot of ${volumeId} refused: ${name}`, {
          cause: error,
          context: { volumeId },
        });
      }
      throw translateSdkError(error, 'CreateSnapshot', { volumeId });
    }
  }

  /** Snapshots by id; ids that no longer exist are simply absent from the answer. */
  async describeSnapshots(snapshotIds: readonly string[]): Promise<SnapshotView[]> {
    if (snapshotIds.length === 0) return [];
    const found: SnapshotView[] = [];
    // One id at a time when some are missing: DescribeSnapshots fails the whole call for one unknown id.
    try {
      const answer = await this.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [...snapshotIds] }));
      return (answer.Snapshots ?? []).map(toView);
    } catch (error) {
      if (sdkErrorName(error) !== 'InvalidSnapshot.NotFound')
        throw translateSdkError(error, 'DescribeSnapshots');
    }
    for (const snapshotId of snapshotIds) {
      try {
        const answer = await this.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
        found.push(...(answer.Snapshots ?? []).map(toView));
      } catch (error) {
        if (sdkErrorName(error) !== 'InvalidSnapshot.NotFound')
          throw translateSdkError(error, 'DescribeSnapshots', { snapshotId });
      }
    }
    return found;
  }

  /** Every snapshot this account owns with all of `tags`. */
  async snapshotsTagged(tags: Record<string, string>): Promise<SnapshotView[]> {
    const views: SnapshotView[] = [];
    try {
      const pages = paginateDescribeSnapshots(
        { client: this.ec2, pageSize: DESCRIBE_SNAPSHOTS_PAGE_SIZE },
        {
          OwnerIds: ['self'],
          Filters: Object.entries(tags).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] })),
        },
      );
      for await (const page of pages) views.push(...(page.Snapshots ?? []).map(toView));
    } catch (error) {
      throw translateSdkError(error, 'DescribeSnapshots', { filter: JSON.stringify(tags) });
    }
    return views;
  }

  snapshotsOfBackup(backupId: string): Promise<SnapshotView[]> {
    return this.snapshotsTagged({ [MANAGED_TAG]: 'true', [BACKUP_ID_TAG]: backupId });
  }

  managedSnapshotsOfVolume(volumeId: string): Promise<SnapshotView[]> {
    return this.snapshotsTagged({ [MANAGED_TAG]: 'true', [VOLUME_ID_TAG]: volumeId });
  }

  async tagSnapshot(snapshotId: string, tags: Record<string, string>): Promise<void> {
    try {
      await this.ec2.send(
        new CreateTagsCommand({
          Resources: [snapshotId],
          Tags: tagList(tags),
        }),
      );
    } catch (error) {
      throw translateSdkError(error, 'CreateTags', { snapshotId });
    }
  }

  /** Deletes a snapshot; one that is already gone counts as deleted. */
  async deleteSnapshot(snapshotId: string): Promise<'deleted' | 'absent'> {
    try {
      await this.ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
      return 'deleted';
    } catch (error) {
      const name = sdkErrorName(error);
      if (name === 'InvalidSnapshot.NotFound') return 'absent';
      if (name === 'InvalidSnapshot.InUse') {
        throw new ConflictError(`snapshot ${snapshotId} is in use (by an AMI?) and was not deleted`, {
          cause: error,
          context: { snapshotId },
        });
      }
      throw translateSdkError(error, 'DeleteSnapshot', { snapshotId });
    }
  }
}
