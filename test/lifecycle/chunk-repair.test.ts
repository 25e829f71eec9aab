/**
 * A chunk corrupt at rest is repaired by the next backup (chunk-quarantine.ts): the scrub finds it
 * and quarantines it; the next backup of the volume reads it in full (QUARANTINED_CHUNK), writes
 * the chunk again unconditionally, reads it back and clears the entry; every image, older ones
 * included, then restores byte for byte and a second scrub finds nothing. Without the quarantine,
 * the same backup is an incremental that keeps the bad chunk (the reviewer's reproduction), and a
 * full backup's conditional PUT answers "already stored". A property: after any sequence of guest
 * writes, corruptions, deletions, scrubs and backups, one scrub and one backup leave the newest
 * image whole and the volume's next backup incremental (no entry forces it any more).
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import {
  MAX_OTHER_REPAIR_NAMES,
  QUARANTINED_CHUNK,
  quarantineForVolume,
} from '../../lambdas/core/backup/plan.ts';
import { CorruptObjectError } from '../../lambdas/core/errors.ts';
import { CHUNK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { chunkKey, type ImageManifest } from '../../lambdas/core/image/image-types.ts';
import type { LifecycleImage, LifecycleObjectStore } from '../../lambdas/core/lifecycle/ports.ts';
import { scrub, type ScrubDeps } from '../../lambdas/core/lifecycle/scrub.ts';
import { chunkOf, expectRawRestore, fastRetry, noPacing } from '../engine/engine-fixture.ts';
import { MemoryChunkQuarantine } from '../fakes/memory-chunk-quarantine.ts';
import { MemoryEbs } from '../fakes/memory-ebs.ts';
import { MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';

const VOLUME = 'vol-repair';
/** Chunks of the volume that hold data (1 GiB volume: 1,024 chunks). */
const DATA_CHUNKS = [0, 5, 700] as const;

interface Fixture {
  readonly ebs: MemoryEbs;
  readonly objects: MemoryObjectStore;
  readonly images: ImageStore;
  readonly records: MemoryImageRecordStore;
  readonly quarantine: MemoryChunkQuarantine;
  readonly scrubDeps: ScrubDeps;
  readonly backup: (
    imageId: string,
    minute: number,
    parent?: string,
    quarantined?: boolean,
  ) => Promise<ImageManifest>;
}

function fixture(now: () => Date = () => new Date(Date.UTC(2026, 0, 1, 0, 30))): Fixture {
  const ebs = new MemoryEbs();
  const objects = new MemoryObjectStore();
  const images = new ImageStore(objects, { retry: fastRetry() });
  const records = new MemoryImageRecordStore();
  const quarantine = new MemoryChunkQuarantine();
  ebs.createVolume(VOLUME, 1);
  for (const chunk of DATA_CHUNKS) ebs.write(VOLUME, chunk * CHUNK_SIZE_BYTES, randomBytes(CHUNK_SIZE_BYTES));
  // The scrub reads the bucket (GET only) and the live image records.
  const scrubDeps: ScrubDeps = {
    objects: { get: (key: string) => objects.get(key) } as unknown as LifecycleObjectStore,
    records: {
      listImages: () =>
        Promise.resolve(
          [...records.records.values()].map((r): LifecycleImage => ({
            volumeId: r.volumeId,
            imageId: r.imageId,
            createdAt: r.createdAt,
            manifestKey: r.manifestKey,
            manifestSha256: r.manifestSha256,
            volumeSizeBytes: r.volumeSizeBytes,
            status: 'live',
          })),
        ),
    } as unknown as ScrubDeps['records'],
    quarantine,
    now,
  };
  const backup = async (imageId: string, minute: number, parent?: string, quarantined = true) => {
    const snapshotId = ebs.createSnapshot(VOLUME);
    const { manifest } = await runBackup(
      {
        ebs,
        images,
        records,
        readPacer: noPacing,
        listPacer: noPacing,
        ...(quarantined ? { quarantine } : {}),
      },
      {
        volumeId: VOLUME,
        imageId,
        snapshotId,
        volumeSizeGib: 1,
        createdAt: new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString(),
        ...(parent === undefined ? {} : { parent: { imageId: parent } }),
        rangeWorkers: 1,
        worker: { chunksInFlight: 4, retry: fastRetry() },
      },
    );
    return manifest;
  };
  return { ebs, objects, images, records, quarantine, scrubDeps, backup };
}

