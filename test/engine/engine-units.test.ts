/**
 * Units of the engine: planning, pacing, retries, error translation (fail fast on access errors),
 * block verification (corrupt data fails loudly, short blocks are padded), restores' retry of a
 * not-yet-visible snapshot, and the wait for a completed snapshot.
 */
import { createHash } from 'node:crypto';
import { AccessDeniedException, EBSClient } from '@aws-sdk/client-ebs';
import { describe, expect, it } from 'vitest';
import { EbsSnapshots } from '../../lambdas/aws/ebs-snapshots.ts';
import { translateSdkError } from '../../lambdas/aws/sdk-errors.ts';
import { runBackup, type BackupRequest } from '../../lambdas/core/backup/backup-image.ts';
import { planImage, workerReadRate } from '../../lambdas/core/backup/plan.ts';
import { commitImage, loadCommittedImage } from '../../lambdas/core/backup/commit.ts';
import { copyRange } from '../../lambdas/core/backup/range-worker.ts';
import { SnapshotNotFoundError, SnapshotValidationError } from '../../lambdas/core/backup/snapshot-ports.ts';
import {
  AccessDeniedError,
  ConflictError,
  IntegrityError,
  NotFoundError,
  PermanentError,
  RetryableError,
  ThrottledError,
  ValidationError,
} from '../../lambdas/core/errors.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { EMPTY_IMAGE_STATS, type ImageManifest } from '../../lambdas/core/image/image-types.ts';
import {
  linearChecksum,
  restoreClientToken,
  restoreImageToSnapshot,
  waitForSnapshotCompleted,
} from '../../lambdas/core/restore/volume-restore.ts';
import { backoffDelayMs, withRetry } from '../../lambdas/core/util/retry.ts';
import { TokenBucket } from '../../lambdas/core/util/token-bucket.ts';
import { MemoryEbs } from '../fakes/memory-ebs.ts';
import { MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { fastRetry, noPacing } from './engine-fixture.ts';

const B = EBS_BLOCK_SIZE_BYTES;

function parentManifest(volumeSizeBytes: number): ImageManifest {
  return {
    formatVersion: 1,
    volumeId: 'vol-1',
    imageId: 'img-0',
    createdAt: '2026-01-01T00:00:00.000Z',
    kind: 'full',
    snapshotId: 'snap-0',
    volumeSizeBytes,
    blockSizeBytes: B,
    chunkSizeBytes: 2 * B,
    segmentChunks: 1024,
    segments: Array.from({ length: volumeSizeBytes / GIB_BYTES }, () => '0'.repeat(64)),
    stats: EMPTY_IMAGE_STATS,
  };
}

describe('planImage', () => {
  it('tiles the volume in whole-segment ranges, incremental against a usable parent', () => {
    const plan = planImage({
      volumeId: 'vol-1',
      imageId: 'img-1',
      snapshotId: 'snap-1',
      volumeSizeGib: 9,
      parent: { manifest: parentManifest(9 * GIB_BYTES), snapshotAvailable: true },
    });
    expect(plan.kind).toBe('incremental');
    expect(plan.items.map((i) => [i.firstBlock, i.endBlock])).toEqual([
      [0, 8192],
      [8192, 16384],
      [16384, 18432],
    ]);
    expect(plan.items[0]).toEqual({
      volumeId: 'vol-1',
      imageId: 'img-1',
      snapshotId: 'snap-1',
      parentImageId: 'img-0',
      parentSnapshotId: 'snap-0',
      firstBlock: 0,
      endBlock: 8192,
    });
  });

  it('reads in full when the parent snapshot is gone or the volume grew, keeping the parent image', () => {
    const gone = planImage({
      volumeId: 'v',
      imageId: 'i',
      snapshotId: 's',
      volumeSizeGib: 1,
      parent: { manifest: parentManifest(GIB_BYTES), snapshotAvailable: false },
    });
    expect(gone).toMatchObject({ kind: 'full', fullReadReason: 'PARENT_SNAPSHOT_NOT_FOUND' });
    expect(gone.items[0]).toEqual({
      volumeId: 'v',
      imageId: 'i',
      snapshotId: 's',
      parentImageId: 'img-0',
      firstBlock: 0,
      endBlock: 2048,
    });
    const grown = planImage({
      volumeId: 'v',
      imageId: 'i',
      snapshotId: 's',
      volumeSizeGib: 2,
      parent: { manifest: parentManifest(GIB_BYTES), snapshotAvailable: true },
    });
    expect(grown).toMatchObject({ kind: 'full', fullReadReason: 'VOLUME_SIZE_CHANGED' });
    expect(() => planImage({ volumeId: 'v', imageId: 'i', snapshotId: 's', volumeSizeGib: 0 })).toThrow(
      'volume size 0 GiB is outside 1..65536',
    );
  });

  it('splits the per-snapshot read budget between workers', () => {
    expect(workerReadRate()).toBe(62.5);
    expect(workerReadRate(950, 4)).toBe(237.5);
  });
});

describe('TokenBucket', () => {
  it('paces to the rate after the burst, first come first served', async () => {
    let now = 0;
    const bucket = new TokenBucket({
      ratePerSecond: 10,
      burst: 2,
      nowMs: () => now,
      sleep: (ms) => {
        now += ms;
        return Promise.resolve();
      },
    });
    const times: number[] = [];
    await Promise.all(Array.from({ length: 6 }, (_, i) => bucket.acquire().then(() => (times[i] = now))));
    expect(times).toEqual([0, 0, 100, 200, 300, 400]);
  });
});

describe('withRetry', () => {
  it('retries retryable errors with full-jitter backoff and stops at the first permanent one', async () => {
    const sleeps: number[] = [];
    let calls = 0;
    const policy = {
      maxAttempts: 5,
      baseDelayMs: 100,
      maxDelayMs: 250,
      sleep: (ms: number) => (sleeps.push(ms), Promise.resolve()),
      random: () => 0.999,
    };
    const error = await withRetry(policy, () => {
      calls += 1;
      throw calls < 3 ? new ThrottledError('slow down') : new ValidationError('bad input');
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(calls).toBe(3);
    expect(sleeps).toEqual([99, 199]);
    expect(backoffDelayMs(policy, 5)).toBe(249);
  });

  it('gives up after maxAttempts with the last error', async () => {
    let calls = 0;
    await expect(
      withRetry(fastRetry(1, 4), () => {
        calls += 1;
        throw new RetryableError(`5xx #${calls}`);
      }),
    ).rejects.toThrow('5xx #4');
  });
});

describe('translateSdkError', () => {
  const sdk = (name: string, status: number, extra: Record<string, unknown> = {}): unknown =>
    Object.assign(new Error(`${name} message`), { name, $metadata: { httpStatusCode: status }, ...extra });

  it.each([
    ['RequestThrottledException', 400, ThrottledError],
    ['ThrottlingException', 400, ThrottledError],
    ['SlowDown', 503, ThrottledError],
    ['InternalServerException', 500, RetryableError],
    ['ConditionalRequestConflict', 409, RetryableError],
    ['AccessDeniedException', 403, AccessDeniedError],
    ['NoSuchKey', 404, NotFoundError],
    ['ValidationException', 400, ValidationError],
    ['SomethingElse', 400, ValidationError],
    ['Teapot', 418, PermanentError],
  ])('%s (%i) becomes %o', (name, status, type) => {
    const translated = translateSdkError(sdk(name, status), 'Op');
    expect(translated).toBeInstanceOf(type);
    expect(translated.message).toBe(`Op failed: ${name}: ${name} message`);
  });

  it('keeps the EBS reason', () => {
    const unrelated = translateSdkError(
      sdk('ValidationException', 400, { Reason: 'UNRELATED_SNAPSHOTS' }),
      'ListChangedBlocks',
    );
    expect(unrelated).toBeInstanceOf(SnapshotValidationError);
    expect((unrelated as SnapshotValidationError).reason).toBe('UNRELATED_SNAPSHOTS');
    const missing = translateSdkError(
      sdk('ResourceNotFoundException', 404, { Reason: 'SNAPSHOT_NOT_FOUND' }),
      'PutSnapshotBlock',
    );
    expect(missing).toBeInstanceOf(SnapshotNotFoundError);
    expect(missing.message).toBe(
      'PutSnapshotBlock failed: ResourceNotFoundException (SNAPSHOT_NOT_FOUND): ResourceNotFoundException message',
    );
  });
});

describe('range worker', () => {
  function setup(): { ebs: MemoryEbs; images: ImageStore; objects: MemoryObjectStore; snapshotId: string } {
    const ebs = new MemoryEbs();
    ebs.createVolume('vol-1', 1);
    ebs.write('vol-1', 0, Buffer.alloc(3 * B, 'q'));
    const snapshotId = ebs.createSnapshot('vol-1');
    const objects = new MemoryObjectStore();
    return { ebs, images: new ImageStore(objects, { retry: fastRetry() }), objects, snapshotId };
  }
  const item = (snapshotId: string) => ({
    volumeId: 'vol-1',
    imageId: 'img-1',
    snapshotId,
    firstBlock: 0,
    endBlock: 2048,
  });

  it('fails fast on an access error: one GetSnapshotBlock, no retry, the reason kept', async () => {
    // The SDK client itself, answered in its middleware stack: no emulator refuses a KMS key.
    const client = new EBSClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'k', secretAccessKey: 's' },
    });
    const calls: string[] = [];
    client.middlewareStack.add(
      (_next, context) => () => {
        calls.push(context.commandName ?? '');
        if (context.commandName === 'ListSnapshotBlocksCommand') {
          return Promise.resolve({
            output: {
              Blocks: [{ BlockIndex: 0, BlockToken: 'dA==' }],
              VolumeSize: 1,
              BlockSize: B,
              $metadata: {},
            },
            response: {},
          });
        }
        throw new AccessDeniedException({
          message: 'not allowed to use the KMS key',
          Reason: 'DEPENDENCY_ACCESS_DENIED',
          $metadata: { httpStatusCode: 403 },
        });
      },
      { step: 'initialize', name: 'answer-locally' },
    );
    const objects = new MemoryObjectStore();
    const error = await copyRange(
      item('snap-x'),
      {
        ebs: new EbsSnapshots(client),
        images: new ImageStore(objects, { retry: fastRetry() }),
        readPacer: noPacing,
        listPacer: noPacing,
      },
      { retry: fastRetry() },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessDeniedError);
    expect((error as Error).message).toBe(
      'GetSnapshotBlock failed: AccessDeniedException (DEPENDENCY_ACCESS_DENIED): not allowed to use the KMS key',
    );
    expect(calls).toEqual(['ListSnapshotBlocksCommand', 'GetSnapshotBlockCommand']);
    expect(objects.counters.puts).toBe(0);
    client.destroy();
  });

  it('re-reads a corrupted block, then fails loudly and stores nothing from it', async () => {
    const { ebs, images, objects, snapshotId } = setup();
    ebs.faults = { corruptRate: 1 };
    const error = await copyRange(
      item(snapshotId),
      { ebs, images, readPacer: noPacing, listPacer: noPacing },
      { retry: fastRetry(), chunksInFlight: 1 },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as Error).message).toBe(`block 0 of ${snapshotId} does not match its SHA-256 checksum`);
    // Three reads each of blocks 0 and 1 (the two halves of chunk 0 are read side by side).
    expect(ebs.counters.getSnapshotBlock).toBe(3 + 3);
    expect(objects.objects.size).toBe(0);
  });

  it('pads a block shorter than 512 KiB with zeros, as the volume reads', async () => {
    const { ebs, images, snapshotId } = setup();
    ebs.shortenBlock(snapshotId, 2, 1000);
    const summary = await copyRange(
      item(snapshotId),
      { ebs, images, readPacer: noPacing, listPacer: noPacing },
      { retry: fastRetry() },
    );
    const reader = await import('../../lambdas/core/image/image-reader.ts');
    const manifest = { ...parentManifest(GIB_BYTES), imageId: 'img-1', segments: [...summary.segments] };
    const bytes = await new reader.ImageReader(images, manifest).read(2 * B, B);
    expect(Buffer.from(bytes).equals(Buffer.concat([Buffer.alloc(1000, 'q'), Buffer.alloc(B - 1000)]))).toBe(
      true,
    );
  });

  it('rides out 20% throttling of block reads', async () => {
    const { ebs, images, snapshotId } = setup();
    ebs.faults = { throttleRate: 0.2 };
    const records = new MemoryImageRecordStore();
    const result = await runBackup(
      { ebs, images, records, readPacer: noPacing, listPacer: noPacing },
      {
        volumeId: 'vol-1',
        imageId: 'img-1',
        snapshotId,
        volumeSizeGib: 1,
        createdAt: '2026-01-01T00:00:00.000Z',
        worker: { retry: fastRetry() },
      },
    );
    expect(result.summaries[0]!.stats.blocksRead).toBe(3);
    expect(result.summaries[0]!.requests.read).toBe(ebs.counters.getSnapshotBlock);
    expect(result.record.stats.blocksRead).toBe(3);
  });

  it('rejects ranges that do not start on a segment boundary', async () => {
    const { ebs, images, snapshotId } = setup();
    await expect(
      copyRange(
        { ...item(snapshotId), firstBlock: 100 },
        { ebs, images, readPacer: noPacing, listPacer: noPacing },
      ),
    ).rejects.toThrow('range start 100 is not a multiple of 2048 blocks');
  });
});

