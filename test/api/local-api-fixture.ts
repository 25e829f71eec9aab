/**
 * The REST API on the local stack with the real adapters: an ext4 image made from a generated
 * source tree becomes a replica volume; the engine backs it up twice (full, then incremental after
 * debugfs changed a file) into S3 and DynamoDB (moto, through the gateway); the catalog is built
 * from the images; the restore worker runs as an in-process Lambda of the gateway; and the API
 * handler, built by createApiDeps exactly as in AWS, serves `<endpoint>/_api/...`.
 *
 * POST /backups starts executions of a stand-in state machine (a short Wait): the real backup
 * state machine needs the whole deployment (issue 5); the API's contract with Step Functions
 * (StartExecution by name, ListExecutions, DescribeExecution, history) is the same.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSnapshotCommand } from '@aws-sdk/client-ec2';
import { CreateStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDbCatalogStore } from '../../lambdas/aws/dynamodb-catalog.ts';
import { createSdkClients } from '../../lambdas/aws/sdk-clients.ts';
import { createApiDeps, createRestoreWorkerDeps } from '../../lambdas/aws/wiring.ts';
import type { ApiDeps } from '../../lambdas/core/api/api-ports.ts';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import type { ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { systemClock } from '../../lambdas/core/ports.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import { waitForSnapshotCompleted } from '../../lambdas/core/restore/volume-restore.ts';
import { realSleep } from '../../lambdas/core/util/retry.ts';
import { createApiHandler, type ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import { createRestoreWorkerHandler } from '../../lambdas/handlers/restore-worker.ts';
import { localClientEnv, type LocalStack } from '../../local/stack.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { fastRetry, noPacing } from '../engine/engine-fixture.ts';
import { localEngine, type LocalEngine } from '../engine/local-engine.ts';
import { APPLICATIONS_JSON } from '../file-restore/restore-fixture.ts';
import { debugfs, generateTree, makeExtImage } from '../support/fs-images.ts';
import type { LocalClientConfig } from '../support/local-stack.ts';

export const LOCAL_API_NAMES = {
  table: 'rbp-table',
  imageBucket: 'rbp-images',
  restoreBucket: 'rbp-restores',
  restoreFunction: 'rbp-restore-worker',
  stateMachine: 'rbp-backup-standin',
} as const;

/** The file debugfs rewrites between the two images. */
export const CHANGED_FILE = '/docs/report.txt';
export const REPORT_V1 = 'quarterly report, first draft\n'.repeat(40);
export const REPORT_V2 = 'quarterly report, final\n'.repeat(3000);
/** Seconds an execution of the stand-in state machine runs. */
export const STANDIN_RUN_SECONDS = 3;
const MIB = 1024 * 1024;
const IMAGE_BYTES = 32 * MIB;

export { APPLICATIONS_JSON };

