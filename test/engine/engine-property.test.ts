/**
 * Property: random volume contents and random write sequences, backed up as a chain of full and
 * incremental images; every image restores byte-identical to its snapshot, to raw bytes and to a
 * new EBS snapshot; the objects each backup creates are exactly the new chunks and segments the
 * spec predicts, plus one manifest. Runs on the in-process fakes (test/engine/engine-emulator.test.ts
 * repeats the round trip through the HTTP emulator and S3 on moto).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import { GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { chunkKey, segmentKey } from '../../lambdas/core/image/image-types.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import {
  restoreImageToSnapshot,
  waitForSnapshotCompleted,
} from '../../lambdas/core/restore/volume-restore.ts';
import { MemoryEbs } from '../fakes/memory-ebs.ts';
import { MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import {
  chunkBytes,
  expectRawRestore,
  fastRetry,
  noPacing,
  specChunkName,
  specChunkNames,
  specSegmentHashes,
} from './engine-fixture.ts';
import type { SparseBlocks } from './engine-fixture.ts';
import type { ImageManifest } from '../../lambdas/core/image/image-types.ts';

const MiB = 1_048_576;

type Content =
  | { kind: 'random'; seed: number }
  | { kind: 'zeros' }
  | { kind: 'text'; seed: number }
  | { kind: 'copy'; from: number };

type Step =
  | { op: 'write'; window: number; offset: number; length: number; content: Content }
  | { op: 'discard'; window: number; block: number; count: number }
  | { op: 'backup' }
  | { op: 'grow' }
  | { op: 'new-lineage' }
  | { op: 'drop-parent-snapshot' };

/** Where writes land: the start, both sides of the 1 GiB segment boundary, the volume's last MiBs. */
function windowStart(window: number, volumeSizeBytes: number): number {
  if (window === 0) return 0;
  if (window === 1) return GIB_BYTES - 3 * MiB;
  return volumeSizeBytes - 6 * MiB;
}
const WINDOW_BYTES = 6 * MiB;

/** Bytes [offset, offset + length) of a live fake volume, without allocating the volume. */
function readVolume(ebs: MemoryEbs, volumeId: string, offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  const blocks = ebs.volumes.get(volumeId)!.blocks;
  for (let b = Math.floor(offset / (512 * 1024)); b * 512 * 1024 < offset + length; b += 1) {
    const data = blocks.get(b)?.data;
    if (data === undefined) continue;
    const blockStart = b * 512 * 1024;
    const from = Math.max(offset, blockStart);
    const to = Math.min(offset + length, blockStart + 512 * 1024);
    data.copy(out, from - offset, from - blockStart, to - blockStart);
  }
  return out;
}

function contentBytes(content: Content, length: number, copy: (from: number) => Buffer): Buffer {
  if (content.kind === 'zeros') return Buffer.alloc(length);
  if (content.kind === 'copy') return copy(content.from);
  const seed = content.seed;
  const out = Buffer.alloc(length);
  let x = seed | 1;
  if (content.kind === 'text') {
    const line = Buffer.from(`line ${seed} of some log text, repeated with small variations\n`);
    for (let i = 0; i < length; i += 1) out[i] = line[i % line.length]!;
    return out;
  }
  for (let i = 0; i < length; i += 1) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const contentArb: fc.Arbitrary<Content> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('random' as const),
      seed: fc.integer({ min: 1, max: 1_000_000 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('text' as const), seed: fc.integer({ min: 1, max: 50 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'zeros' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('copy' as const), from: fc.integer({ min: 0, max: 4 * MiB }) }),
  },
);

const writeArb: fc.Arbitrary<Step> = fc.record({
  op: fc.constant('write' as const),
  window: fc.integer({ min: 0, max: 2 }),
  // Half-block granularity plus odd offsets: half-chunks and partial blocks.
  offset: fc.oneof(
    fc.integer({ min: 0, max: 11 }).map((h) => h * 512 * 1024),
    fc.integer({ min: 0, max: WINDOW_BYTES - 1 }),
  ),
  length: fc.oneof(fc.constant(512 * 1024), fc.constant(MiB), fc.integer({ min: 1, max: (3 * MiB) / 2 })),
  content: contentArb,
});

const changeArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: writeArb },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('discard' as const),
      window: fc.integer({ min: 0, max: 2 }),
      block: fc.integer({ min: 0, max: 11 }),
      count: fc.integer({ min: 1, max: 3 }),
    }),
  },
);

const eventArb: fc.Arbitrary<Step | undefined> = fc.option(
  fc.constantFrom<Step>({ op: 'grow' }, { op: 'new-lineage' }, { op: 'drop-parent-snapshot' }),
  { nil: undefined, freq: 3 },
);

