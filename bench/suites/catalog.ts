/**
 * Catalog and file-restore benchmarks (issue 4, benchmarks 2-4):
 * - file restore amplification: bytes fetched from the chunk store (through the real ImageReader
 *   over an image the engine backed up) divided by the file's size, for a small, a large and a
 *   fragmented file; also the chunks fetched against the fewest chunks that hold the file's data;
 * - catalog writes per incremental against entries changed (debugfs changes of 10 and 200 files);
 * - peak RSS of a fresh process cataloguing the 100,000-file image (goal < 1 GiB), and its rate.
 *
 * The memory case runs in a child process (env RBP_CATALOG_BENCH_CHILD) so its RSS is its own.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { readFileBytes } from '../../lambdas/core/file-restore/file-bytes.ts';
import { openImageFilesystem } from '../../lambdas/core/file-restore/open-filesystem.ts';
import { CHUNK_SIZE_BYTES, EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { sliceReader } from '../../lambdas/core/fs/index.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import { MemoryCatalogStore } from '../../test/catalog/memory-catalog-store.ts';
import { imageAt } from '../../test/catalog/image-refs.ts';
import { changedPaths, walkStats } from '../../test/catalog/catalog-images.ts';
import { fastRetry, noPacing } from '../../test/engine/engine-fixture.ts';
import { MemoryEbs } from '../../test/fakes/memory-ebs.ts';
import { MemoryImageRecordStore } from '../../test/fakes/memory-image-records.ts';
import { MemoryObjectStore } from '../../test/fakes/memory-object-store.ts';
import { FileByteRangeReader } from '../../test/support/file-byte-range-reader.ts';
import {
  debugfs,
  generateTree,
  makeExtImage,
  prng,
  randomBytes,
  removeDir,
  run,
  scratchDir,
} from '../../test/support/fs-images.ts';
import type { BenchResult, BenchSuite } from '../harness.ts';
import { round } from '../harness.ts';
import { benchCacheDir, fileExists, generated100kImage } from '../bench-cache.ts';
import { peakRssKiB, runBenchChild } from '../bench-child.ts';

const thisFile = fileURLToPath(import.meta.url);
const MIB = 1024 * 1024;
/** A Lambda's memory budget. */
const RSS_GOAL_MIB = 1024;
/** Changes per incremental measured. */
const CHANGE_COUNTS = [10, 200];

// ------------------------------------------------------------------------------ child: memory

/**
 * The incremental path (previous-state queries, merge-join) on the same image: the store must keep
 * the first catalog, so the figure is the RSS growth over the settled RSS after the first run.
 */
async function childIncremental(image: string): Promise<void> {
  const store = new MemoryCatalogStore();
  const reader = await FileByteRangeReader.open(image);
  await buildCatalog({ store }, { image: imageAt('vol-bench', 1), disk: reader });
  (globalThis as { gc?: () => void }).gc?.();
  const settled = process.memoryUsage().rss;
  let peak = settled;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  const record = await buildCatalog({ store }, { image: imageAt('vol-bench', 2), disk: reader });
  const ms = performance.now() - started;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  await reader.close();
  console.log(
    `RESULT ${JSON.stringify({ ms, growthMiB: (peak - settled) / MIB, settledMiB: settled / MIB, written: record.changes.itemsWritten, queries: store.queries })}`,
  );
}

async function childCatalog(image: string): Promise<void> {
  const reader = await FileByteRangeReader.open(image);
  // A store that counts writes and keeps nothing: the figure is the cataloguer's own memory.
  const store = new MemoryCatalogStore(false);
  const started = performance.now();
  const record = await buildCatalog({ store }, { image: imageAt('vol-bench', 1), disk: reader });
  const ms = performance.now() - started;
  await reader.close();
  const entries =
    record.counts.files + record.counts.directories + record.counts.symlinks + record.counts.others;
  console.log(
    `RESULT ${JSON.stringify({
      ms,
      entries,
      itemsPut: store.itemsPut,
      maxRssKiB: peakRssKiB(),
      status: record.status,
      bytesRead: reader.bytesRead,
      reads: reader.reads,
    })}`,
  );
}

async function runChild<T>(task: unknown): Promise<T> {
  const outcome = await runBenchChild<T>(thisFile, 'RBP_CATALOG_BENCH_CHILD', task, {
    nodeArgs: ['--expose-gc'],
  });
  if (outcome.result === undefined) {
    throw new Error(`child failed (exit ${outcome.code}): ${outcome.stderr.slice(-2000)}`);
  }
  return outcome.result;
}

// ------------------------------------------------------------------------------------ parent side

/** The fs suite's 100,000-file image when it is cached; else the same recipe under our own name. */
async function image100k(): Promise<string> {
  const dir = await benchCacheDir();
  const shared = path.join(dir, 'fs-100k-v1.img');
  if (await fileExists(shared)) return shared;
  return generated100kImage(dir, 'catalog-100k-v1', 'catalog');
}

