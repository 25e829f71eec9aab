/**
 * The contract of the SnapshotPort (lambdas/core/orchestration/orchestration-ports.ts): the EC2
 * snapshots a backup takes of its replica volumes, finds again by their tags, re-tags (base,
 * pending, released) and deletes. EC2 facts both implementations must show: CreateSnapshot keeps
 * the tags given in its TagSpecifications; DescribeSnapshots with an unknown id fails the whole
 * call (InvalidSnapshot.NotFound), so the port answers the known ones; DescribeSnapshots filters
 * `tag:KEY` match all the tags named; CreateTags adds to the tags a snapshot has; DeleteSnapshot of
 * a deleted snapshot is InvalidSnapshot.NotFound
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSnapshots.html,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateTags.html).
 * Run against the ASL tests' FakeWorld and Ec2ReplicaSnapshots on moto.
 */
import { describe, expect, it } from 'vitest';
import type { SnapshotPort } from '../../lambdas/core/orchestration/orchestration-ports.ts';
import {
  BACKUP_ID_TAG,
  MANAGED_TAG,
  VOLUME_ID_TAG,
  type SnapshotView,
} from '../../lambdas/core/orchestration/replica-snapshots.ts';

export interface ReplicaSnapshotsHarness {
  readonly snapshots: SnapshotPort;
  /** A new replica volume to snapshot; its id. */
  newVolume(): Promise<string>;
}

const UNKNOWN_SNAPSHOT = 'snap-0123456789abcdef0';

const managed = (backupId: string, volumeId: string) => ({
  [MANAGED_TAG]: 'true',
  [BACKUP_ID_TAG]: backupId,
  [VOLUME_ID_TAG]: volumeId,
});

const idsOf = (views: readonly SnapshotView[]) => views.map((v) => v.snapshotId).sort();

export function replicaSnapshotsContract(name: string, open: () => Promise<ReplicaSnapshotsHarness>): void {
  describe(`SnapshotPort contract: ${name}`, () => {
    it('creates a snapshot of the volume with the given tags, and describes it with them', async () => {
      const { snapshots, newVolume } = await open();
      const volumeId = await newVolume();
      const tags = { ...managed('b-create', volumeId), 'rbp:role': 'pending' };
      const created = await snapshots.createSnapshot(volumeId, tags, 'contract: create');
      expect(created.snapshotId).toMatch(/^snap-/);
      expect(created).toMatchObject({ volumeId, tags });
      expect(['pending', 'completed']).toContain(created.state);
      const [described] = await snapshots.describeSnapshots([created.snapshotId]);
      expect(described).toMatchObject({ snapshotId: created.snapshotId, volumeId, tags });
    });

    it('describes the snapshots that exist and leaves out unknown ids; no ids, no snapshots', async () => {
      const { snapshots, newVolume } = await open();
      const volumeId = await newVolume();
      const a = await snapshots.createSnapshot(volumeId, managed('b-describe', volumeId), 'a');
      const b = await snapshots.createSnapshot(volumeId, managed('b-describe', volumeId), 'b');
      expect(
        idsOf(await snapshots.describeSnapshots([a.snapshotId, UNKNOWN_SNAPSHOT, b.snapshotId])),
      ).toEqual(idsOf([a, b]));
      expect(await snapshots.describeSnapshots([UNKNOWN_SNAPSHOT])).toEqual([]);
      expect(await snapshots.describeSnapshots([])).toEqual([]);
    });

    it("finds a backup's managed snapshots and a volume's, and nothing unmanaged or of another backup", async () => {
      const { snapshots, newVolume } = await open();
      const [v1, v2] = [await newVolume(), await newVolume()];
      const mine = [
        await snapshots.createSnapshot(v1, managed('b-find', v1), 'mine 1'),
        await snapshots.createSnapshot(v2, managed('b-find', v2), 'mine 2'),
      ];
      const other = await snapshots.createSnapshot(v1, managed('b-other', v1), 'other backup');
      await snapshots.createSnapshot(v1, { [BACKUP_ID_TAG]: 'b-find', [VOLUME_ID_TAG]: v1 }, 'unmanaged');
      expect(idsOf(await snapshots.snapshotsOfBackup('b-find'))).toEqual(idsOf(mine));
      expect(idsOf(await snapshots.managedSnapshotsOfVolume(v1))).toEqual(idsOf([mine[0]!, other]));
      expect(await snapshots.snapshotsOfBackup('b-none')).toEqual([]);
    });

    it('adds tags to a snapshot, keeping the ones it had', async () => {
      const { snapshots, newVolume } = await open();
      const volumeId = await newVolume();
      const created = await snapshots.createSnapshot(volumeId, managed('b-tag', volumeId), 'tag');
      await snapshots.tagSnapshot(created.snapshotId, { 'rbp:role': 'base' });
      await snapshots.tagSnapshot(created.snapshotId, { 'rbp:role': 'released' });
      const [described] = await snapshots.describeSnapshots([created.snapshotId]);
      expect(described?.tags).toEqual({ ...managed('b-tag', volumeId), 'rbp:role': 'released' });
      expect(idsOf(await snapshots.snapshotsOfBackup('b-tag'))).toEqual([created.snapshotId]);
    });

    it('deletes a snapshot once: deleted, then absent; it is no longer found', async () => {
      const { snapshots, newVolume } = await open();
      const volumeId = await newVolume();
      const created = await snapshots.createSnapshot(volumeId, managed('b-delete', volumeId), 'delete');
      expect(await snapshots.deleteSnapshot(created.snapshotId)).toBe('deleted');
      expect(await snapshots.deleteSnapshot(created.snapshotId)).toBe('absent');
      expect(await snapshots.describeSnapshots([created.snapshotId])).toEqual([]);
      expect(await snapshots.snapshotsOfBackup('b-delete')).toEqual([]);
    });
  });
}
