/**
 * Catalog cost that follows the change (issue 12): an incremental catalog after 10 files are
 * touched, on a ~6,700-entry and a ~108,000-entry ext4 filesystem. Counts EVERY catalog-store
 * request (queries, batch gets of tree pages, batch writes, record gets and puts) and the bytes the
 * two images are read for; the goal is a ratio (large / small) of at most 1.5 for both requests
 * and time. For reference, the same incremental without the previous image (previous state from
 * tree pages, no skipping) and the full catalog's time.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import type { ImageCatalogRecord } from '../../lambdas/core/catalog/catalog-types.ts';
import { CHUNK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { MemoryCatalogStore } from '../../test/catalog/memory-catalog-store.ts';
import { imageAt } from '../../test/catalog/catalog-fixtures.ts';
import { walkStats } from '../../test/catalog/catalog-images.ts';
import { FileByteRangeReader } from '../../test/support/file-byte-range-reader.ts';
import {
  debugfs,
  generateTree,
  makeExtImage,
  prng,
  removeDir,
  run,
  scratchDir,
} from '../../test/support/fs-images.ts';
import { writeFile } from 'node:fs/promises';
import type { BenchResult, BenchSuite } from '../harness.ts';
import { round } from '../harness.ts';
import { benchCacheDir, fileExists, generated100kImage } from '../bench-cache.ts';

const MIB = 1024 * 1024;
/** Files touched per incremental (the figure). */
const FILES_TOUCHED = 10;
/** Goal: the large filesystem's incremental costs at most this many times the small one's. */
const RATIO_GOAL = 1.5;
/**
 * Runs of the same incremental (each against the same previous catalog: it rewrites the same
 * items); the fastest is reported, so that other work on a shared machine does not decide the ratio.
 */
const TIMED_RUNS = 3;
/** Generated files of the small image: with directories and links, ~6,700 entries (the Debian disk's count). */
const SMALL_FILES = 6_170;

/** `<cache>/catalog-6k-v1.img`: a 1 GiB ext4 of the same generator as the 100,000-file image. */
async function smallImage(dir: string): Promise<string> {
  const image = path.join(dir, 'catalog-6k-v1.img');
  if (await fileExists(image)) return image;
  const src = path.join(dir, 'catalog-6k-v1-src');
  await removeDir(src);
  await generateTree(src, { seed: 100, files: SMALL_FILES, deepChain: 60, maxFileBytes: 16_384 });
  await makeExtImage(image, { type: 'ext4', sizeBytes: 1024 * MIB, blockSize: 4096, sourceDir: src });
  await removeDir(src);
  return image;
}

/** Chunk indexes whose bytes differ between two image files (what the engine's manifests say). */
async function changedChunks(a: string, b: string): Promise<Set<number>> {
  const [x, y] = await Promise.all([open(a), open(b)]);
  try {
    const size = (await x.stat()).size;
    const bx = Buffer.alloc(CHUNK_SIZE_BYTES);
    const by = Buffer.alloc(CHUNK_SIZE_BYTES);
    const out = new Set<number>();
    for (let c = 0; c * CHUNK_SIZE_BYTES < size; c += 1) {
      await Promise.all([
        x.read(bx, 0, CHUNK_SIZE_BYTES, c * CHUNK_SIZE_BYTES),
        y.read(by, 0, CHUNK_SIZE_BYTES, c * CHUNK_SIZE_BYTES),
      ]);
      if (!bx.equals(by)) out.add(c);
    }
    return out;
  } finally {
    await Promise.all([x.close(), y.close()]);
  }
}

interface Measured {
  readonly entries: number;
  readonly directories: number;
  readonly fullMs: number;
  readonly incrementalMs: number;
  readonly requests: number;
  readonly readMiB: number;
  readonly noSkipMs: number;
  readonly noSkipRequests: number;
  readonly record: ImageCatalogRecord;
}