async function memoryResults(): Promise<BenchResult[]> {
  const image = await image100k();
  const r = await runChild<{
    ms: number;
    entries: number;
    itemsPut: number;
    maxRssKiB: number;
    status: string;
    bytesRead: number;
    reads: number;
  }>({ kind: 'full', image });
  const inc = await runChild<{
    ms: number;
    growthMiB: number;
    settledMiB: number;
    written: number;
    queries: number;
  }>({
    kind: 'incremental',
    image,
  });
  const rssMiB = r.maxRssKiB / 1024;
  return [
    {
      name: 'catalog/peak-rss-100k-files',
      value: round(rssMiB, 1),
      unit: 'MiB',
      goal: `< ${RSS_GOAL_MIB} MiB`,
      met: rssMiB < RSS_GOAL_MIB,
      details: { entries: r.entries, itemsWritten: r.itemsPut, status: r.status },
    },
    {
      name: 'catalog/incremental-rss-growth-100k-files',
      value: round(inc.growthMiB, 1),
      unit: 'MiB',
      goal: `< ${RSS_GOAL_MIB} MiB (above the in-memory store holding the first catalog)`,
      met: inc.growthMiB < RSS_GOAL_MIB,
      details: {
        seconds: round(inc.ms / 1000, 1),
        itemsWritten: inc.written,
        storeQueries: inc.queries,
        settledRssMiB: round(inc.settledMiB, 1),
      },
    },
    {
      name: 'catalog/rate-100k-files',
      value: round(r.entries / (r.ms / 1000), 0),
      unit: 'entries/s',
      details: {
        seconds: round(r.ms / 1000, 1),
        readerRequests: r.reads,
        readerMiB: round(r.bytesRead / MIB, 1),
      },
    },
  ];
}

async function writesResults(work: string): Promise<BenchResult[]> {
  const src = path.join(work, 'writes-src');
  await generateTree(src, { seed: 5, files: 3000, deepChain: 20, maxFileBytes: 8192, specialFiles: false });
  const base = path.join(work, 'writes-0.img');
  await makeExtImage(base, { type: 'ext4', sizeBytes: 96 * MIB, blockSize: 4096, sourceDir: src });
  const opened: FileByteRangeReader[] = [];
  const open = async (p: string): Promise<FileByteRangeReader> => {
    const reader = await FileByteRangeReader.open(p);
    opened.push(reader);
    return reader;
  };
  const baseStats = await walkStats(await open(base));
  const files = [...baseStats.entries()].filter(([, s]) => s.startsWith('["file"')).map(([p]) => p);
  const results: BenchResult[] = [];
  let n = 0;
  for (const count of CHANGE_COUNTS) {
    n += 1;
    const img = path.join(work, `writes-${n}.img`);
    await run('cp', ['--sparse=always', base, img]);
    const rand = prng(n);
    const chosen = new Set<string>();
    while (chosen.size < count) chosen.add(files[Math.floor(rand() * files.length)]!);
    const payload = path.join(work, `payload-${n}`);
    await writeFile(payload, randomBytes(rand, 1000));
    const requests: string[] = [];
    let i = 0;
    for (const file of chosen) {
      // A third modified (mtime), a third removed, a third replaced by new content; plus a new file each.
      const quoted = `"${file}"`;
      if (i % 3 === 0) requests.push(`sif ${quoted} mtime 20240101000000`);
      else if (i % 3 === 1) requests.push(`rm ${quoted}`);
      else requests.push(`rm ${quoted}`, `write ${payload} "${file}"`);
      i += 1;
    }
    await debugfs(img, requests);
    const changed = changedPaths(baseStats, await walkStats(await open(img)));
    // Each incremental is compared with the base: catalogue it as the next image after the base.
    const scratch = new MemoryCatalogStore();
    await buildCatalog({ store: scratch }, { image: imageAt('vol-writes', 0), disk: await open(base) });
    const scratchBefore = scratch.itemsPut;
    const record = await buildCatalog(
      { store: scratch },
      { image: imageAt('vol-writes', n), disk: await open(img) },
    );
    const written = scratch.itemsPut - scratchBefore;
    results.push({
      name: `catalog/writes-per-incremental-${count}-files-touched`,
      value: written,
      unit: 'version items',
      baseline: changed.length,
      ratio: round(written / changed.length, 3),
      goal: 'items written = entries changed (+ a constant: 0 version items, 2 record writes, 1 application write)',
      met: written === changed.length,
      details: {
        entriesChanged: changed.length,
        filesTouched: count,
        added: record.changes.added,
        changed: record.changes.changed,
        removed: record.changes.removed,
        catalogRecordWrites: 2,
      },
    });
  }
  await Promise.all(opened.map((r) => r.close()));
  return results;
}

/** Counts the bytes of chunk objects fetched. */
class CountingObjects extends MemoryObjectStore {
  chunkBytes = 0;
  chunkGets = 0;
  override async get(key: string): Promise<Uint8Array> {
    const body = await super.get(key);
    if (key.startsWith('chunks/')) {
      this.chunkBytes += body.length;
      this.chunkGets += 1;
    }
    return body;
  }
}

