/**
 * A real backup (backup.asl.json in moto's Step Functions, the real handlers through the local
 * gateway) interleaved with a garbage collection over the same table and bucket: a collection takes
 * the fence, a backup started meanwhile cannot commit (Commit Image fails with RetryableError and
 * the state machine retries it); when the collection ends the commit passes the gate (verifying what
 * it reuses) and the image restores byte for byte; a second collection then leaves exactly the chunks
 * the two images reference.
 */
import '../support/quiet-powertools.ts';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbImageRecordStore } from '../../lambdas/aws/dynamodb-image-records.ts';
import { DynamoDbGcCoordination } from '../../lambdas/aws/dynamodb-lifecycle-gc.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { S3LifecycleObjectStore } from '../../lambdas/aws/s3-lifecycle-objects.ts';
import { S3ObjectStore } from '../../lambdas/aws/s3-object-store.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { DIGEST_BYTES, isZeroHash } from '../../lambdas/core/image/hashing.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { CHUNK_KEY_PREFIX, segmentEntryCount } from '../../lambdas/core/image/image-types.ts';
import { runGc, type GcDeps } from '../../lambdas/core/lifecycle/gc.ts';
import { systemClock } from '../../lambdas/core/ports.ts';
import { deployProduct } from '../../local/deploy.ts';
import { MemoryCheckpoints } from '../fakes/memory-lifecycle.ts';
import { useLocalStack } from '../support/local-stack.ts';

const local = useLocalStack({ snapshotCompletionDelayMs: 300 });
/** The replica's data: 4 MiB of a 1 GiB volume (the rest never written). */
const DATA_BYTES = GIB_BYTES / 256;

let sfn: SFNClient;
let workDir: string;
let volumeId: string;
let stateMachineArn: string;
let gc: Omit<GcDeps, 'checkpoints'>;
let records: DynamoDbImageRecordStore;
let images: ImageStore;
let objects: S3LifecycleObjectStore;
const savedEnv = { ...process.env };

async function waitForExecution(executionArn: string): Promise<DescribeExecutionCommandOutput> {
  for (let attempt = 0; attempt < 1_200; attempt += 1) {
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (described.status !== 'RUNNING') return described;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`execution ${executionArn} still running`);
}

function startBackup(name: string): Promise<string> {
  return sfn
    .send(
      new StartExecutionCommand({
        stateMachineArn,
        name,
        input: JSON.stringify({
          volumeIds: [volumeId],
          syncWait: { intervalSeconds: 1, timeoutSeconds: 60 },
          snapshotWait: { intervalSeconds: 1, timeoutSeconds: 120 },
        }),
      }),
    )
    .then((started) => started.executionArn!);
}

/** Errors of the execution's failed Lambda tasks, in order. */
async function taskErrors(executionArn: string): Promise<string[]> {
  const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
  return (history.events ?? []).flatMap((event) =>
    event.taskFailedEventDetails?.error !== undefined
      ? [event.taskFailedEventDetails.error]
      : event.lambdaFunctionFailedEventDetails?.error !== undefined
        ? [event.lambdaFunctionFailedEventDetails.error]
        : [],
  );
}

async function imageBytes(imageId: string): Promise<Buffer> {
  const record = await records.getImageRecord(volumeId, imageId);
  const manifest = await images.getManifest(volumeId, imageId, record.manifestSha256);
  return Buffer.from(await new ImageReader(images, manifest).read(0, DATA_BYTES));
}

/** Distinct chunk names the images' manifests reference. */
async function referencedChunks(imageIds: readonly string[]): Promise<Set<string>> {
  const names = new Set<string>();
  for (const imageId of imageIds) {
    const record = await records.getImageRecord(volumeId, imageId);
    const manifest = await images.getManifest(volumeId, imageId, record.manifestSha256);
    for (const [index, hash] of manifest.segments.entries()) {
      if (isZeroHash(hash)) continue;
      const table = await images.getSegment(hash, segmentEntryCount(manifest.volumeSizeBytes, index));
      for (let offset = 0; offset < table.length; offset += DIGEST_BYTES) {
        const entry = table.subarray(offset, offset + DIGEST_BYTES);
        if (!entry.every((b) => b === 0)) names.add(entry.toString('hex'));
      }
    }
  }
  return names;
}