/** Overwrites chunk `chunk`'s object with another valid chunk object (a wrong digest at rest). */
function corrupt(f: Fixture, chunk: number): string {
  const bytes = f.ebs.volumeBytes(VOLUME);
  const name = chunkOf(bytes.subarray(chunk * CHUNK_SIZE_BYTES, (chunk + 1) * CHUNK_SIZE_BYTES)).name;
  const other = chunkOf(bytes.subarray(0, CHUNK_SIZE_BYTES)).name;
  f.objects.objects.set(chunkKey(name), f.objects.objects.get(chunkKey(other))!);
  return name;
}

describe('a chunk corrupt at rest', () => {
  it('is quarantined by the scrub, rewritten and verified by the next backup, and the entry cleared', async () => {
    const f = fixture();
    const first = await f.backup('img-1', 10);
    const blocks = f.ebs.snapshotBlocks(first.snapshotId);
    const bad = corrupt(f, 5);

    const found = await scrub(f.scrubDeps, { all: true, runNumber: 0 });
    expect(found.corrupt.map((c) => [c.key, c.images])).toEqual([[chunkKey(bad), [`${VOLUME}/img-1`]]]);
    expect(await f.quarantine.list()).toEqual([
      {
        name: bad,
        volumeIds: [VOLUME],
        reason: found.corrupt[0]!.reason,
        foundAt: '2026-01-01T00:30:00.000Z',
      },
    ]);
    await expect(f.images.getChunk(bad)).rejects.toBeInstanceOf(CorruptObjectError);

    // Nothing changed on the volume: without the quarantine this would be an incremental that
    // reads no block and keeps the parent's bad entry.
    const putsBefore = f.objects.counters.puts;
    const second = await f.backup('img-2', 40, 'img-1');
    expect(second.kind).toBe('full');
    expect(second.fullReadReason).toBe(QUARANTINED_CHUNK);
    expect(second.stats.chunksCreated).toBe(1);
    expect(second.stats.chunksReusedFromParent).toBe(DATA_CHUNKS.length - 1);
    // The repair (one unconditional PUT), one segment already stored, the manifest.
    expect(f.objects.counters.puts - putsBefore).toBe(3);
    expect((await f.images.getChunk(bad)).data.equals(blocksOf(blocks, 5))).toBe(true);
    expect(await f.quarantine.list()).toEqual([]);

    // Both images restore byte for byte (the older one shares the repaired chunk).
    await expectRawRestore(f.images, first, blocks);
    await expectRawRestore(f.images, second, blocks);
    const again = await scrub(f.scrubDeps, { all: true, runNumber: 0 });
    expect(again).toMatchObject({ status: 'ok', corrupt: [], missing: [], chunksVerified: 3 });

    // The next backup is an incremental again.
    const third = await f.backup('img-3', 50, 'img-2');
    expect(third.kind).toBe('incremental');
    expect(third.fullReadReason).toBeUndefined();
  });

  it('without the quarantine, neither an incremental nor a full backup rewrites it (the finding)', async () => {
    const f = fixture();
    await f.backup('img-1', 10);
    const bad = corrupt(f, 5);
    const incremental = await f.backup('img-2', 40, 'img-1', false);
    expect(incremental.kind).toBe('incremental');
    const full = await f.backup('img-3', 50, undefined, false);
    expect(full.stats).toMatchObject({ chunksCreated: 0, chunksAlreadyStored: DATA_CHUNKS.length });
    await expect(f.images.getChunk(bad)).rejects.toBeInstanceOf(CorruptObjectError);
  });

  it('a missing chunk is quarantined and written again the same way', async () => {
    const f = fixture();
    const first = await f.backup('img-1', 10);
    const blocks = f.ebs.snapshotBlocks(first.snapshotId);
    const bytes = f.ebs.volumeBytes(VOLUME);
    const gone = chunkOf(bytes.subarray(700 * CHUNK_SIZE_BYTES, 701 * CHUNK_SIZE_BYTES)).name;
    f.objects.objects.delete(chunkKey(gone));
    const found = await scrub(f.scrubDeps, { all: true, runNumber: 0 });
    expect(found.missing.map((m) => m.key)).toEqual([chunkKey(gone)]);
    const second = await f.backup('img-2', 40, 'img-1');
    expect(second.fullReadReason).toBe(QUARANTINED_CHUNK);
    expect(await f.quarantine.list()).toEqual([]);
    await expectRawRestore(f.images, first, blocks);
  });

  it('an entry whose volume no longer holds the chunk stops forcing full reads after one', async () => {
    const f = fixture();
    await f.backup('img-1', 10);
    const bad = corrupt(f, 5);
    await scrub(f.scrubDeps, { all: true, runNumber: 0 });
    // The guest rewrote the chunk before the next backup: no range yields the bad name.
    f.ebs.write(VOLUME, 5 * CHUNK_SIZE_BYTES, randomBytes(CHUNK_SIZE_BYTES));
    const second = await f.backup('img-2', 40, 'img-1');
    expect(second.fullReadReason).toBe(QUARANTINED_CHUNK);
    // img-1 still references the bad chunk: the entry stays (the scrub keeps reporting img-1) ...
    expect((await f.quarantine.list()).map((e) => [e.name, e.volumeIds])).toEqual([[bad, [VOLUME]]]);
    // ... but img-2 was read in full after the finding: the volume is dropped, img-3 is incremental.
    const third = await f.backup('img-3', 50, 'img-2');
    expect(third.kind).toBe('incremental');
    expect((await f.quarantine.list()).map((e) => [e.name, e.volumeIds])).toEqual([[bad, []]]);
    const rescrub = await scrub(f.scrubDeps, { all: true, runNumber: 0 });
    expect(rescrub.corrupt.map((c) => [c.key, c.images])).toEqual([[chunkKey(bad), [`${VOLUME}/img-1`]]]);
    expect((await f.quarantine.list()).map((e) => e.volumeIds)).toEqual([[]]);
    expect(await quarantineForVolume(f.quarantine, VOLUME, third)).toEqual({
      names: [bad],
      readInFull: false,
    });
  });
});