async function amplificationResults(work: string): Promise<BenchResult[]> {
  const src = path.join(work, 'amp-src');
  await mkdir(src);
  const rand = prng(11);
  for (let i = 0; i < 1500; i += 1) await writeFile(path.join(src, `filler-${i}`), randomBytes(rand, 8192));
  await writeFile(path.join(src, 'small.conf'), randomBytes(rand, 3000));
  await writeFile(path.join(src, 'large.bin'), randomBytes(rand, 24 * MIB));
  const img = path.join(work, 'amp.img');
  await makeExtImage(img, { type: 'ext4', sizeBytes: 128 * MIB, blockSize: 4096, sourceDir: src });
  // Fragment: free every other filler, then write a file that must fill the holes.
  const frees: string[] = [];
  for (let i = 0; i < 1500; i += 2) frees.push(`rm /filler-${i}`);
  const fragmentedSource = path.join(work, 'fragmented.bin');
  await writeFile(fragmentedSource, randomBytes(rand, 4 * MIB));
  await debugfs(img, [...frees, `write ${fragmentedSource} fragmented.bin`]);

  // Back the image up with the engine into an in-memory chunk store.
  const ebs = new MemoryEbs();
  ebs.createVolume('vol-amp', 1);
  const bytes = await readFile(img);
  for (let off = 0; off < bytes.length; off += EBS_BLOCK_SIZE_BYTES) {
    const block = bytes.subarray(off, off + EBS_BLOCK_SIZE_BYTES);
    if (block.some((b) => b !== 0)) ebs.write('vol-amp', off, block);
  }
  const snapshotId = ebs.createSnapshot('vol-amp');
  const objects = new CountingObjects();
  const images = new ImageStore(objects, { retry: fastRetry() });
  const { manifest } = await runBackup(
    { ebs, images, records: new MemoryImageRecordStore(), readPacer: noPacing, listPacer: noPacing },
    {
      volumeId: 'vol-amp',
      imageId: 'img-amp',
      snapshotId,
      volumeSizeGib: 1,
      createdAt: '2026-01-01T00:00:00.000Z',
    },
  );
  const results: BenchResult[] = [];
  for (const file of ['/small.conf', '/large.bin', '/fragmented.bin']) {
    const reader = new ImageReader(images, manifest);
    const { fs, reader: partition } = await openImageFilesystem(reader);
    const inode = await fs.lookup(file);
    const extents = [];
    for await (const extent of fs.extents(inode)) extents.push(extent);
    const size = (await fs.stat(inode)).size;
    const chunksHolding = new Set<number>();
    for (const e of extents) {
      const first = Math.floor((partition.offsetInDisk + e.physicalOffset) / CHUNK_SIZE_BYTES);
      const last = Math.floor((partition.offsetInDisk + e.physicalOffset + e.length - 1) / CHUNK_SIZE_BYTES);
      for (let c = first; c <= last; c += 1) chunksHolding.add(c);
    }
    const metadataBytes = objects.chunkBytes;
    objects.chunkBytes = 0;
    objects.chunkGets = 0;
    // The data through a reader with an empty cache: what the restore itself fetches.
    const dataReader = sliceReader(new ImageReader(images, manifest), partition.offsetInDisk, partition.size);
    let restored = 0;
    for await (const piece of readFileBytes(fs, dataReader, inode)) restored += piece.length;
    if (restored !== size) throw new Error(`${file}: restored ${restored} of ${size} bytes`);
    const dataBytes = objects.chunkBytes;
    const roundingBound = (chunksHolding.size * CHUNK_SIZE_BYTES) / size;
    results.push({
      name: `restore/amplification-${file.slice(1)}`,
      value: round(dataBytes / size, 3),
      unit: 'x file size',
      baseline: round(roundingBound, 3),
      ratio: round(dataBytes / size / roundingBound, 3),
      goal: '<= 1 + chunk rounding (baseline: chunks holding the data x 1 MiB / size)',
      met: dataBytes / size <= roundingBound * 1.001,
      details: {
        sizeBytes: size,
        extents: extents.length,
        chunksHoldingData: chunksHolding.size,
        chunkGets: objects.chunkGets,
        metadataMiBBeforeData: round(metadataBytes / MIB, 2),
      },
    });
  }
  return results;
}

export const suite: BenchSuite = {
  name: 'catalog',
  async run(): Promise<readonly BenchResult[]> {
    const work = await scratchDir('bench-catalog');
    try {
      return [
        ...(await amplificationResults(work)),
        ...(await writesResults(work)),
        ...(await memoryResults()),
      ];
    } finally {
      await removeDir(work);
    }
  },
};

const childTask = process.env.RBP_CATALOG_BENCH_CHILD;
if (childTask !== undefined) {
  const task = JSON.parse(childTask) as { kind: 'full' | 'incremental'; image: string };
  if (task.kind === 'full') await childCatalog(task.image);
  else await childIncremental(task.image);
}