describe('volume restore to a snapshot', () => {
  async function image(): Promise<{ ebs: MemoryEbs; images: ImageStore; manifest: ImageManifest }> {
    const ebs = new MemoryEbs();
    ebs.createVolume('vol-1', 1);
    ebs.write('vol-1', B, Buffer.alloc(B, 'z'));
    const snapshotId = ebs.createSnapshot('vol-1');
    const images = new ImageStore(new MemoryObjectStore(), { retry: fastRetry() });
    const { manifest } = await runBackup(
      { ebs, images, records: new MemoryImageRecordStore(), readPacer: noPacing, listPacer: noPacing },
      {
        volumeId: 'vol-1',
        imageId: 'img-1',
        snapshotId,
        volumeSizeGib: 1,
        createdAt: '2026-01-01T00:00:00.000Z',
      },
    );
    return { ebs, images, manifest };
  }

  it('retries "snapshot does not exist" after StartSnapshot, with a deterministic ClientToken', async () => {
    const { ebs, images, manifest } = await image();
    ebs.faults = { invisiblePutsAfterStart: 5 };
    let now = 0;
    const result = await restoreImageToSnapshot(
      { images, writer: ebs, nowMs: () => (now += 1000), retry: fastRetry() },
      { manifest, restoreId: 'r-1' },
    );
    expect(result.changedBlocksCount).toBe(1);
    expect(result.putRequests).toBe(6);
    const digest = createHash('sha256').update(Buffer.alloc(B, 'z')).digest();
    expect(result.checksumBase64).toBe(createHash('sha256').update(digest).digest('base64'));
    expect(linearChecksum([digest])).toBe(result.checksumBase64);
    expect(ebs.snapshots.get(result.snapshotId)!.state).toBe('completed');
    expect(restoreClientToken('r-1')).toBe(restoreClientToken('r-1'));
    expect(restoreClientToken('r-1')).not.toBe(restoreClientToken('r-2'));
    // The same restore id started again finds the same snapshot (StartSnapshot idempotency).
    const again = await ebs.startSnapshot({
      volumeSizeGib: 1,
      clientToken: restoreClientToken('r-1'),
      timeoutMinutes: 1440,
    });
    expect(again.snapshotId).toBe(result.snapshotId);
  });

  it('gives up on "snapshot does not exist" after about two minutes', async () => {
    const { ebs, images, manifest } = await image();
    ebs.faults = { invisiblePutsAfterStart: 1000 };
    let now = 0;
    const error = await restoreImageToSnapshot(
      { images, writer: ebs, nowMs: () => (now += 20_000), retry: fastRetry() },
      { manifest, restoreId: 'r-2' },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SnapshotNotFoundError);
    expect(ebs.counters.putSnapshotBlock).toBe(6);
  });
});