async function measure(work: string, base: string, label: string): Promise<Measured> {
  const stats = await walkStats(await FileByteRangeReader.open(base));
  const files = [...stats].filter(([p, s]) => s.startsWith('["file"') && !p.includes('"')).map(([p]) => p);
  const next = path.join(work, `${label}-next.img`);
  await run('cp', ['--sparse=always', base, next]);
  const payload = path.join(work, 'payload');
  await writeFile(payload, 'rewritten by the incremental benchmark\n');
  const rand = prng(12);
  const chosen = new Set<string>();
  while (chosen.size < FILES_TOUCHED) chosen.add(files[Math.floor(rand() * files.length)]!);
  const requests: string[] = [];
  [...chosen].forEach((file, i) => {
    // Half get new content (a new inode and data), half a new mtime.
    if (i % 2 === 0) requests.push(`rm "${file}"`, `write ${payload} "${file}"`);
    else requests.push(`sif "${file}" mtime 20300101000000`);
  });
  await debugfs(next, requests);
  const changed = await changedChunks(base, next);

  const [a, b] = [imageAt(`vol-${label}`, 1), imageAt(`vol-${label}`, 2)];
  const store = new MemoryCatalogStore();
  const baseReader = await FileByteRangeReader.open(base);
  let started = performance.now();
  await buildCatalog({ store }, { image: a, disk: baseReader });
  const fullMs = performance.now() - started;

  let incrementalMs = Number.POSITIVE_INFINITY;
  let first: { record: ImageCatalogRecord; requests: number; readMiB: number } | undefined;
  for (let run = 0; run < TIMED_RUNS; run += 1) {
    const previousReader = await FileByteRangeReader.open(base);
    const currentReader = await FileByteRangeReader.open(next);
    const before = store.requests;
    started = performance.now();
    const record = await buildCatalog(
      { store },
      { image: b, disk: currentReader, previous: { image: a, disk: previousReader, changedChunks: changed } },
    );
    incrementalMs = Math.min(incrementalMs, performance.now() - started);
    first ??= {
      record,
      requests: store.requests - before,
      readMiB: (previousReader.bytesRead + currentReader.bytesRead) / MIB,
    };
    await Promise.all([previousReader.close(), currentReader.close()]);
  }
  // Afterwards (a second 100,000-item in-memory store would slow the timed runs with garbage
  // collection): without the previous image, previous state from tree pages, every directory walked. previous state from tree pages, every directory walked.
  const noSkipStore = new MemoryCatalogStore();
  await buildCatalog({ store: noSkipStore }, { image: a, disk: await FileByteRangeReader.open(base) });
  const noSkipBefore = noSkipStore.requests;
  started = performance.now();
  await buildCatalog({ store: noSkipStore }, { image: b, disk: await FileByteRangeReader.open(next) });
  const noSkipMs = performance.now() - started;

  const directories = [...stats.values()].filter((s) => s.startsWith('["directory"')).length + 1;
  return {
    entries: stats.size,
    directories,
    fullMs,
    incrementalMs,
    requests: first!.requests,
    readMiB: first!.readMiB,
    noSkipMs,
    noSkipRequests: noSkipStore.requests - noSkipBefore,
    record: first!.record,
  };
}

export const suite: BenchSuite = {
  name: 'catalog-incremental',
  async run(): Promise<readonly BenchResult[]> {
    const work = await scratchDir('bench-catalog-incremental');
    try {
      const cache = await benchCacheDir();
      const small = await measure(work, await smallImage(cache), 'small');
      const large = await measure(
        work,
        await generated100kImage(cache, 'catalog-100k-v1', 'catalog'),
        'large',
      );
      const details = (m: Measured, prefix: string): Record<string, number> => ({
        [`${prefix}Entries`]: m.entries,
        [`${prefix}Directories`]: m.directories,
        [`${prefix}FullMs`]: round(m.fullMs, 0),
        [`${prefix}IncrementalMs`]: round(m.incrementalMs, 0),
        [`${prefix}Requests`]: m.requests,
        [`${prefix}ImageMiBRead`]: round(m.readMiB, 1),
        [`${prefix}SubtreesSkipped`]: m.record.partitions[0]?.skipped?.subtrees ?? 0,
        [`${prefix}RegionsCompared`]: m.record.partitions[0]?.skipped?.regionsCompared ?? 0,
        [`${prefix}EntriesWalked`]: m.record.partitions[0]?.skipped?.entriesWalked ?? 0,
        [`${prefix}ItemsWritten`]: m.record.changes.itemsWritten,
        [`${prefix}NoSkipMs`]: round(m.noSkipMs, 0),
        [`${prefix}NoSkipRequests`]: m.noSkipRequests,
      });
      const all = { ...details(small, 'small'), ...details(large, 'large') };
      const requestRatio = large.requests / small.requests;
      const timeRatio = large.incrementalMs / small.incrementalMs;
      return [
        {
          name: `catalog-incremental/requests-${FILES_TOUCHED}-files-touched-108k-vs-6.7k-entries`,
          value: large.requests,
          unit: 'requests',
          baseline: small.requests,
          ratio: round(requestRatio, 2),
          goal: `<= ${RATIO_GOAL}x (every catalog-store request counted)`,
          met: requestRatio <= RATIO_GOAL,
          details: all,
        },
        {
          name: `catalog-incremental/time-${FILES_TOUCHED}-files-touched-108k-vs-6.7k-entries`,
          value: round(large.incrementalMs, 0),
          unit: 'ms',
          baseline: round(small.incrementalMs, 0),
          ratio: round(timeRatio, 2),
          goal: `<= ${RATIO_GOAL}x`,
          met: timeRatio <= RATIO_GOAL,
        },
        {
          name: 'catalog-incremental/incremental-vs-full-6.7k-entries',
          value: round(small.incrementalMs, 0),
          unit: 'ms',
          baseline: round(small.fullMs, 0),
          ratio: round(small.incrementalMs / small.fullMs, 3),
          goal: '<= 0.5 of the full catalog',
          met: small.incrementalMs <= 0.5 * small.fullMs,
        },
      ];
    } finally {
      await removeDir(work);
    }
  },
};
