/**
 * Dependencies of the engine steps (plan, copy range, commit) in a Lambda: the backup engine's
 * own SDK clients (no nested SDK retries, explicit timeouts) traced through Powertools, and the
 * buckets and table from the environment.
 */
import { z } from 'zod';
import {
  createEngineDynamoDbClient,
  createEngineEbsClient,
  createEngineS3Client,
} from '../../aws/engine-clients.ts';
import { DynamoDbImageRecordStore } from '../../aws/dynamodb-image-records.ts';
import { EbsSnapshots } from '../../aws/ebs-snapshots.ts';
import { S3ObjectStore } from '../../aws/s3-object-store.ts';
import { DEFAULT_RANGE_WORKERS, SNAPSHOT_READ_BUDGET_REQUESTS_PER_SECOND } from '../../core/backup/plan.ts';
import { ImageStore } from '../../core/image/image-store.ts';
import { readEnvironment, TABLE_NAME } from './environment.ts';
import { tracer } from './step-handler.ts';

export const engineEnvironmentShape = {
  TABLE_NAME,
  IMAGE_BUCKET: z.string().min(3),
  WORK_BUCKET: z.string().min(3),
  /** GetSnapshotBlock requests per second per snapshot, all range workers together (request budget). */
  SNAPSHOT_READ_BUDGET: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000)
    .default(SNAPSHOT_READ_BUDGET_REQUESTS_PER_SECOND),
  /** Range workers of one snapshot at once (the Distributed Map's MaxConcurrency). */
  RANGE_WORKERS: z.coerce.number().int().min(1).max(1_000).default(DEFAULT_RANGE_WORKERS),
};

export function engineEnvironment() {
  return readEnvironment(engineEnvironmentShape);
}

export function engineStores() {
  const env = engineEnvironment();
  const s3 = tracer.captureAWSv3Client(createEngineS3Client());
  return {
    env,
    images: new ImageStore(new S3ObjectStore(s3, env.IMAGE_BUCKET)),
    work: new S3ObjectStore(s3, env.WORK_BUCKET),
    records: new DynamoDbImageRecordStore(
      tracer.captureAWSv3Client(createEngineDynamoDbClient()),
      env.TABLE_NAME,
    ),
    ebs: () => new EbsSnapshots(tracer.captureAWSv3Client(createEngineEbsClient())),
  };
}
