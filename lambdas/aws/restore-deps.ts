/**
 * Dependencies of restores (the API's restore jobs and the restore worker): the catalog's file
 * restore jobs and restore bucket, volume restore jobs, and the image store and EBS writer that a
 * volume restore needs. Built from plain names and clients, so AWS and the local stack share it.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { EBSClient } from '@aws-sdk/client-ebs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RestoreDeps } from '../core/file-restore/restore-jobs.ts';
import type { VolumeRestoreDeps } from '../core/restore/volume-restore-jobs.ts';
import { ImageStore } from '../core/image/image-store.ts';
import type { Clock } from '../core/ports.ts';
import { ImageReader } from '../core/image/image-reader.ts';
import { DynamoDbCatalogStore } from './dynamodb-catalog.ts';
import { DynamoDbRestoreJobStore } from './dynamodb-catalog-restore-jobs.ts';
import { DynamoDbImageRecordStore } from './dynamodb-image-records.ts';
import { DynamoDbVolumeRestoreJobStore } from './dynamodb-volume-restore-jobs.ts';
import { EbsSnapshots } from './ebs-snapshots.ts';
import { Ec2SnapshotState } from './ec2-snapshot-state.ts';
import { realSleep } from '../core/util/retry.ts';
import { S3ObjectStore } from './s3-object-store.ts';
import { S3RestoreObjectStore } from './s3-restore.ts';

export interface RestoreNames {
  readonly tableName: string;
  readonly imageBucket: string;
  readonly restoreBucket: string;
}

export interface RestoreClients {
  readonly documents: DynamoDBDocumentClient;
  readonly s3: S3Client;
  readonly ebs: EBSClient;
  readonly ec2: EC2Client;
}

export interface RestoreWorkerDeps {
  readonly files: RestoreDeps;
  readonly volumes: VolumeRestoreDeps;
}

export function createRestoreWorkerDeps(
  names: RestoreNames,
  clients: RestoreClients,
  clock: Clock,
  nowMs: () => number = () => performance.now(),
): RestoreWorkerDeps {
  const images = new ImageStore(new S3ObjectStore(clients.s3, names.imageBucket));
  const records = new DynamoDbImageRecordStore(clients.documents, names.tableName);
  const loadManifest = async (volumeId: string, imageId: string) => {
    const record = await records.getImageRecord(volumeId, imageId);
    return images.getManifest(volumeId, imageId, record.manifestSha256);
  };
  return {
    files: {
      jobs: new DynamoDbRestoreJobStore(clients.documents, names.tableName),
      objects: new S3RestoreObjectStore(clients.s3, names.restoreBucket),
      catalog: new DynamoDbCatalogStore(clients.documents, names.tableName),
      openImage: async (volumeId, imageId) => new ImageReader(images, await loadManifest(volumeId, imageId)),
      clock,
    },
    volumes: {
      jobs: new DynamoDbVolumeRestoreJobStore(clients.documents, names.tableName),
      images,
      writer: new EbsSnapshots(clients.ebs),
      snapshots: new Ec2SnapshotState(clients.ec2),
      sleep: realSleep,
      nowMs,
      clock,
      loadManifest,
    },
  };
}
