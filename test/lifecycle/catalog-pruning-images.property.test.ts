/**
 * Catalog pruning after image deletions, on catalogs of real ext4 images: a chain of images made
 * with debugfs (files rewritten, removed and re-created, added, chmod'ed, directories added and
 * removed). For random interleavings of catalog builds, deletions and pruning runs (deleting the
 * newest image before the next build included), every remaining image lists every directory
 * exactly as before the pruning, and as a catalog built from scratch for the remaining images
 * alone (apart from `since`, the image a version first appeared in); pruning again deletes nothing;
 * the catalog records of deleted images are gone but the newest's (the next build's base).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { listDirectory } from '../../lambdas/core/catalog/catalog-queries.ts';
import { versionKeyOf, type ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';
import { pruneVolumeCatalog } from '../../lambdas/core/lifecycle/catalog-pruning.ts';
import { MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import { debugfs, generateTree, makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';
import { changedChunks, walkStats } from '../catalog/catalog-images.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { MemoryCatalogPruning } from './memory-catalog-pruning.ts';

/** Images in the chain (the first is the generated tree). */
const CHAIN = 6;
/** Property runs: each builds up to 2 × CHAIN small catalogs in memory. */
const RUNS = 12;
const MIB = 1024 * 1024;
const VOLUME = 'vol-prune';

let work: string;
let images: Uint8Array[] = [];
/** Directories of each image (and of the one before it, which must then list empty). */
let directories: string[][] = [];

beforeAll(async () => {
  work = await scratchDir('catalog-prune');
  const src = path.join(work, 'src');
  await generateTree(src, { seed: 31, files: 40, deepChain: 4, maxFileBytes: 2000, specialFiles: false });
  const base = path.join(work, 'img-0.img');
  await makeExtImage(base, { type: 'ext4', sizeBytes: 8 * MIB, blockSize: 1024, sourceDir: src });
  const payload = path.join(work, 'payload');
  await writeFile(payload, 'changed content\n');
  images = [new Uint8Array(await readFile(base))];
  const stats = await walkStats(new MemoryByteRangeReader(images[0]!));
  const plain = (p: string): boolean => !p.includes('"') && !p.includes(' ');
  const files = [...stats]
    .filter(([p, s]) => plain(p) && s.startsWith('["file"'))
    .map(([p]) => p)
    .sort();
  const dirs = [...stats]
    .filter(([p, s]) => plain(p) && s.startsWith('["directory"'))
    .map(([p]) => p)
    .sort();
  const removed: string[] = [];
  for (let step = 1; step < CHAIN; step += 1) {
    const f = (i: number): string => files[(step * 5 + i) % files.length]!;
    const requests = [
      `rm ${f(0)}`,
      `write ${payload} ${f(0)}`, // rewritten
      `sif ${f(1)} mode 0100600`,
      `sif ${f(2)} mtime 2030010${step}000000`,
      `rm ${f(3)}`, // removed (re-created two steps later)
      `write ${payload} ${dirs[step % dirs.length]}/added-${step}`,
      `mkdir /dir-${step}`,
      `write ${payload} /dir-${step}/inside`,
    ];
    if (step >= 2)
      requests.push(
        `kill_file /dir-${step - 1}/inside`,
        `unlink /dir-${step - 1}/inside`,
        `rmdir /dir-${step - 1}`,
      );
    if (removed.length >= 2) requests.push(`write ${payload} ${removed.shift()!}`);
    removed.push(f(3));
    const file = path.join(work, `img-${step}.img`);
    await writeFile(file, images.at(-1)!);
    await debugfs(file, requests);
    images.push(new Uint8Array(await readFile(file)));
  }
  const dirsOf = async (n: number): Promise<string[]> => {
    const s = await walkStats(new MemoryByteRangeReader(images[n]!));
    return ['/', ...[...s].filter(([, v]) => v.startsWith('["directory"')).map(([p]) => p)];
  };
  directories = [];
  for (let n = 0; n < CHAIN; n += 1) {
    directories.push([...new Set([...(await dirsOf(n)), ...(n > 0 ? await dirsOf(n - 1) : [])])].sort());
  }
}, 120_000);

afterAll(async () => {
  await removeDir(work);
});

