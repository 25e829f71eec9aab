/**
 * Lambda "plan-backup": decides full or incremental for the (single, for now) volume of the
 * backup, writes the range items for the Distributed Map's ItemReader to the work bucket, and
 * returns what the Map and the commit need. Deterministic: a re-run or redrive writes the same
 * items and returns the same plan (the image id comes from the backup id, the image time from the
 * snapshot's start time).
 */
import { z } from 'zod';
import { planImage } from '../core/backup/plan.ts';
import { workerReadRate } from '../core/backup/plan.ts';
import type { RangeWorkItem } from '../core/backup/range-worker.ts';
import { NotFoundError, ValidationError } from '../core/errors.ts';
import type { ImageManifest } from '../core/image/image-types.ts';
import type { ObjectStore } from '../core/store/object-store.ts';
import type { ImageRecordStore } from '../core/image/image-records.ts';
import { snapshotOf, type SnapshotView } from '../core/orchestration/replica-snapshots.ts';
import { Ec2ReplicaSnapshots } from '../aws/ec2-replica-snapshots.ts';
import { ec2Client } from './support/aws-clients.ts';
import { engineStores } from './support/engine-deps.ts';
import { createStepHandler, lazyHandler, logger } from './support/step-handler.ts';
import { backupField, checkpointField, snapshotRefSchema } from './support/step-schemas.ts';
import { itemsKey, putJsonOnce } from './support/work-items.ts';

export const planBackupEventSchema = z.object({
  backup: backupField,
  checkpoint: checkpointField,
  snapshots: z.array(snapshotRefSchema).min(1),
});

/** What every range worker needs besides its item. */
export interface CopyJob {
  readonly backupId: string;
  /** This worker's share of the per-snapshot GetSnapshotBlock budget. */
  readonly readRequestsPerSecond: number;
}

export interface BackupPlan {
  readonly volumeId: string;
  readonly imageId: string;
  readonly snapshotId: string;
  readonly kind: 'full' | 'incremental';
  readonly parentImageId?: string;
  readonly parentSnapshotId?: string;
  readonly fullReadReason?: string;
  /** ISO-8601: the image's point in time (the snapshot's start time). */
  readonly createdAt: string;
  readonly workItems: { readonly bucket: string; readonly key: string };
  readonly rangeCount: number;
  readonly maxConcurrency: number;
  readonly job: CopyJob;
}

export interface PlanBackupDeps {
  readonly describeSnapshots: (ids: readonly string[]) => Promise<SnapshotView[]>;
  readonly records: ImageRecordStore;
  readonly getManifest: (volumeId: string, imageId: string, sha256: string) => Promise<ImageManifest>;
  readonly work: ObjectStore;
  readonly workBucket: string;
  readonly snapshotReadBudget: number;
  readonly rangeWorkers: number;
}

/** Image ids are derived from the backup so that every retry names the same image. */
export function imageIdFor(backupId: string, volumeId: string, groupSize: number): string {
  return groupSize === 1 ? `img-${backupId}` : `img-${backupId}-${volumeId}`;
}

export function createPlanBackupHandler(deps: PlanBackupDeps) {
  return createStepHandler(
    'plan-backup',
    planBackupEventSchema,
    async ({ backup, snapshots }): Promise<BackupPlan> => {
      const volumeId = backup.volumeIds[0]!;
      const { snapshotId } = snapshotOf(snapshots, volumeId);
      const [snapshot] = await deps.describeSnapshots([snapshotId]);
      if (snapshot === undefined)
        throw new NotFoundError(`snapshot ${snapshotId} of ${volumeId} no longer exists`, {
          context: { snapshotId },
        });
      if (
        snapshot.state !== 'completed' ||
        snapshot.volumeSizeGib === undefined ||
        snapshot.startTime === undefined
      ) {
        throw new ValidationError(
          `snapshot ${snapshotId} is ${snapshot.state}, not a completed snapshot with a size`,
          {
            context: { snapshotId },
          },
        );
      }
      const imageId = imageIdFor(backup.backupId, volumeId, backup.volumeIds.length);
      let parent: { manifest: ImageManifest; snapshotAvailable: boolean } | undefined;
      if (!backup.full) {
        const latest = (await deps.records.listImageRecords(volumeId))
          .filter((r) => r.imageId !== imageId)
          .at(-1);
        if (latest !== undefined) {
          const manifest = await deps.getManifest(volumeId, latest.imageId, latest.manifestSha256);
          const [parentSnapshot] = await deps.describeSnapshots([latest.snapshotId]);
          parent = { manifest, snapshotAvailable: parentSnapshot?.state === 'completed' };
        }
      }
      const plan = planImage({
        volumeId,
        imageId,
        snapshotId,
        volumeSizeGib: snapshot.volumeSizeGib,
        ...(parent === undefined ? {} : { parent }),
      });
      const key = itemsKey(backup.backupId, volumeId);
      await putJsonOnce(deps.work, key, plan.items);
      const maxConcurrency = Math.min(deps.rangeWorkers, plan.items.length);
      const first: RangeWorkItem = plan.items[0]!;
      logger.info('image planned', {
        imageId,
        kind: plan.kind,
        ranges: plan.items.length,
        fullReadReason: plan.fullReadReason,
      });
      return {
        volumeId,
        imageId,
        snapshotId,
        kind: plan.kind,
        ...(first.parentImageId === undefined ? {} : { parentImageId: first.parentImageId }),
        ...(first.parentSnapshotId === undefined ? {} : { parentSnapshotId: first.parentSnapshotId }),
        ...(plan.fullReadReason === undefined ? {} : { fullReadReason: plan.fullReadReason }),
        createdAt: snapshot.startTime,
        workItems: { bucket: deps.workBucket, key },
        rangeCount: plan.items.length,
        maxConcurrency,
        job: {
          backupId: backup.backupId,
          readRequestsPerSecond: workerReadRate(deps.snapshotReadBudget, maxConcurrency),
        },
      };
    },
  );
}

export const handler = lazyHandler(() => {
  const stores = engineStores();
  const ec2 = new Ec2ReplicaSnapshots(ec2Client());
  return createPlanBackupHandler({
    describeSnapshots: (ids) => ec2.describeSnapshots(ids),
    records: stores.records,
    getManifest: (volumeId, imageId, sha256) => stores.images.getManifest(volumeId, imageId, sha256),
    work: stores.work,
    workBucket: stores.env.WORK_BUCKET,
    snapshotReadBudget: stores.env.SNAPSHOT_READ_BUDGET,
    rangeWorkers: stores.env.RANGE_WORKERS,
  });
});