/** Initial contents, a full backup, then epochs of changes each followed by a backup. */
const scenarioArb: fc.Arbitrary<Step[]> = fc
  .tuple(
    fc.array(writeArb, { minLength: 1, maxLength: 6 }),
    fc.array(fc.tuple(fc.array(changeArb, { minLength: 1, maxLength: 5 }), eventArb), {
      minLength: 1,
      maxLength: 4,
    }),
  )
  .map(([initial, epochs]) => [
    ...initial,
    { op: 'backup' as const },
    ...epochs.flatMap(([changes, event]) => [
      ...changes,
      ...(event === undefined ? [] : [event]),
      { op: 'backup' as const },
    ]),
  ]);

interface Backed {
  readonly manifest: ImageManifest;
  readonly blocks: SparseBlocks;
}

async function runScenario(
  steps: readonly Step[],
  pageLimit: number,
  emptyPageEvery: number | undefined,
): Promise<void> {
  const ebs = new MemoryEbs();
  ebs.faults = { pageLimit, ...(emptyPageEvery === undefined ? {} : { emptyPageEvery }) };
  const objects = new MemoryObjectStore();
  const images = new ImageStore(objects, { retry: fastRetry() });
  const records = new MemoryImageRecordStore();
  let volumeId = 'vol-prop';
  let sizeGib = 2;
  ebs.createVolume(volumeId, sizeGib);
  const backed: Backed[] = [];
  let parent: { imageId: string; snapshotId: string } | undefined;

  for (const [stepIndex, step] of steps.entries()) {
    const volumeSizeBytes = sizeGib * GIB_BYTES;
    if (step.op === 'write') {
      const start = windowStart(step.window, volumeSizeBytes) + step.offset;
      const length = Math.min(step.length, volumeSizeBytes - start);
      ebs.write(
        volumeId,
        start,
        contentBytes(step.content, length, (from) => readVolume(ebs, volumeId, from, length)),
      );
    } else if (step.op === 'discard') {
      const first = windowStart(step.window, volumeSizeBytes) / (512 * 1024) + step.block;
      ebs.discard(
        volumeId,
        Array.from({ length: step.count }, (_, i) => first + i),
      );
    } else if (step.op === 'grow') {
      if (sizeGib < 3) sizeGib += 1;
      ebs.resize(volumeId, sizeGib);
    } else if (step.op === 'new-lineage') {
      // The volume is replaced by a copy (a restore): same bytes, unrelated snapshots.
      const blocks = new Map(ebs.volumes.get(volumeId)!.blocks);
      volumeId = `${volumeId}x`;
      ebs.createVolume(volumeId, sizeGib);
      ebs.volumes.get(volumeId)!.blocks = blocks;
    } else if (step.op === 'drop-parent-snapshot') {
      if (parent !== undefined) ebs.deleteSnapshot(parent.snapshotId);
    } else {
      const snapshotId = ebs.createSnapshot(volumeId);
      const blocks = ebs.snapshotBlocks(snapshotId);
      const readsBefore = ebs.counters.getSnapshotBlock;
      const chunkKeysBefore = new Set(objects.keys('chunks/'));
      const segmentKeysBefore = new Set(objects.keys('segments/'));
      const createdBefore = objects.counters.putsCreated;
      const putsBefore = objects.counters.puts;
      const imageId = `img-${stepIndex}`;
      const parentBlocks = parent === undefined ? undefined : backed[backed.length - 1]!.blocks;
      const parentSnapshot = parent === undefined ? undefined : ebs.snapshots.get(parent.snapshotId);
      const incremental =
        parentSnapshot !== undefined &&
        parentSnapshot.lineage === ebs.snapshots.get(snapshotId)!.lineage &&
        parentSnapshot.volumeSizeGib === sizeGib;
      const result = await runBackup(
        { ebs, images, records, readPacer: noPacing, listPacer: noPacing },
        {
          volumeId: 'vol-prop',
          imageId,
          snapshotId,
          volumeSizeGib: sizeGib,
          createdAt: new Date(Date.UTC(2026, 0, 1, 0, stepIndex)).toISOString(),
          ...(parent === undefined ? {} : { parent: { imageId: parent.imageId } }),
          rangeSegments: 1,
          rangeWorkers: 2,
          worker: { chunksInFlight: 4, listMaxResults: 100, retry: fastRetry() },
        },
      );
      const { manifest } = result;
      expect(manifest.kind).toBe(incremental ? 'incremental' : 'full');
      expect(manifest.fullReadReason !== undefined).toBe(parent !== undefined && !incremental);
      // Blocks the engine had to read: the changed blocks still present, or every listed block.
      const snapshotState = ebs.snapshots.get(snapshotId)!.blocks;
      const touchedBlocks = incremental
        ? [...new Set([...snapshotState.keys(), ...parentSnapshot.blocks.keys()])].filter(
            (i) => parentSnapshot.blocks.get(i)?.version !== snapshotState.get(i)?.version,
          )
        : [...snapshotState.keys()];
      const expectedReads = touchedBlocks.filter((i) => snapshotState.has(i)).length;
      expect(ebs.counters.getSnapshotBlock - readsBefore).toBe(expectedReads);
      // Objects created: exactly the new chunks and segments of the spec, and one manifest.
      const expectedNewChunks = [...specChunkNames(blocks)]
        .map(chunkKey)
        .filter((k) => !chunkKeysBefore.has(k))
        .sort();
      const expectedSegments = specSegmentHashes(blocks, sizeGib * GIB_BYTES);
      expect(manifest.segments).toEqual(expectedSegments);
      const expectedNewSegments = [
        ...new Set(expectedSegments.filter((h) => h !== '0'.repeat(64)).map(segmentKey)),
      ]
        .filter((k) => !segmentKeysBefore.has(k))
        .sort();
      expect(objects.keys('chunks/').filter((k) => !chunkKeysBefore.has(k))).toEqual(expectedNewChunks);
      expect(objects.keys('segments/').filter((k) => !segmentKeysBefore.has(k))).toEqual(expectedNewSegments);
      expect(objects.counters.putsCreated - createdBefore).toBe(
        expectedNewChunks.length + expectedNewSegments.length + 1,
      );
      expect(manifest.stats.chunksCreated).toBe(expectedNewChunks.length);
      // PUT requests: a touched chunk is written only when it is non-zero and differs from the
      // parent's chunk at the same place (so a fallback full read uploads nothing it already has);
      // a touched segment only when its table is not all zeros.
      const touchedChunks = [...new Set(touchedBlocks.map((b) => Math.floor(b / 2)))];
      const nameAt = (source: SparseBlocks | undefined, c: number): string | undefined => {
        if (source === undefined) return undefined;
        const data = chunkBytes(source, c);
        return data.some((b) => b !== 0) ? specChunkName(data) : undefined;
      };
      const chunkPuts = touchedChunks.filter((c) => {
        const name = nameAt(blocks, c);
        return name !== undefined && name !== nameAt(parentBlocks, c);
      }).length;
      const segmentPuts = [...new Set(touchedChunks.map((c) => Math.floor(c / 1024)))].filter(
        (segment) => expectedSegments[segment] !== '0'.repeat(64),
      ).length;
      expect(objects.counters.puts - putsBefore).toBe(chunkPuts + segmentPuts + 1);
      await expectRawRestore(images, manifest, blocks, { chunksInFlight: 4 });
      backed.push({ manifest, blocks });
      parent = { imageId, snapshotId };
    }
  }
  // Every image restores on its own from its manifest, after all later images were written.
  for (const image of backed)
    await expectRawRestore(images, image.manifest, image.blocks, { chunksInFlight: 4 });
  // The latest image restores to a new EBS snapshot with the same bytes.
  const last = backed[backed.length - 1]!;
  ebs.faults = { invisiblePutsAfterStart: 3 };
  let clock = 0;
  const restored = await restoreImageToSnapshot(
    { images, writer: ebs, nowMs: () => (clock += 10), retry: fastRetry() },
    { manifest: last.manifest, restoreId: `restore-${backed.length}`, chunksInFlight: 4 },
  );
  await waitForSnapshotCompleted(ebs, restored.snapshotId, {
    timeoutMs: 1000,
    nowMs: () => 0,
    sleep: () => Promise.resolve(),
  });
  const restoredBlocks = ebs.snapshotBlocks(restored.snapshotId);
  const expectedBlocks = [...last.blocks]
    .filter(([, d]) => d.some((b) => b !== 0))
    .map(([i]) => i)
    .sort((a, b) => a - b);
  expect([...restoredBlocks.keys()].sort((a, b) => a - b)).toEqual(expectedBlocks);
  for (const index of expectedBlocks)
    expect(restoredBlocks.get(index)!.equals(last.blocks.get(index)!)).toBe(true);
  expect(restored.changedBlocksCount).toBe(expectedBlocks.length);
  // Random reads through the ImageReader agree with the snapshot.
  const reader = new ImageReader(images, last.manifest, { cacheChunks: 2 });
  for (const offset of [0, GIB_BYTES - MiB - 7, last.manifest.volumeSizeBytes - 3 * MiB + 11]) {
    const got = await reader.read(offset, 2 * MiB + 5);
    const chunk = Math.floor(offset / MiB);
    const expected = Buffer.concat([0, 1, 2, 3].map((i) => chunkBytes(last.blocks, chunk + i))).subarray(
      offset - chunk * MiB,
      offset - chunk * MiB + 2 * MiB + 5,
    );
    expect(Buffer.from(got).equals(expected)).toBe(true);
  }
}

describe('backup chains restore byte-identical (property)', () => {
  it('random writes, discards, growth, lineage changes and lost parent snapshots', async () => {
    await fc.assert(
      fc.asyncProperty(
        scenarioArb,
        fc.constantFrom(100, 1000),
        fc.option(fc.integer({ min: 2, max: 3 }), { nil: undefined }),
        async (steps, pageLimit, emptyPageEvery) => runScenario(steps, pageLimit, emptyPageEvery),
      ),
      { numRuns: 10 },
    );
  }, 120_000);
});