const refOf = (n: number): ImageRef => imageAt(VOLUME, n + 1);

/** Catalogs image n the way catalog-image.ts does: incremental against the newest earlier catalog. */
async function catalog(store: MemoryCatalogStore, n: number, live: ReadonlySet<number>): Promise<void> {
  const prior = await store.latestImageCatalogBefore(VOLUME, versionKeyOf(refOf(n)));
  const priorIndex = prior === undefined ? undefined : Number(prior.imageId.slice(4)) - 1;
  // The previous image's bytes are used only while its image exists (its record is gone otherwise).
  const previous =
    priorIndex !== undefined && live.has(priorIndex)
      ? {
          image: refOf(priorIndex),
          disk: new MemoryByteRangeReader(images[priorIndex]!),
          changedChunks: changedChunks(images[priorIndex]!, images[n]!),
        }
      : undefined;
  await buildCatalog(
    { store },
    {
      image: refOf(n),
      disk: new MemoryByteRangeReader(images[n]!),
      ...(previous === undefined ? {} : { previous }),
    },
  );
}

async function listingsOf(store: MemoryCatalogStore, n: number, withSince: boolean): Promise<unknown> {
  const out: Record<string, unknown[]> = {};
  for (const dir of directories[n]!) {
    const page = await listDirectory(store, refOf(n), 0, dir, { limit: 1000 });
    out[dir] = page.items.map(({ since, atime: _atime, ...rest }) => (withSince ? { ...rest, since } : rest));
  }
  return out;
}

type Step =
  | { readonly kind: 'backup' }
  | { readonly kind: 'delete'; readonly pick: number }
  | { readonly kind: 'prune' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.constant<Step>({ kind: 'backup' }), weight: 3 },
  { arbitrary: fc.nat(99).map<Step>((pick) => ({ kind: 'delete', pick })), weight: 2 },
  { arbitrary: fc.constant<Step>({ kind: 'prune' }), weight: 2 },
);

describe('catalog pruning on real catalogs', () => {
  it('remaining images list as before and as a catalog built from scratch for them alone', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: CHAIN, maxLength: 16 }), async (steps) => {
        const store = new MemoryCatalogStore();
        const pruning = new MemoryCatalogPruning(store);
        const live = new Set<number>();
        let next = 0;
        const liveKeys = (): string[] => [...live].map((n) => versionKeyOf(refOf(n)));
        const prune = async (): Promise<void> => {
          const before = new Map<number, unknown>();
          for (const n of live) before.set(n, await listingsOf(store, n, true));
          await pruneVolumeCatalog(pruning, VOLUME, liveKeys());
          for (const n of live)
            expect(await listingsOf(store, n, true), `image ${n} after pruning`).toEqual(before.get(n));
        };
        for (const s of [...steps, { kind: 'prune' } as const]) {
          if (s.kind === 'backup' && next < CHAIN) {
            await catalog(store, next, live);
            live.add(next);
            next += 1;
          } else if (s.kind === 'delete' && live.size > 0) {
            live.delete([...live].sort((a, b) => a - b)[s.pick % live.size]!);
          } else if (s.kind === 'prune') {
            await prune();
          }
        }
        // A second pruning finds nothing more to delete.
        const deleted = pruning.deletedItems;
        const again = await pruneVolumeCatalog(pruning, VOLUME, liveKeys());
        expect(again.itemsDeleted).toBe(0);
        expect(pruning.deletedItems).toBe(deleted);
        // Catalog records: the live images' and the newest catalogued one's.
        const newest = next - 1;
        expect([...store.records.values()].map((r) => r.imageId).sort()).toEqual(
          [...new Set([...live, ...(next > 0 ? [newest] : [])])]
            .sort((a, b) => a - b)
            .map((n) => refOf(n).imageId),
        );
        // Against catalogs built from scratch for the remaining images alone, in order.
        const scratch = new MemoryCatalogStore();
        const remaining = [...live].sort((a, b) => a - b);
        for (const n of remaining) await catalog(scratch, n, live);
        for (const n of remaining) {
          expect(await listingsOf(store, n, false), `image ${n}`).toEqual(
            await listingsOf(scratch, n, false),
          );
        }
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
  }, 300_000);
});
