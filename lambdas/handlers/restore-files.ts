/**
 * Lambda "restore-files": runs one file, directory or application restore job (created pending by
 * the API) to its end: streams the file or a tar archive into the restore bucket and records the
 * result on the job, which the API then answers with a fresh presigned URL.
 */
import { z } from 'zod';
import { DynamoDbCatalogStore } from '../aws/dynamodb-catalog.ts';
import { DynamoDbRestoreJobStore } from '../aws/dynamodb-catalog-restore-jobs.ts';
import { createEngineDynamoDbClient, createEngineS3Client } from '../aws/engine-clients.ts';
import { S3RestoreObjectStore } from '../aws/s3-restore.ts';
import { runRestoreJob, type RestoreDeps } from '../core/file-restore/restore-jobs.ts';
import { systemClock } from '../core/ports.ts';
import { ImageReader } from '../core/restore/image-reader.ts';
import { engineStores } from './support/engine-deps.ts';
import { readEnvironment } from './support/environment.ts';
import { createStepHandler, lazyHandler, logger, tracer } from './support/step-handler.ts';

export const restoreFilesEventSchema = z.looseObject({
  restoreId: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/),
});

export function createRestoreFilesHandler(deps: RestoreDeps) {
  return createStepHandler('restore-files', restoreFilesEventSchema, async ({ restoreId }) => {
    const job = await runRestoreJob(deps, restoreId);
    logger.info('restore finished', {
      restoreId,
      status: job.status,
      bytes: job.result?.bytes,
      files: job.result?.files,
      problemCount: job.result?.problemCount,
      failure: job.failure,
    });
    return { restoreId, status: job.status };
  });
}

export const handler = lazyHandler(() => {
  const stores = engineStores();
  const env = readEnvironment({ RESTORE_BUCKET: z.string().min(3) });
  const documents = tracer.captureAWSv3Client(createEngineDynamoDbClient());
  return createRestoreFilesHandler({
    jobs: new DynamoDbRestoreJobStore(documents, stores.env.TABLE_NAME),
    objects: new S3RestoreObjectStore(tracer.captureAWSv3Client(createEngineS3Client()), env.RESTORE_BUCKET),
    catalog: new DynamoDbCatalogStore(documents, stores.env.TABLE_NAME),
    openImage: async (volumeId, imageId) => {
      const record = await stores.records.getImageRecord(volumeId, imageId);
      return new ImageReader(
        stores.images,
        await stores.images.getManifest(volumeId, imageId, record.manifestSha256),
      );
    },
    clock: systemClock,
  });
});