describe('waitForSnapshotCompleted', () => {
  const states = (...sequence: string[]) => {
    let i = 0;
    return {
      describeSnapshot: () =>
        Promise.resolve({
          state: sequence[Math.min(i++, sequence.length - 1)] as 'pending',
          progress: `${i}%`,
        }),
    };
  };
  const clock = () => {
    let now = 0;
    return { nowMs: () => now, sleep: (ms: number) => ((now += ms), Promise.resolve()) };
  };

  it('polls at the interval until completed', async () => {
    expect(
      await waitForSnapshotCompleted(states('pending', 'pending', 'completed'), 'snap-1', {
        intervalMs: 10,
        timeoutMs: 1000,
        ...clock(),
      }),
    ).toEqual({
      state: 'completed',
      polls: 3,
    });
  });

  it('fails at once on error and after the deadline while pending', async () => {
    await expect(
      waitForSnapshotCompleted(
        { describeSnapshot: () => Promise.resolve({ state: 'error' as const, stateMessage: 'broken' }) },
        'snap-1',
        { timeoutMs: 1000, ...clock() },
      ),
    ).rejects.toThrow('snapshot snap-1 failed: broken');
    const late = await waitForSnapshotCompleted(states('pending'), 'snap-2', {
      intervalMs: 300,
      timeoutMs: 1000,
      ...clock(),
    }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(RetryableError);
    expect((late as Error).message).toBe('snapshot snap-2 is still pending after 1000 ms');
  });
});

describe('commitImage', () => {
  it('is idempotent, refuses a different image under the same id, and only then makes the image exist', async () => {
    const ebs = new MemoryEbs();
    ebs.createVolume('vol-1', 1);
    ebs.write('vol-1', 0, Buffer.alloc(B, 'c'));
    const snapshotId = ebs.createSnapshot('vol-1');
    const objects = new MemoryObjectStore();
    const images = new ImageStore(objects, { retry: fastRetry() });
    const records = new MemoryImageRecordStore();
    const item = { volumeId: 'vol-1', imageId: 'img-1', snapshotId, firstBlock: 0, endBlock: 2048 };
    const summary = await copyRange(item, { ebs, images, readPacer: noPacing, listPacer: noPacing });
    await expect(loadCommittedImage({ images, records }, 'vol-1', 'img-1')).rejects.toThrow(
      'image img-1 of vol-1 does not exist',
    );
    const request = {
      volumeId: 'vol-1',
      imageId: 'img-1',
      snapshotId,
      createdAt: '2026-01-05T00:00:00.000Z',
      summaries: [summary],
    };
    const first = await commitImage({ images, records }, request);
    const again = await commitImage({ images, records }, request);
    expect(again.record).toEqual(first.record);
    expect(objects.keys('images/')).toEqual(['images/vol-1/img-1.json']);
    const loaded = await loadCommittedImage({ images, records }, 'vol-1', 'img-1');
    expect(loaded.manifest.segments).toEqual(summary.segments);
    expect(loaded.record.manifestSha256).toBe(first.record.manifestSha256);
    const different = await commitImage(
      { images, records },
      { ...request, createdAt: '2026-01-06T00:00:00.000Z' },
    ).catch((e: unknown) => e);
    expect(different).toBeInstanceOf(ConflictError);
    expect((different as Error).message).toBe('image img-1 of vol-1 already has a different manifest');
    await expect(
      commitImage({ images, records }, { ...request, imageId: 'img-2', summaries: [] }),
    ).rejects.toThrow('image img-2 has no ranges');
  });

  it('records why an image with a parent was read in full and how many blocks were; a plain incremental has neither', async () => {
    const ebs = new MemoryEbs();
    ebs.createVolume('vol-1', 1);
    ebs.write('vol-1', 0, Buffer.alloc(3 * B, 'a'));
    const images = new ImageStore(new MemoryObjectStore(), { retry: fastRetry() });
    const records = new MemoryImageRecordStore();
    const deps = { ebs, images, records, readPacer: noPacing, listPacer: noPacing };
    const backup = (imageId: string, createdAt: string, parent?: BackupRequest['parent']) =>
      runBackup(deps, {
        volumeId: 'vol-1',
        imageId,
        snapshotId: ebs.createSnapshot('vol-1'),
        volumeSizeGib: 1,
        createdAt,
        ...(parent === undefined ? {} : { parent }),
        worker: { retry: fastRetry() },
      });
    const plainStats = ['chunksCreated', 'bytesCreated', 'blocksRead'];

    const first = await backup('img-0', '2026-01-01T00:00:00.000Z');
    expect(first.record.kind).toBe('full');
    expect(Object.keys(first.record)).not.toContain('fullReadReason');
    expect(Object.keys(first.record.stats)).toEqual(plainStats);

    ebs.write('vol-1', 4 * B, Buffer.alloc(B, 'b'));
    const incremental = await backup('img-1', '2026-01-02T00:00:00.000Z', { imageId: 'img-0' });
    expect(incremental.record.kind).toBe('incremental');
    expect(Object.keys(incremental.record)).not.toContain('fullReadReason');
    expect(Object.keys(incremental.record.stats)).toEqual(plainStats);
    expect(incremental.record.stats.blocksRead).toBe(1);

    // The replica re-created: ListChangedBlocks against the parent's snapshot is refused.
    ebs.createVolume('vol-1', 1);
    ebs.write('vol-1', 0, Buffer.alloc(3 * B, 'c'));
    const unrelated = await backup('img-2', '2026-01-03T00:00:00.000Z', { imageId: 'img-1' });
    expect(unrelated.record).toMatchObject({ kind: 'full', parentImageId: 'img-1' });
    expect(unrelated.record.fullReadReason).toBe('UNRELATED_SNAPSHOTS');
    expect(unrelated.record.stats.blocksRead).toBe(3);
    expect(unrelated.record.stats.blocksReadInFull).toBe(3);
    expect(await records.getImageRecord('vol-1', 'img-2')).toEqual(unrelated.record);

    // The planner's fallback: the parent's snapshot is known to be gone.
    const gone = await backup('img-3', '2026-01-04T00:00:00.000Z', {
      imageId: 'img-2',
      snapshotAvailable: false,
    });
    expect(gone.record.fullReadReason).toBe('PARENT_SNAPSHOT_NOT_FOUND');
    expect(gone.record.stats.blocksRead).toBe(3);
    expect(gone.record.stats.blocksReadInFull).toBe(3);
  });

  it('counts as read in full only the blocks of ranges that fell back (the parent snapshot deleted mid-backup)', async () => {
    const ebs = new MemoryEbs();
    ebs.createVolume('vol-1', 2);
    ebs.write('vol-1', 0, Buffer.alloc(2 * B, 'a'));
    ebs.write('vol-1', GIB_BYTES, Buffer.alloc(2 * B, 'a'));
    const images = new ImageStore(new MemoryObjectStore(), { retry: fastRetry() });
    const records = new MemoryImageRecordStore();
    const deps = { ebs, images, records, readPacer: noPacing, listPacer: noPacing };
    const parentSnapshot = ebs.createSnapshot('vol-1');
    const parent = await runBackup(deps, {
      volumeId: 'vol-1',
      imageId: 'img-0',
      snapshotId: parentSnapshot,
      volumeSizeGib: 2,
      createdAt: '2026-01-01T00:00:00.000Z',
      worker: { retry: fastRetry() },
    });
    ebs.write('vol-1', 0, Buffer.alloc(B, 'b'));
    ebs.write('vol-1', GIB_BYTES, Buffer.alloc(B, 'b'));
    const snapshotId = ebs.createSnapshot('vol-1');
    const plan = planImage({
      volumeId: 'vol-1',
      imageId: 'img-1',
      snapshotId,
      volumeSizeGib: 2,
      parent: { manifest: parent.manifest, snapshotAvailable: true },
      rangeSegments: 1,
    });
    expect(plan.items).toHaveLength(2);
    const config = { retry: fastRetry(), parentManifest: parent.manifest };
    const changed = await copyRange(plan.items[0]!, deps, config);
    ebs.deleteSnapshot(parentSnapshot);
    const fellBack = await copyRange(plan.items[1]!, deps, config);
    expect([changed.mode, fellBack.mode, fellBack.fullReadReason]).toEqual([
      'incremental',
      'full',
      'PARENT_SNAPSHOT_NOT_FOUND',
    ]);
    const { record } = await commitImage(deps, {
      volumeId: 'vol-1',
      imageId: 'img-1',
      snapshotId,
      parentImageId: 'img-0',
      parentSnapshotId: parentSnapshot,
      createdAt: '2026-01-02T00:00:00.000Z',
      summaries: [changed, fellBack],
    });
    expect(record.kind).toBe('full');
    expect(record.fullReadReason).toBe('PARENT_SNAPSHOT_NOT_FOUND');
    // One changed block in the first range; both written blocks of the second, read in full.
    expect(record.stats.blocksRead).toBe(3);
    expect(record.stats.blocksReadInFull).toBe(2);
  });
});
