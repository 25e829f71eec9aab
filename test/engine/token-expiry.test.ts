/**
 * Block tokens that expire inside a range, on the HTTP EBS emulator with its token lifetime and a
 * manual clock, through the production adapter (EbsSnapshots, the real SDK): the clock jumps past
 * the tokens' lifetime in the middle of the reads, every read in flight fails with
 * INVALID_BLOCK_TOKEN, and the worker lists again once, from the first block not yet read, for
 * the rest of the range (ListSnapshotBlocks for a full read, ListChangedBlocks for an
 * incremental). The image is byte-equal to the volume; the extra List requests are exact.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EbsSnapshots } from '../../lambdas/aws/ebs-snapshots.ts';
import { copyRange } from '../../lambdas/core/backup/range-worker.ts';
import type {
  GetSnapshotBlockRequest,
  ListChangedBlocksRequest,
  ListSnapshotBlocksRequest,
  SnapshotBlockReader,
} from '../../lambdas/core/backup/snapshot-ports.ts';
import { commitImage } from '../../lambdas/core/backup/commit.ts';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { blockContent, makeSparseImage, startFixture, type EbsFixture } from '../local/ebs-test-support.ts';
import { fastRetry, noPacing } from './engine-fixture.ts';

const B = EBS_BLOCK_SIZE_BYTES;
/** Block tokens of this emulator live one minute; the clock jumps two. */
const TOKEN_TTL_MS = 60_000;
const RANGE_END = 2048;
/** 48 written blocks in the first 1 GiB (one range), each alone in its chunk. */
const WRITTEN = Array.from({ length: 48 }, (_, i) => i * 37 + (i % 3 === 0 ? 1 : 0)).filter(
  (b, i, all) => all.indexOf(b) === i,
);
const FIRST = new Map(WRITTEN.map((b) => [b, blockContent(b + 1)]));
/** The second snapshot: every fourth block rewritten, two new ones side by side (one chunk). */
const SECOND = new Map([
  ...FIRST,
  ...WRITTEN.filter((_, i) => i % 4 === 0).map((b) => [b, blockContent(b + 1000)] as const),
  [1500, blockContent(7)],
  [1501, blockContent(8)],
]);

let fixture: EbsFixture;

beforeAll(async () => {
  fixture = await startFixture({ blockTokenTtlMs: TOKEN_TTL_MS });
  for (const [snapshotId, blocks] of [
    ['snap-0000000000000001', FIRST],
    ['snap-0000000000000002', SECOND],
  ] as const) {
    const image = join(fixture.dir, `${snapshotId}.img`);
    await makeSparseImage(image, 1, blocks);
    await fixture.server.emulator.freezeVolumeImage({
      snapshotId,
      volumeId: 'vol-expiry',
      imagePath: image,
      volumeSizeGib: 1,
      completeAfterMs: 1_000,
    });
  }
  fixture.clock.advance(2_000);
});

afterAll(async () => {
  await fixture.close();
});

/** The adapter, counting requests; the clock jumps past the token lifetime after `expireAfterReads` reads. */
function expiringReader(expireAfterReads: number): {
  reader: SnapshotBlockReader;
  counts: { listSnapshotBlocks: number; listChangedBlocks: number; reads: number; expired: number };
  listStarts: number[];
} {
  const ebs = new EbsSnapshots(fixture.ebs);
  const counts = { listSnapshotBlocks: 0, listChangedBlocks: 0, reads: 0, expired: 0 };
  const listStarts: number[] = [];
  let jumped = false;
  return {
    counts,
    listStarts,
    reader: {
      listSnapshotBlocks: (r: ListSnapshotBlocksRequest) => {
        counts.listSnapshotBlocks += 1;
        if (r.nextToken === undefined) listStarts.push(r.startingBlockIndex ?? 0);
        return ebs.listSnapshotBlocks(r);
      },
      listChangedBlocks: (r: ListChangedBlocksRequest) => {
        counts.listChangedBlocks += 1;
        if (r.nextToken === undefined) listStarts.push(r.startingBlockIndex ?? 0);
        return ebs.listChangedBlocks(r);
      },
      getSnapshotBlock: async (r: GetSnapshotBlockRequest) => {
        counts.reads += 1;
        try {
          return await ebs.getSnapshotBlock(r);
        } catch (error) {
          if ((error as { reason?: string }).reason === 'INVALID_BLOCK_TOKEN') counts.expired += 1;
          throw error;
        } finally {
          if (!jumped && counts.reads >= expireAfterReads) {
            jumped = true;
            fixture.clock.advance(2 * TOKEN_TTL_MS);
          }
        }
      },
    },
  };
}

/** Copies vol-expiry's blocks [0, RANGE_END) of `item.snapshotId` into `item.imageId`, reading through `ebs`. */
function copyTestRange(
  images: ImageStore,
  ebs: SnapshotBlockReader,
  item: { imageId: string; snapshotId: string; parentImageId?: string; parentSnapshotId?: string },
  options: { readonly chunksInFlight?: number } = {},
) {
  return copyRange(
    { volumeId: 'vol-expiry', firstBlock: 0, endBlock: RANGE_END, ...item },
    { ebs, images, readPacer: noPacing, listPacer: noPacing },
    { retry: fastRetry(), ...options },
  );
}

