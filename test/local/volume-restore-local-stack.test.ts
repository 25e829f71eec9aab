/**
 * The volume-restore state machine on the local stack (moto's Step Functions, the EBS emulator,
 * the real handlers): POST /restores {kind: volume} of a 64 GiB sparse image with 2 GiB of data
 * runs Plan → Distributed Map over 16 ranges → Complete → Check → Finish; the EBS emulator cuts
 * off every PutSnapshotBlock after 1,500 accepted blocks and the test's wrapper reports each
 * range worker that failed on it as a killed Lambda (Sandbox.Timedout); Step Functions retries
 * those ranges, which resume from their segment records. The restored snapshot holds exactly the
 * image's blocks, byte for byte, is encrypted with the deployment's key, and GET /restores/{id}
 * answers as before. A delta restore of a second image onto the first restore puts only the
 * blocks of the chunks that differ. A restore whose every PutSnapshotBlock is refused (403) fails
 * with the range's own AccessDeniedError as the job's reason, not the Map Run's generic
 * States.ExceedToleratedFailureThreshold.
 */
import '../support/quiet-powertools.ts';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbImageRecordStore } from '../../lambdas/aws/dynamodb-image-records.ts';
import { S3ObjectStore } from '../../lambdas/aws/s3-object-store.ts';
import { createSdkClients, type SdkClients } from '../../lambdas/aws/sdk-clients.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { manifestKey } from '../../lambdas/core/image/image-types.ts';
import { mapWithConcurrency } from '../../lambdas/core/util/concurrency.ts';
import { deployProduct, type DeployedProduct } from '../../local/deploy.ts';
import { LOCAL_RESTORE_KMS_KEY_ARN } from '../../local/volume-restore-deploy.ts';
import type { LambdaHandler } from '../../local/gateway/lambda-functions.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { buildTestImage, patternedChunk } from '../restore/volume-restore-images.ts';

const local = useLocalStack({ snapshotCompletionDelayMs: 100 });

const VOLUME_GIB = 64;
/** 2 GiB of data: 32 chunks (64 blocks) in each of the 64 segments, so all 16 ranges have work. */
const CHUNKS_PER_SEGMENT = 32;
const SEGMENT_STRIDE = 1024 / CHUNKS_PER_SEGMENT;
const DATA_CHUNKS = Array.from({ length: VOLUME_GIB * CHUNKS_PER_SEGMENT }, (_, i) => i * SEGMENT_STRIDE);
/** Accepted PutSnapshotBlock requests before the emulator cuts every writer off (of 4,096). */
const CUT_OFF_AFTER_BLOCKS = 1_500;
/** Chunks the second image changes (two per range in 8 ranges) for the delta. */
const CHANGED_CHUNKS = DATA_CHUNKS.filter((_, i) => i % 256 === 5 || i % 256 === 77);

let product: DeployedProduct;
let clients: SdkClients;
let workDir: string;
let volumeId: string;
const savedEnv = { ...process.env };
const killedRanges: number[] = [];

