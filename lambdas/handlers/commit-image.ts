/**
 * Lambda "commit-image": gathers the range summaries from the work bucket and commits the image
 * (the engine's commitImage: manifest, then the image record, the commit point). Re-running it is a
 * no-op that succeeds, so a retried or redriven commit is safe.
 */
import { z } from 'zod';
import { commitImage } from '../core/backup/commit.ts';
import type { RangeSummary } from '../core/backup/range-worker.ts';
import { ValidationError } from '../core/errors.ts';
import type { ImageStore } from '../core/image/image-store.ts';
import type { ObjectStore } from '../core/store/object-store.ts';
import type { ImageRecordStore } from '../core/image/image-records.ts';
import { engineStores } from './support/engine-deps.ts';
import { createStepHandler, lazyHandler, logger } from './support/step-handler.ts';
import { backupField } from './support/step-schemas.ts';
import { getJson, rangeSummaryPrefix } from './support/work-items.ts';

export const commitImageEventSchema = z.object({
  backup: backupField,
  plan: z.looseObject({
    volumeId: z.string().min(1),
    imageId: z.string().min(1),
    snapshotId: z.string().min(1),
    parentImageId: z.string().min(1).optional(),
    parentSnapshotId: z.string().min(1).optional(),
    fullReadReason: z.string().optional(),
    createdAt: z.iso.datetime(),
    rangeCount: z.number().int().min(1),
  }),
});

export interface CommitImageDeps {
  readonly images: ImageStore;
  readonly records: ImageRecordStore;
  readonly work: ObjectStore;
}

export function createCommitImageHandler(deps: CommitImageDeps) {
  return createStepHandler('commit-image', commitImageEventSchema, async ({ backup, plan }) => {
    const keys = await deps.work.list(rangeSummaryPrefix(backup.backupId, plan.volumeId));
    if (keys.length !== plan.rangeCount) {
      throw new ValidationError(
        `image ${plan.imageId}: ${keys.length} of ${plan.rangeCount} range summaries found; not committing`,
        {
          context: { imageId: plan.imageId },
        },
      );
    }
    const summaries = (await Promise.all(keys.map((key) => getJson(deps.work, key)))) as RangeSummary[];
    const { record } = await commitImage(deps, {
      volumeId: plan.volumeId,
      imageId: plan.imageId,
      snapshotId: plan.snapshotId,
      createdAt: plan.createdAt,
      ...(plan.parentImageId === undefined ? {} : { parentImageId: plan.parentImageId }),
      ...(plan.parentSnapshotId === undefined ? {} : { parentSnapshotId: plan.parentSnapshotId }),
      ...(plan.fullReadReason === undefined ? {} : { fullReadReason: plan.fullReadReason }),
      summaries,
    });
    logger.info('image committed', { imageId: record.imageId, kind: record.kind, stats: record.stats });
    return {
      volumeId: record.volumeId,
      imageId: record.imageId,
      kind: record.kind,
      createdAt: record.createdAt,
      manifestKey: record.manifestKey,
      stats: record.stats,
    };
  });
}

export const handler = lazyHandler(() => {
  const stores = engineStores();
  return createCommitImageHandler({ images: stores.images, records: stores.records, work: stores.work });
});