export interface LocalApi {
  readonly volumeId: string;
  /** Full, then incremental. */
  readonly images: readonly [ImageRef, ImageRef];
  /** The source tree as of the second image (the first differs only in CHANGED_FILE). */
  readonly source: string;
  readonly apiUrl: string;
  readonly stateMachineArn: string;
  /** The handler the gateway serves (for direct calls). */
  readonly handler: ApiProxyHandler;
  readonly deps: ApiDeps;
  /** What a client process (the CLI) needs in its environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly engine: LocalEngine;
  readonly sfn: SFNClient;
  close(): void;
}

export async function snapshotOf(engine: LocalEngine, volumeId: string): Promise<string> {
  const snapshot = await engine.ec2Client.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
  await waitForSnapshotCompleted(engine.snapshotState, snapshot.SnapshotId!, {
    intervalMs: 50,
    timeoutMs: 60_000,
    nowMs: () => performance.now(),
    sleep: realSleep,
  });
  return snapshot.SnapshotId!;
}

/** Writes every 512 KiB block of `next` that differs from `current` to the replica. */
export async function replicateDifferences(
  stack: LocalStack,
  volumeId: string,
  current: string,
  next: string,
): Promise<number> {
  const [a, b] = [await readFile(current), await readFile(next)];
  let written = 0;
  for (let offset = 0; offset < b.length; offset += EBS_BLOCK_SIZE_BYTES) {
    const block = b.subarray(offset, offset + EBS_BLOCK_SIZE_BYTES);
    if (!block.equals(a.subarray(offset, offset + EBS_BLOCK_SIZE_BYTES))) {
      await stack.agent.write(volumeId, offset, block);
      written += 1;
    }
  }
  return written;
}

export async function setUpLocalApi(
  stack: LocalStack,
  config: LocalClientConfig,
  work: string,
): Promise<LocalApi> {
  const names = LOCAL_API_NAMES;
  await createCatalogTable(config, names.table);
  const engine = await localEngine(config, { bucket: names.imageBucket, table: names.table }, fastRetry());
  const admin = new S3Client({ ...config, forcePathStyle: true });
  await admin.send(new CreateBucketCommand({ Bucket: names.restoreBucket }));
  admin.destroy();

  // The source tree and its image.
  const source = path.join(work, 'src');
  await generateTree(source, { seed: 11, files: 40, deepChain: 6, maxFileBytes: 400_000 });
  await mkdir(path.join(source, 'docs'), { recursive: true });
  await writeFile(path.join(source, CHANGED_FILE), REPORT_V1);
  await mkdir(path.join(source, 'srv/pg/conf'), { recursive: true });
  await mkdir(path.join(source, 'srv/pg/data/base'), { recursive: true });
  await writeFile(path.join(source, 'srv/pg/conf/postgresql.conf'), 'shared_buffers = 128MB\n');
  await writeFile(path.join(source, 'srv/pg/data/base/16384'), Buffer.alloc(70_000, 3));
  await mkdir(path.join(source, '.rbp'));
  await writeFile(path.join(source, '.rbp/applications.json'), APPLICATIONS_JSON);
  const imageFile = path.join(work, 'replica.img');
  await makeExtImage(imageFile, { type: 'ext4', sizeBytes: IMAGE_BYTES, blockSize: 4096, sourceDir: source });
  const pristine = path.join(work, 'pristine.img');
  await copyFile(imageFile, pristine);

  const replica = await stack.replicas.create({ imagePath: imageFile });
  const volumeId = replica.volumeId;
  const catalog = new DynamoDbCatalogStore(engine.ddbClient, names.table);
  const backupDeps = {
    ebs: engine.ebs,
    images: engine.images,
    records: engine.records,
    readPacer: noPacing,
    listPacer: noPacing,
  };
  const catalogImage = async (image: ImageRef): Promise<void> => {
    const record = await engine.records.getImageRecord(image.volumeId, image.imageId);
    const manifest = await engine.images.getManifest(image.volumeId, image.imageId, record.manifestSha256);
    const result = await buildCatalog(
      { store: catalog },
      { image, disk: new ImageReader(engine.images, manifest) },
    );
    if (result.status !== 'complete')
      throw new Error(`catalog of ${image.imageId}: ${result.status} ${JSON.stringify(result.errors)}`);
  };

  const first = await runBackup(backupDeps, {
    volumeId,
    imageId: 'img-a',
    snapshotId: await snapshotOf(engine, volumeId),
    volumeSizeGib: 1,
    createdAt: '2026-03-01T00:00:00.000Z',
  });
  const imageA: ImageRef = { volumeId, imageId: first.record.imageId, createdAt: first.record.createdAt };
  await catalogImage(imageA);

  // Between the backups: the report is rewritten (debugfs on a copy, replicated block by block).
  const changed = path.join(work, 'changed.img');
  await copyFile(pristine, changed);
  const newReport = path.join(work, 'report-v2.txt');
  await writeFile(newReport, REPORT_V2);
  await debugfs(changed, [`rm ${CHANGED_FILE}`, `write ${newReport} ${CHANGED_FILE}`]);
  await writeFile(path.join(source, CHANGED_FILE), REPORT_V2);
  await replicateDifferences(stack, volumeId, pristine, changed);
  const second = await runBackup(backupDeps, {
    volumeId,
    imageId: 'img-b',
    snapshotId: await snapshotOf(engine, volumeId),
    volumeSizeGib: 1,
    createdAt: '2026-03-02T00:00:00.000Z',
    parent: { imageId: 'img-a' },
  });
  const imageB: ImageRef = { volumeId, imageId: second.record.imageId, createdAt: second.record.createdAt };
  await catalogImage(imageB);

  // The stand-in backup state machine.
  const sfn = new SFNClient({ ...config });
  const machine = await sfn.send(
    new CreateStateMachineCommand({
      name: names.stateMachine,
      roleArn: 'arn:aws:iam::123456789012:role/rbp-standin',
      definition: JSON.stringify({
        StartAt: 'Copy Ranges',
        States: {
          'Copy Ranges': { Type: 'Wait', Seconds: STANDIN_RUN_SECONDS, Next: 'Commit Image' },
          'Commit Image': {
            Type: 'Pass',
            Result: { result: { imageId: 'img-standin' } },
            ResultPath: '$.image',
            End: true,
          },
        },
      }),
    }),
  );

  // The restore worker as a Lambda of the gateway, and the API as in AWS.
  const clientOptions = {
    endpoint: config.endpoint,
    region: config.region,
    credentials: { ...config.credentials },
  };
  const worker = createRestoreWorkerHandler(
    createRestoreWorkerDeps(
      { tableName: names.table, imageBucket: names.imageBucket, restoreBucket: names.restoreBucket },
      createSdkClients('engine', clientOptions),
      systemClock,
    ),
  );
  stack.gateway.registerFunction(names.restoreFunction, (event) => worker(event));
  const apiClients = createSdkClients('control', { ...clientOptions, maxAttempts: 3 });
  const deps = createApiDeps(
    {
      TABLE_NAME: names.table,
      STATE_MACHINE_ARN: machine.stateMachineArn!,
      RESTORE_BUCKET: names.restoreBucket,
      RESTORE_FUNCTION_NAME: names.restoreFunction,
      API_CURSOR_KEY: randomBytes(32).toString('base64'),
    },
    apiClients,
  );
  const handler = createApiHandler(deps, () => undefined);
  stack.gateway.setApiHandler(handler);

  return {
    volumeId,
    images: [imageA, imageB],
    source,
    apiUrl: `${stack.endpoint}/_api`,
    stateMachineArn: machine.stateMachineArn!,
    handler,
    deps,
    env: localClientEnv(stack.endpoint),
    engine,
    sfn,
    close() {
      stack.gateway.setApiHandler(undefined);
      stack.gateway.unregisterFunction(names.restoreFunction);
      engine.destroy();
      sfn.destroy();
      apiClients.ec2.destroy();
      apiClients.sfn.destroy();
      apiClients.documents.destroy();
      apiClients.s3.destroy();
      apiClients.lambda.destroy();
    },
  };
}