async function api(
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${product.apiUrl}${route}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function waitForRestore(restoreId: string, timeoutMs = 600_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api('GET', `/restores/${restoreId}`);
    if (body['status'] === 'SUCCEEDED' || body['status'] === 'FAILED') return body;
    if (Date.now() > deadline) throw new Error(`restore ${restoreId} still ${String(body['status'])}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function writeImage(
  imageId: string,
  content: (chunk: number) => Buffer,
  stored?: (chunk: number) => boolean,
): Promise<void> {
  const images = new ImageStore(new S3ObjectStore(clients.s3, product.names.imageBucket));
  const { manifest, manifestSha256 } = await buildTestImage(images, {
    volumeId,
    imageId,
    volumeSizeBytes: VOLUME_GIB * GIB_BYTES,
    chunks: DATA_CHUNKS,
    content,
    ...(stored === undefined ? {} : { stored }),
  });
  await new DynamoDbImageRecordStore(clients.documents, product.names.table).putImageRecord({
    volumeId,
    imageId,
    createdAt: imageId === 'img-restore-a' ? '2026-12-01T00:00:00.000Z' : '2026-12-02T00:00:00.000Z',
    kind: 'full',
    formatVersion: manifest.formatVersion,
    snapshotId: manifest.snapshotId,
    volumeSizeBytes: manifest.volumeSizeBytes,
    manifestKey: manifestKey(volumeId, imageId),
    manifestSha256,
    stats: { chunksCreated: DATA_CHUNKS.length, bytesCreated: 0, blocksRead: 0 },
  });
}

/** Every block of the snapshot, compared with the expected content; returns the listed block count. */
async function expectSnapshotHolds(snapshotId: string, content: (chunk: number) => Buffer): Promise<number> {
  const listed: number[] = [];
  const tokens = new Map<number, string>();
  let nextToken: string | undefined;
  do {
    const page = await clients.ebs.send(
      new ListSnapshotBlocksCommand({
        SnapshotId: snapshotId,
        ...(nextToken ? { NextToken: nextToken } : {}),
      }),
    );
    for (const block of page.Blocks ?? []) {
      listed.push(block.BlockIndex!);
      tokens.set(block.BlockIndex!, block.BlockToken!);
    }
    nextToken = page.NextToken;
  } while (nextToken);
  const expected = DATA_CHUNKS.flatMap((chunk) => [chunk * 2, chunk * 2 + 1]);
  expect(listed).toEqual(expected);
  const mismatches: number[] = [];
  await mapWithConcurrency(listed, 16, async (blockIndex) => {
    const out = await clients.ebs.send(
      new GetSnapshotBlockCommand({
        SnapshotId: snapshotId,
        BlockIndex: blockIndex,
        BlockToken: tokens.get(blockIndex)!,
      }),
    );
    const data = Buffer.from(await out.BlockData!.transformToByteArray());
    const chunk = content(Math.floor(blockIndex / 2));
    const half = blockIndex % 2;
    if (!data.equals(chunk.subarray(half * EBS_BLOCK_SIZE_BYTES, (half + 1) * EBS_BLOCK_SIZE_BYTES)))
      mismatches.push(blockIndex);
  });
  expect(mismatches).toEqual([]);
  return listed.length;
}

const contentA = (chunk: number) => patternedChunk(1, chunk);
const contentB = (chunk: number) => patternedChunk(CHANGED_CHUNKS.includes(chunk) ? 2 : 1, chunk);

beforeAll(async () => {
  const stack = local.stack;
  product = await deployProduct(stack, { handlerEnv: { RANGE_WORKERS: '4' } });
  clients = createSdkClients('engine', { ...local.clientConfig(), maxAttempts: 1 });
  workDir = await mkdtemp(join(tmpdir(), 'rbp-volume-restore-'));
  // The replica volume the API knows the images by: a 64 GiB sparse file (its content is not read).
  const imagePath = join(workDir, 'replica.img');
  const file = await open(imagePath, 'w');
  await file.truncate(VOLUME_GIB * GIB_BYTES);
  await file.close();
  volumeId = (await stack.replicas.create({ imagePath })).volumeId;
  await writeImage('img-restore-a', contentA);
  // Image B shares every chunk but the changed ones with A: only those are uploaded again.
  await writeImage('img-restore-b', contentB, (chunk) => !CHANGED_CHUNKS.includes(chunk));

  // The step function as Lambda would run it, except that a range worker cut off by the EBS
  // emulator's fault is reported as a killed invocation (what Step Functions sees on a timeout).
  const { handler } = (await import('../../lambdas/handlers/volume-restore-step.ts')) as {
    handler: LambdaHandler;
  };
  stack.gateway.registerFunction('VolumeRestoreStepFunction', async (event, context) => {
    try {
      return await handler(event, context);
    } catch (error) {
      const range = (event as { step?: string; range?: { index: number } }).range;
      if (range !== undefined && String((error as Error).message).includes('Injected fault')) {
        killedRanges.push(range.index);
        stack.emulator.setFaults({ cutOffPutSnapshotBlockAfter: Number.POSITIVE_INFINITY });
        const killed = new Error('Task timed out after 900.00 seconds');
        killed.name = 'Sandbox.Timedout';
        throw killed;
      }
      throw error;
    }
  });
}, 600_000);

afterAll(async () => {
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  Object.assign(process.env, savedEnv);
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

describe('volume restores through the state machine', () => {
  let firstRestore: Record<string, unknown>;

  it('restores 2 GiB of a 64 GiB image over 16 ranges; workers killed mid-range resume; the snapshot equals the image', async () => {
    local.stack.gateway.resetStats();
    local.stack.emulator.setFaults({ cutOffPutSnapshotBlockAfter: CUT_OFF_AFTER_BLOCKS });
    const started = await api('POST', '/restores', { imageId: 'img-restore-a', kind: 'volume' });
    expect(started.status).toBe(202);
    expect(started.body['status']).toBe('PENDING');
    const done = await waitForRestore(started.body['restoreId'] as string);
    expect({ status: done['status'], error: done['error'] }).toEqual({
      status: 'SUCCEEDED',
      error: undefined,
    });
    firstRestore = done;
    const snapshotId = done['snapshotId'] as string;

    expect(killedRanges.length).toBeGreaterThan(0);
    const blocks = DATA_CHUNKS.length * 2;
    const puts = local.stack.gateway.stats().requests['ebs:PutSnapshotBlock'] ?? 0;
    // Resumed, not rewritten: each killed worker redoes at most the segment it was in (64 blocks)
    // plus the requests refused while it was cut off (at most its 16 chunks in flight, two halves).
    expect(puts).toBeGreaterThan(blocks);
    expect(puts).toBeLessThanOrEqual(blocks + killedRanges.length * (64 + 32));

    const summary = local.stack.emulator.listSnapshots().find((s) => s.snapshotId === snapshotId);
    expect(summary).toMatchObject({
      status: 'completed',
      encrypted: true,
      kmsKeyArn: LOCAL_RESTORE_KMS_KEY_ARN,
    });
    expect(await expectSnapshotHolds(snapshotId, contentA)).toBe(blocks);
  }, 900_000);

  it('a delta restore onto the first restore puts only the blocks of the changed chunks and equals the new image', async () => {
    local.stack.gateway.resetStats();
    const started = await api('POST', '/restores', {
      imageId: 'img-restore-b',
      kind: 'volume',
      parentRestoreId: firstRestore['restoreId'],
    });
    expect(started.status).toBe(202);
    const done = await waitForRestore(started.body['restoreId'] as string);
    expect({ status: done['status'], error: done['error'] }).toEqual({
      status: 'SUCCEEDED',
      error: undefined,
    });
    const requests = local.stack.gateway.stats().requests;
    expect(requests['ebs:PutSnapshotBlock']).toBe(CHANGED_CHUNKS.length * 2);
    expect(await expectSnapshotHolds(done['snapshotId'] as string, contentB)).toBe(DATA_CHUNKS.length * 2);
  }, 900_000);

  it("a restore whose block writes are all refused fails with the range's AccessDeniedError as its reason", async () => {
    local.stack.gateway.resetStats();
    local.stack.gateway.setFaults({ seed: 1, accessDeniedRate: { 'ebs:PutSnapshotBlock': 1 } });
    try {
      const started = await api('POST', '/restores', { imageId: 'img-restore-a', kind: 'volume' });
      expect(started.status).toBe(202);
      const restoreId = started.body['restoreId'] as string;
      const done = await waitForRestore(restoreId);
      expect(done['status']).toBe('FAILED');
      const answer = JSON.stringify(done);
      expect(answer).toMatch(
        new RegExp(
          `range \\d+ of restore ${restoreId}: AccessDeniedError: [^"]*User is not authorized to perform this action \\(fault injected by the local gateway\\) \\(\\d+ ranges failed\\)`,
        ),
      );
      expect(answer).not.toContain('ExceedToleratedFailureThreshold');
      expect(local.stack.gateway.stats().faults['ebs:PutSnapshotBlock:access-denied']).toBeGreaterThan(0);
    } finally {
      local.stack.gateway.setFaults({});
    }
  }, 900_000);

  it('refuses a delta whose parent is not a succeeded restore of the same volume, before any job starts', async () => {
    const refused = await api('POST', '/restores', {
      imageId: 'img-restore-b',
      kind: 'volume',
      parentRestoreId: 'rs-does-not-exist',
    });
    expect(refused.status).toBe(400);
    expect(
      String(
        (refused.body['error'] as { message?: string } | undefined)?.message ?? JSON.stringify(refused.body),
      ),
    ).toContain('parentRestoreId rs-does-not-exist is not a volume restore');
  });
});
