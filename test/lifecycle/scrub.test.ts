import { describe, expect, it } from 'vitest';
import { CorruptObjectError } from '../../lambdas/core/errors.ts';
import { chunkKey, segmentKey } from '../../lambdas/core/image/image-types.ts';
import { scrub } from '../../lambdas/core/lifecycle/scrub.ts';
import { specChunkName } from '../engine/engine-fixture.ts';
import type { VolumeContent, World } from './lifecycle-fixture.ts';
import { newWorld, poolChunk, referencedKeys, writeImage } from './lifecycle-fixture.ts';

const a1: VolumeContent = new Map([
  [0, 1],
  [1, 2],
  [1023, 3],
  [1024, 4],
]);
const a2: VolumeContent = new Map([
  [0, 1],
  [1, 5],
  [1024, 4],
]);
const b1: VolumeContent = new Map([
  [0, 7],
  [1, 8],
  [2, 9],
  [1024, 10],
  [2047, 11],
  [1023, 12],
]);

async function threeImages(): Promise<World> {
  const world = newWorld();
  await writeImage(world, 'vol-a', 'a1', a1);
  await writeImage(world, 'vol-a', 'a2', a2);
  await writeImage(world, 'vol-b', 'b1', b1);
  return world;
}

const deps = (world: World) => ({ objects: world.bucket, records: world.records });
const name = (n: number): string => specChunkName(poolChunk(n));

describe('scrub', () => {
  it('--all reads every chunk once and finds nothing in a healthy bucket', async () => {
    const world = await threeImages();
    const result = await scrub(deps(world), { all: true, runNumber: 7 });
    expect(result).toMatchObject({
      status: 'ok',
      chunksVerified: 11,
      manifestsChecked: 3,
      segmentsChecked: 5,
      prefixesCovered: 4096,
      corrupt: [],
      missing: [],
      corruptCount: 0,
      missingCount: 0,
    });
    expect(result.bytesRead).toBe(
      [...world.bucket.objects]
        .filter(([k]) => k.startsWith('chunks/'))
        .reduce((s, [, o]) => s + o.body.length, 0),
    );
  });

  it('a corrupt chunk names every image it breaks; a missing one too; a restore of it fails loudly', async () => {
    const world = await threeImages();
    world.bucket.setRaw(chunkKey(name(1)), Buffer.from(world.bucket.objects.get(chunkKey(name(7)))!.body));
    world.bucket.objects.delete(chunkKey(name(10)));
    const result = await scrub(deps(world), { all: true, runNumber: 0 });
    expect(result.status).toBe('findings');
    expect(result.chunksVerified).toBe(9);
    expect(result.corrupt).toEqual([
      {
        key: chunkKey(name(1)),
        images: ['vol-a/a1', 'vol-a/a2'],
        imageCount: 2,
        reason: expect.stringContaining(name(1)) as string,
      },
    ]);
    expect([result.corruptCount, result.missingCount]).toEqual([1, 1]);
    expect(result.missing.map((m) => [m.key, m.images])).toEqual([[chunkKey(name(10)), ['vol-b/b1']]]);
    const error = await world.images.getChunk(name(1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptObjectError);
    expect((error as Error).message).toContain(name(1));
  });

  it('a chunk that does not decode at all (short, unknown version, cut frame) is corrupt, with its reason', async () => {
    const world = await threeImages();
    const stored = (n: number): Buffer => Buffer.from(world.bucket.objects.get(chunkKey(name(n)))!.body);
    world.bucket.setRaw(chunkKey(name(2)), Buffer.from('RBPC'));
    const unknownVersion = stored(5);
    unknownVersion[4] = 77;
    world.bucket.setRaw(chunkKey(name(5)), unknownVersion);
    const cut = stored(8);
    world.bucket.setRaw(chunkKey(name(8)), cut.subarray(0, cut.length - 1000));
    const result = await scrub(deps(world), { all: true, runNumber: 0 });
    expect(result.missing).toEqual([]);
    expect(result.chunksVerified).toBe(8);
    const byKey = new Map(result.corrupt.map((c) => [c.key, c]));
    expect(byKey.size).toBe(3);
    expect(byKey.get(chunkKey(name(2)))).toEqual({
      key: chunkKey(name(2)),
      images: ['vol-a/a1'],
      imageCount: 1,
      reason: `chunk ${name(2)} is 4 bytes, shorter than its header`,
    });
    expect(byKey.get(chunkKey(name(5)))).toEqual({
      key: chunkKey(name(5)),
      images: ['vol-a/a2'],
      imageCount: 1,
      reason: `chunk ${name(5)} names format version 77, which this reader does not know (corrupt, or written by a newer release)`,
    });
    expect(byKey.get(chunkKey(name(8)))!.images).toEqual(['vol-b/b1']);
    expect(byKey.get(chunkKey(name(8)))!.reason).toMatch(
      new RegExp(`^chunk ${name(8)} (does not decompress|holds \\d+ bytes, its header says 1048576)`),
    );
  });

  it('a damaged manifest or segment names its images', async () => {
    const world = await threeImages();
    const b1Record = world.records.images.get('vol-b/b1')!;
    world.bucket.setRaw(b1Record.manifestKey, Buffer.from('{"formatVersion":1}'));
    const shared = [...referencedKeys('vol-a', 'a1', a1)].find(
      (k) => k.startsWith('segments/') && referencedKeys('vol-a', 'a2', a2).has(k),
    );
    expect(shared).toBeDefined(); // segment 1 (chunk 1024 only) is the same in a1 and a2
    world.bucket.objects.delete(shared!);
    const result = await scrub(deps(world), { all: true, runNumber: 0 });
    expect(result.corrupt.map((c) => [c.key, c.images])).toEqual([[b1Record.manifestKey, ['vol-b/b1']]]);
    expect(result.missing.map((m) => [m.key, m.images])).toEqual([[shared, ['vol-a/a1', 'vol-a/a2']]]);
    expect(shared!.startsWith(segmentKey(''))).toBe(true);
  });

  it('N consecutive runs read every chunk exactly once, deterministically', async () => {
    const world = await threeImages();
    const seen: number[] = [];
    for (let run = 100; run < 104; run += 1) {
      const result = await scrub(deps(world), { runNumber: run, coverRuns: 4 });
      expect(result.prefixesCovered).toBe(1024);
      seen.push(result.chunksVerified);
      const again = await scrub(deps(world), { runNumber: run + 4, coverRuns: 4 });
      expect(again.chunksVerified).toBe(result.chunksVerified);
    }
    expect(seen.reduce((a, b) => a + b, 0)).toBe(11);
  });
});
