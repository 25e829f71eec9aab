/**
 * The engine through the real SDK clients and the production adapters on the local stack (EBS
 * emulator behind the gateway, S3 and DynamoDB on moto): full and incremental images, exact request
 * accounting from the gateway's per-operation statistics, restores to raw bytes and to a new EBS
 * snapshot, fault injection (throttling, 5xx, corrupted block data) and a crashed range re-run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { EBSClient, ListChangedBlocksCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import { commitImage } from '../../lambdas/core/backup/commit.ts';
import { copyRange } from '../../lambdas/core/backup/range-worker.ts';
import { PermanentError } from '../../lambdas/core/errors.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { chunkKey, segmentKey } from '../../lambdas/core/image/image-types.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import type { ObjectStore } from '../../lambdas/core/store/object-store.ts';
import { readSnapshotBlocks, useLocalStack } from '../support/local-stack.ts';
import {
  expectRawRestore,
  noPacing,
  nonZeroBlocks,
  shortRealRetry,
  specChunkNames,
  specSegmentHashes,
} from './engine-fixture.ts';
import { localEngine, restoreToNewSnapshot, type LocalEngine } from './local-engine.ts';
import { ModelledVolume } from './local-volume.ts';

const local = useLocalStack({ snapshotCompletionDelayMs: 100 });
const MiB = 1_048_576;
const B = EBS_BLOCK_SIZE_BYTES;
const ZERO_HASH = '0'.repeat(64);

const retry = shortRealRetry(5, 12);

let dir: string;
let engine: LocalEngine;
let raw: EBSClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rbp-engine-'));
  engine = await localEngine(local.clientConfig(), { bucket: 'rbp-store', table: 'rbp-catalog' }, retry);
  raw = new EBSClient(local.clientConfig());
});

afterAll(async () => {
  engine.destroy();
  raw.destroy();
  await rm(dir, { recursive: true, force: true });
});

/** 16 MiB of mixed content: random blocks, text blocks, zero blocks, a half-written last chunk. */
function initialContent(): Buffer {
  const data = Buffer.alloc(16 * MiB + B);
  for (let block = 0; block < data.length / B; block += 1) {
    const kind = block % 5;
    if (kind === 0 || kind === 1) randomBytes(B).copy(data, block * B);
    else if (kind === 2)
      data.fill(`block ${block} holds log lines that compress well\n`, block * B, (block + 1) * B);
    // kinds 3 and 4 stay zero (written zeros: the emulator lists them, the engine stores nothing)
  }
  return data;
}

async function listedBlocks(snapshotId: string): Promise<number> {
  let count = 0;
  let token: string | undefined;
  do {
    const page = await raw.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, NextToken: token }));
    count += page.Blocks?.length ?? 0;
    token = page.NextToken;
  } while (token);
  return count;
}

async function changedBlocksWithData(first: string, second: string): Promise<number> {
  let count = 0;
  let token: string | undefined;
  do {
    const page = await raw.send(
      new ListChangedBlocksCommand({ FirstSnapshotId: first, SecondSnapshotId: second, NextToken: token }),
    );
    count += (page.ChangedBlocks ?? []).filter((b) => b.SecondBlockToken !== undefined).length;
    token = page.NextToken;
  } while (token);
  return count;
}

function deps(images: ImageStore = engine.images) {
  return { ebs: engine.ebs, images, records: engine.records, readPacer: noPacing, listPacer: noPacing };
}