/** Commits `summary` as image `imageId` of vol-expiry, created at `createdAt`. */
function commitTestImage(
  images: ImageStore,
  records: MemoryImageRecordStore,
  item: { imageId: string; snapshotId: string; createdAt: string },
  summary: Awaited<ReturnType<typeof copyRange>>,
) {
  return commitImage({ images, records }, { volumeId: 'vol-expiry', ...item, summaries: [summary] });
}

async function expectBlocks(
  images: ImageStore,
  summary: Awaited<ReturnType<typeof copyRange>>,
  snapshotId: string,
  imageId: string,
  blocks: ReadonlyMap<number, Buffer>,
): Promise<void> {
  const { manifest } = await commitTestImage(
    images,
    new MemoryImageRecordStore(),
    { imageId, snapshotId, createdAt: '2026-12-03T12:00:00.000Z' },
    summary,
  );
  const reader = new ImageReader(images, manifest);
  // Every written block and its neighbours (the rest of the range is never listed, so zeros).
  const indexes = new Set([...blocks.keys()].flatMap((i) => [i - 1, i, i + 1]).filter((i) => i >= 0));
  for (const index of indexes) {
    const expected = blocks.get(index) ?? Buffer.alloc(B);
    if (!Buffer.from(await reader.read(index * B, B)).equals(expected))
      throw new Error(`block ${index} of ${imageId} differs`);
  }
  expect(manifest.stats.blocksListed).toBe(summary.stats.blocksListed);
}

describe('expired block tokens inside a range', () => {
  it('full read: one extra ListSnapshotBlocks from the first unread block, one read again per expired token, image byte-equal', async () => {
    const images = new ImageStore(new MemoryObjectStore(), { retry: fastRetry() });
    // One chunk at a time: exactly one read fails, then everything after it uses the new listing.
    const { reader, counts, listStarts } = expiringReader(10);
    const summary = await copyTestRange(
      images,
      reader,
      { imageId: 'img-full', snapshotId: 'snap-0000000000000001' },
      { chunksInFlight: 1 },
    );
    expect(counts).toEqual({
      listSnapshotBlocks: 2,
      listChangedBlocks: 0,
      reads: WRITTEN.length + 1,
      expired: 1,
    });
    // The 11th block read is the first not yet read: the new listing starts there.
    expect(listStarts).toEqual([0, [...FIRST.keys()].sort((a, b) => a - b)[10]]);
    expect(summary.requests).toMatchObject({ list: 2, read: WRITTEN.length + 1, relists: 1 });
    expect(summary.stats.blocksRead).toBe(WRITTEN.length);
    await expectBlocks(images, summary, 'snap-0000000000000001', 'img-full', FIRST);
  });

  it('many reads in flight when the tokens expire share one new listing', async () => {
    const images = new ImageStore(new MemoryObjectStore(), { retry: fastRetry() });
    const { reader, counts, listStarts } = expiringReader(10);
    const summary = await copyTestRange(
      images,
      reader,
      { imageId: 'img-concurrent', snapshotId: 'snap-0000000000000001' },
      { chunksInFlight: 8 },
    );
    expect(counts.listSnapshotBlocks).toBe(2);
    expect(listStarts).toHaveLength(2);
    expect(counts.expired).toBeGreaterThan(1);
    expect(counts.reads).toBe(WRITTEN.length + counts.expired);
    expect(summary.requests).toMatchObject({ list: 2, relists: 1 });
    await expectBlocks(images, summary, 'snap-0000000000000001', 'img-concurrent', FIRST);
  });

  it('incremental read: one extra ListChangedBlocks from the first unread changed block, image byte-equal', async () => {
    const images = new ImageStore(new MemoryObjectStore(), { retry: fastRetry() });
    const records = new MemoryImageRecordStore();
    const parent = { imageId: 'img-base', snapshotId: 'snap-0000000000000001' };
    const base = await copyTestRange(images, new EbsSnapshots(fixture.ebs), parent);
    await commitTestImage(images, records, { ...parent, createdAt: '2026-12-03T11:00:00.000Z' }, base);
    const changed = [...SECOND.keys()].filter((b) => !FIRST.has(b) || !FIRST.get(b)!.equals(SECOND.get(b)!));
    const { reader, counts, listStarts } = expiringReader(3);
    const summary = await copyTestRange(
      images,
      reader,
      {
        imageId: 'img-incremental',
        snapshotId: 'snap-0000000000000002',
        parentImageId: parent.imageId,
        parentSnapshotId: parent.snapshotId,
      },
      { chunksInFlight: 1 },
    );
    expect(summary.mode).toBe('incremental');
    expect(counts).toEqual({
      listSnapshotBlocks: 0,
      listChangedBlocks: 2,
      reads: changed.length + 1,
      expired: 1,
    });
    expect(listStarts).toEqual([0, changed.sort((a, b) => a - b)[3]]);
    expect(summary.requests).toMatchObject({ list: 2, relists: 1 });
    await expectBlocks(images, summary, 'snap-0000000000000002', 'img-incremental', SECOND);
  });
});