async function chunkObjects(): Promise<string[]> {
  const keys: string[] = [];
  let startAfter: string | undefined;
  for (;;) {
    const page = await objects.listPage(CHUNK_KEY_PREFIX, startAfter, 1000);
    keys.push(...page.objects.map((o) => o.key));
    if (!page.isTruncated || page.objects.length === 0) return keys;
    startAfter = page.objects.at(-1)!.key;
  }
}

beforeAll(async () => {
  const stack = local.stack;
  const product = await deployProduct(stack, { handlerEnv: { RANGE_WORKERS: '2' } });
  stateMachineArn = product.stateMachineArn;
  const config = local.clientConfig({ maxAttempts: 3 });
  sfn = new SFNClient(config);
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient(config), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  records = new DynamoDbImageRecordStore(documents, product.names.table);
  images = new ImageStore(new S3ObjectStore(s3, product.names.imageBucket));
  objects = new S3LifecycleObjectStore(s3, product.names.imageBucket);

  workDir = await mkdtemp(join(tmpdir(), 'rbp-gc-backup-'));
  const disk = Buffer.alloc(DATA_BYTES);
  disk.write('first version of the data', 3 * EBS_BLOCK_SIZE_BYTES);
  await writeFile(join(workDir, 'disk.img'), disk);
  volumeId = (await stack.replicas.create({ imagePath: join(workDir, 'disk.img') })).volumeId;
  gc = {
    objects,
    records: new DynamoDbLifecycleImageRecords(documents, product.names.table, () =>
      Promise.resolve(new Map([[volumeId, undefined]])),
    ),
    coordination: new DynamoDbGcCoordination(documents, product.names.table),
    clock: systemClock,
  };
}, 180_000);

afterAll(async () => {
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  Object.assign(process.env, savedEnv);
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

describe('garbage collection next to a running backup on the local stack', () => {
  it('a commit waits for the collection holding the fence, then passes the gate; the image restores byte for byte', async () => {
    const first = await waitForExecution(await startBackup('gc-first'));
    expect({ status: first.status, cause: first.cause }).toEqual({ status: 'SUCCEEDED', cause: undefined });

    // A collection takes the fence (its first step) and stops there, as a slow mark phase would.
    const checkpoints = new MemoryCheckpoints();
    const started = await runGc({ ...gc, checkpoints }, { runId: 'gc-during-backup', maxSteps: 1 });
    expect(started.phase).toBe('mark');
    expect(await gc.coordination.getFence()).toMatchObject({ epoch: 1, phase: 'collecting' });

    const second = 'second version of the data, written while a collection runs';
    await local.stack.agent.write(volumeId, 5 * EBS_BLOCK_SIZE_BYTES, new TextEncoder().encode(second));
    const execution = await startBackup('gc-second');
    // Wait until Commit Image has been refused at least once by the fence.
    for (
      let attempt = 0;
      attempt < 600 && !(await taskErrors(execution)).includes('RetryableError');
      attempt += 1
    ) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(await taskErrors(execution)).toContain('RetryableError');
    await expect(records.getImageRecord(volumeId, 'img-gc-second')).rejects.toThrow('does not exist');

    const finished = await runGc({ ...gc, checkpoints }, { runId: 'gc-during-backup' });
    expect(finished.status).toBe('complete');
    expect(await gc.coordination.getFence()).toMatchObject({ epoch: 1, phase: 'idle' });

    const done = await waitForExecution(execution);
    expect({ status: done.status, cause: done.cause }).toEqual({ status: 'SUCCEEDED', cause: undefined });
    const expected = Buffer.from(await readFile(join(workDir, 'disk.img')));
    expected.write(second, 5 * EBS_BLOCK_SIZE_BYTES);
    expect((await imageBytes('img-gc-second')).equals(expected)).toBe(true);
    const original = Buffer.alloc(DATA_BYTES);
    original.write('first version of the data', 3 * EBS_BLOCK_SIZE_BYTES);
    expect((await imageBytes('img-gc-first')).equals(original)).toBe(true);

    // A second collection keeps exactly the chunks the two images reference.
    const again = await runGc({ ...gc, checkpoints }, { runId: 'gc-after', safetyMarginMs: 0 });
    expect(again.status).toBe('complete');
    const referenced = await referencedChunks(['img-gc-first', 'img-gc-second']);
    expect((await chunkObjects()).sort()).toEqual(
      [...referenced].map((n) => `${CHUNK_KEY_PREFIX}${n}`).sort(),
    );
    expect(again.chunksLive).toBe(referenced.size);
  }, 600_000);
});
