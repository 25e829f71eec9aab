/**
 * The whole path on the local stack: an ext4 image becomes a replica volume, EC2 snapshots it
 * (EBS emulator), the engine backs it up into S3 (moto, through the gateway), the catalog is built
 * through the ImageReader into DynamoDB (moto), and restores stream into an S3 restore bucket;
 * the presigned URLs are fetched with plain fetch() and compared with the source byte for byte.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSnapshotCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbCatalogStore } from '../../lambdas/aws/dynamodb-catalog.ts';
import { DynamoDbJobStore } from '../../lambdas/aws/dynamodb-job-store.ts';
import { S3RestoreObjectStore } from '../../lambdas/aws/s3-restore.ts';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { findByName } from '../../lambdas/core/catalog/catalog-queries.ts';
import type { ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';
import {
  describeRestoreJob,
  fileRestoreJobs,
  type RestoreDeps,
} from '../../lambdas/core/file-restore/restore-jobs.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import { waitForSnapshotCompleted } from '../../lambdas/core/restore/volume-restore.ts';
import { realSleep } from '../../lambdas/core/util/retry.ts';
import { expectCatalogEqualsSource } from '../catalog/catalog-images.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { fastRetry, noPacing } from '../engine/engine-fixture.ts';
import { localEngine, type LocalEngine } from '../engine/local-engine.ts';
import { removeDir, scratchDir } from '../support/fs-images.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { createAndRunRestore, expectArchiveEqualsSource, makeRestoreSource } from './restore-fixture.ts';

const local = useLocalStack({ snapshotCompletionDelayMs: 100 });
const TABLE = 'rbp-table';
const RESTORE_BUCKET = 'rbp-restores';
const MIB = 1024 * 1024;

let work: string;
let source: string;
let engine: LocalEngine;
let image: ImageRef;
let deps: RestoreDeps;

beforeAll(async () => {
  work = await scratchDir('restore-e2e');
  ({ source } = await makeRestoreSource(work, 150));
  const imageFile = path.join(work, 'restore.img');
  await createCatalogTable(local.clientConfig(), TABLE);
  engine = await localEngine(local.clientConfig(), { bucket: 'rbp-store', table: TABLE }, fastRetry());
  const admin = new S3Client({ ...local.clientConfig(), forcePathStyle: true });
  await admin.send(new CreateBucketCommand({ Bucket: RESTORE_BUCKET }));
  admin.destroy();

  const replica = await local.stack.replicas.create({ imagePath: imageFile });
  const snapshot = await engine.ec2Client.send(new CreateSnapshotCommand({ VolumeId: replica.volumeId }));
  await waitForSnapshotCompleted(engine.snapshotState, snapshot.SnapshotId!, {
    intervalMs: 50,
    timeoutMs: 60_000,
    nowMs: () => performance.now(),
    sleep: realSleep,
  });
  const backup = await runBackup(
    {
      ebs: engine.ebs,
      images: engine.images,
      records: engine.records,
      readPacer: noPacing,
      listPacer: noPacing,
    },
    {
      volumeId: replica.volumeId,
      imageId: 'img-e2e-1',
      snapshotId: snapshot.SnapshotId!,
      volumeSizeGib: 1,
      createdAt: '2026-03-01T00:00:00.000Z',
    },
  );
  image = { volumeId: replica.volumeId, imageId: backup.record.imageId, createdAt: backup.record.createdAt };
  const catalog = new DynamoDbCatalogStore(engine.ddbClient, TABLE);
  const openImage = async (volumeId: string, imageId: string): Promise<ImageReader> => {
    const record = await engine.records.getImageRecord(volumeId, imageId);
    return new ImageReader(
      engine.images,
      await engine.images.getManifest(volumeId, imageId, record.manifestSha256),
    );
  };
  const record = await buildCatalog(
    { store: catalog },
    { image, disk: await openImage(image.volumeId, image.imageId) },
  );
  expect({ status: record.status, errors: record.errors }).toEqual({ status: 'complete', errors: [] });
  deps = {
    jobs: fileRestoreJobs(new DynamoDbJobStore(engine.ddbClient, TABLE)),
    // 5 MiB parts (S3's minimum) so that the 40 MiB sparse file goes through a multipart upload.
    objects: new S3RestoreObjectStore(engine.s3Client, RESTORE_BUCKET, { partBytes: 5 * MIB }),
    catalog,
    openImage,
    clock: { now: () => new Date() },
  };
}, 300_000);

afterAll(async () => {
  engine.destroy();
  await removeDir(work);
});

let ids = 0;
async function restoreAndDownload(
  kind: 'file' | 'directory' | 'application',
  target: string,
): Promise<Buffer> {
  ids += 1;
  const restoreId = `rs-e2e-${ids}`;
  const job = await createAndRunRestore(deps, image, { restoreId, kind, target, keyToken: `k${ids}abcdef` });
  expect(job.status, job.failure?.reason).toBe('succeeded');
  const described = await describeRestoreJob(deps, restoreId);
  expect(described.status).toBe('succeeded');
  const url = new URL(described.downloadUrl!);
  expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
  expect(url.pathname).toContain(`/restores/${restoreId}-k${ids}abcdef/`);
  const response = await fetch(url);
  expect(response.status).toBe(200);
  const body = Buffer.from(await response.arrayBuffer());
  expect(body.length).toBe(job.result!.bytes);
  return body;
}

describe('backup → catalog → restore on the local stack', () => {
  it('the catalog in DynamoDB, built through the ImageReader, equals the source tree', async () => {
    await expectCatalogEqualsSource(deps.catalog, image, 0, source);
    const found = await findByName(deps.catalog, image.volumeId, 'postgresql.conf');
    expect(found.items.map((v) => v.path)).toEqual(['/srv/pg/conf/postgresql.conf']);
  });

  it('restores files (small, multi-chunk, sparse multipart) through S3 and presigned URLs', async () => {
    for (const file of ['/srv/pg/conf/postgresql.conf', '/sparse.bin', '/srv/pg/data/base/16384']) {
      const body = await restoreAndDownload('file', file);
      expect(body.equals(await readFile(path.join(source, file))), file).toBe(true);
    }
  });

  it('restores a directory and an application as tar archives that unpack to the source', async () => {
    const tree = await restoreAndDownload('directory', '/srv');
    await expectArchiveEqualsSource(tree, work, source, ['/srv']);
    const app = await restoreAndDownload('application', 'orders-db');
    await expectArchiveEqualsSource(app, work, source, ['/srv/pg/conf', '/srv/pg/data']);
  });
});
