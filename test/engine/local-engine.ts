/**
 * The engine wired to the local stack through the real SDK clients and the production adapters:
 * EBS direct API → gateway → emulator; S3 and DynamoDB → gateway → moto.
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { productTableDefinition } from '../../local/product-table.ts';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { EBSClient } from '@aws-sdk/client-ebs';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbImageRecordStore } from '../../lambdas/aws/dynamodb-image-records.ts';
import { EbsSnapshots } from '../../lambdas/aws/ebs-snapshots.ts';
import { Ec2SnapshotState } from '../../lambdas/aws/ec2-snapshot-state.ts';
import { createSdkClients } from '../../lambdas/aws/sdk-clients.ts';
import { S3ObjectStore } from '../../lambdas/aws/s3-object-store.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import type { BackupDeps } from '../../lambdas/core/backup/backup-image.ts';
import type { ImageManifest } from '../../lambdas/core/image/image-types.ts';
import {
  restoreImageToSnapshot,
  waitForSnapshotCompleted,
  type SnapshotRestoreResult,
} from '../../lambdas/core/restore/volume-restore.ts';
import type { RetryPolicy } from '../../lambdas/core/util/retry.ts';
import { noPacing, realSnapshotWait } from './engine-fixture.ts';
import type { LocalClientConfig } from '../support/local-stack.ts';

export interface LocalEngine {
  readonly ebsClient: EBSClient;
  readonly s3Client: S3Client;
  readonly ddbClient: DynamoDBDocumentClient;
  readonly ec2Client: EC2Client;
  readonly ebs: EbsSnapshots;
  readonly objects: S3ObjectStore;
  readonly images: ImageStore;
  readonly records: DynamoDbImageRecordStore;
  readonly snapshotState: Ec2SnapshotState;
  destroy(): void;
}

/** A backup's ports over the local engine, its requests not paced (the tests' volumes are small). */
export function unpacedBackupDeps(engine: LocalEngine): BackupDeps {
  return {
    ebs: engine.ebs,
    images: engine.images,
    records: engine.records,
    readPacer: noPacing,
    listPacer: noPacing,
  };
}

/** Creates the bucket and the table (once per name) and returns the adapters over them. */
export async function localEngine(
  config: LocalClientConfig,
  names: { bucket: string; table: string },
  retry: RetryPolicy,
): Promise<LocalEngine> {
  const options = {
    endpoint: config.endpoint,
    region: config.region,
    credentials: { ...config.credentials },
  };
  const admin = new S3Client({ ...config, forcePathStyle: true });
  await admin.send(new CreateBucketCommand({ Bucket: names.bucket })).catch((error: unknown) => {
    if ((error as { name?: string }).name !== 'BucketAlreadyOwnedByYou') throw error;
  });
  admin.destroy();
  const ddbAdmin = new DynamoDBClient(config);
  await ddbAdmin
    .send(
      // The product table's real shape (keys and GSIs) as the local stack creates it.
      new CreateTableCommand(productTableDefinition(names.table)),
    )
    .catch((error: unknown) => {
      if ((error as { name?: string }).name !== 'ResourceInUseException') throw error;
    });
  ddbAdmin.destroy();

  const clients = createSdkClients('engine', options);
  const ebsClient = clients.ebs;
  const s3Client = clients.s3;
  const ddbClient = clients.documents;
  const ec2Client = clients.ec2;
  const objects = new S3ObjectStore(s3Client, names.bucket);
  return {
    ebsClient,
    s3Client,
    ddbClient,
    ec2Client,
    ebs: new EbsSnapshots(ebsClient),
    objects,
    images: new ImageStore(objects, { retry }),
    records: new DynamoDbImageRecordStore(ddbClient, names.table),
    snapshotState: new Ec2SnapshotState(ec2Client),
    destroy: () => {
      ebsClient.destroy();
      s3Client.destroy();
      ddbClient.destroy();
      ec2Client.destroy();
    },
  };
}

/** Restores the image to a new EBS snapshot through the engine's adapters and waits until it completes. */
export async function restoreToNewSnapshot(
  engine: LocalEngine,
  manifest: ImageManifest,
  restoreId: string,
  retry: RetryPolicy,
): Promise<SnapshotRestoreResult> {
  const restored = await restoreImageToSnapshot(
    { images: engine.images, writer: engine.ebs, nowMs: () => performance.now(), retry },
    { manifest, restoreId },
  );
  await waitForSnapshotCompleted(engine.snapshotState, restored.snapshotId, realSnapshotWait);
  return restored;
}