/** The bytes of chunk `chunk` in `blocks` (the snapshot's blocks by index). */
function blocksOf(blocks: ReadonlyMap<number, Buffer>, chunk: number): Buffer {
  return Buffer.concat(
    [0, 1].map((half) => blocks.get(chunk * 2 + half) ?? Buffer.alloc(CHUNK_SIZE_BYTES / 2)),
  );
}

describe('quarantineForVolume', () => {
  const FOUND = '2026-01-01T00:30:00.000Z';
  const hex = (n: number) => n.toString(16).padStart(64, '0');
  const parentOf = (fields: Partial<ImageManifest>): ImageManifest =>
    ({
      kind: 'full',
      createdAt: '2026-01-01T01:00:00.000Z',
      parentImageId: 'img-0',
      ...fields,
    }) as ImageManifest;

  it("carries all of the volume's names and at most MAX_OTHER_REPAIR_NAMES others", async () => {
    const quarantine = new MemoryChunkQuarantine();
    for (let n = 0; n < MAX_OTHER_REPAIR_NAMES + 5; n += 1)
      await quarantine.add({ name: hex(n + 10), volumeIds: ['vol-other'], reason: 'r', foundAt: FOUND });
    await quarantine.add({
      name: hex(MAX_OTHER_REPAIR_NAMES + 100),
      volumeIds: [VOLUME],
      reason: 'r',
      foundAt: FOUND,
    });
    const plan = await quarantineForVolume(quarantine, VOLUME, undefined);
    expect(plan.readInFull).toBe(true);
    expect(plan.names).toHaveLength(MAX_OTHER_REPAIR_NAMES + 1);
    expect(plan.names).toContain(hex(MAX_OTHER_REPAIR_NAMES + 100));
    expect(plan.names).not.toContain(hex(MAX_OTHER_REPAIR_NAMES + 10 + 4));
  });

  it('drops the volume only when its parent was read in full as a whole after the finding', async () => {
    const cases: [Partial<ImageManifest>, boolean][] = [
      [{ kind: 'incremental', parentSnapshotId: 'snap-1' }, false],
      [{ fullReadReason: QUARANTINED_CHUNK }, true],
      [{ fullReadReason: 'PARENT_SNAPSHOT_NOT_FOUND' }, true],
      [{ parentImageId: undefined }, true], // a first or --full backup
      [{ fullReadReason: 'UNRELATED_SNAPSHOTS' }, false], // a range's own fallback: others kept entries
      [{ fullReadReason: QUARANTINED_CHUNK, createdAt: '2026-01-01T00:10:00.000Z' }, false], // before it
    ];
    for (const [fields, dropped] of cases) {
      const quarantine = new MemoryChunkQuarantine();
      await quarantine.add({ name: hex(1), volumeIds: [VOLUME, 'vol-b'], reason: 'r', foundAt: FOUND });
      const plan = await quarantineForVolume(quarantine, VOLUME, parentOf(fields));
      expect(plan, JSON.stringify(fields)).toEqual({ names: [hex(1)], readInFull: !dropped });
      expect((await quarantine.list())[0]!.volumeIds).toEqual(dropped ? ['vol-b'] : ['vol-b', VOLUME]);
    }
  });
});