describe('engine on the local stack', () => {
  it('full then incremental images: exact requests, byte-identical raw and EBS snapshot restores', async () => {
    const volume = await ModelledVolume.create(local.stack, dir, 'chain', initialContent());
    const first = await volume.snapshot(engine.ec2Client, engine.snapshotState);
    const stats = (): Record<string, number> => local.stack.gateway.stats().requests;

    local.stack.gateway.resetStats();
    const full = await runBackup(deps(), {
      volumeId: volume.volumeId,
      imageId: 'img-1',
      snapshotId: first.snapshotId,
      volumeSizeGib: 1,
      createdAt: '2026-01-01T00:00:00.000Z',
    });
    const fullStats = stats();
    expect(full.manifest.kind).toBe('full');
    expect(full.manifest.segments).toEqual(specSegmentHashes(first.blocks, GIB_BYTES));
    const firstChunks = specChunkNames(first.blocks);
    expect(fullStats['ebs:GetSnapshotBlock']).toBe(await listedBlocks(first.snapshotId));
    // Unique content: PUTs = new unique non-zero chunks + touched segments (1) + manifest (1).
    expect(fullStats['s3:PutObject']).toBe(firstChunks.size + 1 + 1);
    expect(fullStats['dynamodb:TransactWriteItems']).toBe(1);
    expect(await engine.objects.list('chunks/')).toEqual([...firstChunks].map(chunkKey).sort());

    // Changes: half of chunk 0 (block 0), all of chunk 3 (blocks 6-7), block 10 discarded (half of
    // chunk 5), and block 32 (half of chunk 16) rewritten.
    await volume.write(0, randomBytes(B));
    await volume.write(6 * B, randomBytes(2 * B));
    await volume.discard(10 * B, B);
    await volume.write(16 * MiB, randomBytes(B));
    const second = await volume.snapshot(engine.ec2Client, engine.snapshotState);
    local.stack.gateway.resetStats();
    const incremental = await runBackup(deps(), {
      volumeId: volume.volumeId,
      imageId: 'img-2',
      snapshotId: second.snapshotId,
      volumeSizeGib: 1,
      createdAt: '2026-01-02T00:00:00.000Z',
      parent: { imageId: 'img-1' },
    });
    const incrementalStats = stats();
    expect(incremental.manifest.kind).toBe('incremental');
    expect(incremental.manifest.parentImageId).toBe('img-1');
    expect(incremental.manifest.segments).toEqual(specSegmentHashes(second.blocks, GIB_BYTES));
    expect(incrementalStats['ebs:GetSnapshotBlock']).toBe(
      await changedBlocksWithData(first.snapshotId, second.snapshotId),
    );
    expect(incrementalStats['ebs:GetSnapshotBlock']).toBe(4);
    const newChunks = [...specChunkNames(second.blocks)].filter((name) => !firstChunks.has(name));
    // New chunks 0, 3, 5 and 16; one segment; one manifest.
    expect(incrementalStats['s3:PutObject']).toBe(newChunks.length + 1 + 1);
    expect(newChunks.length).toBe(4);
    // GETs: the parent manifest, its segment, the parent chunks 0, 5 and 16 (their unchanged halves),
    // and the read-back of the new manifest before the record is written.
    expect(incrementalStats['s3:GetObject']).toBe(1 + 1 + 3 + 1);

    // Every image restores on its own.
    await expectRawRestore(engine.images, full.manifest, first.blocks);
    await expectRawRestore(engine.images, incremental.manifest, second.blocks);

    // The incremental image as a new EBS snapshot, completed, with the same bytes.
    const restored = await restoreToNewSnapshot(engine, incremental.manifest, 'restore-1', retry);
    const content = await readSnapshotBlocks(raw, restored.snapshotId);
    const expectedBlocks = nonZeroBlocks(second.blocks);
    expect([...content.keys()].sort((a, b) => a - b)).toEqual(expectedBlocks.map(([index]) => index));
    for (const [index, data] of expectedBlocks) expect(content.get(index)!.equals(data)).toBe(true);
    expect(restored.changedBlocksCount).toBe(expectedBlocks.length);

    // Random access through the image reader.
    const reader = new ImageReader(engine.images, incremental.manifest);
    const got = await reader.read(B - 100, 3 * MiB);
    expect(Buffer.from(got).equals(volume.model.subarray(B - 100, B - 100 + 3 * MiB))).toBe(true);
  });

  it('under 20% throttling, 5xx and corrupted block data: the same image, nothing stored twice, no error', async () => {
    const volume = await ModelledVolume.create(local.stack, dir, 'faults', initialContent());
    const snapshot = await volume.snapshot(engine.ec2Client, engine.snapshotState);
    const bucketEngine = await localEngine(
      local.clientConfig(),
      { bucket: 'rbp-faults', table: 'rbp-catalog' },
      retry,
    );
    local.stack.gateway.resetStats();
    local.stack.gateway.setFaults({
      seed: 11,
      throttleRate: { 'ebs:GetSnapshotBlock': 0.2, 'ebs:ListSnapshotBlocks': 0.2, s3: 0.2, dynamodb: 0.2 },
      serverErrorRate: { ebs: 0.05, s3: 0.05 },
      corruptBlockDataRate: 0.05,
    });
    try {
      const result = await runBackup(
        {
          ebs: bucketEngine.ebs,
          images: bucketEngine.images,
          records: bucketEngine.records,
          readPacer: noPacing,
          listPacer: noPacing,
        },
        {
          volumeId: volume.volumeId,
          imageId: 'img-faults',
          snapshotId: snapshot.snapshotId,
          volumeSizeGib: 1,
          createdAt: '2026-01-03T00:00:00.000Z',
        },
      );
      const faults = local.stack.gateway.stats().faults;
      expect(faults['ebs:GetSnapshotBlock:throttle']).toBeGreaterThan(0);
      expect(faults['s3:PutObject:throttle']).toBeGreaterThan(0);
      expect(result.summaries[0]!.requests.retries).toBeGreaterThan(0);
      expect(result.summaries[0]!.requests.integrityFailures).toBeGreaterThan(0);
      expect(result.manifest.segments).toEqual(specSegmentHashes(snapshot.blocks, GIB_BYTES));
      expect(await bucketEngine.objects.list('chunks/')).toEqual(
        [...specChunkNames(snapshot.blocks)].map(chunkKey).sort(),
      );
      expect(await bucketEngine.objects.list('segments/')).toEqual([
        segmentKey(result.manifest.segments[0]!),
      ]);
      local.stack.gateway.setFaults({});
      // Corrupted data never reached the store: the image restores exactly.
      await expectRawRestore(bucketEngine.images, result.manifest, snapshot.blocks);
    } finally {
      local.stack.gateway.setFaults({});
      bucketEngine.destroy();
    }
  });

  it('a range that crashes half-way and is re-run yields the same segment and stores nothing twice', async () => {
    const volume = await ModelledVolume.create(local.stack, dir, 'crash', initialContent());
    const snapshot = await volume.snapshot(engine.ec2Client, engine.snapshotState);
    const crashEngine = await localEngine(
      local.clientConfig(),
      { bucket: 'rbp-crash', table: 'rbp-catalog' },
      retry,
    );
    try {
      let chunkPuts = 0;
      const crashing: ObjectStore = {
        putIfAbsent: async (request) => {
          if (request.key.startsWith('chunks/') && (chunkPuts += 1) > 5) {
            throw new PermanentError('Lambda killed (simulated crash)');
          }
          return crashEngine.objects.putIfAbsent(request);
        },
        get: (key) => crashEngine.objects.get(key),
        list: (prefix) => crashEngine.objects.list(prefix),
      };
      const item = {
        volumeId: volume.volumeId,
        imageId: 'img-crash',
        snapshotId: snapshot.snapshotId,
        firstBlock: 0,
        endBlock: 2048,
      };
      const crashDeps = { ebs: crashEngine.ebs, readPacer: noPacing, listPacer: noPacing };
      await expect(
        copyRange(item, { ...crashDeps, images: new ImageStore(crashing, { retry }) }, { chunksInFlight: 1 }),
      ).rejects.toThrow('Lambda killed (simulated crash)');
      expect((await crashEngine.objects.list('chunks/')).length).toBe(5);
      expect(await crashEngine.objects.list('segments/')).toEqual([]);

      local.stack.gateway.resetStats();
      const summary = await copyRange(item, { ...crashDeps, images: crashEngine.images });
      const expectedChunks = [...specChunkNames(snapshot.blocks)].map(chunkKey).sort();
      expect(summary.segments).toEqual(specSegmentHashes(snapshot.blocks, GIB_BYTES));
      expect(summary.stats.chunksCreated).toBe(expectedChunks.length - 5);
      expect(summary.stats.chunksAlreadyStored).toBe(5);
      const committed = await commitImage(
        { images: crashEngine.images, records: crashEngine.records },
        {
          volumeId: volume.volumeId,
          imageId: 'img-crash',
          snapshotId: snapshot.snapshotId,
          createdAt: '2026-01-04T00:00:00.000Z',
          summaries: [summary],
        },
      );
      expect(await crashEngine.objects.list('chunks/')).toEqual(expectedChunks);
      expect(await crashEngine.objects.list('segments/')).toEqual(
        summary.segments.filter((h) => h !== ZERO_HASH).map(segmentKey),
      );
      await expectRawRestore(crashEngine.images, committed.manifest, snapshot.blocks);
    } finally {
      crashEngine.destroy();
    }
  });
});
