/**
 * Lambda "build-catalog": after the commit, reads the image through the chunk store (which also
 * proves it readable) and writes its catalog: changed file versions, application records and the
 * image's catalog record (status and counts). Damage inside the image is recorded, not thrown;
 * only store failures fail the step (retryable ones are retried by the state machine).
 */
import { z } from 'zod';
import { DynamoDbCatalogStore } from '../aws/dynamodb-catalog.ts';
import { createEngineDynamoDbClient } from '../aws/engine-clients.ts';
import { buildCatalog } from '../core/catalog/build-catalog.ts';
import type { CatalogStore } from '../core/catalog/catalog-store.ts';
import type { ImageStore } from '../core/image/image-store.ts';
import { ImageReader } from '../core/image/image-reader.ts';
import type { ImageRecordStore } from '../core/image/image-records.ts';
import { engineStores } from './support/engine-deps.ts';
import { createStepHandler, lazyHandler, logger, tracer } from './support/step-handler.ts';

export const buildCatalogEventSchema = z.looseObject({
  volumeId: z.string().min(1).max(64),
  imageId: z.string().min(1).max(128),
});

export interface BuildCatalogHandlerDeps {
  readonly records: ImageRecordStore;
  readonly images: ImageStore;
  readonly catalog: CatalogStore;
}

export function createBuildCatalogHandler(deps: BuildCatalogHandlerDeps) {
  return createStepHandler('build-catalog', buildCatalogEventSchema, async ({ volumeId, imageId }) => {
    const record = await deps.records.getImageRecord(volumeId, imageId);
    const manifest = await deps.images.getManifest(volumeId, imageId, record.manifestSha256);
    const result = await buildCatalog(
      { store: deps.catalog },
      {
        image: { volumeId, imageId, createdAt: record.createdAt },
        disk: new ImageReader(deps.images, manifest),
      },
    );
    logger.info('image catalogued', {
      imageId,
      status: result.status,
      counts: result.counts,
      changes: result.changes,
      errorCount: result.errorCount,
      warnings: result.warnings,
    });
    return {
      volumeId,
      imageId,
      status: result.status,
      counts: result.counts,
      changes: result.changes,
      errorCount: result.errorCount,
      warningCount: result.warnings.length,
      applicationCount: result.applicationCount,
    };
  });
}

export const handler = lazyHandler(() => {
  const stores = engineStores();
  return createBuildCatalogHandler({
    records: stores.records,
    images: stores.images,
    catalog: new DynamoDbCatalogStore(
      tracer.captureAWSv3Client(createEngineDynamoDbClient()),
      stores.env.TABLE_NAME,
    ),
  });
});