/** Chunk positions the property writes, corrupts and deletes (some shared content between them). */
const POSITIONS = [0, 5, 700, 1023] as const;

type Step =
  | { readonly op: 'write'; readonly position: number; readonly fill: number }
  | { readonly op: 'corrupt' | 'delete'; readonly position: number }
  | { readonly op: 'scrub' | 'backup' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constant('write' as const),
    position: fc.constantFrom(...POSITIONS),
    fill: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({
    op: fc.constantFrom('corrupt' as const, 'delete' as const),
    position: fc.constantFrom(...POSITIONS),
  }),
  fc.record({ op: fc.constantFrom('scrub' as const, 'backup' as const) }),
);

describe('repair converges (property)', () => {
  it('after any history, one scrub and one backup leave the newest image whole and the next plan incremental', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 10 }), async (steps) => {
        let minute = 0;
        const f = fixture(() => new Date(Date.UTC(2026, 0, 1, 0, minute)));
        let newest: ImageManifest = await f.backup('img-0', (minute += 1));
        let images = 1;
        for (const s of steps) {
          minute += 1;
          if (s.op === 'write') {
            // Whole chunks of one repeated byte: equal fills share one chunk object.
            f.ebs.write(VOLUME, s.position * CHUNK_SIZE_BYTES, Buffer.alloc(CHUNK_SIZE_BYTES, s.fill));
          } else if (s.op === 'corrupt' || s.op === 'delete') {
            const bytes = f.ebs.volumeBytes(VOLUME);
            const at = s.position * CHUNK_SIZE_BYTES;
            const name = chunkOf(bytes.subarray(at, at + CHUNK_SIZE_BYTES)).name;
            if (!f.objects.objects.has(chunkKey(name))) continue;
            if (s.op === 'delete') f.objects.objects.delete(chunkKey(name));
            else
              f.objects.objects.set(chunkKey(name), f.objects.objects.get(chunkKey(name))!.subarray(0, 64));
          } else if (s.op === 'scrub') {
            await scrub(f.scrubDeps, { all: true, runNumber: 0 });
          } else {
            newest = await f.backup(`img-${images}`, minute, newest.imageId);
            images += 1;
          }
        }
        minute += 1;
        await scrub(f.scrubDeps, { all: true, runNumber: 0 });
        minute += 1;
        const repaired = await f.backup(`img-${images}`, minute, newest.imageId);
        await expectRawRestore(f.images, repaired, f.ebs.snapshotBlocks(repaired.snapshotId));
        expect(await quarantineForVolume(f.quarantine, VOLUME, repaired)).toMatchObject({
          readInFull: false,
        });
        // What stays quarantined is only what the newest image does not reference.
        const entries = await f.quarantine.list();
        const verdict = await scrub(f.scrubDeps, { all: true, runNumber: 0 });
        for (const finding of [...verdict.corrupt, ...verdict.missing])
          expect(finding.images).not.toContain(`${VOLUME}/${repaired.imageId}`);
        expect(entries.every((e) => !e.volumeIds.includes(VOLUME))).toBe(true);
      }),
      { numRuns: 40 },
    );
  }, 240_000);
});
